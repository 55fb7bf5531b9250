package pgstore

// schemaV17Accounts keeps the logins every front end must see alike: an
// account added, re-passworded or deleted through one node is what the
// next login on every node checks. internal/auth reads and writes these
// tables (its pgrecords.go); their columns are those of the data
// directory's accounts.db, which a node imports once (auth.ImportFile).
//
//	accounts            one row per live login: argon2id PHC string,
//	                    creation and change times (Unix seconds), and
//	                    the stamp replication orders changes by
//	account_tombstones  deleted names with the stamp of the delete, so
//	                    an older copy of the record does not come back
//	account_clock       one row: the highest stamp seen; also the lock
//	                    that serializes account changes of all nodes
const schemaV17Accounts = `
CREATE TABLE accounts (
	name          text PRIMARY KEY,
	password_hash text NOT NULL,
	created_unix  bigint NOT NULL,
	changed_unix  bigint NOT NULL,
	stamp         bigint NOT NULL
);
CREATE TABLE account_tombstones (
	name  text PRIMARY KEY,
	stamp bigint NOT NULL
);
CREATE TABLE account_clock (
	id    integer PRIMARY KEY CHECK (id = 1),
	stamp bigint NOT NULL
);
INSERT INTO account_clock (id, stamp) VALUES (1, 0);
`

// schemaV19AccountPeers adds, per replication peer, the account records
// both replicas held when their last full exchange of records ended
// (internal/auth, replica.go): a tombstone every peer holds may be
// pruned, and a record a peer held that is missing here was deleted here
// and its tombstone pruned. The row with an empty name only marks the
// peer as known.
const schemaV19AccountPeers = `
CREATE TABLE account_peers (
	peer    text NOT NULL,
	name    text NOT NULL,
	stamp   bigint NOT NULL,
	deleted boolean NOT NULL,
	PRIMARY KEY (peer, name)
);
`
