package server

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/tidemark-mail/tidemark/internal/sqlitestore"
	"github.com/tidemark-mail/tidemark/internal/store"
)

// corpusFetchDigests are the SHA-256 digests of the whole responses
// (untagged lines and the tagged OK) to these FETCHes of every message of
// ../shared/data/bench.mbox, as the server answered them before FETCH
// read only the columns its items need and rendered BODYSTRUCTURE
// without building upper-cased strings: the responses must stay the same
// byte for byte.
var corpusFetchDigests = []struct{ cmd, digest string }{
	{"F FETCH 1:* (BODYSTRUCTURE)",
		"857e28e155bd13bf56abe492a9c7a7225ea533d41804841582cc48278f85e88c"},
	{"F FETCH 1:* (BODY)",
		"125a1773ac7aba2491208bf36af1c56cb83d6451b3c6b749d8ec27c8e6694a80"},
	{"F FETCH 1:* (ENVELOPE)",
		"fd67059a5d29cbab5994b90ab39446803f283418ecc8219626d56eb8e2bdd49a"},
	{"F FETCH 1:* ALL",
		"259940bff86c1cd3a11589bf455917aaba1867ce11f0a63ae02cf58d45b8a8c6"},
	{"F FETCH 1:* (UID RFC822.SIZE INTERNALDATE)", // SAVEDATE is in the local zone
		"dadfc77d58a5d180a8b586b625d2d260881ac3921be0859c32f6fe581aa25fee"},
	{"F FETCH 1:* BODY.PEEK[]",
		"1bbc307dc32afd5860813a330a058ff26d31c2efea644763828168fa8f9f5b8d"},
	{"F FETCH 1:* (BODY.PEEK[1] BODY.PEEK[1.MIME] BODY.PEEK[HEADER.FIELDS (SUBJECT FROM)]<5.40> BODY.PEEK[TEXT]<100.200>)",
		"bc8af9d4d848a06ee2829a975bdac8cc2a4a506e9575a69628a1208b70ab9f0f"},
	{"F FETCH 1:* (BINARY.PEEK[] BINARY.SIZE[1])",
		"c104d26d5706646dacd6fb5b5ffe4097a740758c33e23d1b6d106ad231da0815"},
	{"F FETCH 1:* BINARY.PEEK[1]",
		"8396f6e65f1c891e9f24baf00921bc3c74119570716182a817bd7b7d2221d606"},
	{"F FETCH 1:* (PREVIEW)",
		"21d23d59b03476b22ddbead4fe583e9fd4dd65954b9147f4474fc22dbb65237a"},
	{"F FETCH 1:* (ENVELOPE BODYSTRUCTURE RFC822.SIZE)",
		"b1171432f40c222a26c2c17fa7a230fa274086ad64b2f82edd4f0205ba02ae36"},
	{"E ENABLE IMAP4rev2",
		"3a73c7269c7d2b37e9a7493bf6313ba75fc0a748bd6f63453867ff9f9dfba6f6"},
	{"F FETCH 1:* (ENVELOPE BODYSTRUCTURE)",
		"04ffa7c695fc40aa99044fde6111710ea962d3b0f6ac034f9ad66ce840846ded"},
}

// TestFetchCorpusUnchanged: FETCH answers every message of the benchmark
// corpus as it did before (corpusFetchDigests), for IMAP4rev1 clients and
// IMAP4rev2 ones (quoted UTF-8).
func TestFetchCorpusUnchanged(t *testing.T) {
	embeddedOnly(t, "digests of the embedded store's EMAILIDs and THREADIDs")
	msgs := benchMboxMessages(t, 0)
	// A fixed clock: INTERNALDATE and SAVEDATE are part of the digests.
	day := time.Date(2026, 12, 3, 10, 0, 0, 0, time.FixedZone("", 3600))
	now := func() time.Time { return day }
	e := newTestEnvStore(t, "127.0.0.1:0", sqlitestore.Options{Now: now}, func(c *Config) { c.Now = now })
	a := e.account()
	mb, err := a.Mailbox(context.Background(), "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < len(msgs); i += 500 {
		var batch []store.NewMessage
		for _, m := range msgs[i:min(i+500, len(msgs))] {
			batch = append(batch, store.NewMessage{Body: strings.NewReader(string(m))})
		}
		if _, err := a.Append(context.Background(), mb.ID, batch); err != nil {
			t.Fatal(err)
		}
	}
	claimedElsewhere(t, a, mb.ID)
	c := e.dial()
	c.login()
	c.send("S SELECT INBOX")
	c.until("S OK")
	for _, f := range corpusFetchDigests {
		// A FETCH runs twice: the second reads the bodies the first
		// decompressed from the store's cache, and must answer the same.
		for run := range 2 {
			if run == 1 && !strings.Contains(f.cmd, "FETCH") {
				break
			}
			c.send(f.cmd)
			tag := f.cmd[:strings.IndexByte(f.cmd, ' ')+1]
			h := sha256.New()
			for {
				l := readRawResponse(t, c)
				h.Write(l)
				if strings.HasPrefix(string(l), tag) {
					if !strings.HasPrefix(string(l), tag+"OK") {
						t.Fatalf("%s: %s", f.cmd, l)
					}
					break
				}
			}
			if got := hex.EncodeToString(h.Sum(nil)); got != f.digest {
				t.Errorf("%s (run %d): responses digest %s, want %s", f.cmd, run+1, got, f.digest)
			}
		}
	}
	// The whole message is the bytes appended, read from the frame and
	// then from the cache, whole and in pieces.
	for run := range 2 {
		c.send("B FETCH 1:* (BODY.PEEK[] BODY.PEEK[]<7.1000>)")
		for i, m := range msgs {
			l := readRawResponse(t, c)
			want := fmt.Sprintf("* %d FETCH (BODY[] {%d}\r\n%s BODY[]<7> {%d}\r\n%s)\r\n", i+1, len(m), m, min(1000, len(m)-7), m[7:min(1007, len(m))])
			if string(l) != want {
				t.Fatalf("run %d: message %d: got %d bytes, not the %d appended", run+1, i+1, len(l), len(m))
			}
		}
		if l := readRawResponse(t, c); !strings.HasPrefix(string(l), "B OK") {
			t.Fatalf("%s", l)
		}
	}
	// go-imap's client reads the same structures whether they were
	// written anew or copied from structureRenders.
	cl := dialImapClient(t, e)
	if _, err := cl.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	var read [2][]*imapclient.FetchMessageBuffer
	for run := range read {
		if run == 0 {
			structureRenders.Clear()
		}
		var all imap.SeqSet
		all.AddRange(1, 0) // 1:*
		var err error
		read[run], err = cl.Fetch(all, &imap.FetchOptions{BodyStructure: &imap.FetchItemBodyStructure{Extended: true}}).Collect()
		if err != nil {
			t.Fatal(err)
		}
		if len(read[run]) != len(msgs) {
			t.Fatalf("run %d: %d messages", run+1, len(read[run]))
		}
	}
	for i := range read[0] {
		if read[0][i].BodyStructure == nil || !reflect.DeepEqual(read[0][i].BodyStructure, read[1][i].BodyStructure) {
			t.Fatalf("message %d: body structure %#v, then %#v", i+1, read[0][i].BodyStructure, read[1][i].BodyStructure)
		}
	}

	// EMAILID and THREADID are made afresh by each store: as stored.
	want := map[string]bool{}
	err = a.Messages(context.Background(), mb.ID, store.UIDSet{{Start: 1, Stop: store.MaxUID}}, func(m *store.MessageData) error {
		want[fmt.Sprintf("* %d FETCH (UID %d EMAILID (%s) THREADID (%s))", m.UID, m.UID, m.EmailID, m.ThreadID)] = true
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	c.send("F UID FETCH 1:* (EMAILID THREADID)")
	lines := c.until("F OK")
	for _, l := range lines[:len(lines)-1] {
		if !want[l] {
			t.Fatalf("%q: not as stored", l)
		}
	}
	if len(lines)-1 != len(msgs) {
		t.Fatalf("%d responses to FETCH EMAILID THREADID, want %d", len(lines)-1, len(msgs))
	}
}

// readRawResponse reads one response as it came, literals included
// (whatever bytes they hold).
func readRawResponse(t *testing.T, c *client) []byte {
	t.Helper()
	c.conn.SetReadDeadline(time.Now().Add(hangDeadline))
	var out []byte
	for {
		l, err := c.r.ReadBytes('\n')
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		out = append(out, l...)
		m := literalEnd.FindSubmatch(l)
		if m == nil {
			return out
		}
		n, _ := strconv.Atoi(string(m[1]))
		lit := make([]byte, n)
		if _, err := io.ReadFull(c.r, lit); err != nil {
			t.Fatalf("read literal: %v", err)
		}
		out = append(out, lit...)
	}
}

// literalEnd matches a line that announces a literal (or literal8).
var literalEnd = regexp.MustCompile(`~?\{(\d+)\}\r\n$`)
