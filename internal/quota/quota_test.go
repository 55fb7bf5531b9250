package quota

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"testing"

	"github.com/emersion/go-smtp"

	"github.com/tidemark-mail/tidemark/internal/lmtp"
	"github.com/tidemark-mail/tidemark/internal/sqlitestore"
	"github.com/tidemark-mail/tidemark/internal/store"
)

func openStore(t *testing.T, users ...string) *sqlitestore.Store {
	t.Helper()
	st, err := openStoreIn(t, users...)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func openStoreB(b *testing.B) (*sqlitestore.Store, error) { return openStoreIn(b, "alice") }

func openStoreIn(tb testing.TB, users ...string) (*sqlitestore.Store, error) {
	st, err := sqlitestore.Open(tb.TempDir(), sqlitestore.Options{})
	if err != nil {
		return nil, err
	}
	tb.Cleanup(func() { st.Close() })
	for _, u := range users {
		if err := st.CreateUser(context.Background(), u); err != nil {
			return nil, err
		}
	}
	return st, nil
}

func TestLimitsPrecedence(t *testing.T) {
	st := openStore(t)
	file := filepath.Join(t.TempDir(), OverridesFileName)
	cfg := Config{
		Default:       Limits{StorageBytes: 1000, Messages: 10},
		Users:         map[string]Limits{"alice": {StorageBytes: 5000, Messages: -1}},
		Admins:        []string{"root"},
		OverridesFile: file,
	}
	m, err := New(st, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if l := m.Limits("bob"); l != (Limits{1000, 10}) {
		t.Errorf("default: %+v", l)
	}
	if l := m.Limits("alice"); l != (Limits{5000, 10}) {
		t.Errorf("override: %+v", l)
	}
	if !m.IsQuotaAdmin("root") || m.IsQuotaAdmin("alice") {
		t.Error("admins")
	}
	if err := m.SetQuotaLimits("alice", 0, 3); err != nil {
		t.Fatal(err)
	}
	// A limit set with SETQUOTA wins, and survives a restart.
	m2, err := New(st, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if l := m2.Limits("alice"); l != (Limits{0, 3}) {
		t.Errorf("after restart: %+v", l)
	}
}

func TestCheckQuotaAgainstUsage(t *testing.T) {
	st := openStore(t, "alice")
	m, err := New(st, Config{Default: Limits{StorageBytes: 100, Messages: 2}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	a, _ := st.Open(ctx, "alice")
	defer a.Close()
	inbox, _ := a.Mailbox(ctx, "INBOX")
	if _, err := a.Append(ctx, inbox.ID, []store.NewMessage{{Body: strings.NewReader(strings.Repeat("x", 60))}}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		bytes, msgs int64
		over        bool
	}{{40, 1, false}, {41, 1, true}, {0, 2, true}, {0, 1, false}} {
		err := m.CheckQuota(ctx, "alice", tc.bytes, tc.msgs)
		if errors.Is(err, store.ErrOverQuota) != tc.over {
			t.Errorf("%+v: %v", tc, err)
		}
	}
	// Unlimited users need no store at all.
	if err := m.CheckQuota(ctx, "nobody", 1<<40, 1<<40); !errors.Is(err, store.ErrNoUser) {
		t.Errorf("unknown user with limits: %v", err)
	}
	free, _ := New(st, Config{})
	if err := free.CheckQuota(ctx, "nobody", 1<<40, 1<<40); err != nil {
		t.Errorf("no limits: %v", err)
	}
}

// LMTP delivery to a full mailbox is refused per recipient: 552 5.2.2, or
// 452 4.2.2 when configured to fail temporarily; others still get theirs.
func TestLMTPOverQuota(t *testing.T) {
	for _, tempFail := range []bool{false, true} {
		st := openStore(t, "alice", "bob")
		m, err := New(st, Config{Users: map[string]Limits{"alice": {StorageBytes: 50, Messages: -1}}})
		if err != nil {
			t.Fatal(err)
		}
		srv := lmtp.New(lmtp.Config{Store: st, Quota: LMTPChecker{m}, OverQuotaTempFail: tempFail,
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		l, err := lmtp.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		go srv.Serve(l)
		conn, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		c := smtp.NewClientLMTP(conn)
		if err := c.Hello("localhost"); err != nil {
			t.Fatal(err)
		}
		if err := c.Mail("s@example.org", nil); err != nil {
			t.Fatal(err)
		}
		for _, r := range []string{"alice@example.org", "bob@example.org"} {
			if err := c.Rcpt(r, nil); err != nil {
				t.Fatal(err)
			}
		}
		w, err := c.Data()
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(w, "Subject: big\r\n\r\n"+strings.Repeat("y", 100)+"\r\n")
		resp, err := w.CloseWithLMTPResponse()
		var dataErr smtp.LMTPDataError
		if !errors.As(err, &dataErr) {
			t.Fatalf("tempfail=%v: %v %v", tempFail, resp, err)
		}
		se := dataErr["alice@example.org"]
		wantCode := 552
		if tempFail {
			wantCode = 452
		}
		if se == nil || se.Code != wantCode || se.EnhancedCode[1] != 2 || se.EnhancedCode[2] != 2 {
			t.Errorf("tempfail=%v: alice got %v", tempFail, se)
		}
		if dataErr["bob@example.org"] != nil {
			t.Errorf("bob refused: %v", dataErr["bob@example.org"])
		}
		c.Quit()
		srv.Close()
		a, _ := st.Open(context.Background(), "alice")
		u, _ := a.Usage(context.Background())
		a.Close()
		if u.Messages != 0 {
			t.Errorf("alice got the message anyway")
		}
	}
}

// User names in the configuration, in SETQUOTA and at login differ only in
// ASCII case; each form reaches the same limits, and the overrides file
// read back at the next start keeps them.
func TestUserNamesFoldCase(t *testing.T) {
	st := openStore(t, "alice")
	file := filepath.Join(t.TempDir(), OverridesFileName)
	m, err := New(st, Config{Users: map[string]Limits{"Alice": {StorageBytes: -1, Messages: 4}}, Admins: []string{"ROOT"}, OverridesFile: file})
	if err != nil {
		t.Fatal(err)
	}
	if l := m.Limits("alice"); l.Messages != 4 {
		t.Fatalf("configured limit for Alice not applied to alice: %+v", l)
	}
	if !m.IsQuotaAdmin("root") {
		t.Fatal("administrator ROOT not recognized as root")
	}
	if err := m.SetQuotaLimits("ALICE", 0, 1); err != nil {
		t.Fatal(err)
	}
	if l := m.Limits("alice"); l.Messages != 1 {
		t.Fatalf("limit set for ALICE not applied to alice: %+v", l)
	}
	if err := m.CheckQuota(context.Background(), "alice", 10, 2); !errors.Is(err, store.ErrOverQuota) {
		t.Fatalf("check: %v", err)
	}
	m2, err := New(st, Config{OverridesFile: file})
	if err != nil {
		t.Fatal(err)
	}
	if l := m2.Limits("Alice"); l.Messages != 1 {
		t.Fatalf("after restart: %+v", l)
	}
}
