package search

import (
	"github.com/tidemark-mail/tidemark/internal/message"
	"github.com/tidemark-mail/tidemark/internal/store"
)

// Answering string keys from a text index (store.TextSearcher). Before
// evaluation, each BODY, TEXT, HEADER, SUBJECT, FROM, TO, CC and BCC key
// whose string an index decides (message.IndexableNeedle: three
// characters or more) is asked of the index once; its answer is kept on
// the key, and the key is then decided for each message from the UID sets
// alone, like a flag: in Sure it matches, outside Sure and Maybe it does
// not, and only a message in Maybe is evaluated from its stored data or
// bytes as before. Keys the index cannot answer (short strings, an index
// not built) are evaluated as before.

// textFields maps the keys an index can answer to their fields.
var textFields = map[Op]store.TextField{
	OpBody:    store.TextBody,
	OpText:    store.TextText,
	OpHeader:  store.TextHeader,
	OpSubject: store.TextSubject,
	OpFrom:    store.TextFrom,
	OpTo:      store.TextTo,
	OpCc:      store.TextCc,
	OpBcc:     store.TextBcc,
}

// ResolveText asks fn, once per key an index can answer, for the messages
// containing the folded needle in the key's field, and keeps every answer
// that is OK. It runs after Resolve, before evaluation.
func (p *Program) ResolveText(fn func(field store.TextField, needle string) (store.TextHits, error)) error {
	return p.Key.walk(func(k *Key) error {
		field, ok := textFields[k.Op]
		if !ok {
			return nil
		}
		k.text = nil
		needle, ok := message.IndexableNeedle(k.Str)
		if !ok {
			return nil
		}
		hits, err := fn(field, needle)
		if err != nil || !hits.OK {
			return err
		}
		k.text = &hits
		return nil
	})
}

// textMatch decides k for uid from an index's answer; ok false when the
// index left it undecided (or was not asked).
func (k *Key) textMatch(uid store.UID) (Result, bool) {
	switch {
	case k.text == nil:
		return Unknown, false
	case k.text.Sure.Contains(uid):
		return Yes, true
	case k.text.Maybe.Contains(uid):
		return Unknown, false
	}
	return No, true
}
