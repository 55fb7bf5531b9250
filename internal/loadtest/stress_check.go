package loadtest

import (
	"bytes"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// model is what one stress client knows of the shared mailbox, and the
// checks a suspicious client makes of every response against it:
//
//   - the sequence-number map only changes through EXISTS (growing, never
//     shrinking), EXPUNGE and VANISHED (each naming a message the client
//     was shown, never sent during FETCH, STORE or SEARCH by sequence
//     number, RFC 9051 7.4.1, RFC 7162 3.2.10.2), and UIDs ascend with
//     sequence numbers;
//   - a UID, once learned for a sequence number, stays; a UID announced as
//     expunged never comes back; UIDs given to new messages (APPENDUID,
//     UIDNEXT) are above every UID learned before;
//   - a message's MODSEQ never decreases, and the same MODSEQ always comes
//     with the same flags; HIGHESTMODSEQ never decreases within a
//     selection, and a fresh SELECT reports one at least as high as every
//     MODSEQ the client has seen;
//   - UIDVALIDITY never changes.
//
// The stress client adds the checks of each command (see stress.go). The
// model is pure: fed responses, it reports violations, so it can be
// tested against wrong responses without a server.
type model struct {
	qresync bool // the client enabled QRESYNC: VANISHED instead of EXPUNGE

	uidValidity uint32
	uids        []uint32 // by sequence number - 1; 0 while unknown
	highest     uint64   // HIGHESTMODSEQ last reported in this selection

	// Across selections of the mailbox (UIDVALIDITY does not change):
	flags      map[uint32]string // canonical flag list, by UID
	modseq     map[uint32]uint64
	gone       map[uint32]bool // UIDs announced as expunged
	maxUID     uint32          // highest UID learned
	maxModSeq  uint64          // highest MODSEQ seen
	violations []string        // found since the last take

	// Per command:
	noExpunge bool                 // FETCH, STORE or SEARCH by sequence number
	fetched   map[uint32]fetchData // FETCH responses of the command by UID (first of each)
	allFetch  []fetchData          // every FETCH response of the command with a UID
	fetchSeqs []uint32             // sequence numbers of FETCH responses without a known UID
	vanished  []uint32             // UIDs announced expunged during the command
	earlier   []uint32             // VANISHED (EARLIER) of the command
	searched  []uint32             // numbers of * SEARCH
	searchSet bool
	existsSet bool
	exists    uint32
	hmsSet    bool
	hms       uint64 // HIGHESTMODSEQ reported during the command
	uidNext   uint32
	selecting bool // a SELECT in progress: the map is being rebuilt
	// mustHaveChanged: UIDs a QRESYNC SELECT did not resend although the
	// cache knew them changed, with the SELECT's HIGHESTMODSEQ: their
	// next FETCH must show a MODSEQ above it.
	mustHaveChanged map[uint32]uint64
}

func newModel(qresync bool) *model {
	return &model{qresync: qresync, flags: map[uint32]string{}, modseq: map[uint32]uint64{}, gone: map[uint32]bool{}}
}

func (m *model) violate(format string, a ...any) {
	m.violations = append(m.violations, fmt.Sprintf(format, a...))
}

// take returns the violations found since the last call.
func (m *model) take() []string {
	v := m.violations
	m.violations = nil
	return v
}

// canonFlags sorts and upper-cases a flag list (\Recent is session
// state, not a message's flag, and is left out).
func canonFlags(fs []string) string {
	out := make([]string, 0, len(fs))
	for _, f := range fs {
		f = strings.ToUpper(f)
		if f != `\RECENT` {
			out = append(out, f)
		}
	}
	sort.Strings(out)
	return strings.Join(out, " ")
}

// begin starts a command; noExpunge for FETCH, STORE and SEARCH by
// sequence number.
func (m *model) begin(noExpunge bool) {
	m.noExpunge = noExpunge
	m.fetched = map[uint32]fetchData{}
	m.allFetch = nil
	m.fetchSeqs = nil
	m.vanished, m.earlier, m.searched = nil, nil, nil
	m.searchSet, m.existsSet, m.hmsSet = false, false, false
	m.uidNext = 0
}

// startSelect empties the sequence map for a SELECT; cached per-UID
// state stays for the checks across selections.
func (m *model) startSelect() {
	m.uids = nil
	m.highest = 0
	m.selecting = true
}

// untagged applies one untagged response.
func (m *model) untagged(resp []byte) {
	line := trimCRLF(resp)
	if !bytes.HasPrefix(line, []byte("* ")) {
		return
	}
	rest := string(line[2:])
	word, after, _ := strings.Cut(rest, " ")
	if n, err := strconv.ParseUint(word, 10, 32); err == nil {
		kind, data, _ := strings.Cut(after, " ")
		switch strings.ToUpper(kind) {
		case "EXISTS":
			m.onExists(uint32(n))
		case "EXPUNGE":
			m.onExpunge(uint32(n))
		case "FETCH":
			fd, err := parseFetch(uint32(n), []byte(data))
			if err != nil {
				m.violate("unparsable FETCH response: %v", err)
				return
			}
			m.onFetch(fd)
		}
		return
	}
	switch strings.ToUpper(word) {
	case "VANISHED":
		m.onVanished(after)
	case "SEARCH":
		m.searchSet = true
		for _, f := range strings.Fields(after) {
			if strings.HasPrefix(f, "(") {
				break // (MODSEQ n)
			}
			n, err := strconv.ParseUint(f, 10, 32)
			if err != nil {
				m.violate("bad SEARCH number %q", f)
				return
			}
			m.searched = append(m.searched, uint32(n))
		}
	case "OK", "NO", "BAD":
		m.onCode(respCode(after))
	case "BYE":
		m.violate("unexpected BYE: %s", after)
	}
}

// onCode handles a response code of an untagged or tagged status.
func (m *model) onCode(code string) {
	name, arg, _ := strings.Cut(code, " ")
	switch strings.ToUpper(name) {
	case "HIGHESTMODSEQ":
		h, err := strconv.ParseUint(arg, 10, 64)
		if err != nil {
			m.violate("bad HIGHESTMODSEQ %q", arg)
			return
		}
		if h < m.highest {
			m.violate("HIGHESTMODSEQ went back from %d to %d", m.highest, h)
		}
		m.highest = h
		m.hms, m.hmsSet = h, true
	case "UIDVALIDITY":
		v, err := strconv.ParseUint(arg, 10, 32)
		if err != nil {
			m.violate("bad UIDVALIDITY %q", arg)
			return
		}
		if m.uidValidity != 0 && uint32(v) != m.uidValidity {
			m.violate("UIDVALIDITY changed from %d to %d", m.uidValidity, v)
		}
		m.uidValidity = uint32(v)
	case "UIDNEXT":
		v, err := strconv.ParseUint(arg, 10, 32)
		if err != nil {
			m.violate("bad UIDNEXT %q", arg)
			return
		}
		if uint32(v) <= m.maxUID {
			m.violate("UIDNEXT %d is not above UID %d, already seen", v, m.maxUID)
		}
		m.uidNext = uint32(v)
	}
}

func (m *model) onExists(n uint32) {
	m.exists, m.existsSet = n, true
	if m.selecting {
		return // the SELECT's count; checked when the SELECT completes
	}
	if n < uint32(len(m.uids)) {
		m.violate("EXISTS %d shrinks the mailbox from %d without EXPUNGE", n, len(m.uids))
		return
	}
	for uint32(len(m.uids)) < n {
		m.uids = append(m.uids, 0)
	}
}

func (m *model) onExpunge(n uint32) {
	switch {
	case m.qresync:
		m.violate("EXPUNGE %d sent to a QRESYNC client (RFC 7162 3.2.10.2: VANISHED)", n)
	case m.noExpunge:
		m.violate("EXPUNGE %d sent during a command by sequence number (RFC 9051 7.4.1)", n)
	}
	if n < 1 || n > uint32(len(m.uids)) {
		m.violate("EXPUNGE %d outside the %d messages", n, len(m.uids))
		return
	}
	if u := m.uids[n-1]; u != 0 {
		m.forget(u)
	}
	m.uids = slices.Delete(m.uids, int(n-1), int(n))
}

// leaving checks, as the client leaves a selection, that each message a
// QRESYNC SELECT left out although it had changed was since shown changed
// again or expunged: otherwise the SELECT omitted a change.
func (m *model) leaving() {
	for u, h := range m.mustHaveChanged {
		m.violate("QRESYNC SELECT at HIGHESTMODSEQ %d omitted UID %d, known changed, and it was neither changed again nor expunged", h, u)
	}
	m.mustHaveChanged = nil
}

// forget records that UID u is gone.
func (m *model) forget(u uint32) {
	delete(m.mustHaveChanged, u)
	m.gone[u] = true
	m.vanished = append(m.vanished, u)
	delete(m.flags, u)
	delete(m.modseq, u)
}

func (m *model) onVanished(arg string) {
	earlier := false
	if rest, ok := cutPrefixFold(arg, "(EARLIER) "); ok {
		earlier, arg = true, rest
	}
	uids, err := parseUIDSet(strings.TrimSpace(arg))
	if err != nil {
		m.violate("bad VANISHED: %v", err)
		return
	}
	if earlier {
		m.earlier = append(m.earlier, uids...)
		return
	}
	switch {
	case !m.qresync:
		m.violate("VANISHED sent to a client that did not enable QRESYNC")
		return
	case m.noExpunge:
		m.violate("VANISHED sent during a command by sequence number (RFC 9051 7.4.1)")
	}
	for _, u := range uids {
		if i := slices.Index(m.uids, u); i >= 0 {
			m.forget(u)
			m.uids = slices.Delete(m.uids, i, i+1)
			continue
		}
		// A message the client was shown but whose UID it never learned
		// (RFC 7162 3.2.10.2: VANISHED names only visible messages): one
		// of the unknown slots between the known neighbours of u.
		lo, hi := 0, len(m.uids) // unknown slot index in [lo, hi)
		for i, x := range m.uids {
			if x != 0 && x < u {
				lo = i + 1
			}
			if x != 0 && x > u {
				hi = i
				break
			}
		}
		j := -1
		for i := lo; i < hi; i++ {
			if m.uids[i] == 0 {
				j = i
				break
			}
		}
		if j < 0 {
			m.violate("VANISHED names UID %d, not a message this client was shown", u)
			continue
		}
		m.forget(u)
		m.uids = slices.Delete(m.uids, j, j+1)
	}
}

func (m *model) onFetch(fd fetchData) {
	if m.selecting {
		// A QRESYNC SELECT's FETCH: checked when the SELECT completes.
		m.recordFetch(fd)
		return
	}
	if fd.seq < 1 || fd.seq > uint32(len(m.uids)) {
		m.violate("FETCH for message %d, beyond the %d messages", fd.seq, len(m.uids))
		return
	}
	i := int(fd.seq - 1)
	if fd.uid == 0 {
		fd.uid = m.uids[i]
	}
	if fd.uid == 0 {
		m.fetchSeqs = append(m.fetchSeqs, fd.seq)
		return
	}
	switch known := m.uids[i]; {
	case known == fd.uid:
	case known != 0:
		m.violate("FETCH says message %d is UID %d; it is UID %d", fd.seq, fd.uid, known)
		return
	default:
		if m.gone[fd.uid] {
			m.violate("UID %d, announced as expunged, is back as message %d", fd.uid, fd.seq)
			return
		}
		for j, x := range m.uids {
			if x != 0 && (j < i && x >= fd.uid || j > i && x <= fd.uid) {
				m.violate("UID %d for message %d breaks UID order (message %d is UID %d)", fd.uid, fd.seq, j+1, x)
				return
			}
		}
		m.uids[i] = fd.uid
	}
	m.recordFetch(fd)
}

// recordFetch checks a message's MODSEQ and flags against what the client
// knew of it, and records them.
func (m *model) recordFetch(fd fetchData) {
	u := fd.uid
	if u == 0 {
		return
	}
	if _, seen := m.fetched[u]; !seen {
		m.fetched[u] = fd
	}
	m.allFetch = append(m.allFetch, fd)
	m.maxUID = max(m.maxUID, u)
	if fd.modseq == 0 {
		if fd.hasFlags && !m.selecting {
			// Flags without a MODSEQ: no longer comparable by MODSEQ.
			m.flags[u] = canonFlags(fd.flags)
			delete(m.modseq, u)
		}
		return
	}
	m.maxModSeq = max(m.maxModSeq, fd.modseq)
	if h, ok := m.mustHaveChanged[u]; ok && !m.selecting && fd.modseq > h {
		delete(m.mustHaveChanged, u) // changed again after the SELECT
	}
	old, known := m.modseq[u]
	switch {
	case known && fd.modseq < old:
		m.violate("UID %d: MODSEQ went back from %d to %d", u, old, fd.modseq)
		return
	case known && fd.modseq == old && fd.hasFlags:
		if f := canonFlags(fd.flags); m.flags[u] != f {
			m.violate("UID %d: MODSEQ %d still, but FLAGS (%s) were (%s)", u, old, f, m.flags[u])
		}
	}
	if fd.hasFlags {
		m.flags[u] = canonFlags(fd.flags)
		m.modseq[u] = fd.modseq
	}
}

// unknownSeqs lists the sequence numbers whose UID the client does not
// know.
func (m *model) unknownSeqs() []uint32 {
	var out []uint32
	for i, u := range m.uids {
		if u == 0 {
			out = append(out, uint32(i+1))
		}
	}
	return out
}

// finishSelect checks a completed plain SELECT (cache stays for the
// checks across selections) and sizes the new map.
func (m *model) finishSelect() {
	m.selecting = false
	if !m.existsSet {
		m.violate("SELECT without EXISTS")
		return
	}
	if !m.hmsSet {
		m.violate("SELECT without HIGHESTMODSEQ")
	} else if m.hms < m.maxModSeq {
		m.violate("SELECT reports HIGHESTMODSEQ %d below MODSEQ %d already seen", m.hms, m.maxModSeq)
	}
	if m.uidNext == 0 {
		m.violate("SELECT without UIDNEXT")
	}
	m.uids = make([]uint32, m.exists)
}

// cache is what a client keeps of a mailbox between sessions for a
// QRESYNC SELECT (RFC 7162 3.2.5): UIDVALIDITY, the HIGHESTMODSEQ it was
// told, and each known message's flags and MODSEQ.
type cache struct {
	uidValidity uint32
	modseq      uint64
	uids        []uint32
	flags       map[uint32]string
	modseqs     map[uint32]uint64
}

// snapshot returns the cache of the current selection (known UIDs only).
func (m *model) snapshot() cache {
	c := cache{uidValidity: m.uidValidity, modseq: m.highest, flags: map[uint32]string{}, modseqs: map[uint32]uint64{}}
	for _, u := range m.uids {
		if u != 0 {
			c.uids = append(c.uids, u)
			c.flags[u] = m.flags[u]
			c.modseqs[u] = m.modseq[u]
		}
	}
	return c
}

// finishQResync checks a completed SELECT (QRESYNC (c...)) and makes its
// result the new map. With known-uids the server reports changes and
// expunges of those UIDs only (RFC 7162 3.2.5.1), so the cache minus
// VANISHED (EARLIER), plus the messages sent as changed, are the known
// messages, in UID order matching each FETCH's sequence number; the rest
// of the EXISTS count are messages that arrived after the cache, above
// every cached UID. Every cached message whose known MODSEQ is above the
// cache's must have been sent again; HIGHESTMODSEQ covers every MODSEQ
// sent.
func (m *model) finishQResync(c cache) {
	m.selecting = false
	if !m.existsSet || !m.hmsSet {
		m.violate("QRESYNC SELECT without EXISTS or HIGHESTMODSEQ")
		return
	}
	if m.hms < m.maxModSeq {
		m.violate("QRESYNC SELECT reports HIGHESTMODSEQ %d below MODSEQ %d already seen", m.hms, m.maxModSeq)
	}
	set := map[uint32]bool{}
	for _, u := range c.uids {
		set[u] = true
	}
	for _, u := range m.earlier {
		if set[u] {
			delete(set, u)
			m.forget(u)
		}
	}
	for u, fd := range m.fetched {
		if m.gone[u] && !slices.Contains(c.uids, u) {
			m.violate("QRESYNC SELECT sends UID %d, announced as expunged before", u)
		}
		set[u] = true
		if fd.modseq > m.hms {
			m.violate("QRESYNC SELECT sends UID %d at MODSEQ %d above its HIGHESTMODSEQ %d", u, fd.modseq, m.hms)
		}
	}
	// A cached message known at a MODSEQ above the cache's has changed
	// since; the SELECT sends it unless it changed again after the
	// SELECT's HIGHESTMODSEQ (then the first sync point does, RFC 7162
	// 3.2.5.1 leaves later changes to it): the caller checks that with
	// the next FETCH of it (mustHaveChanged).
	m.mustHaveChanged = map[uint32]uint64{}
	for _, u := range c.uids {
		if _, sent := m.fetched[u]; set[u] && !sent && c.modseqs[u] > c.modseq {
			m.mustHaveChanged[u] = m.hms
		}
	}
	m.uids = m.uids[:0]
	for u := range set {
		m.uids = append(m.uids, u)
	}
	slices.Sort(m.uids)
	if uint32(len(m.uids)) > m.exists {
		m.violate("QRESYNC SELECT: cache %d - VANISHED (EARLIER) %d + changed %d gives %d messages, EXISTS says %d",
			len(c.uids), len(m.earlier), len(m.fetched), len(m.uids), m.exists)
		// Start again from the server's count, UIDs unknown.
		m.uids = make([]uint32, m.exists)
		return
	}
	for u, fd := range m.fetched {
		if i := slices.Index(m.uids, u); fd.seq != uint32(i+1) {
			m.violate("QRESYNC SELECT sends UID %d as message %d; in UID order it is message %d", u, fd.seq, i+1)
		}
		if fd.hasFlags {
			m.flags[u] = canonFlags(fd.flags)
		}
		if fd.modseq > 0 {
			m.modseq[u] = fd.modseq
		}
	}
	for _, u := range m.uids {
		if _, sent := m.fetched[u]; !sent {
			m.flags[u], m.modseq[u] = c.flags[u], c.modseqs[u]
		}
		m.maxUID = max(m.maxUID, u)
	}
	for uint32(len(m.uids)) < m.exists {
		m.uids = append(m.uids, 0) // arrived since: UIDs to learn
	}
}

// hasUID reports whether the client currently sees UID u.
func (m *model) hasUID(u uint32) bool { return slices.Contains(m.uids, u) }
