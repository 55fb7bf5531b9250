package sqlitestore

import (
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/tidemark-mail/tidemark/internal/store"
)

// TestAppendBatchRows: an append larger than one multi-row INSERT
// (batchRows), inserted in steps (appendStep) while the rest of it is
// still being prepared, gives every UID its own message: bytes, size,
// flags, one modseq and thread, and a reply later in the batch (steps
// later) joins its parent's thread.
func TestAppendBatchRows(t *testing.T) {
	_, a := newAccount(t)
	inbox := mustMailbox(t, a, "INBOX")
	const n = 2*batchRows + 37
	var msgs []store.NewMessage
	var texts []string
	for i := range n {
		m := fmt.Sprintf("Message-ID: <m%d@x>\r\nSubject: message %d\r\n\r\n%s\r\n", i, i, strings.Repeat("y", i))
		if i == n-1 {
			m = "Message-ID: <last@x>\r\nIn-Reply-To: <m3@x>\r\n\r\nreply\r\n"
		}
		f := store.Flags{}
		if i%3 == 0 {
			f.System = store.FlagSeen
		}
		texts = append(texts, m)
		msgs = append(msgs, store.NewMessage{Body: strings.NewReader(m), Flags: f})
	}
	res, err := a.Append(ctx, inbox.ID, msgs)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.UIDs) != n || res.UIDs[0] != 1 || res.UIDs[n-1] != n {
		t.Fatalf("UIDs %v", res.UIDs)
	}
	threads := map[store.UID]string{}
	err = a.Messages(ctx, inbox.ID, store.UIDSet{{Start: 1, Stop: n}}, func(m *store.MessageData) error {
		i := int(m.UID) - 1
		b, err := a.OpenBlob(ctx, m.BlobID)
		if err != nil {
			return err
		}
		defer b.Close()
		data, err := io.ReadAll(b)
		if err != nil {
			return err
		}
		if string(data) != texts[i] || m.Size != int64(len(texts[i])) || (m.Flags.System == store.FlagSeen) != (i%3 == 0) {
			t.Errorf("UID %d: %d bytes %q..., flags %v; want message %d", m.UID, m.Size, data[:min(len(data), 30)], m.Flags, i)
		}
		if m.ModSeq != res.ModSeq {
			t.Errorf("UID %d: modseq %d, the append's %d", m.UID, m.ModSeq, res.ModSeq)
		}
		threads[m.UID] = m.ThreadID
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(threads) != n || threads[n] != threads[4] || threads[4] == threads[5] {
		t.Fatalf("%d messages read; the reply's thread %q, its parent's %q, another's %q", len(threads), threads[n], threads[4], threads[5])
	}
	if st, err := a.Status(ctx, inbox.ID); err != nil || st.Messages != n || st.Unseen != n-(n+2)/3 {
		t.Fatalf("Status %+v, %v", st, err)
	}
}
