// Package storetest is the conformance suite of store.Store: the unit
// tests and the model-based test (long seeded random operation sequences
// checked against a simple in-memory reference) that every backend must
// pass. A backend's own tests call Run with a Backend that makes fresh
// stores; tests of things only one backend has (its files, its schema
// migrations, its crash behaviour) stay with that backend.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/tidemark-mail/tidemark/internal/store"
)

var ctx = context.Background()

// Backend makes stores of one kind for the suite.
type Backend struct {
	// New returns a fresh, empty store, closed when the test ends.
	New func(t testing.TB, opts Options) store.Store
	// Reopen returns a second, independent store over the same data as
	// st (a second process, in effect), closed when the test ends; nil
	// when the backend has no such thing.
	Reopen func(t testing.TB, st store.Store) store.Store
	// TombstoneRows, when set, counts the tombstone rows of mailbox id,
	// for the test that they merge.
	TombstoneRows func(t testing.TB, a store.Account, id store.MailboxID) int
	// ModelSetup, when set, runs before each seed of the model test (to
	// shrink internal sizes, say).
	ModelSetup func(t *testing.T, seed int)
	// Parallel runs the suite's tests side by side: for a backend whose
	// tests wait on a server rather than on the CPU, each with a store of
	// its own.
	Parallel bool
}

// Options are the store settings tests ask for.
type Options struct {
	MaxMessageSize int64
}

// Run runs the whole suite.
func Run(t *testing.T, b Backend) {
	tests := []struct {
		name string
		fn   func(*testing.T, Backend)
	}{
		{"AppendAndRead", testAppendAndRead},
		{"AppendErrors", testAppendErrors},
		{"ThreadIDs", testThreadIDs},
		{"SetFlags", testSetFlags},
		{"ExpungeAndChanges", testExpungeAndChanges},
		{"ExpungeDeletedReadsFlagsAtCommit", testExpungeDeletedReadsFlagsAtCommit},
		{"TombstonesCompact", testTombstonesCompact}, // tombstones.go
		{"CopyMove", testCopyMove},
		{"LargeBody", testLargeBody},
		{"ReadMessages", testReadMessages}, // read.go
		{"MailboxNames", testMailboxNames},
		{"DeleteAndRecreate", testDeleteAndRecreate},
		{"Rename", testRename},
		{"Subscriptions", testSubscriptions},
		{"Users", testUsers},
		{"UsersAreIsolated", testUsersAreIsolated},
		{"HubPublishesAfterCommit", testHubPublishesAfterCommit},
		{"TwoWritersOneUser", testTwoWritersOneUser},
		{"ExpungedWhileReading", testExpungedWhileReading},
		{"Recent", testRecent},
		{"Metadata", testMetadata},
		{"ACL", testACL}, // acl.go
		{"AccessKeys", testAccessKeys},
		{"ReplicateSharing", testReplicateSharing}, // sharing.go
		{"PruneSharing", testPruneSharing},         // sharing.go
		{"Progress", testProgress},
		{"Defaults", testDefaults},
		{"TextSearch", testTextSearch}, // textsearch.go
		{"Summary", testSummary},       // summary.go
		{"Replace", testReplace},
		{"Model", testModel},
	}
	for _, tc := range append(tests, replicaTests...) {
		t.Run(tc.name, func(t *testing.T) {
			if b.Parallel {
				t.Parallel()
			}
			tc.fn(t, b)
		})
	}
}

// newAccount returns a fresh store with user "alice" open.
func (be Backend) newAccount(t testing.TB) (store.Store, store.Account) {
	t.Helper()
	s := be.New(t, Options{})
	return s, mustUser(t, s, "alice")
}

func mustUser(t testing.TB, s store.Store, name string) store.Account {
	t.Helper()
	if err := s.CreateUser(ctx, name); err != nil {
		t.Fatal(err)
	}
	a, err := s.Open(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return a
}

// The helpers below are exported for the backends' own tests, which set
// up accounts the same way.

// MustMailbox looks mailbox name up, failing the test when it is absent.
func MustMailbox(t testing.TB, a store.Account, name string) store.MailboxInfo {
	t.Helper()
	m, err := a.Mailbox(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func names(t *testing.T, a store.Account) []string {
	t.Helper()
	ms, err := a.Mailboxes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range ms {
		out = append(out, m.Name)
	}
	return out
}

// MessageText is test message i, with extra header lines; messages of
// different i differ in subject, Message-ID and body.
func MessageText(i int, extra string) string {
	return fmt.Sprintf("From: a@example.org\r\nTo: b@example.org\r\nSubject: message %d\r\nMessage-ID: <m%d@example.org>\r\n%s\r\nbody %d\r\n", i, i, extra, i)
}

// AppendN appends messages 0 to n-1 (MessageText) with flags in one call.
func AppendN(t testing.TB, a store.Account, id store.MailboxID, n int, flags store.Flags) store.AppendResult {
	t.Helper()
	var msgs []store.NewMessage
	for i := 0; i < n; i++ {
		msgs = append(msgs, store.NewMessage{Body: strings.NewReader(MessageText(i, "")), Flags: flags})
	}
	res, err := a.Append(ctx, id, msgs)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// AssertClean runs the backend's checker, when it has one, and fails the
// test on any problem it reports.
func AssertClean(t testing.TB, s store.Store, user string) {
	t.Helper()
	c, ok := s.(store.Checker)
	if !ok {
		return
	}
	ps, err := c.Check(ctx, user)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ps {
		t.Error("check:", p)
	}
	if len(ps) > 0 {
		t.FailNow()
	}
}

// AssertErr fails the test unless err is (or wraps) want.
func AssertErr(t testing.TB, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("err = %v, want %v", err, want)
	}
}

func isErr(err, want error) bool { return errors.Is(err, want) }
