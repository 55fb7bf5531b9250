package auth

import "context"

// records is where the account records are kept: the data directory's
// SQLite file (sqliteRecords, db.go) or, when the mail store is
// PostgreSQL, tables on its default cluster that every front end reads
// (pgRecords, pgrecords.go). What is done with them (hashing, the
// verified-credential cache, throttling, the replication rule) is
// Accounts', the same over both.
type records interface {
	// hash returns name's PHC string, or ErrNoUser.
	hash(ctx context.Context, name string) (string, error)
	// names returns the live accounts' names in ascending order.
	names(ctx context.Context) ([]string, error)
	// all returns every account and tombstone, ordered by name.
	all(ctx context.Context) ([]Record, error)
	// clock returns the highest stamp seen (0 when none).
	clock(ctx context.Context) (int64, error)
	// deleted reports whether name has a tombstone and no account.
	deleted(ctx context.Context, name string) (bool, error)
	// replaceHash sets name's hash to newHash if it is still oldHash,
	// without a new stamp (a re-hash changes no password).
	replaceHash(ctx context.Context, name, oldHash, newHash string) (bool, error)
	// update runs fn in one durable transaction. Updates are serialized
	// (by every process that shares the records), so what fn reads stays
	// true until it commits.
	update(ctx context.Context, fn func(recordTx) error) error
	// peerRecords returns what setPeerRecords last recorded for peer, and
	// whether anything was (a peer with no records is still known).
	peerRecords(ctx context.Context, peer string) ([]Record, bool, error)
	// setPeerRecords replaces what is recorded for peer.
	setPeerRecords(ctx context.Context, peer string, recs []Record) error
	// forgetPeer drops what is recorded for peer.
	forgetPeer(ctx context.Context, peer string) error
	// pruneTombstones runs pruneTombstonesSQL and dropPrunedPeerRowsSQL
	// in one transaction, returning how many tombstones went.
	pruneTombstones(ctx context.Context, before int64) (int, error)
	close() error
}

// recordTx is the inside of one update.
type recordTx interface {
	// clock returns the highest stamp seen.
	clock() (int64, error)
	// raiseClock makes the highest stamp seen at least stamp.
	raiseClock(stamp int64) error
	// current returns what is held for name: the account, or its
	// tombstone (Deleted), or ok false for neither.
	current(name string) (r Record, ok bool, err error)
	// put replaces what is held for r.Name with r: a live record
	// replaces the account (and drops a tombstone), a deleted one removes
	// the account and leaves a tombstone. changedUnix is the live
	// record's change time.
	put(r Record, changedUnix int64) error
}
