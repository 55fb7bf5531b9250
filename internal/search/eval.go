package search

import (
	"fmt"
	"io"
	"time"

	"github.com/tidemark-mail/tidemark/internal/message"
	"github.com/tidemark-mail/tidemark/internal/store"
)

// Message is what is known of one message during evaluation. State is
// always set; Data is nil until the stored metadata has been read, and
// Body nil until the bytes have been opened.
type Message struct {
	State *store.MessageState
	Data  *store.MessageData
	Body  io.ReaderAt
}

// Result is a three-valued answer: a message matches, does not, or cannot
// be decided with the data at hand.
type Result int8

const (
	No Result = iota
	Yes
	Unknown
)

func boolResult(b bool) Result {
	if b {
		return Yes
	}
	return No
}

// Match evaluates the program against m. now is the time OLDER and
// YOUNGER count back from (taken once per command). The result is Unknown
// only when a key needs data m does not have yet; an error comes only from
// reading Body.
func (p *Program) Match(m *Message, now time.Time) (Result, error) {
	return p.Key.match(m, now)
}

func (k *Key) match(m *Message, now time.Time) (Result, error) {
	switch k.Op {
	case OpAll:
		return Yes, nil
	case OpNone:
		return No, nil
	case OpAnd:
		res := Yes
		for _, c := range k.Children {
			r, err := c.match(m, now)
			if err != nil {
				return No, err
			}
			if r == No {
				return No, nil
			}
			if r == Unknown {
				res = Unknown
			}
		}
		return res, nil
	case OpOr:
		res := No
		for _, c := range k.Children {
			r, err := c.match(m, now)
			if err != nil {
				return No, err
			}
			if r == Yes {
				return Yes, nil
			}
			if r == Unknown {
				res = Unknown
			}
		}
		return res, nil
	case OpNot:
		r, err := k.Children[0].match(m, now)
		switch r {
		case Yes:
			r = No
		case No:
			r = Yes
		}
		return r, err
	case OpSeqSet, OpUID, OpRecent:
		return boolResult(k.UIDs.Contains(m.State.UID)), nil
	case OpFlag:
		return boolResult(m.State.Flags.System&k.Flags == k.Flags), nil
	case OpNoFlag:
		return boolResult(m.State.Flags.System&k.Flags == 0), nil
	case OpKeyword:
		return boolResult(m.State.Flags.Has(k.Str)), nil
	case OpUnkeyword:
		return boolResult(!m.State.Flags.Has(k.Str)), nil
	case OpModSeq:
		return boolResult(uint64(m.State.ModSeq) >= k.Num), nil
	}
	if r, ok := k.textMatch(m.State.UID); ok {
		return r, nil
	}

	md := m.Data
	if md == nil {
		return Unknown, nil
	}
	switch k.Op {
	case OpLarger:
		return boolResult(md.Size >= 0 && uint64(md.Size) > k.Num), nil
	case OpSmaller:
		return boolResult(md.Size >= 0 && uint64(md.Size) < k.Num), nil
	case OpBefore, OpOn, OpSince:
		return boolResult(compareDay(k.Op-OpBefore, md.InternalDate, k.Date)), nil
	case OpSavedBefore, OpSavedOn, OpSavedSince:
		return boolResult(compareDay(k.Op-OpSavedBefore, md.SaveDate, k.Date)), nil
	case OpSentBefore, OpSentOn, OpSentSince:
		if md.Structure == nil || md.Structure.Search.Date.IsZero() {
			return No, nil // no usable Date header: no sent date to compare
		}
		return boolResult(compareDay(k.Op-OpSentBefore, md.Structure.Search.Date, k.Date)), nil
	case OpOlder:
		return boolResult(!md.InternalDate.After(now.Add(-seconds(k.Num)))), nil
	case OpYounger:
		return boolResult(!md.InternalDate.Before(now.Add(-seconds(k.Num)))), nil
	case OpEmailID:
		return boolResult(md.EmailID != "" && md.EmailID == k.Str), nil
	case OpThreadID:
		return boolResult(md.ThreadID != "" && md.ThreadID == k.Str), nil
	case OpFrom, OpTo, OpCc, OpBcc, OpSubject:
		if md.Structure == nil {
			return No, nil
		}
		if k.matcher.MatchString(envelopeField(k.Op, &md.Structure.Search)) {
			return Yes, nil
		}
		// A group's name matches as a display name does (RFC 5322 3.4).
		if g := message.GroupNames(envelopeList(k.Op, &md.Structure.Envelope)); g != "" {
			return boolResult(k.matcher.MatchString(g)), nil
		}
		return No, nil
	}

	if m.Body == nil || md.Structure == nil {
		return Unknown, nil
	}
	var ok bool
	var err error
	switch k.Op {
	case OpHeader:
		ok, err = message.HeaderContains(md.Structure, m.Body, k.Field, k.matcher)
	case OpBody:
		ok, err = message.BodyContains(md.Structure, m.Body, k.matcher)
	case OpText:
		ok, err = message.TextContains(md.Structure, m.Body, k.matcher)
	default:
		panic(fmt.Sprintf("search: no evaluation for op %d", k.Op))
	}
	if err != nil {
		return No, fmt.Errorf("search: message %d: %w", m.State.UID, err)
	}
	return boolResult(ok), nil
}

func seconds(n uint64) time.Duration {
	const maxSeconds = uint64(1<<63-1) / uint64(time.Second)
	return time.Duration(min(n, maxSeconds)) * time.Second
}

// envelopeList is the address list of an address key (nil for SUBJECT).
func envelopeList(op Op, e *message.Envelope) []message.Address {
	switch op {
	case OpFrom:
		return e.From
	case OpTo:
		return e.To
	case OpCc:
		return e.Cc
	case OpBcc:
		return e.Bcc
	}
	return nil
}

func envelopeField(op Op, s *message.SearchFields) string {
	switch op {
	case OpFrom:
		return s.From
	case OpTo:
		return s.To
	case OpCc:
		return s.Cc
	case OpBcc:
		return s.Bcc
	}
	return s.Subject
}

// compareDay tests t's calendar day, in t's own zone, against day (a UTC
// midnight): rel 0 is "before", 1 "on", 2 "since" (the three date ops are
// declared in that order).
func compareDay(rel Op, t, day time.Time) bool {
	y, m, d := t.Date()
	td := time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
	switch rel {
	case 0:
		return td.Before(day)
	case 1:
		return td.Equal(day)
	}
	return !td.Before(day)
}

// Narrow returns the part of universe that can match at all, judging from
// the sequence and UID sets the program requires at its top level: with
// "UID 1000:1010 BODY x" only eleven messages are candidates.
func (p *Program) Narrow(universe store.UIDSet) store.UIDSet {
	return narrow(p.Key, universe)
}

func narrow(k *Key, universe store.UIDSet) store.UIDSet {
	switch k.Op {
	case OpSeqSet, OpUID, OpRecent:
		return Intersect(universe, k.UIDs)
	case OpNone:
		return nil
	case OpAnd:
		for _, c := range k.Children {
			universe = narrow(c, universe)
		}
		return universe
	case OpOr:
		a := narrow(k.Children[0], universe)
		b := narrow(k.Children[1], universe)
		return Union(a, b)
	}
	return universe
}

// Intersect returns the UIDs in both a and b.
func Intersect(a, b store.UIDSet) store.UIDSet {
	var out store.UIDSet
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		lo := max(a[i].Start, b[j].Start)
		hi := min(a[i].Stop, b[j].Stop)
		if lo <= hi {
			out = append(out, store.UIDRange{Start: lo, Stop: hi})
		}
		if a[i].Stop < b[j].Stop {
			i++
		} else {
			j++
		}
	}
	return out
}

// Union returns the UIDs in a or b.
func Union(a, b store.UIDSet) store.UIDSet {
	out := append(store.UIDSet(nil), a...)
	for _, r := range b {
		out.AddRange(r.Start, r.Stop)
	}
	return out
}
