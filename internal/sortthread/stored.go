package sortthread

import (
	"encoding/binary"
	"errors"
	"io"

	"github.com/tidemark-mail/tidemark/internal/message"
	"github.com/tidemark-mail/tidemark/internal/store"
)

// Stored keys: what a store keeps of a message at delivery so that the
// first SORT or THREAD of a mailbox reads one small value per message
// instead of decoding its whole stored structure (store.KeysReader). The
// value holds every key that depends on the message's bytes alone, as
// fromStructure computes them; UID, INTERNALDATE and size come from the
// message's row.
//
// Format: a version byte (storedVersion), a flags byte (bit 0: the Date
// header was readable, bit 1: ReplyOrFwd), the sent date as a signed
// varint when bit 0 is set, then From, To, Cc, DisplayFrom, DisplayTo,
// Subject and MessageID, each a uvarint length and its bytes, then the
// number of references and each the same way.

const storedVersion = 1

// KeysVersion is the version of the form EncodeKeys writes.
const KeysVersion = storedVersion

const (
	storedHasSent    = 1 << 0
	storedReplyOrFwd = 1 << 1
)

// EncodeKeys is the stored form of a parsed message's keys.
func EncodeKeys(st *message.Structure) []byte {
	m, hasSent := fromStructure(st)
	n := 2 + binary.MaxVarintLen64 + len(m.From) + len(m.To) + len(m.Cc) + len(m.DisplayFrom) +
		len(m.DisplayTo) + len(m.Subject) + len(m.MessageID) + 8*binary.MaxVarintLen32
	for _, r := range m.Refs {
		n += len(r) + binary.MaxVarintLen32
	}
	b := make([]byte, 0, n)
	var flags byte
	if hasSent {
		flags |= storedHasSent
	}
	if m.ReplyOrFwd {
		flags |= storedReplyOrFwd
	}
	b = append(b, storedVersion, flags)
	if flags&storedHasSent != 0 {
		b = binary.AppendVarint(b, m.Sent)
	}
	for _, s := range []string{m.From, m.To, m.Cc, m.DisplayFrom, m.DisplayTo, m.Subject, m.MessageID} {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	b = binary.AppendUvarint(b, uint64(len(m.Refs)))
	for _, r := range m.Refs {
		b = binary.AppendUvarint(b, uint64(len(r)))
		b = append(b, r...)
	}
	return b
}

var errStoredKeys = errors.New("stored sort keys: malformed")

// DecodeKeys rebuilds a message's keys from their stored form and the
// message's UID, INTERNALDATE (Unix seconds) and size. Its strings share
// one copy of b, so b may be reused after the call.
func DecodeKeys(b []byte, uid store.UID, arrival, size int64) (Msg, error) {
	m := Msg{UID: uid, Arrival: arrival, Sent: arrival, Size: size}
	if len(b) < 2 || b[0] != storedVersion {
		return m, errStoredKeys
	}
	flags := b[1]
	m.ReplyOrFwd = flags&storedReplyOrFwd != 0
	// One string holds every key's bytes; each key is a piece of it.
	all := string(b)
	pos := 2
	if flags&storedHasSent != 0 {
		v, n := binary.Varint(b[pos:])
		if n <= 0 {
			return m, errStoredKeys
		}
		m.Sent, pos = v, pos+n
	}
	next := func() (string, bool) {
		l, n := binary.Uvarint(b[pos:])
		if n <= 0 || l > uint64(len(b)-pos-n) {
			return "", false
		}
		start := pos + n
		pos = start + int(l)
		return all[start:pos], true
	}
	for _, p := range []*string{&m.From, &m.To, &m.Cc, &m.DisplayFrom, &m.DisplayTo, &m.Subject, &m.MessageID} {
		s, ok := next()
		if !ok {
			return m, errStoredKeys
		}
		*p = s
	}
	count, n := binary.Uvarint(b[pos:])
	if n <= 0 || count > uint64(len(b)) {
		return m, errStoredKeys
	}
	pos += n
	if count > 0 {
		m.Refs = make([]string, count)
		for i := range m.Refs {
			s, ok := next()
			if !ok {
				return m, errStoredKeys
			}
			m.Refs[i] = s
		}
	}
	if pos != len(b) {
		return m, errStoredKeys
	}
	return m, nil
}

// Summarize computes what a store keeps of a message at delivery for
// SORT, THREAD and FETCH PREVIEW: its stored keys and its RFC 8970
// preview (message.Preview; nil when the part cannot be read).
func Summarize(st *message.Structure, r io.ReaderAt) (keys []byte, preview *string) {
	keys = EncodeKeys(st)
	if pv, err := message.Preview(st, r); err == nil {
		preview = &pv
	}
	return keys, preview
}
