package server

import (
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/tidemark-mail/tidemark/internal/store"
)

// TestWriteCommandsImapclient drives STORE, COPY, MOVE, EXPUNGE and
// APPEND through go-imap v2's client, an independent implementation of
// the protocol, and checks the UIDPLUS data it parses.
func TestWriteCommandsImapclient(t *testing.T) {
	env := newTestEnv(t, nil)
	env.appendMessages("INBOX", 3, store.Flags{})
	archive := env.createMailbox("Archive")
	expunged := make(chan uint32, 10)
	cl, err := imapclient.DialInsecure(env.addr, &imapclient.Options{
		UnilateralDataHandler: &imapclient.UnilateralDataHandler{
			Expunge: func(seq uint32) { expunged <- seq },
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.Login(testUser, testPass).Wait(); err != nil {
		t.Fatal(err)
	}
	if !cl.Caps().Has(imap.CapUIDPlus) || !cl.Caps().Has(imap.CapMove) {
		t.Fatalf("capabilities %v", cl.Caps())
	}

	// APPEND with flags and date: APPENDUID.
	msg := testMessage("via imapclient")
	date := time.Date(2023, 5, 6, 7, 8, 9, 0, time.UTC)
	app := cl.Append("INBOX", int64(len(msg)), &imap.AppendOptions{Flags: []imap.Flag{imap.FlagDraft, "Custom"}, Time: date})
	if _, err := app.Write([]byte(msg)); err != nil {
		t.Fatal(err)
	}
	if err := app.Close(); err != nil {
		t.Fatal(err)
	}
	ad, err := app.Wait()
	if err != nil {
		t.Fatal(err)
	}
	inbox := env.mailboxStatus("INBOX")
	if ad.UID != 4 || ad.UIDValidity != inbox.UIDValidity {
		t.Fatalf("append data %+v", ad)
	}
	if _, err := cl.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}

	// STORE: the returned FETCH data carries the new flags.
	msgs, err := cl.Store(imap.SeqSetNum(1, 2), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagSeen}}, nil).Collect()
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 2 || msgs[1].SeqNum != 2 || len(msgs[1].Flags) != 1 || msgs[1].Flags[0] != imap.FlagSeen {
		t.Fatalf("store returned %+v", msgs)
	}
	// Conditional UID STORE: UID and MODSEQ come back.
	msgs, err = cl.Store(imap.UIDSetNum(3), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagFlagged}},
		&imap.StoreOptions{UnchangedSince: uint64(inbox.HighestModSeq) + 10}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 1 || msgs[0].UID != 3 || msgs[0].ModSeq == 0 {
		t.Fatalf("conditional store returned %+v", msgs)
	}

	// COPY: COPYUID.
	cd, err := cl.Copy(imap.SeqSetNum(1, 3), "Archive").Wait()
	if err != nil {
		t.Fatal(err)
	}
	if cd.UIDValidity != archive.UIDValidity || cd.SourceUIDs.String() != "1,3" || cd.DestUIDs.String() != "1:2" {
		t.Fatalf("copy data %+v", cd)
	}
	// MOVE: COPYUID from the untagged OK, then the expunge.
	md, err := cl.Move(imap.UIDSetNum(2), "Archive").Wait()
	if err != nil {
		t.Fatal(err)
	}
	if md.UIDValidity != archive.UIDValidity || md.SourceUIDs.String() != "2" || md.DestUIDs.String() != "3" {
		t.Fatalf("move data %+v", md)
	}
	if seq := <-expunged; seq != 2 {
		t.Fatalf("MOVE expunged %d", seq)
	}

	// EXPUNGE: the numbers of the removed messages.
	if err := cl.Store(imap.SeqSetNum(1), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close(); err != nil {
		t.Fatal(err)
	}
	seqs, err := cl.Expunge().Collect()
	if err != nil || len(seqs) != 1 || seqs[0] != 1 {
		t.Fatalf("expunge %v %v", seqs, err)
	}
	if st := env.mailboxStatus("INBOX"); st.Messages != 2 {
		t.Fatalf("INBOX has %d messages", st.Messages)
	}
	// Errors: TRYCREATE is parsed as such.
	_, err = cl.Copy(imap.SeqSetNum(1), "Nowhere").Wait()
	if imapErr, ok := err.(*imap.Error); !ok || imapErr.Code != imap.ResponseCodeTryCreate {
		t.Fatalf("copy to a missing mailbox: %v", err)
	}
	if err := cl.Logout().Wait(); err != nil {
		t.Fatal(err)
	}
}
