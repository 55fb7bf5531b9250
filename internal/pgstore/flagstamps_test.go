package pgstore

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/tidemark-mail/tidemark/internal/pgtest"
	"github.com/tidemark-mail/tidemark/internal/store"
)

// TestFlagStampsUpgradeFromV14: a database at schema version 14 gets the
// flag stamps table; a synced mailbox's client changes are stamped, and
// the stamps go with an expunged message and with a deleted mailbox.
func TestFlagStampsUpgradeFromV14(t *testing.T) {
	dsn, conn := databaseAt(t, 14)
	s := openTest(t, dsn, Options{NoListen: true})
	if err := s.CreateUser(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	var v int
	if err := conn.QueryRow(ctx, `SELECT max(version) FROM tidemark_schema`).Scan(&v); err != nil || v != SchemaVersion || v < 15 {
		t.Fatalf("schema version %d (SchemaVersion %d), %v", v, SchemaVersion, err)
	}
	a, err := s.Open(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	box, err := a.CreateMailbox(ctx, "Work", store.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var msgs []store.NewMessage
	for range 3 {
		msgs = append(msgs, store.NewMessage{Body: strings.NewReader("Subject: x\r\n\r\nbody\r\n")})
	}
	if _, err := a.Append(ctx, box.ID, msgs); err != nil {
		t.Fatal(err)
	}
	r, err := s.OpenReplica(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, err := r.Apply(ctx, box.ID, store.Batch{KeepHistory: true}); err != nil {
		t.Fatal(err)
	}
	res, err := a.SetFlags(ctx, box.ID, store.UIDSetOf(1, 2), store.FlagsAdd, store.Flags{System: store.FlagSeen}, 0)
	if err != nil {
		t.Fatal(err)
	}
	rd, err := r.ReadRound(ctx, box.ID, 0, store.UIDSetOf(1, 2, 3))
	if err != nil || len(rd.Stamps) != 2 || rd.Stamps[2][`\seen`] != res.ModSeq {
		t.Fatalf("stamps: %v, %v (modseq %d)", rd.Stamps, err, res.ModSeq)
	}
	count := func() int {
		t.Helper()
		var n int
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM flag_stamps`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if _, err := a.Expunge(ctx, box.ID, store.UIDSetOf(1)); err != nil {
		t.Fatal(err)
	}
	if n := count(); n != 1 {
		t.Fatalf("%d stamp rows after expunging one of two stamped messages", n)
	}
	if err := a.DeleteMailbox(ctx, "Work"); err != nil {
		t.Fatal(err)
	}
	if n := count(); n != 0 {
		t.Fatalf("%d stamp rows after the mailbox was deleted", n)
	}
}

// sqlRecorder keeps the text of every statement sent, batched or not.
type sqlRecorder struct {
	mu  sync.Mutex
	sql []string
}

func (r *sqlRecorder) add(s string) {
	r.mu.Lock()
	r.sql = append(r.sql, s)
	r.mu.Unlock()
}

func (r *sqlRecorder) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	r.add(d.SQL)
	return ctx
}
func (r *sqlRecorder) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}
func (r *sqlRecorder) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	return ctx
}
func (r *sqlRecorder) TraceBatchQuery(_ context.Context, _ *pgx.Conn, d pgx.TraceBatchQueryData) {
	r.add(d.SQL)
}
func (r *sqlRecorder) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData) {}

// taken returns the statements recorded since the last call.
func (r *sqlRecorder) taken() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.sql
	r.sql = nil
	return out
}

// TestReplicatedSystemFlagsOneUpdate: in a mailbox synced with a peer, a
// STORE of system flags alone is made by the UPDATE over the UID ranges
// (setSystemFlags), which also writes the flag history and stamps; no
// message's state is read back to the client first (the row path), and
// the stamps and history are those of each message's change.
func TestReplicatedSystemFlagsOneUpdate(t *testing.T) {
	rec := &sqlRecorder{}
	s := openTest(t, pgtest.DSN(t), Options{NoListen: true, tracer: rec})
	if err := s.CreateUser(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	a, inbox := openInbox(t, s, "alice")
	var msgs []store.NewMessage
	for i := range 40 {
		var f store.Flags
		if i%4 == 0 {
			f.System = store.FlagSeen
		}
		msgs = append(msgs, store.NewMessage{Body: strings.NewReader("Subject: x\r\n\r\nbody\r\n"), Flags: f})
	}
	if _, err := a.Append(ctx, inbox.ID, msgs); err != nil {
		t.Fatal(err)
	}
	r, err := s.OpenReplica(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, err := r.Apply(ctx, inbox.ID, store.Batch{KeepHistory: true}); err != nil {
		t.Fatal(err)
	}
	synced, err := a.Mailbox(ctx, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	rec.taken()
	res, err := a.SetFlags(ctx, inbox.ID, store.UIDSet{{Start: 1, Stop: store.MaxUID}}, store.FlagsAdd, store.Flags{System: store.FlagSeen}, 0)
	if err != nil || len(res.Changed) != 30 || len(res.Unchanged) != 10 {
		t.Fatalf("%d changed, %d unchanged, %v", len(res.Changed), len(res.Unchanged), err)
	}
	var ranges, rows bool
	for _, q := range rec.taken() {
		ranges = ranges || strings.HasPrefix(q, "UPDATE messages m SET")
		rows = rows || strings.Contains(q, "uid = ANY")
	}
	if !ranges || rows {
		t.Fatalf("UPDATE over ranges %v, row path %v", ranges, rows)
	}
	rd, err := r.ReadRound(ctx, inbox.ID, 0, store.UIDSet{{Start: 1, Stop: 40}})
	if err != nil {
		t.Fatal(err)
	}
	at, err := r.FlagsAt(ctx, inbox.ID, store.UIDSet{{Start: 1, Stop: 40}}, synced.HighestModSeq)
	if err != nil {
		t.Fatal(err)
	}
	for u := store.UID(1); u <= 40; u++ {
		changed := u%4 != 1
		if got := rd.Stamps[u]; changed != (len(got) == 1 && got[`\seen`] == res.ModSeq) || !changed && len(got) != 0 {
			t.Fatalf("UID %d (changed %v): stamps %v, want \\seen at %d", u, changed, got, res.ModSeq)
		}
		if f, ok := at[u]; ok != changed || ok && f.System != 0 {
			t.Fatalf("UID %d (changed %v): flags at the sync point %v, %v", u, changed, f, ok)
		}
	}
}
