package sqlitestore

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"sync/atomic"

	"modernc.org/sqlite"
)

// Checkpoints. SQLite's automatic checkpoint runs inside the commit that
// takes the WAL past wal_autocheckpoint pages: the writer copies the pages
// into the database and syncs it while the client whose write it is waits,
// and every write queued behind it waits too. The store copies them in the
// background instead: after each commit the writer counts the pages it
// wrote to the WAL, and once ckptPages have gathered it wakes a
// checkpointer, which runs a PASSIVE checkpoint on a connection of its own
// while the writer goes on (PASSIVE takes no lock a writer or reader
// needs). When it has copied everything, the next write transaction starts
// the WAL over from its beginning, so the WAL stays about ckptPages long
// while the checkpointer keeps up.
//
// The writer keeps an automatic checkpoint of its own at ckptFallbackPages,
// for when the checkpointer does not keep up (a writer committing without
// pause leaves it no moment where it has copied everything); that one only
// copies what the background left, and journal_size_limit trims the file
// after the WAL has grown past its usual length.
//
// Durability is unchanged: a checkpoint, background or not, syncs the WAL
// before it copies frames from it and the database after, and copies only
// committed frames; the store's own sync of the WAL (durable.go) still
// makes each commit durable before it is acknowledged.

// ckptPages is how many pages written to the WAL wake the checkpointer: a
// few batches of a MULTIAPPEND (about 600 pages each at 50,000
// messages), or a few hundred small writes.
const ckptPages = 2000

// ckptFallbackPages is the writer's own wal_autocheckpoint.
const ckptFallbackPages = 8000

// walSizeLimit is the journal_size_limit of the writer, in bytes: a WAL
// that grew past it is truncated to it when it starts over.
const walSizeLimit = 64 << 20

// checkpointer copies a user's WAL into its database in the background.
type checkpointer struct {
	db   *sql.DB
	log  *slog.Logger
	wake chan struct{} // capacity 1: wakes coalesce
	stop chan struct{}
	done chan struct{}
	// written counts the pages the writer wrote to the WAL since it last
	// woke the checkpointer, every is ckptPages (tests lower it); both
	// guarded by the user's writeMu.
	written, every int
	// runs counts the checkpoints that copied pages, for tests.
	runs atomic.Uint64
}

func startCheckpointer(path string, log *slog.Logger) (*checkpointer, error) {
	db, err := sql.Open("sqlite", dsn(path, false))
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	db.SetConnMaxIdleTime(0)
	c := &checkpointer{db: db, log: log, every: ckptPages, wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	go c.loop()
	return c, nil
}

func (c *checkpointer) loop() {
	defer close(c.done)
	for {
		select {
		case <-c.stop:
			return
		case <-c.wake:
		}
		var busy, logged, copied int
		err := c.db.QueryRowContext(context.Background(), `PRAGMA wal_checkpoint(PASSIVE)`).Scan(&busy, &logged, &copied)
		if err != nil {
			// The next wake tries again; the writer's own checkpoint
			// bounds the WAL meanwhile.
			c.log.Warn("background checkpoint", "err", err)
			continue
		}
		if copied > 0 {
			c.runs.Add(1)
		}
	}
}

// committed is called by the writer after each commit, with writeMu held:
// it counts the pages the commit wrote to the WAL and wakes the
// checkpointer once they add up to ckptPages.
func (c *checkpointer) committed(w *sql.DB) {
	conn, err := w.Conn(context.Background())
	if err != nil {
		return
	}
	defer conn.Close()
	var pages int
	if err := conn.Raw(func(dc any) error {
		st, ok := dc.(sqlite.DBStatus)
		if !ok {
			return fmt.Errorf("driver connection %T has no status", dc)
		}
		pages, _, err = st.Status(sqlite.DBStatusCacheWrite, true)
		return err
	}); err != nil {
		return
	}
	c.written += pages
	if c.written < c.every {
		return
	}
	c.written = 0
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// close stops the checkpointer; the writer's close checkpoints what is
// left.
func (c *checkpointer) close() error {
	close(c.stop)
	<-c.done
	return c.db.Close()
}
