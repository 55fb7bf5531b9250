package loadtest

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/tidemark-mail/tidemark/internal/lmtp"
	"github.com/tidemark-mail/tidemark/internal/sqlitestore"
)

// TestLMTPScenario runs the lmtp scenario against Tidemark's LMTP server
// with three clients and two recipients: every delivery the scenario
// counted is in one of the two INBOXes, and both received some.
func TestLMTPScenario(t *testing.T) {
	ctx := context.Background()
	st, err := sqlitestore.Open(t.TempDir(), sqlitestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for _, u := range []string{"rcpt1", "rcpt2"} {
		if err := st.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	srv := lmtp.New(lmtp.Config{Store: st, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	l, err := lmtp.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()
	defer func() { srv.Close(); <-done }()

	cfg := Config{LMTPAddr: l.Addr().String(), LMTPRecipients: []string{"rcpt1", "rcpt2"},
		Concurrency: 3, Duration: 300 * time.Millisecond}
	rs, err := runLMTP(ctx, cfg.withDefaults(), 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 1 || rs[0].Reps < 3 || rs[0].Rate <= 0 {
		t.Fatalf("lmtp: %+v", rs)
	}
	total := 0
	for _, u := range []string{"rcpt1", "rcpt2"} {
		a, err := st.Open(ctx, u)
		if err != nil {
			t.Fatal(err)
		}
		mb, err := a.Mailbox(ctx, "INBOX")
		if err != nil {
			t.Fatal(err)
		}
		got := int(mb.UIDNext) - 1
		a.Close()
		if got == 0 {
			t.Fatalf("%s received nothing", u)
		}
		total += got
	}
	if total != rs[0].Reps {
		t.Fatalf("%d messages delivered, the scenario counted %d", total, rs[0].Reps)
	}
}
