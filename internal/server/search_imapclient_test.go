package server

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/tidemark-mail/tidemark/internal/store"
)

// TestSearchWithImapClient runs SEARCH and UID SEARCH through go-imap v2's
// client, as IMAP4rev1 and then as IMAP4rev2 (ESEARCH), and checks what
// it decodes.
func TestSearchWithImapClient(t *testing.T) {
	env := newTestEnv(t, nil)
	a := env.account()
	ctx := context.Background()
	mb, err := a.Mailbox(ctx, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range searchFixture {
		msg := store.NewMessage{Body: strings.NewReader(m.raw), Flags: m.flags, InternalDate: m.internal}
		if _, err := a.Append(ctx, mb.ID, []store.NewMessage{msg}); err != nil {
			t.Fatal(err)
		}
	}
	cl, err := imapclient.DialInsecure(env.addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.Login(testUser, testPass).Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		name     string
		criteria imap.SearchCriteria
		want     []uint32
	}{
		{"unseen", imap.SearchCriteria{NotFlag: []imap.Flag{imap.FlagSeen}}, []uint32{2, 3, 4}},
		{"flag and keyword", imap.SearchCriteria{Flag: []imap.Flag{imap.FlagFlagged, "$Junk"}}, []uint32{2}},
		{"since", imap.SearchCriteria{Since: time.Date(2020, 3, 5, 0, 0, 0, 0, time.UTC)}, []uint32{2, 3, 4}},
		{"sent before", imap.SearchCriteria{SentBefore: time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)}, []uint32{1}},
		{"header", imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "Subject", Value: "café"}}}, []uint32{2}},
		{"body UTF-8 against Latin-1", imap.SearchCriteria{Body: []string{"brûlée"}}, []uint32{2}},
		{"text", imap.SearchCriteria{Text: []string{"NEEDLE"}}, []uint32{3}},
		{"size", imap.SearchCriteria{Larger: 1000}, []uint32{3}},
		{"or/not", imap.SearchCriteria{
			Or:  [][2]imap.SearchCriteria{{{Flag: []imap.Flag{imap.FlagSeen}}, {Flag: []imap.Flag{imap.FlagDeleted}}}},
			Not: []imap.SearchCriteria{{Body: []string{"needle"}}},
		}, []uint32{1}},
		{"seq set", imap.SearchCriteria{SeqNum: []imap.SeqSet{imap.SeqSetNum(1, 2, 3)}, NotFlag: []imap.Flag{imap.FlagDraft}}, []uint32{1, 2}},
	}
	for _, rev2 := range []bool{false, true} {
		if rev2 {
			if _, err := cl.Enable(imap.CapIMAP4rev2).Wait(); err != nil {
				t.Fatal(err)
			}
		}
		for _, tc := range cases {
			data, err := cl.Search(&tc.criteria, nil).Wait()
			if err != nil {
				t.Fatalf("%s (rev2 %v): %v", tc.name, rev2, err)
			}
			if got := data.AllSeqNums(); !slices.Equal(got, tc.want) {
				t.Errorf("%s (rev2 %v): got %v, want %v", tc.name, rev2, got, tc.want)
			}
			// UIDs are the sequence numbers here (nothing was expunged).
			data, err = cl.UIDSearch(&tc.criteria, nil).Wait()
			if err != nil {
				t.Fatal(err)
			}
			var uids []uint32
			for _, u := range data.AllUIDs() {
				uids = append(uids, uint32(u))
			}
			if !slices.Equal(uids, tc.want) {
				t.Errorf("UID %s (rev2 %v): got %v, want %v", tc.name, rev2, uids, tc.want)
			}
		}
	}

	// ESEARCH result options and MODSEQ, as the client decodes them.
	data, err := cl.UIDSearch(&imap.SearchCriteria{NotFlag: []imap.Flag{imap.FlagSeen}},
		&imap.SearchOptions{ReturnMin: true, ReturnMax: true, ReturnCount: true}).Wait()
	if err != nil {
		t.Fatal(err)
	}
	if data.Min != 2 || data.Max != 4 || data.Count != 3 {
		t.Errorf("MIN/MAX/COUNT: %+v", data)
	}
	data, err = cl.Search(&imap.SearchCriteria{ModSeq: &imap.SearchCriteriaModSeq{ModSeq: 1}}, &imap.SearchOptions{ReturnAll: true}).Wait()
	if err != nil {
		t.Fatal(err)
	}
	if data.ModSeq == 0 || len(data.AllSeqNums()) != 4 {
		t.Errorf("MODSEQ search: %+v", data)
	}
}
