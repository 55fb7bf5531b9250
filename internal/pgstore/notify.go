package pgstore

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tidemark-mail/tidemark/internal/store"
)

// Cross-node push. Every write transaction queues, for each mailbox it
// changed, NOTIFY on channelName with the payload
//
//	<node> <user> <mailbox id> <modseq>
//
// PostgreSQL delivers it to every listening session when (and only if) the
// transaction commits, and drops duplicates within one transaction. The
// notification says only "mailbox X is at modseq N" (0: the mailbox is
// gone); a woken node asks the store what changed, as for its own commits.
//
// Each node listens on one dedicated connection. Notifications that arrive
// together are coalesced (the highest modseq per mailbox wins) and
// published on the node's Hub. A node never trusts that it saw every
// notification: when the listening connection drops it reconnects, and
// then compares the modseq of every mailbox of the users it has open with
// the highest it knew of (seen), announcing those that moved. Besides, an
// open mailbox's in-memory copy checks HIGHESTMODSEQ before answering
// from memory (store.Shared), so a late notification costs latency, never
// correctness.

const channelName = "tidemark_commits"

// notify queues the notification for a mailbox this transaction changed.
func (t *writeTx) notify(user string, id store.MailboxID, m store.ModSeq) error {
	if t.notified[id] {
		return nil
	}
	payload := fmt.Sprintf("%s %s %d %d", nodeOf(t), user, id, m)
	if _, err := t.tx.Exec(t.ctx, `SELECT pg_notify($1, $2)`, channelName, payload); err != nil {
		return fmt.Errorf("notify: %w", err)
	}
	if t.notified != nil {
		t.notified[id] = true
	}
	return nil
}

// nodeOf returns the node id to put in a transaction's notifications; a
// transaction with no owner (administrative ones) uses "-", which every
// node, including this one, acts on.
func nodeOf(t *writeTx) string {
	if t.node == "" {
		return "-"
	}
	return t.node
}

// committed publishes a transaction's changes on the local Hub and records
// them as seen.
func (s *Store) committed(user string, touched map[store.MailboxID]store.ModSeq) {
	s.seenMu.Lock()
	for id, m := range touched {
		k := mailboxKey{user, id}
		if m == 0 {
			delete(s.seen, k)
		} else if m > s.seen[k] {
			s.seen[k] = m
		}
	}
	s.seenMu.Unlock()
	for id, m := range touched {
		s.hub.Publish(user, id, m)
	}
}

// coalesceWindow is how long the listener gathers notifications before
// publishing them: a burst of commits to one mailbox wakes its watchers
// once.
const coalesceWindow = 2 * time.Millisecond

// listen runs the listening connection until ctx ends, reconnecting with
// a growing pause after failures. The first connection's outcome is sent
// on ready.
func (s *Store) listen(ctx context.Context, cc *pgx.ConnConfig, ready chan<- error) {
	defer close(s.listenDone)
	first := true
	pause := 100 * time.Millisecond
	for ctx.Err() == nil {
		if f := s.beforeReconnect.Load(); !first && f != nil {
			(*f)()
		}
		conn, err := pgx.ConnectConfig(ctx, cc.Copy())
		if err == nil {
			_, err = conn.Exec(ctx, "LISTEN "+channelName)
		}
		if first {
			ready <- err
			if err != nil {
				if conn != nil {
					conn.Close(context.Background())
				}
				return
			}
			first = false
		} else if err == nil {
			s.reconnects.Add(1)
			// Anything committed while nobody listened is found by
			// modseq, not by hoping to have heard of it.
			s.catchUp(ctx)
		}
		if err == nil {
			pause = 100 * time.Millisecond
			s.receive(ctx, conn)
		}
		if conn != nil {
			conn.Close(context.Background())
		}
		select {
		case <-ctx.Done():
		case <-time.After(pause):
		}
		pause = min(2*pause, 5*time.Second)
	}
}

// receive reads notifications until the connection fails or ctx ends.
func (s *Store) receive(ctx context.Context, conn *pgx.Conn) {
	pending := make(map[mailboxKey]store.ModSeq)
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return
		}
		s.note(pending, n.Payload)
		// Gather what else has arrived, briefly, then publish once.
		wctx, cancel := context.WithTimeout(ctx, coalesceWindow)
		for {
			n, err := conn.WaitForNotification(wctx)
			if err != nil {
				break
			}
			s.note(pending, n.Payload)
		}
		cancel()
		s.publishPending(pending)
		if ctx.Err() != nil {
			return
		}
		if !conn.IsClosed() {
			continue
		}
		return
	}
}

// note parses one notification into pending, ignoring this node's own.
func (s *Store) note(pending map[mailboxKey]store.ModSeq, payload string) {
	f := strings.Fields(payload)
	if len(f) != 4 || f[0] == s.node {
		return
	}
	id, err1 := strconv.ParseInt(f[2], 10, 64)
	m, err2 := strconv.ParseUint(f[3], 10, 64)
	if err1 != nil || err2 != nil {
		return
	}
	s.received.Add(1)
	k := mailboxKey{f[1], store.MailboxID(id)}
	if old, ok := pending[k]; !ok || (m != 0 && store.ModSeq(m) > old) || m == 0 {
		pending[k] = store.ModSeq(m)
	}
}

// publishPending announces the gathered notifications that tell this node
// something new, and empties pending. Duplicates and late arrivals (a
// modseq already seen) are dropped.
func (s *Store) publishPending(pending map[mailboxKey]store.ModSeq) {
	var out []mailboxKey
	s.seenMu.Lock()
	for k, m := range pending {
		switch {
		case m == 0:
			delete(s.seen, k)
			out = append(out, k)
		case m > s.seen[k]:
			s.seen[k] = m
			out = append(out, k)
		}
	}
	s.seenMu.Unlock()
	for _, k := range out {
		s.hub.Publish(k.user, k.id, pending[k])
	}
	clear(pending)
}

// catchUp announces every mailbox of the users open on this node whose
// HIGHESTMODSEQ moved past what the node knew, and every known mailbox
// that no longer exists.
func (s *Store) catchUp(ctx context.Context) {
	s.mu.Lock()
	users := make([]string, 0, len(s.open))
	for u := range s.open {
		users = append(users, u)
	}
	s.mu.Unlock()
	if len(users) == 0 {
		return
	}
	rows, err := s.pool.Query(ctx, `SELECT u.name, m.id, m.highestmodseq FROM mailboxes m
		JOIN users u ON u.id = m.user_id WHERE u.name = ANY($1)`, users)
	if err != nil {
		return
	}
	pending := make(map[mailboxKey]store.ModSeq)
	live := make(map[mailboxKey]bool)
	for rows.Next() {
		var k mailboxKey
		var m store.ModSeq
		if rows.Scan(&k.user, &k.id, &m) != nil {
			rows.Close()
			return
		}
		live[k] = true
		pending[k] = m
	}
	rows.Close()
	if rows.Err() != nil {
		return
	}
	open := make(map[string]bool, len(users))
	for _, u := range users {
		open[u] = true
	}
	s.seenMu.Lock()
	for k := range s.seen {
		if !live[k] && open[k.user] {
			pending[k] = 0
		}
	}
	s.seenMu.Unlock()
	s.publishPending(pending)
}
