package pgstore

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// The modseq floor across a restore. Everything a client has been told
// lives in the database, so crashes and failovers keep it, but a restore
// to an earlier point (pg_restore of a dump, point-in-time recovery) takes
// HIGHESTMODSEQ, UIDNEXT and the UIDVALIDITY counters back with it: a
// client that synced after that point would be told a smaller
// HIGHESTMODSEQ, or the same UIDVALIDITY over different messages, and
// would trust a state it never had. RaiseFloor is the step that makes the
// restored database safe to serve again.
const (
	// FloorModSeqStep is added to every mailbox's HIGHESTMODSEQ: above
	// anything handed out after the restore point unless one mailbox took
	// more than four billion changes since then.
	FloorModSeqStep = 1 << 32
	// FloorUIDValidityStep is added to every user's UIDVALIDITY counter
	// before each mailbox takes a new value from it: unused unless the
	// user created more than a million mailboxes after the restore point.
	FloorUIDValidityStep = 1 << 20
)

// ErrNotAlone is returned by RaiseFloor when other sessions are connected
// to the database: front ends must be stopped while the floor is raised.
var ErrNotAlone = errors.New("other sessions are connected to the database")

// FloorRaised is what RaiseFloor did.
type FloorRaised struct {
	Mailboxes int
	Users     int
}

// RaiseFloor makes a restored database safe to serve: in one transaction,
// every mailbox gets a new UIDVALIDITY (so every client drops its cache
// of it and resyncs in full: the only truthful answer once mail a client
// saw may be gone) and a HIGHESTMODSEQ FloorModSeqStep higher (so no
// client is ever shown a modseq below one it saw). The new values are
// recorded in the UIDVALIDITY history. It refuses (ErrNotAlone) while
// other sessions use the database, unless force. Running it twice is
// harmless: each run raises again.
func RaiseFloor(ctx context.Context, dsn string, force bool) (FloorRaised, error) {
	var res FloorRaised
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return res, err
	}
	conn, err := pgx.ConnectConfig(ctx, cfg.ConnConfig)
	if err != nil {
		return res, err
	}
	defer conn.Close(ctx)
	if !force {
		// A client that has just disconnected (pg_restore, say) keeps its
		// backend listed until the backend has finished exiting: allow
		// sessions that are ending a few seconds to go.
		var others int
		for wait := 0; ; wait++ {
			if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
				WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'`).Scan(&others); err != nil {
				return res, err
			}
			if others == 0 || wait == 50 {
				break
			}
			select {
			case <-ctx.Done():
				return res, ctx.Err()
			case <-time.After(100 * time.Millisecond):
			}
		}
		if others > 0 {
			return res, fmt.Errorf("%w (%d)", ErrNotAlone, others)
		}
	}
	err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(migrationLock)); err != nil {
			return err
		}
		var top int64
		if err := tx.QueryRow(ctx, `SELECT coalesce(max(u.uidvalidity_next + $1 + (SELECT count(*) FROM mailboxes m WHERE m.user_id = u.id)), 0)
			FROM users u`, int64(FloorUIDValidityStep)).Scan(&top); err != nil {
			return err
		}
		if top > 1<<32-1 {
			return fmt.Errorf("raising the floor would take a UIDVALIDITY past 2^32-1")
		}
		tag, err := tx.Exec(ctx, `WITH n AS (
				SELECT m.id, u.uidvalidity_next + $1 + row_number() OVER (PARTITION BY m.user_id ORDER BY m.id) - 1 AS uidv
				FROM mailboxes m JOIN users u ON u.id = m.user_id)
			UPDATE mailboxes m SET uidvalidity = n.uidv, highestmodseq = m.highestmodseq + $2
			FROM n WHERE n.id = m.id`, int64(FloorUIDValidityStep), int64(FloorModSeqStep))
		if err != nil {
			return err
		}
		res.Mailboxes = int(tag.RowsAffected())
		if _, err := tx.Exec(ctx, `INSERT INTO uidvalidity_history (user_id, name, uidvalidity)
			SELECT user_id, name, uidvalidity FROM mailboxes ON CONFLICT DO NOTHING`); err != nil {
			return err
		}
		tag, err = tx.Exec(ctx, `UPDATE users u SET uidvalidity_next = u.uidvalidity_next + $1 +
			(SELECT count(*) FROM mailboxes m WHERE m.user_id = u.id)`, int64(FloorUIDValidityStep))
		if err != nil {
			return err
		}
		res.Users = int(tag.RowsAffected())
		return nil
	})
	return res, err
}

// poolOption matches one pool_* setting of a key=value connection string.
var poolOption = regexp.MustCompile(`\s*\bpool_\w+\s*=\s*('(?:[^'\\]|\\.)*'|\S+)`)

// LibpqDSN returns dsn without the pool_* settings only pgx knows, so that
// PostgreSQL's own tools (pg_dump, pg_restore, psql) accept it.
func LibpqDSN(dsn string) string {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			return dsn
		}
		q := u.Query()
		for k := range q {
			if strings.HasPrefix(k, "pool_") {
				q.Del(k)
			}
		}
		u.RawQuery = q.Encode()
		return u.String()
	}
	return strings.TrimSpace(poolOption.ReplaceAllString(dsn, ""))
}
