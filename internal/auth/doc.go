// Package auth owns Tidemark's accounts: who may log in, with which
// password, and how hard a client may try.
//
// # Model
//
// An account is a user name and an argon2id password hash. The records live
// in one SQLite database in the data directory (DATA/accounts.db, WAL mode,
// synchronous=FULL; OpenAccountsWith) or, when the mail store is
// PostgreSQL, in tables of its default cluster shared by every front end
// (OpenPostgresAccounts). Either way a change made by `tidemark user` is
// durable when the command returns and is seen at once by every running
// server, which reads the record on every login.
//
// User names are case-insensitive: every entry point folds ASCII upper case
// to lower case and then applies ValidName. The same names key the mail
// store, so ValidName is the single definition of what a user name is.
//
// Password hashes are stored in the PHC string format
//
//	$argon2id$v=19$m=19456,t=2,p=1$<salt>$<key>
//
// (salt and key in unpadded standard base64), so each record carries the
// parameters it was made with. When the configured parameters change, a
// record is re-hashed with the new ones the next time its owner logs in.
//
// # Replication
//
// Every record carries a stamp (a hybrid logical clock) and a delete
// leaves a tombstone, so two servers that exchange Records and Apply them
// settle on the same accounts: the later change wins, ties are broken by
// the records' contents, and a deleted account is not brought back by an
// older copy (replica.go; internal/replica carries them).
//
// # Login costs and limits
//
// Authenticate is the only place a password is checked. It applies, in order:
//
//  1. Throttling, on failures only: failures are counted per client
//     address (IPv6 by /64) and per user at one address, in a fixed window;
//     once a key reaches its limit, attempts are refused with ErrThrottled
//     for a cooling period without the password being looked at. So
//     failures from elsewhere never lock a user out of an address that has
//     not failed. A slower brake counts a user's failures from all
//     addresses together: past its threshold that user's checks are spaced
//     apart (queued, never refused), which bounds guessing from many
//     addresses. Attempts in flight are bounded by the failures still
//     allowed and wait for a slot rather than being refused, so parallel
//     connections cannot race past a limit and a busy address with correct
//     passwords is slowed, never refused. A successful login clears the
//     pair's count but not the address's.
//  2. A verified-credential cache: after a successful login, the user's
//     entry holds an HMAC-SHA-256 of the password under a key drawn at
//     random when the process starts, with the hash record it was checked
//     against. A repeated login with the same password within the TTL, while
//     the record is unchanged, skips argon2id. The record comparison makes
//     a password change by another process (the CLI) void the entry too.
//  3. argon2id, with at most MaxConcurrentHashes computations at once to
//     bound memory. An unknown user costs the same hash as a known one.
//
// Every failure, throttled or not, is answered after FailureDelay.
//
// ConnLimiter is separate: it caps simultaneous connections per address and
// sessions per user.
package auth
