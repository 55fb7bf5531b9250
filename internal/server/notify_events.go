package server

import (
	"context"
	"errors"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/tidemark-mail/tidemark/internal/store"
)

// srvCtx is the context of the shared reads: like a command's (Session.ctx),
// they are not cut short.
var srvCtx = context.Background()

// Delivering NOTIFY events (RFC 5465).
//
// A session with NOTIFY set holds one store.AccountWatcher: every commit
// to any of the user's mailboxes, and every change to the account itself
// (store.AccountID: a mailbox created, renamed or deleted, a subscription,
// server metadata), wakes it once. Between commands the session waits for
// either the client's next command or such a wake-up (waitForCommand; a
// goroutine peeks at the connection while the session's own goroutine
// writes, as IDLE does), and at each wake-up runs a notify point:
//
//   - the account changed: the session compares the user's mailboxes and
//     subscriptions with what it last reported and sends LIST responses
//     (MailboxName, SubscriptionChange, 5.4 and 5.5) and, for server
//     entries, METADATA "" (ServerMetadataChange, 5.7);
//   - a mailbox other than the selected one changed: STATUS with the items
//     5.1-5.3 require for the events wanted there (MESSAGES, UIDNEXT,
//     UIDVALIDITY; UNSEEN; HIGHESTMODSEQ under CONDSTORE), and METADATA
//     with the changed entry names (MailboxMetadataChange, 5.6);
//   - the selected mailbox changed: the ordinary sync point (EXISTS,
//     EXPUNGE or VANISHED, FETCH FLAGS with MODSEQ under CONDSTORE), with
//     expunges held back for SELECTED-DELAYED (6.1.2), FETCH of flag
//     changes left out without FlagChange, and MessageNew's fetch
//     attributes sent for the new messages (5.2).
//
// Mailboxes are taken in the order their first commit was published, so
// events reach the client in commit order; several commits to one
// mailbox between two notify points give one STATUS with the final
// figures. A STATUS is sent only when the figures it carries moved since
// the last one sent, so a repeated publication (PostgreSQL pushes may
// repeat) is never reported twice.
//
// Cost. The store work of a commit is shared by every NOTIFY session of
// the user, as the open mailbox (openbox) shares it among IDLE sessions:
// userNotify holds, per user with NOTIFY sessions, one account watcher
// of its own, the mailbox list, subscriptions, each changed mailbox's
// STATUS figures and metadata entry modseqs; the first session to need a
// value after a commit reads it from the store (one Status, or one
// Mailboxes + Subscriptions, or one MetadataChangedSince), the others
// find it in memory. The selected mailbox is synced through the shared
// Box as usual. A session keeps per mailbox only the last STATUS it sent.
//
// Own changes. Events caused by this client's CREATE, DELETE, RENAME,
// SUBSCRIBE, UNSUBSCRIBE and SETMETADATA are not reported back (5: SHOULD
// omit), nor is MessageNew's FETCH for messages this client's APPEND,
// COPY or MOVE added to the selected mailbox (5.2). STATUS of another
// mailbox this client appended to is reported.

// defaultNotifyMaxEvents bounds the responses of one notify point; past
// it the session is told [NOTIFICATIONOVERFLOW] and NOTIFY is off (5.8).
const defaultNotifyMaxEvents = 1000

// notifyState is a session's NOTIFY state; owned by its goroutine.
type notifyState struct {
	spec *notifySpec
	aw   *store.AccountWatcher
	u    *userNotify
	// base is the account when NOTIFY SET ran (its HIGHESTMODSEQs are the
	// baselines of metadata changes); cur is the account as last
	// reported. Both are shared, immutable snapshots.
	base, cur *accountView
	// reported is the last STATUS sent per mailbox; metaSeen the modseq
	// up to which a mailbox's (or the server's) metadata changes were
	// reported.
	reported map[store.MailboxID]store.MailboxStatus
	metaSeen map[store.MailboxID]store.ModSeq
	// lastCmd is the command whose sync point is running ("" between
	// commands); hideFlags is set while a notify point without
	// FlagChange syncs the selected mailbox.
	lastCmd   string
	hideFlags bool
}

// accountView is one read of the user's mailboxes and subscriptions.
type accountView struct {
	boxes []store.MailboxInfo // by name
	byID  map[store.MailboxID]int
	byNm  map[string]int
	subs  map[string]bool
}

func newAccountView(boxes []store.MailboxInfo, subs []string) *accountView {
	v := &accountView{boxes: boxes, byID: make(map[store.MailboxID]int, len(boxes)),
		byNm: make(map[string]int, len(boxes)), subs: make(map[string]bool, len(subs))}
	for i, b := range boxes {
		v.byID[b.ID] = i
		v.byNm[b.Name] = i
	}
	for _, n := range subs {
		v.subs[n] = true
	}
	return v
}

func (v *accountView) byId(id store.MailboxID) (*store.MailboxInfo, bool) {
	i, ok := v.byID[id]
	if !ok {
		return nil, false
	}
	return &v.boxes[i], true
}

// hasChildren reports whether a mailbox lies below name.
func (v *accountView) hasChildren(name string) bool {
	return slices.ContainsFunc(v.boxes, func(b store.MailboxInfo) bool { return strings.HasPrefix(b.Name, name+"/") })
}

// notifyRegistry holds the userNotify of each user with NOTIFY sessions.
type notifyRegistry struct {
	mu    sync.Mutex
	users map[string]*userNotify // guarded by mu
}

// userNotify is what a user's NOTIFY sessions share: see the top of the
// file. Everything but refs is guarded by mu, which is held while the
// store is read, so that concurrent sessions wait for one read rather
// than each making it.
type userNotify struct {
	reg  *notifyRegistry
	name string
	refs int // guarded by reg.mu

	mu        sync.Mutex
	acct      store.Account
	md        store.Metadata // opened when first needed
	aw        *store.AccountWatcher
	account   *accountView
	acctDirty bool
	status    map[store.MailboxID]store.MailboxStatus
	dirty     map[store.MailboxID]bool // status needs a read
	meta      map[store.MailboxID]*metaCache
	metaDirty map[store.MailboxID]bool
}

// metaCache is every entry name of one mailbox (or the server) ever set,
// with the modseq of its last change: the answer to "which changed since
// m" for any m.
type metaCache struct {
	entries map[string]store.ModSeq
	high    store.ModSeq
}

// acquire returns the user's shared state, opening it for the first
// session. The store is opened outside the registry's lock, so that a
// slow open delays only this user.
func (r *notifyRegistry) acquire(srv *Server, user string) (*userNotify, error) {
	r.mu.Lock()
	if u := r.users[user]; u != nil {
		u.refs++
		r.mu.Unlock()
		return u, nil
	}
	r.mu.Unlock()
	acct, err := srv.cfg.Store.Open(srvCtx, user)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if u := r.users[user]; u != nil { // made meanwhile by another session
		u.refs++
		acct.Close()
		return u, nil
	}
	u := &userNotify{reg: r, name: user, refs: 1, acct: acct, aw: srv.cfg.Store.Hub().WatchAccount(user),
		acctDirty: true, status: map[store.MailboxID]store.MailboxStatus{}, dirty: map[store.MailboxID]bool{},
		meta: map[store.MailboxID]*metaCache{}, metaDirty: map[store.MailboxID]bool{}}
	if r.users == nil {
		r.users = make(map[string]*userNotify)
	}
	r.users[user] = u
	return u, nil
}

// release gives a session's reference back; the last one closes.
func (u *userNotify) release() {
	r := u.reg
	r.mu.Lock()
	u.refs--
	last := u.refs == 0
	if last {
		delete(r.users, u.name)
	}
	r.mu.Unlock()
	if last {
		u.aw.Close()
		u.mu.Lock()
		if u.md != nil {
			u.md.Close()
		}
		u.acct.Close()
		u.mu.Unlock()
	}
}

// absorbLocked marks what was published since the last look as needing a
// read.
func (u *userNotify) absorbLocked() {
	for _, c := range u.aw.Take() {
		if c.ID == store.AccountID {
			u.acctDirty = true
			u.metaDirty[store.ServerMetadata] = true
			continue
		}
		u.dirty[c.ID] = true
		u.metaDirty[c.ID] = true
	}
}

// accountNow returns the account as it is now, reading it when something
// changed (or always, with force).
func (u *userNotify) accountNow(force bool) (*accountView, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.absorbLocked()
	if !force && !u.acctDirty && u.account != nil {
		return u.account, nil
	}
	boxes, err := u.acct.Mailboxes(srvCtx)
	if err != nil {
		return nil, err
	}
	subs, err := u.acct.Subscriptions(srvCtx)
	if err != nil {
		return nil, err
	}
	u.account = newAccountView(boxes, subs)
	u.acctDirty = false
	return u.account, nil
}

// statusNow returns a mailbox's figures as they are now.
func (u *userNotify) statusNow(id store.MailboxID) (store.MailboxStatus, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.absorbLocked()
	if st, ok := u.status[id]; ok && !u.dirty[id] {
		return st, nil
	}
	st, err := u.acct.Status(srvCtx, id)
	if err != nil {
		delete(u.status, id)
		return st, err
	}
	u.status[id] = st
	delete(u.dirty, id)
	return st, nil
}

// metaChanged returns the entry names of mailbox id (ServerMetadata: the
// server) changed at a modseq above since, sorted, and the modseq the
// answer runs to.
func (u *userNotify) metaChanged(srv *Server, id store.MailboxID, since store.ModSeq) ([]string, store.ModSeq, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.absorbLocked()
	c := u.meta[id]
	if c == nil || u.metaDirty[id] {
		if u.md == nil {
			ms, ok := srv.cfg.Store.(store.MetadataStore)
			if !ok {
				return nil, since, nil
			}
			md, err := ms.OpenMetadata(srvCtx, u.name)
			if err != nil {
				return nil, since, err
			}
			u.md = md
		}
		from := store.ModSeq(0)
		if c != nil {
			from = c.high
		} else {
			c = &metaCache{entries: map[string]store.ModSeq{}}
		}
		es, err := u.md.MetadataChangedSince(srvCtx, id, from)
		if errors.Is(err, store.ErrNoMailbox) {
			es, err = nil, nil
		}
		if err != nil {
			return nil, since, err
		}
		for _, e := range es {
			c.entries[e.Name] = e.ModSeq
			c.high = max(c.high, e.ModSeq)
		}
		u.meta[id] = c
		delete(u.metaDirty, id)
	}
	var names []string
	for n, m := range c.entries {
		if m > since {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return names, max(since, c.high), nil
}

// startNotify makes sp the session's NOTIFY, from now on (RFC 5465 3.1),
// and writes the STATUS responses of the STATUS indicator.
func (s *Session) startNotify(sp *notifySpec) error {
	if !s.srv.hasMetadata() && sp.any(func(e *notifyEvents) bool { return e.mailboxMetadataChange || e.serverMetadataChange }) {
		return No("BADEVENT ("+strings.Join(s.supportedEvents(), " ")+")", "Metadata events are not supported")
	}
	if s.notify == nil {
		u, err := s.srv.notifyReg.acquire(s.srv, s.user)
		if err != nil {
			return err
		}
		s.notify = &notifyState{u: u, aw: s.srv.cfg.Store.Hub().WatchAccount(s.user)}
	}
	n := s.notify
	n.spec = sp
	n.reported = make(map[store.MailboxID]store.MailboxStatus)
	n.metaSeen = make(map[store.MailboxID]store.ModSeq)
	// What was published before now is part of the baseline read next.
	n.aw.Take()
	v, err := n.u.accountNow(true)
	if err != nil {
		s.stopNotify()
		return err
	}
	n.base, n.cur = v, v
	if sp.any(func(e *notifyEvents) bool { return e.serverMetadataChange }) {
		_, high, err := n.u.metaChanged(s.srv, store.ServerMetadata, 0)
		if err != nil {
			s.stopNotify()
			return err
		}
		n.metaSeen[store.ServerMetadata] = high
	}
	if !sp.status {
		return nil
	}
	for _, b := range v.boxes {
		if s.view != nil && s.shared == nil && b.ID == s.view.Mailbox.ID {
			continue // the selected mailbox is SELECTED's (3.1)
		}
		ev := sp.eventsFor(b.Name, v.subs)
		if !ev.messages() {
			continue
		}
		st, err := n.u.statusNow(b.ID)
		if errors.Is(err, store.ErrNoMailbox) {
			continue
		}
		if err != nil {
			return err
		}
		s.writeStatus(b.Name, statusValues{MailboxStatus: st}, s.notifyStatusItems(&ev, nil, st))
		n.reported[b.ID] = st
	}
	return s.enc.Err()
}

// stopNotify ends NOTIFY (NOTIFY NONE, overflow, logout).
func (s *Session) stopNotify() {
	if s.notify == nil {
		return
	}
	s.notify.aw.Close()
	s.notify.u.release()
	s.notify = nil
}

// notifyStatusItems picks the STATUS items to send for a mailbox whose
// figures are now st and were prev when last sent (nil: never sent): the
// items of RFC 5465 5.1-5.3 for the events wanted, or none when nothing
// they carry moved.
func (s *Session) notifyStatusItems(ev *notifyEvents, prev *store.MailboxStatus, st store.MailboxStatus) []string {
	condstore := s.Enabled("CONDSTORE")
	var items []string
	add := func(it ...string) {
		for _, x := range it {
			if !slices.Contains(items, x) {
				items = append(items, x)
			}
		}
	}
	if ev.messageNew || ev.messageExpunge {
		if prev == nil || st.Messages != prev.Messages || st.UIDNext != prev.UIDNext || st.UIDValidity != prev.UIDValidity {
			add("MESSAGES", "UIDNEXT", "UIDVALIDITY")
		}
	}
	if ev.flagChange || ev.annotationChange {
		if prev == nil || st.Unseen != prev.Unseen {
			add("UNSEEN")
		}
		if condstore && (prev == nil || st.HighestModSeq != prev.HighestModSeq) {
			add("UIDVALIDITY")
		}
	}
	if condstore && len(items) > 0 {
		add("HIGHESTMODSEQ")
	}
	return items
}

// waitForCommand waits for the client's next command; with NOTIFY on, it
// runs a notify point at each wake-up meanwhile (RFC 5465 3.1: events are
// sent when no command is in progress).
func (s *Session) waitForCommand() error {
	if s.notify == nil {
		_, err := s.dec.Peek()
		return err
	}
	s.notify.lastCmd = ""
	ready := make(chan error, 1)
	go func() {
		_, err := s.dec.Peek()
		ready <- err
	}()
	sel, stop := s.sharedNotifyWatch()
	defer stop()
	// The watch of a selected shared mailbox begins here, after the last
	// answer: what was committed before it is caught up on first.
	catchUp := sel != nil
	for {
		n := s.notify
		if n == nil {
			return <-ready
		}
		var err error
		if catchUp {
			catchUp = false
			err = s.sharedNotifyPoint(false)
		} else {
			select {
			case err := <-ready:
				return err
			case <-sel:
				err = s.sharedNotifyPoint(false)
			case <-n.aw.C:
				err = s.notifyPoint(false)
			}
		}
		if err == nil {
			err = s.enc.Flush()
		}
		if err != nil {
			if errors.Is(err, store.ErrUserDeleted) {
				s.bye("[UNAVAILABLE] Account deleted")
				s.log.Info("account deleted, session ended")
			}
			s.conn().Close()
			<-ready
			return err
		}
	}
}

// notifyPoint writes the events published since the last one (unflushed).
// inIdle: running inside IDLE, where expunges may always be sent.
func (s *Session) notifyPoint(inIdle bool) error {
	n := s.notify
	changes := n.aw.Take()
	if len(changes) == 0 {
		return nil
	}
	sp := n.spec
	limit := s.srv.cfg.NotifyMaxEvents
	if limit == 0 {
		limit = defaultNotifyMaxEvents
	}
	events := 0
	overflow := func() bool {
		events++
		return limit > 0 && events > limit
	}
	syncSelected := false
	// Account changes first: a mailbox created and written in one go is
	// named before its STATUS.
	for _, c := range changes {
		if c.ID != store.AccountID {
			continue
		}
		v, err := n.u.accountNow(false)
		if err != nil {
			return err
		}
		if v != n.cur {
			for _, w := range s.accountEvents(n.cur, v) {
				if overflow() {
					return s.notifyOverflow()
				}
				w()
			}
			n.cur = v
		}
		if sp.any(func(e *notifyEvents) bool { return e.serverMetadataChange }) {
			names, high, err := n.u.metaChanged(s.srv, store.ServerMetadata, n.metaSeen[store.ServerMetadata])
			if err != nil {
				return err
			}
			n.metaSeen[store.ServerMetadata] = high
			if len(names) > 0 {
				if overflow() {
					return s.notifyOverflow()
				}
				s.writeMetadataNames("", names)
			}
		}
	}
	for _, c := range changes {
		if c.ID == store.AccountID {
			continue
		}
		info, ok := n.cur.byId(c.ID)
		if !ok {
			continue // deleted, or not yet in the account read
		}
		selected := s.view != nil && s.shared == nil && c.ID == s.view.Mailbox.ID // ids are per owner
		ev := sp.eventsFor(info.Name, n.cur.subs)
		if selected {
			syncSelected = sp.selected != nil && sp.selected.messages()
		} else if ev.messages() {
			st, err := n.u.statusNow(c.ID)
			if errors.Is(err, store.ErrNoMailbox) {
				continue
			}
			if err != nil {
				return err
			}
			var prev *store.MailboxStatus
			if p, ok := n.reported[c.ID]; ok {
				prev = &p
			}
			if items := s.notifyStatusItems(&ev, prev, st); len(items) > 0 {
				if overflow() {
					return s.notifyOverflow()
				}
				s.writeStatus(info.Name, statusValues{MailboxStatus: st}, items)
				n.reported[c.ID] = st
			}
		}
		if ev.mailboxMetadataChange {
			since, ok := n.metaSeen[c.ID]
			if !ok {
				if b, ok := n.base.byId(c.ID); ok {
					since = b.HighestModSeq
				}
			}
			names, high, err := n.u.metaChanged(s.srv, c.ID, since)
			if err != nil {
				return err
			}
			n.metaSeen[c.ID] = high
			if len(names) > 0 {
				if overflow() {
					return s.notifyOverflow()
				}
				s.writeMetadataNames(info.Name, names)
			}
		}
	}
	if syncSelected {
		n.hideFlags = !sp.selected.flagChange
		err := s.sync(inIdle || !sp.delayed)
		n.hideFlags = false
		if err != nil {
			return err
		}
	}
	return s.enc.Err()
}

// notifyOverflow tells the client NOTIFY stopped (RFC 5465 5.8).
func (s *Session) notifyOverflow() error {
	s.Untagged().Raw("OK [NOTIFICATIONOVERFLOW] Too many events; NOTIFY is now NONE").CRLF()
	s.stopNotify()
	return s.enc.Err()
}

// writeMetadataNames writes an unsolicited METADATA response with entry
// names only (RFC 5464 4.4.2).
func (s *Session) writeMetadataNames(mailbox string, names []string) {
	e := s.Untagged().Raw("METADATA ").Mailbox(mailbox)
	for _, n := range names {
		e.SP().Astring(n)
	}
	e.CRLF()
}

// accountEvents compares two reads of the account and returns the
// writers of the LIST responses of MailboxName (5.4) and
// SubscriptionChange (5.5) the session asked for, in name order: renames
// (a renamed subtree as one event, with OLDNAME), then created and
// deleted names with their direct parents.
func (s *Session) accountEvents(old, cur *accountView) []func() {
	sp := s.notify.spec
	var out []func()
	wants := func(name string, test func(*notifyEvents) bool) bool {
		subs := cur.subs
		if old.subs[name] && !cur.subs[name] {
			subs = old.subs
		}
		ev := sp.eventsFor(name, subs)
		return test(&ev)
	}
	nameEv := func(e *notifyEvents) bool { return e.mailboxName }
	listed := map[string]bool{}
	list := func(name string, oldName string) {
		if listed[name] && oldName == "" {
			return
		}
		listed[name] = true
		out = append(out, func() { s.writeNotifyList(cur, name, oldName) })
	}
	// Renames: same id, another name; a child renamed with its parent is
	// not an event of its own.
	type rename struct{ from, to string }
	var renames []rename
	for _, b := range cur.boxes {
		if o, ok := old.byId(b.ID); ok && o.Name != b.Name {
			renames = append(renames, rename{o.Name, b.Name})
		}
	}
	for _, r := range renames {
		child := slices.ContainsFunc(renames, func(p rename) bool {
			return strings.HasPrefix(r.from, p.from+"/") && r.to == p.to+r.from[len(p.from):]
		})
		if !child && (wants(r.to, nameEv) || wants(r.from, nameEv)) {
			list(r.to, r.from)
		}
	}
	var touched []string
	for _, b := range cur.boxes {
		if _, ok := old.byID[b.ID]; !ok {
			touched = append(touched, b.Name)
		}
	}
	for _, b := range old.boxes {
		if _, ok := cur.byID[b.ID]; !ok {
			touched = append(touched, b.Name)
		}
	}
	sort.Strings(touched)
	for _, name := range touched {
		if wants(name, nameEv) {
			list(name, "")
		}
		if i := strings.LastIndexByte(name, '/'); i > 0 && wants(name[:i], nameEv) {
			list(name[:i], "")
		}
	}
	var subs []string
	for n := range cur.subs {
		if !old.subs[n] {
			subs = append(subs, n)
		}
	}
	for n := range old.subs {
		if !cur.subs[n] {
			subs = append(subs, n)
		}
	}
	sort.Strings(subs)
	for _, name := range subs {
		if wants(name, func(e *notifyEvents) bool { return e.subscriptionChange }) {
			list(name, "")
		}
	}
	return out
}

// writeNotifyList writes an unsolicited LIST for name as the account is
// now: \NonExistent when no such mailbox, child attributes, special use,
// \Subscribed; OLDNAME for a rename (RFC 5465 5.4, RFC 5258).
func (s *Session) writeNotifyList(v *accountView, name, oldName string) {
	var attrs []string
	i, exists := v.byNm[name]
	if !exists {
		attrs = append(attrs, `\NonExistent`)
	}
	if v.hasChildren(name) {
		attrs = append(attrs, `\HasChildren`)
	} else {
		attrs = append(attrs, `\HasNoChildren`)
	}
	if exists && v.boxes[i].SpecialUse != "" {
		attrs = append(attrs, string(v.boxes[i].SpecialUse))
	}
	if v.subs[name] {
		attrs = append(attrs, `\Subscribed`)
	}
	e := s.Untagged().Raw("LIST ").List(len(attrs), func(i int) { s.enc.Raw(attrs[i]) }).
		Raw(` "` + hierarchyDelimiter + `" `).Mailbox(name)
	if oldName != "" {
		e.Raw(` ("OLDNAME" (`).Mailbox(oldName).Raw("))")
	}
	e.CRLF()
}

// notifyNewMessages writes MessageNew's fetch attributes for the messages
// the sync point just announced (UIDs above prevHigh), RFC 5465 5.2.
func (s *Session) notifyNewMessages(prevHigh store.UID) error {
	n := s.notify
	if n == nil || n.spec == nil || n.spec.selected == nil || n.spec.selected.fetch == nil {
		return nil
	}
	switch n.lastCmd {
	case "APPEND", "COPY", "UID COPY", "MOVE", "UID MOVE":
		return nil // this client's own messages (5.2: SHOULD NOT)
	}
	v := s.view
	var fresh []store.UID
	for seq := v.Exists(); seq >= 1; seq-- {
		uid, ok := v.UID(seq)
		if !ok || uid <= prevHigh {
			break
		}
		fresh = append(fresh, uid)
	}
	if len(fresh) == 0 {
		return nil
	}
	var uids store.UIDSet
	for i := len(fresh) - 1; i >= 0; i-- {
		uids.Add(fresh[i])
	}
	req := *n.spec.selected.fetch
	condstore := s.Enabled("CONDSTORE")
	if condstore && req.wants(fetchFlags) && !req.wants(fetchModSeq) {
		// RFC 7162 3.2.4: FLAGS the server sends unasked carry MODSEQ.
		req.items = slices.Clone(req.items)
		req.add(fetchItem{kind: fetchModSeq, name: "MODSEQ"})
	}
	f := &fetcher{s: s, req: &req, condstore: condstore}
	if req.onlyStates() {
		return s.fetchStates(s.ctx(), uids, f.writeState)
	}
	return s.boxAcct().Messages(s.ctx(), v.Mailbox.ID, uids, f.writeMessage)
}

// noteCommandDone is called after each command ran, before its sync
// point: the sync point learns which command it follows, and this
// client's own account changes become the baseline instead of events.
func (s *Session) noteCommandDone(name string, err error) {
	n := s.notify
	if n == nil {
		return
	}
	n.lastCmd = name
	if err != nil {
		return
	}
	switch name {
	case "CREATE", "DELETE", "RENAME", "SUBSCRIBE", "UNSUBSCRIBE":
		if v, err := n.u.accountNow(false); err == nil {
			n.cur = v
		}
	}
}

// noteOwnMetadata records this client's SETMETADATA, which took modseq
// ms, as reported.
func (s *Session) noteOwnMetadata(id store.MailboxID, ms store.ModSeq) {
	if s.notify != nil && ms > s.notify.metaSeen[id] {
		s.notify.metaSeen[id] = ms
	}
	if s.metaWatch != nil && ms != 0 {
		s.metaWatch.own[metadataChange{id, ms}] = true
	}
}
