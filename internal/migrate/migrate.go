package migrate

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tidemark-mail/tidemark/internal/store"
	"github.com/tidemark-mail/tidemark/internal/wire"
)

// Source is the server a migration copies from, parsed from
// imap://user@host[:port] or imaps://user@host[:port].
type Source struct {
	TLS  bool // implicit TLS (imaps); otherwise STARTTLS when offered
	User string
	Host string
	Port int
}

// ParseSource parses a --from URL.
func ParseSource(s string) (*Source, error) {
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("source %q: %w", s, err)
	}
	src := &Source{Host: u.Hostname()}
	switch strings.ToLower(u.Scheme) {
	case "imap":
		src.Port = 143
	case "imaps":
		src.TLS, src.Port = true, 993
	default:
		return nil, fmt.Errorf("source %q: the scheme must be imap:// or imaps://", s)
	}
	if u.User == nil || u.User.Username() == "" {
		return nil, fmt.Errorf("source %q: no user name (imap://user@host)", s)
	}
	if _, has := u.User.Password(); has {
		return nil, fmt.Errorf("source %q: give the password with --password-file or on standard input, not in the URL", s)
	}
	src.User = u.User.Username()
	if src.Host == "" {
		return nil, fmt.Errorf("source %q: no host", s)
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n <= 0 || n > 65535 {
			return nil, fmt.Errorf("source %q: bad port", s)
		}
		src.Port = n
	}
	if u.Path != "" && u.Path != "/" || u.RawQuery != "" {
		return nil, fmt.Errorf("source %q: a source is a server, not a mailbox: no path or query", s)
	}
	return src, nil
}

// String is the source as a URL; it names the migration's sync state, so
// two migrations from different sources keep separate state.
func (s *Source) String() string {
	scheme := "imap"
	if s.TLS {
		scheme = "imaps"
	}
	u := url.URL{Scheme: scheme, User: url.User(s.User), Host: s.Host + ":" + strconv.Itoa(s.Port)}
	return u.String()
}

// Options control a migration.
type Options struct {
	Password string
	// Insecure accepts any certificate from the source, and a plain-text
	// login to a source that offers no STARTTLS.
	Insecure bool
	// BatchMessages and BatchBytes bound one store transaction (defaults
	// 500 messages, 16 MiB).
	BatchMessages int
	BatchBytes    int64
	// Progress, if set, is called as messages arrive.
	Progress func(Progress)
	// Warn, if set, is told about what was skipped or changed on the way.
	Warn func(string)
}

// Progress is where a migration is.
type Progress struct {
	Mailbox string
	Done    int // messages of this mailbox copied so far in this run
	Total   int // messages this mailbox is expected to copy in this run
	Stats   Stats
}

// Stats sums up a run.
type Stats struct {
	Mailboxes   int   // source mailboxes synchronized
	Created     int   // target mailboxes created
	Renamed     int   // target mailboxes renamed after their source
	Deleted     int   // target mailboxes deleted after their source
	KeptUIDs    int   // mailboxes whose UIDVALIDITY and UIDs are the source's
	Messages    int   // messages copied (bodies transferred and stored)
	Matched     int   // messages found in the target by content instead of copied
	FlagChanges int   // messages whose flags changed in the target
	Expunged    int   // messages expunged in the target
	BodyBytes   int64 // bytes of the messages copied
	WireRead    int64 // bytes received from the source, TLS included
	WireWritten int64 // bytes sent to the source
	Fetches     int   // UID FETCH commands sent
	Examined    int   // mailboxes EXAMINEd (those LIST-STATUS showed unchanged are not)
	// MetadataEntries counts the METADATA entries read from the source
	// and written to the target (unchanged ones change nothing there).
	MetadataEntries int
	// StoreTime is the time spent in the target store's writes and
	// snapshots (overlapping the network while messages stream).
	StoreTime time.Duration
	Condstore bool // the source offered CONDSTORE
	Qresync   bool // the source offered QRESYNC
	Elapsed   time.Duration
}

// migration is one run.
type migration struct {
	ctx   context.Context
	st    store.Store
	user  string
	c     *client
	acct  store.Account
	rep   store.Replica
	peer  string
	opts  Options
	state map[string]*mailboxState // by target name

	// statsMu guards stats: the store writer of copyNew updates them while
	// the reader reports progress.
	statsMu sync.Mutex
	stats   Stats
}

// count updates the stats under their lock.
func (m *migration) count(fn func(*Stats)) {
	m.statsMu.Lock()
	fn(&m.stats)
	m.statsMu.Unlock()
}

// apply is Replica.Apply, timed.
func (m *migration) apply(id store.MailboxID, b store.Batch) (store.ApplyResult, error) {
	start := time.Now()
	res, err := m.rep.Apply(m.ctx, id, b)
	m.count(func(s *Stats) { s.StoreTime += time.Since(start) })
	return res, err
}

// snapshot is Account.Snapshot, timed.
func (m *migration) snapshot(id store.MailboxID) (store.Snapshot, error) {
	start := time.Now()
	snap, err := m.acct.Snapshot(m.ctx, id)
	m.count(func(s *Stats) { s.StoreTime += time.Since(start) })
	return snap, err
}

func (m *migration) snapshotStats() Stats {
	m.statsMu.Lock()
	defer m.statsMu.Unlock()
	return m.stats
}

// Run copies the source's mail into user's store in st, or brings an
// earlier copy up to date. It is safe to interrupt at any moment: the
// next run continues where the copy stands, copying nothing twice.
func Run(ctx context.Context, st store.Store, user string, src *Source, opts Options) (Stats, error) {
	start := time.Now()
	if opts.BatchMessages <= 0 {
		opts.BatchMessages = 500
	}
	if opts.BatchBytes <= 0 {
		opts.BatchBytes = 16 << 20
	}
	acct, err := st.Open(ctx, user)
	if err != nil {
		return Stats{}, fmt.Errorf("target user %q: %w", user, err)
	}
	defer acct.Close()
	rep, err := st.OpenReplica(ctx, user)
	if err != nil {
		return Stats{}, fmt.Errorf("target user %q: %w", user, err)
	}
	defer rep.Close()
	c, err := dialSource(ctx, src, opts.Password, opts.Insecure)
	if err != nil {
		return Stats{}, err
	}
	m := &migration{ctx: ctx, st: st, user: user, c: c, acct: acct, rep: rep, peer: src.String(), opts: opts}
	// Closing the connection is what interrupts a read when ctx ends.
	stop := context.AfterFunc(ctx, func() { c.close() })
	defer stop()
	err = m.run()
	if err == nil {
		c.logout()
	} else {
		c.close()
	}
	m.stats.WireRead, m.stats.WireWritten = c.bytesRead.Load(), c.bytesWritten.Load()
	m.stats.Fetches = c.fetches
	m.stats.Elapsed = time.Since(start)
	if ctx.Err() != nil && err != nil {
		err = ctx.Err()
	}
	return m.stats, err
}

func (m *migration) warn(format string, args ...any) {
	if m.opts.Warn != nil {
		m.opts.Warn(fmt.Sprintf(format, args...))
	}
}

// srcMailbox is one mailbox the source lists.
type srcMailbox struct {
	name       string // target name: UTF-8, '/' delimited
	raw        string // as the source names it, for commands
	special    store.SpecialUse
	subscribed bool
	selectable bool
	// status is what LIST-STATUS (RFC 5819) reported, when the source
	// offers it: a mailbox whose status matches its state needs no
	// EXAMINE.
	status *examined
}

func (m *migration) run() error {
	c := m.c
	m.stats.Qresync = c.caps["QRESYNC"]
	m.stats.Condstore = c.caps["CONDSTORE"] || m.stats.Qresync
	if m.stats.Qresync {
		// RFC 7162 3.2.3: VANISHED in UID FETCH needs QRESYNC enabled.
		if _, err := c.run("ENABLE QRESYNC", nil); err != nil {
			m.warn("the source refused ENABLE QRESYNC (%v): comparing UID lists instead", err)
			m.stats.Qresync = false
		}
	}
	boxes, err := m.list()
	if err != nil {
		return err
	}
	raw, err := m.rep.SyncState(m.ctx, m.peer)
	if err != nil {
		return err
	}
	m.state = make(map[string]*mailboxState)
	for k, v := range raw {
		name, ok := strings.CutPrefix(k, mailboxKeyPrefix)
		if !ok {
			continue
		}
		s, err := decodeState(v)
		if err != nil {
			return fmt.Errorf("sync state of %q: %w", name, err)
		}
		m.state[name] = s
	}
	if err := m.followRenames(boxes); err != nil {
		return err
	}
	for _, b := range boxes {
		if !b.selectable {
			continue
		}
		if err := m.syncMailbox(b); err != nil {
			return fmt.Errorf("mailbox %q: %w", b.name, err)
		}
		m.stats.Mailboxes++
	}
	if err := m.syncSubscriptions(boxes, raw[subscriptionsKey]); err != nil {
		return err
	}
	return m.syncMetadata(boxes, raw[metadataKey])
}

// list reads the source's mailboxes with their special use and
// subscription (LIST-EXTENDED when offered, else LIST and LSUB).
func (m *migration) list() ([]srcMailbox, error) {
	c := m.c
	byRaw := make(map[string]*srcMailbox)
	var order []string
	parse := func(r *response) (*srcMailbox, []string, bool) {
		if len(r.args) < 3 || r.args[0].kind != '(' {
			return nil, nil, false
		}
		var attrs []string
		for _, a := range r.args[0].items {
			attrs = append(attrs, strings.ToLower(a.str()))
		}
		raw := r.args[2].str()
		delim := ""
		if !r.args[1].isNil() {
			delim = r.args[1].str()
		}
		return &srcMailbox{raw: raw, name: targetName(raw, delim, m)}, attrs, true
	}
	listCmd := `LIST "" "*"`
	extended := c.caps["LIST-EXTENDED"]
	if extended {
		ret := "SUBSCRIBED"
		if c.caps["SPECIAL-USE"] {
			ret += " SPECIAL-USE"
		}
		if c.caps["LIST-STATUS"] {
			// The status of every mailbox in the same answer: a run with
			// nothing to do needs no EXAMINE at all.
			items := "UIDVALIDITY UIDNEXT MESSAGES"
			if m.stats.Condstore {
				items += " HIGHESTMODSEQ"
			}
			ret += " STATUS (" + items + ")"
		}
		listCmd = `LIST "" "*" RETURN (` + ret + `)`
	}
	statuses := make(map[string]*examined)
	_, err := c.run(listCmd, func(r *response) error {
		if r.kind == "STATUS" {
			if raw, st, ok := parseStatus(r); ok {
				statuses[raw] = st
			}
			return nil
		}
		if r.kind != "LIST" {
			return nil
		}
		b, attrs, ok := parse(r)
		if !ok {
			return nil
		}
		b.selectable = true
		for _, a := range attrs {
			switch a {
			case `\noselect`, `\nonexistent`:
				b.selectable = false
			case `\subscribed`:
				b.subscribed = true
			case `\all`, `\archive`, `\drafts`, `\flagged`, `\junk`, `\sent`, `\trash`:
				b.special = store.SpecialUse(`\` + strings.ToUpper(a[1:2]) + a[2:])
			}
		}
		if _, dup := byRaw[b.raw]; !dup {
			order = append(order, b.raw)
		}
		byRaw[b.raw] = b
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("LIST: %w", err)
	}
	if !extended {
		_, err := c.run(`LSUB "" "*"`, func(r *response) error {
			if r.kind != "LSUB" {
				return nil
			}
			b, _, ok := parse(r)
			if !ok {
				return nil
			}
			if have := byRaw[b.raw]; have != nil {
				have.subscribed = true
			} else {
				byRaw[b.raw], order = b, append(order, b.raw) // subscribed, does not exist
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("LSUB: %w", err)
		}
	}
	out := make([]srcMailbox, 0, len(order))
	for _, raw := range order {
		b := *byRaw[raw]
		if st := statuses[raw]; st != nil && b.selectable {
			b.status = st
		}
		out = append(out, b)
	}
	// INBOX first, then by name, so parents come before children.
	slices.SortFunc(out, func(a, b srcMailbox) int {
		switch {
		case a.name == "INBOX" && b.name != "INBOX":
			return -1
		case b.name == "INBOX" && a.name != "INBOX":
			return 1
		}
		return strings.Compare(a.name, b.name)
	})
	return out, nil
}

// parseStatus reads "* STATUS name (item value ...)".
func parseStatus(r *response) (string, *examined, bool) {
	if len(r.args) < 2 || r.args[1].kind != '(' {
		return "", nil, false
	}
	var e examined
	items := r.args[1].items
	for i := 0; i+1 < len(items); i += 2 {
		n, _ := items[i+1].number()
		switch strings.ToUpper(items[i].str()) {
		case "UIDVALIDITY":
			e.uidValidity = uint32(n)
		case "UIDNEXT":
			e.uidNext = store.UID(n)
		case "MESSAGES":
			e.exists = uint32(n)
		case "HIGHESTMODSEQ":
			e.highestModSeq = n
		}
	}
	return r.args[0].str(), &e, true
}

// targetName turns a source name (modified UTF-7, the source's delimiter)
// into a target name (UTF-8, '/').
func targetName(raw, delim string, m *migration) string {
	name, err := wire.DecodeMUTF7Lenient(raw)
	if err != nil {
		name = raw
	}
	if delim != "" && delim != "/" {
		parts := strings.Split(name, delim)
		for i, p := range parts {
			if strings.Contains(p, "/") {
				parts[i] = strings.ReplaceAll(p, "/", "_")
				m.warn("mailbox %q: '/' in a name component becomes '_'", name)
			}
		}
		name = strings.Join(parts, "/")
	}
	if strings.EqualFold(name, "INBOX") {
		name = "INBOX"
	}
	return name
}

// encodeName is a source name as a command argument.
func encodeName(raw string) string {
	if q, ok := quote(raw); ok {
		return q
	}
	return "{" + strconv.Itoa(len(raw)) + "+}\r\n" + raw // LITERAL+; names are mUTF-7, so this is rare
}

// followRenames finds source mailboxes that went away: one whose
// UIDVALIDITY reappears under a new name was renamed, and its target
// mailbox is renamed too; the others were deleted, and so is their
// target.
func (m *migration) followRenames(boxes []srcMailbox) error {
	listed := make(map[string]bool)
	for _, b := range boxes {
		if b.selectable {
			listed[b.name] = true
		}
	}
	var gone []string
	for name := range m.state {
		if !listed[name] {
			gone = append(gone, name)
		}
	}
	if len(gone) == 0 {
		return nil
	}
	slices.Sort(gone)
	// The UIDVALIDITY of each new source mailbox, to recognize renames.
	byUV := make(map[uint32]srcMailbox)
	for _, b := range boxes {
		if !b.selectable || m.state[b.name] != nil {
			continue
		}
		var uv uint32
		if b.status != nil {
			uv = b.status.uidValidity
		} else {
			_, err := m.c.run("STATUS "+encodeName(b.raw)+" (UIDVALIDITY)", func(r *response) error {
				if _, st, ok := parseStatus(r); ok && r.kind == "STATUS" {
					uv = st.uidValidity
				}
				return nil
			})
			if err != nil {
				return fmt.Errorf("STATUS %q: %w", b.name, err)
			}
		}
		if uv != 0 {
			byUV[uv] = b
		}
	}
	names, err := m.targetNames()
	if err != nil {
		return err
	}
	for _, old := range gone {
		s := m.state[old]
		cur, exists := names[s.Target]
		if nb, ok := byUV[s.UIDValidity]; ok && m.state[nb.name] == nil {
			delete(byUV, s.UIDValidity)
			if exists && cur != nb.name {
				if err := m.acct.RenameMailbox(m.ctx, cur, nb.name); err != nil {
					m.warn("source mailbox %q was renamed to %q, but the target cannot follow (%v): copying it afresh", old, nb.name, err)
					continue
				}
				m.stats.Renamed++
				if names, err = m.targetNames(); err != nil {
					return err
				}
			}
			// The state moves with the mailbox, in one transaction.
			if _, err := m.apply(0, store.Batch{Peer: m.peer, State: map[string][]byte{
				mailboxKeyPrefix + old: nil, mailboxKeyPrefix + nb.name: s.encode()}}); err != nil {
				return err
			}
			delete(m.state, old)
			m.state[nb.name] = s
			continue
		}
		if exists && cur != "INBOX" {
			if err := m.acct.DeleteMailbox(m.ctx, cur); err != nil && !errors.Is(err, store.ErrNoMailbox) {
				return fmt.Errorf("delete %q after its source: %w", cur, err)
			}
			m.stats.Deleted++
		}
		if _, err := m.apply(0, store.Batch{Peer: m.peer, State: map[string][]byte{mailboxKeyPrefix + old: nil}}); err != nil {
			return err
		}
		delete(m.state, old)
	}
	return nil
}

// targetNames maps the target's mailbox ids to their names.
func (m *migration) targetNames() (map[store.MailboxID]string, error) {
	mbs, err := m.acct.Mailboxes(m.ctx)
	if err != nil {
		return nil, err
	}
	out := make(map[store.MailboxID]string, len(mbs))
	for _, mb := range mbs {
		out[mb.ID] = mb.Name
	}
	return out, nil
}

// syncSubscriptions subscribes the target to what the source subscribes,
// and drops the subscriptions an earlier run set that the source no
// longer has.
func (m *migration) syncSubscriptions(boxes []srcMailbox, before []byte) error {
	var prev []string
	if before != nil {
		if err := json.Unmarshal(before, &prev); err != nil {
			return fmt.Errorf("sync state of subscriptions: %w", err)
		}
	}
	var now []string
	for _, b := range boxes {
		if b.subscribed {
			now = append(now, b.name)
		}
	}
	slices.Sort(now)
	for _, n := range now {
		if err := m.acct.SetSubscribed(m.ctx, n, true); err != nil {
			m.warn("subscription %q: %v", n, err)
		}
	}
	for _, n := range prev {
		if !slices.Contains(now, n) {
			if err := m.acct.SetSubscribed(m.ctx, n, false); err != nil {
				m.warn("subscription %q: %v", n, err)
			}
		}
	}
	if slices.Equal(prev, now) {
		return nil
	}
	b, _ := json.Marshal(now)
	_, err := m.apply(0, store.Batch{Peer: m.peer, State: map[string][]byte{subscriptionsKey: b}})
	return err
}

// examined is what EXAMINE reports.
type examined struct {
	uidValidity   uint32
	uidNext       store.UID
	highestModSeq uint64
	exists        uint32
}

func (m *migration) examine(b srcMailbox) (examined, error) {
	var e examined
	m.stats.Examined++
	cmd := "EXAMINE " + encodeName(b.raw)
	if m.stats.Condstore && !m.stats.Qresync {
		cmd += " (CONDSTORE)" // with QRESYNC enabled, CONDSTORE is too
	}
	_, err := m.c.run(cmd, func(r *response) error {
		switch r.kind {
		case "EXISTS":
			e.exists = uint32(r.number)
		case "OK":
			f := strings.Fields(r.code)
			if len(f) < 2 {
				return nil
			}
			n, _ := strconv.ParseUint(f[1], 10, 64)
			switch strings.ToUpper(f[0]) {
			case "UIDVALIDITY":
				e.uidValidity = uint32(n)
			case "UIDNEXT":
				e.uidNext = store.UID(n)
			case "HIGHESTMODSEQ":
				e.highestModSeq = n
			}
		}
		return nil
	})
	if err != nil {
		return e, fmt.Errorf("EXAMINE: %w", err)
	}
	if e.uidValidity == 0 {
		return e, fmt.Errorf("EXAMINE: the source gave no UIDVALIDITY")
	}
	return e, nil
}

// syncMailbox brings one target mailbox up to date with its source.
func (m *migration) syncMailbox(b srcMailbox) error {
	s := m.state[b.name]
	if s != nil && b.status != nil && s.ModSeq != 0 && b.status.uidValidity == s.UIDValidity &&
		b.status.highestModSeq == s.ModSeq && b.status.uidNext == s.UIDNext && len(s.Old) == 0 && !s.Match {
		// Unchanged since the last run, as LIST-STATUS says; only a
		// target mailbox deleted meanwhile is worth looking at.
		if _, err := m.acct.Status(m.ctx, s.Target); err == nil {
			return nil
		}
	}
	e, err := m.examine(b)
	if err != nil {
		return err
	}
	if s != nil {
		// The target mailbox may have been deleted (or recreated) by a
		// user since: start over then.
		if _, err := m.acct.Status(m.ctx, s.Target); errors.Is(err, store.ErrNoMailbox) {
			m.warn("mailbox %q: the copy is gone from the target; copying it again", b.name)
			s = nil
		} else if err != nil {
			return err
		}
	}
	if s == nil {
		return m.firstSync(b, e)
	}
	if s.UIDValidity != e.uidValidity {
		m.warn("mailbox %q: the source's UIDVALIDITY changed (%d to %d); matching messages by content", b.name, s.UIDValidity, e.uidValidity)
		return m.rematch(b, e, s)
	}
	if s.Match {
		return m.rematch(b, e, s) // an interrupted re-match
	}
	return m.incremental(b, e, s)
}

// firstSync creates (or adopts) the target mailbox and copies everything.
// A target that is new or never held a message takes the source's
// UIDVALIDITY and UIDs; one that holds mail is matched by content.
func (m *migration) firstSync(b srcMailbox, e examined) error {
	info, err := m.acct.Mailbox(m.ctx, b.name)
	exists := err == nil
	if err != nil && !errors.Is(err, store.ErrNoMailbox) {
		return err
	}
	special := b.special
	if exists && info.SpecialUse != "" {
		special = info.SpecialUse
	}
	if !exists || info.UIDNext == 1 {
		kept, err := m.rep.CreateMailbox(m.ctx, b.name, e.uidValidity, store.CreateOptions{SpecialUse: special})
		switch {
		case err == nil:
			if !exists {
				m.stats.Created++
			}
			m.stats.KeptUIDs++
			s := &mailboxState{UIDValidity: e.uidValidity, UIDNext: 1, Target: kept.ID, Keep: true}
			return m.incremental(b, e, s)
		case errors.Is(err, store.ErrUIDValidityUsed):
			m.warn("mailbox %q: UIDVALIDITY %d cannot be kept (this name may have had it): clients will resynchronize", b.name, e.uidValidity)
		case errors.Is(err, store.ErrInvalidName) || errors.Is(err, store.ErrCannot):
			m.warn("mailbox %q: cannot be created in the target (%v): skipped", b.name, err)
			return nil
		default:
			return err
		}
	}
	if !exists {
		if info, err = m.acct.CreateMailbox(m.ctx, b.name, store.CreateOptions{SpecialUse: special}); err != nil {
			return err
		}
		m.stats.Created++
		s := &mailboxState{UIDValidity: e.uidValidity, UIDNext: 1, Target: info.ID}
		return m.incremental(b, e, s)
	}
	// The target already holds mail: match what is there by content.
	s := &mailboxState{UIDValidity: e.uidValidity, UIDNext: 1, Target: info.ID}
	return m.rematch(b, e, s)
}

// incremental applies the changes since the state to known messages, then
// copies the messages above the state's UIDNEXT.
func (m *migration) incremental(b srcMailbox, e examined, s *mailboxState) error {
	if s.ModSeq != 0 && e.highestModSeq == s.ModSeq && e.uidNext == s.UIDNext {
		return nil // nothing changed: no FETCH at all
	}
	if s.UIDNext > 1 && len(s.Map) > 0 {
		if err := m.applyKnownChanges(b, e, s); err != nil {
			return err
		}
	}
	if e.exists > 0 && (e.uidNext == 0 || e.uidNext > s.UIDNext) {
		total := int(e.exists) - int(s.Map.sources().Len())
		if err := m.copyNew(b, s, e, nil, max(total, 0)); err != nil {
			return err
		}
	}
	return m.finish(b, e, s)
}

// finish records that the mailbox is in step with the source as EXAMINE
// saw it, and gives a target keeping the source's UIDs its UIDNEXT too.
func (m *migration) finish(b srcMailbox, e examined, s *mailboxState) error {
	s.UIDNext = max(s.UIDNext, e.uidNext)
	s.ModSeq = e.highestModSeq
	batch := store.Batch{Peer: m.peer, State: map[string][]byte{mailboxKeyPrefix + b.name: s.encode()}}
	if s.Keep {
		batch.UIDNext = e.uidNext
	}
	_, err := m.apply(s.Target, batch)
	m.state[b.name] = s
	return err
}

// applyKnownChanges brings flags and expunges of the messages below the
// state's UIDNEXT up to date: with QRESYNC from CHANGEDSINCE and
// VANISHED (EARLIER), with CONDSTORE from CHANGEDSINCE and the UID list,
// without either by comparing every message's flags and the UID list.
func (m *migration) applyKnownChanges(b srcMailbox, e examined, s *mailboxState) error {
	known := fmt.Sprintf("1:%d", s.UIDNext-1)
	changed := make(map[store.UID]store.Flags)
	var present, vanished store.UIDSet
	onFetch := func(r *response) error {
		switch r.kind {
		case "FETCH":
			f, err := parseFetch(r, m)
			if err != nil {
				return err
			}
			if f.uid != 0 && f.hasFlags {
				changed[f.uid] = f.flags
				present.Add(f.uid)
			}
		case "VANISHED":
			if len(r.args) == 0 {
				return nil
			}
			set, err := parseUIDSet(r.args[len(r.args)-1].str(), s.UIDNext-1)
			if err != nil {
				return fmt.Errorf("VANISHED: %w", err)
			}
			for _, rg := range set {
				vanished.AddRange(rg.Start, rg.Stop)
			}
		}
		return nil
	}
	incremental := s.ModSeq != 0 && m.stats.Condstore
	var err error
	switch {
	case incremental && m.stats.Qresync:
		_, err = m.c.run(fmt.Sprintf("UID FETCH %s (UID FLAGS) (CHANGEDSINCE %d VANISHED)", known, s.ModSeq), onFetch)
	case incremental:
		_, err = m.c.run(fmt.Sprintf("UID FETCH %s (UID FLAGS) (CHANGEDSINCE %d)", known, s.ModSeq), onFetch)
		if err == nil {
			present, err = m.searchUIDs(known)
			vanished = setMinus(s.Map.sources(), present)
		}
	default:
		_, err = m.c.run(fmt.Sprintf("UID FETCH %s (UID FLAGS)", known), onFetch)
		vanished = setMinus(s.Map.sources(), present)
	}
	if err != nil {
		return fmt.Errorf("changes: %w", err)
	}
	// Flags only where the target differs.
	var flags []store.MessageState
	if len(changed) > 0 {
		snap, err := m.snapshot(s.Target)
		if err != nil {
			return err
		}
		cur := make(map[store.UID]store.Flags, len(snap.Messages))
		for _, msg := range snap.Messages {
			cur[msg.UID] = msg.Flags
		}
		for _, src := range sortedUIDs(changed) {
			if vanished.Contains(src) {
				continue
			}
			dst, ok := s.Map.lookup(src)
			if !ok {
				continue
			}
			have, ok := cur[dst]
			if !ok || sameFlags(have, changed[src]) {
				continue
			}
			flags = append(flags, store.MessageState{UID: dst, Flags: changed[src]})
		}
	}
	expunge := s.Map.remove(vanished)
	if len(flags) == 0 && expunge.Empty() {
		return nil
	}
	res, err := m.apply(s.Target, store.Batch{Flags: flags, Expunge: expunge, ModSeq: store.ModSeq(e.highestModSeq),
		Peer: m.peer, State: map[string][]byte{mailboxKeyPrefix + b.name: s.encode()}})
	if err != nil {
		return err
	}
	m.stats.FlagChanges += len(flags)
	m.stats.Expunged += int(res.Expunged.Len())
	return nil
}

func sortedUIDs(m map[store.UID]store.Flags) []store.UID {
	out := make([]store.UID, 0, len(m))
	for u := range m {
		out = append(out, u)
	}
	slices.Sort(out)
	return out
}

func sameFlags(a, b store.Flags) bool {
	return a.System == b.System && slices.Equal(store.NormalizeKeywords(a.Keywords), store.NormalizeKeywords(b.Keywords))
}

// searchUIDs returns the UIDs of set that exist on the source (ESEARCH
// when offered: ranges, not one number per message).
func (m *migration) searchUIDs(set string) (store.UIDSet, error) {
	var out store.UIDSet
	cmd := "UID SEARCH UID " + set
	if m.c.caps["ESEARCH"] {
		cmd = "UID SEARCH RETURN (ALL) UID " + set
	}
	_, err := m.c.run(cmd, func(r *response) error {
		switch r.kind {
		case "SEARCH":
			for _, a := range r.args {
				if n, ok := a.number(); ok && n > 0 && n <= uint64(store.MaxUID) {
					out.Add(store.UID(n))
				}
			}
		case "ESEARCH":
			for i := 0; i+1 < len(r.args); i++ {
				if strings.EqualFold(r.args[i].str(), "ALL") {
					set, err := parseUIDSet(r.args[i+1].str(), store.MaxUID)
					if err != nil {
						return fmt.Errorf("ESEARCH: %w", err)
					}
					for _, rg := range set {
						out.AddRange(rg.Start, rg.Stop)
					}
				}
			}
		}
		return nil
	})
	return out, err
}

// fetched is one message read from the source.
type fetched struct {
	uid      store.UID
	flags    store.Flags
	hasFlags bool
	date     time.Time
	body     []byte
	modseq   uint64
	// emailID, threadID and saveDate are the source's when it offers
	// OBJECTID and SAVEDATE; empty or zero otherwise.
	emailID, threadID string
	saveDate          time.Time
}

// parseFetch reads the items of a FETCH response.
func parseFetch(r *response, m *migration) (fetched, error) {
	var f fetched
	if len(r.args) == 0 || r.args[0].kind != '(' {
		return f, fmt.Errorf("malformed FETCH response")
	}
	items := r.args[0].items
	for i := 0; i+1 < len(items); i += 2 {
		name := strings.ToUpper(items[i].str())
		v := items[i+1]
		switch name {
		case "UID":
			n, ok := v.number()
			if !ok || n == 0 || n > uint64(store.MaxUID) {
				return f, fmt.Errorf("FETCH: bad UID %q", v.str())
			}
			f.uid = store.UID(n)
		case "FLAGS":
			f.hasFlags = true
			for _, fl := range v.items {
				name := fl.str()
				switch strings.ToLower(name) {
				case `\seen`:
					f.flags.System |= store.FlagSeen
				case `\answered`:
					f.flags.System |= store.FlagAnswered
				case `\flagged`:
					f.flags.System |= store.FlagFlagged
				case `\deleted`:
					f.flags.System |= store.FlagDeleted
				case `\draft`:
					f.flags.System |= store.FlagDraft
				default:
					if strings.HasPrefix(name, `\`) {
						continue // \Recent and other system flags are not stored
					}
					if !store.ValidKeyword(name) {
						m.warn("keyword %q is not a valid IMAP keyword, dropped", name)
						continue
					}
					f.flags.Keywords = append(f.flags.Keywords, name)
				}
			}
			f.flags.Keywords = store.NormalizeKeywords(f.flags.Keywords)
		case "INTERNALDATE":
			d, err := parseInternalDate(v.str())
			if err != nil {
				return f, fmt.Errorf("FETCH: %w", err)
			}
			f.date = d
		case "MODSEQ":
			if len(v.items) == 1 {
				f.modseq, _ = v.items[0].number()
			}
		case "EMAILID", "THREADID":
			// "(id)" or NIL (RFC 8474 5.1, 5.2).
			if len(v.items) == 1 && validObjectID(v.items[0].str()) {
				if name == "EMAILID" {
					f.emailID = v.items[0].str()
				} else {
					f.threadID = v.items[0].str()
				}
			}
		case "SAVEDATE":
			if !v.isNil() {
				if d, err := parseInternalDate(v.str()); err == nil {
					f.saveDate = d
				}
			}
		case "BODY[]", "BINARY[]", "RFC822":
			if v.isNil() {
				return f, fmt.Errorf("FETCH: the source sent no body for a message")
			}
			if v.kind == 'l' {
				f.body = v.data
			} else {
				f.body = []byte(v.text)
			}
		}
	}
	return f, nil
}

// validObjectID accepts RFC 8474 objectid: 1 to 255 of ALPHA, DIGIT, "_"
// and "-".
func validObjectID(s string) bool {
	if len(s) == 0 || len(s) > 255 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// parseInternalDate parses RFC 9051's date-time: "02-Jan-2006 15:04:05
// -0700", the day possibly space-padded.
func parseInternalDate(s string) (time.Time, error) {
	s = strings.TrimLeft(s, " ")
	for _, layout := range []string{"2-Jan-2006 15:04:05 -0700", "02-Jan-2006 15:04:05 -0700"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("bad INTERNALDATE %q", s)
}

// copyNew streams the messages at and above the state's UIDNEXT (all of
// them when match is set) with one UID FETCH, and applies them in
// batches, each with the state it brings the mailbox to. Reading the
// network and writing the store overlap: a goroutine applies one batch
// while the next arrives.
//
// With match set (a re-match), each message whose bytes the target
// mailbox already holds under a UID match has not yet given out is mapped
// to it instead of being appended.
func (m *migration) copyNew(b srcMailbox, s *mailboxState, e examined, match map[store.UID]bool, total int) error {
	from := s.UIDNext
	items := "UID FLAGS INTERNALDATE BODY.PEEK[]"
	if m.c.caps["OBJECTID"] {
		items += " EMAILID THREADID" // RFC 8474: kept, so a client sees the same ids
	}
	if m.c.caps["SAVEDATE"] {
		items += " SAVEDATE" // RFC 8514
	}
	cmd := fmt.Sprintf("UID FETCH %d:* (%s)", from, items)
	batches := make(chan []fetched, 2)
	done := make(chan error, 1)
	failed := make(chan struct{}) // closed when the writer fails
	go func() {
		var err error
		for batch := range batches {
			if err == nil {
				if err = m.applyNew(b, s, e, batch, match); err != nil {
					close(failed)
				}
			}
		}
		done <- err
	}()
	var cur []fetched
	var curBytes int64
	count := 0
	send := func() {
		if len(cur) > 0 {
			batches <- cur
			cur, curBytes = nil, 0
		}
	}
	_, err := m.c.run(cmd, func(r *response) error {
		if r.kind != "FETCH" {
			return nil
		}
		f, err := parseFetch(r, m)
		if err != nil {
			return err
		}
		if f.uid < from || f.body == nil {
			return nil // "n:*" also names the highest UID when all are below n
		}
		select {
		case <-failed: // the store failed: stop reading
			return errStoreFailed
		default:
		}
		cur = append(cur, f)
		curBytes += int64(len(f.body))
		count++
		if len(cur) >= m.opts.BatchMessages || curBytes >= m.opts.BatchBytes {
			send()
		}
		if m.opts.Progress != nil {
			m.opts.Progress(Progress{Mailbox: b.name, Done: count, Total: max(total, count), Stats: m.snapshotStats()})
		}
		return nil
	})
	if err == nil {
		send()
	}
	if errors.Is(err, errStoreFailed) {
		m.c.close() // left in the middle of a response
	}
	close(batches)
	if werr := <-done; werr != nil {
		return werr
	}
	if err != nil {
		return fmt.Errorf("copy: %w", err)
	}
	return nil
}

// applyNew stores one batch of fetched messages with the state it leads
// to. It runs on the writer goroutine and is the only writer of s while
// copyNew runs.
//
// Every appended message gets an explicit target UID (its source UID while
// UIDs are kept, else the next free one), so the state written in the same
// transaction names exactly the UIDs the messages get. If the target
// mailbox's UIDNEXT moved meanwhile (a delivery to it), Apply refuses the
// whole batch (store.ErrInvalidUID) and it is tried again with fresh UIDs.
func (m *migration) applyNew(b srcMailbox, s *mailboxState, e examined, batch []fetched, match map[store.UID]bool) error {
	slices.SortFunc(batch, func(x, y fetched) int { return int(int64(x.uid) - int64(y.uid)) })
	hashes := make([]string, len(batch))
	for i, f := range batch {
		sum := sha256.Sum256(f.body)
		hashes[i] = hex.EncodeToString(sum[:])
	}
	var found map[string][]store.UID
	if match != nil {
		var err error
		if found, err = m.rep.FindContent(m.ctx, s.Target, hashes); err != nil {
			return err
		}
	}
	// Which messages are matched with what the target holds, and which
	// are copied; decided once, whatever UIDs the copies get.
	type item struct {
		f       *fetched
		hash    string
		matched store.UID // 0: copied
	}
	var items []item
	var flags []store.MessageState
	for i := range batch {
		f := &batch[i]
		if f.uid < s.UIDNext {
			continue // already applied (a resent batch)
		}
		it := item{f: f, hash: hashes[i]}
		if dst, ok := claim(found[hashes[i]], match); ok {
			it.matched = dst
			flags = append(flags, store.MessageState{UID: dst, Flags: f.flags})
		}
		items = append(items, it)
	}
	if len(items) == 0 {
		return nil
	}
	for attempt := 0; ; attempt++ {
		info, err := m.acct.Status(m.ctx, s.Target)
		if err != nil {
			return err
		}
		next := *s
		next.Map = slices.Clone(s.Map)
		next.UIDNext = items[len(items)-1].f.uid + 1
		apply := store.Batch{Flags: flags, ModSeq: store.ModSeq(e.highestModSeq), Peer: m.peer}
		nextUID := info.UIDNext
		var copiedBytes int64
		for _, it := range items {
			if it.matched != 0 {
				next.Map.add(it.f.uid, it.matched)
				continue
			}
			uid := nextUID
			if next.Keep {
				if it.f.uid >= nextUID {
					uid = it.f.uid
				} else {
					next.Keep = false // the target's UIDs are its own from here
					m.warn("mailbox %q: source UID %d is below the target's UIDNEXT %d; UIDs are no longer kept", b.name, it.f.uid, nextUID)
				}
			}
			nextUID = uid + 1
			next.Map.add(it.f.uid, uid)
			apply.Append = append(apply.Append, store.ReplicaMessage{UID: uid, Body: bytes.NewReader(it.f.body), ContentHash: it.hash,
				Flags: it.f.flags, InternalDate: it.f.date, SaveDate: it.f.saveDate, EmailID: it.f.emailID, ThreadID: it.f.threadID})
			copiedBytes += int64(len(it.f.body))
		}
		apply.State = map[string][]byte{mailboxKeyPrefix + b.name: next.encode()}
		_, err = m.apply(s.Target, apply)
		if errors.Is(err, store.ErrInvalidUID) && attempt < 3 {
			continue // UIDNEXT moved under us: nothing was written
		}
		if err != nil {
			return err
		}
		*s = next
		m.count(func(st *Stats) {
			st.Messages += len(apply.Append)
			st.Matched += len(flags)
			st.BodyBytes += copiedBytes
		})
		return nil
	}
}

var errStoreFailed = errors.New("store write failed")

// claim takes the first UID of candidates not yet taken.
func claim(candidates []store.UID, free map[store.UID]bool) (store.UID, bool) {
	for _, u := range candidates {
		if free[u] {
			delete(free, u)
			return u, true
		}
	}
	return 0, false
}

// rematch rebuilds a mailbox's map by content after the source's
// UIDVALIDITY changed (or on a first copy into a target that already holds
// mail): every source message is read, and the ones whose bytes the
// target holds are mapped to those messages instead of being copied
// again. Target messages of the old map that nothing matched are expunged
// at the end. The bodies travel (IMAP offers no content hash), but
// nothing is stored twice.
func (m *migration) rematch(b srcMailbox, e examined, s *mailboxState) error {
	if s.UIDValidity != e.uidValidity {
		// Start (or restart) the re-match: the old map's targets are
		// candidates, released as they are matched.
		old := append(slices.Clone(s.Old), s.Map...)
		s = &mailboxState{UIDValidity: e.uidValidity, UIDNext: 1, Target: s.Target, Old: old}
	}
	s.Match = true
	// Candidates: the old map's targets not already re-mapped; on a first
	// copy into a mailbox holding mail, every message there.
	free := make(map[store.UID]bool)
	snap, err := m.snapshot(s.Target)
	if err != nil {
		return err
	}
	taken := s.Map.targets()
	oldTargets := s.Old.targets()
	for _, msg := range snap.Messages {
		if taken.Contains(msg.UID) {
			continue
		}
		if len(s.Old) == 0 || oldTargets.Contains(msg.UID) {
			free[msg.UID] = true
		}
	}
	if e.exists > 0 {
		if err := m.copyNew(b, s, e, free, int(e.exists)); err != nil {
			return err
		}
	}
	// What nothing matched was expunged on the source while its
	// UIDVALIDITY changed.
	var expunge store.UIDSet
	if len(s.Old) > 0 {
		expunge = setMinus(oldTargets, s.Map.targets())
	}
	s.Old, s.Match = nil, false
	s.UIDNext = max(s.UIDNext, e.uidNext)
	s.ModSeq = e.highestModSeq
	// A target with the source's UIDVALIDITY whose messages all have their
	// source UIDs (a Maildir imported with its dovecot-uidlist) keeps them
	// from now on.
	if info, err := m.acct.Status(m.ctx, s.Target); err == nil && info.UIDValidity == e.uidValidity {
		s.Keep = !slices.ContainsFunc(s.Map, func(r uidRun) bool { return r.Src != r.Dst })
	}
	batch := store.Batch{Expunge: expunge, Peer: m.peer,
		State: map[string][]byte{mailboxKeyPrefix + b.name: s.encode()}}
	if s.Keep {
		batch.UIDNext = e.uidNext
	}
	res, err := m.apply(s.Target, batch)
	if err != nil {
		return err
	}
	m.count(func(st *Stats) { st.Expunged += int(res.Expunged.Len()) })
	m.state[b.name] = s
	return nil
}
