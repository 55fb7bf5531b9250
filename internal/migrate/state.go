package migrate

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/tidemark-mail/tidemark/internal/store"
)

// Sync state lives in the target store (store.Replica sync state), under
// the peer id Source.String(), one key per source mailbox:
//
//	"mailbox:" + target name  → mailboxState as JSON
//	"subscriptions"           → the subscribed names this migration set, JSON list
//
// Each key is written in the transaction whose changes it covers, so
// after a crash the state describes exactly what the target holds.

const (
	mailboxKeyPrefix = "mailbox:"
	subscriptionsKey = "subscriptions"
)

// mailboxState is what a migration knows of one source mailbox.
type mailboxState struct {
	// UIDValidity is the source mailbox's.
	UIDValidity uint32 `json:"uidvalidity"`
	// UIDNext is the next source UID to fetch: every message below it has
	// been copied (or was gone when the copy looked).
	UIDNext store.UID `json:"uidnext"`
	// ModSeq is the source HIGHESTMODSEQ every change up to which is
	// applied; 0 when unknown (no CONDSTORE, or a copy in progress).
	ModSeq uint64 `json:"modseq,omitempty"`
	// Target is the target mailbox, followed across renames.
	Target store.MailboxID `json:"target"`
	// Keep is set while target UIDs equal source UIDs: new messages are
	// appended at their source UID.
	Keep bool `json:"keep,omitempty"`
	// Map pairs each copied source UID with its target UID.
	Map uidMap `json:"map"`
	// Match is set while a copy matches source messages with what the
	// target mailbox already holds (a first copy into a mailbox with mail,
	// or after the source's UIDVALIDITY changed); a resumed run goes on
	// matching.
	Match bool `json:"match,omitempty"`
	// Old holds the target UIDs of the map from before a change of the
	// source's UIDVALIDITY, while messages are re-matched by content; the
	// ones nothing matched are expunged when the re-match completes.
	Old uidMap `json:"old,omitempty"`
}

// uidMap maps source UIDs to target UIDs as runs in ascending source
// order, each run ascending in both, so a copy that keeps UIDs (or
// appends a contiguous range) costs one run.
type uidMap []uidRun

// uidRun maps Src..Src+N-1 to Dst..Dst+N-1.
type uidRun struct {
	Src, Dst store.UID
	N        uint32
}

func (r uidRun) MarshalJSON() ([]byte, error) {
	return []byte(fmt.Sprintf("[%d,%d,%d]", r.Src, r.Dst, r.N)), nil
}

func (r *uidRun) UnmarshalJSON(b []byte) error {
	var a [3]uint32
	if err := json.Unmarshal(b, &a); err != nil {
		return err
	}
	r.Src, r.Dst, r.N = store.UID(a[0]), store.UID(a[1]), a[2]
	return nil
}

// add maps src to dst; src must be above every source UID in the map.
func (m *uidMap) add(src, dst store.UID) {
	if n := len(*m); n > 0 {
		last := &(*m)[n-1]
		if last.Src+store.UID(last.N) == src && last.Dst+store.UID(last.N) == dst {
			last.N++
			return
		}
	}
	*m = append(*m, uidRun{Src: src, Dst: dst, N: 1})
}

// lookup returns the target UID of src.
func (m uidMap) lookup(src store.UID) (store.UID, bool) {
	i := sort.Search(len(m), func(i int) bool { return m[i].Src+store.UID(m[i].N) > src })
	if i < len(m) && m[i].Src <= src {
		return m[i].Dst + (src - m[i].Src), true
	}
	return 0, false
}

// sources returns the set of mapped source UIDs.
func (m uidMap) sources() store.UIDSet {
	var s store.UIDSet
	for _, r := range m {
		s.AddRange(r.Src, r.Src+store.UID(r.N)-1)
	}
	return s
}

// targets returns the set of mapped target UIDs.
func (m uidMap) targets() store.UIDSet {
	var s store.UIDSet
	for _, r := range m {
		s.AddRange(r.Dst, r.Dst+store.UID(r.N)-1)
	}
	return s
}

// remove drops the source UIDs of set and returns their target UIDs.
func (m *uidMap) remove(set store.UIDSet) store.UIDSet {
	var gone store.UIDSet
	var out uidMap
	for _, r := range *m {
		start := r.Src
		end := r.Src + store.UID(r.N) // exclusive
		for u := start; u < end; {
			if set.Contains(u) {
				gone.Add(r.Dst + (u - r.Src))
				u++
				continue
			}
			// A stretch that stays: up to the next UID of set.
			v := u
			for v < end && !set.Contains(v) {
				v++
			}
			out = append(out, uidRun{Src: u, Dst: r.Dst + (u - r.Src), N: uint32(v - u)})
			u = v
		}
	}
	*m = out
	return gone
}

func (s *mailboxState) encode() []byte {
	b, err := json.Marshal(s)
	if err != nil {
		panic(err) // plain data: cannot fail
	}
	return b
}

func decodeState(b []byte) (*mailboxState, error) {
	var s mailboxState
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, err
	}
	return &s, nil
}

// parseUIDSet parses an IMAP sequence set of UIDs ("1:3,7,9:*" with * as
// max).
func parseUIDSet(s string, max store.UID) (store.UIDSet, error) {
	var set store.UIDSet
	num := func(p string) (store.UID, error) {
		if p == "*" {
			return max, nil
		}
		n, err := strconv.ParseUint(p, 10, 32)
		if err != nil || n == 0 {
			return 0, fmt.Errorf("bad UID %q", p)
		}
		return store.UID(n), nil
	}
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(part, ":")
		a, err := num(lo)
		if err != nil {
			return nil, err
		}
		b := a
		if isRange {
			if b, err = num(hi); err != nil {
				return nil, err
			}
		}
		if a > b {
			a, b = b, a
		}
		set.AddRange(a, b)
	}
	return set, nil
}

// setMinus returns a minus b.
func setMinus(a, b store.UIDSet) store.UIDSet {
	var out store.UIDSet
	for _, r := range a {
		u := r.Start
		for {
			if !b.Contains(u) {
				out.Add(u)
			}
			if u == r.Stop {
				break
			}
			u++
		}
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
