package server

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/tidemark-mail/tidemark/internal/acl"
	"github.com/tidemark-mail/tidemark/internal/store"
)

// Shared mailboxes (RFC 4314 ACL, RFC 2342 NAMESPACE).
//
// A user reaches a mailbox of another user of the server, one whose access
// control list grants them (or "anyone") a right, under the other users'
// namespace: "Other Users/<owner>/<name in the owner's store>". Every name
// a command takes goes through resolve, which answers the owner's
// store.Account (opened once per session through the store, the way the
// owner's own sessions open it, and kept until logout), the mailbox, and
// the rights the user holds on it, read from the owner's list at each
// command. A name outside the prefix is the user's own and their own
// account answers it, so nothing else can lead a command to another
// user's store. Own mailboxes cannot be created under the prefix.
//
// The rights are checked where each command acts (RFC 4314 4): need
// answers NO [NOPERM] when the user may see the mailbox (l or r) but not
// do this, and the answer for a mailbox that does not exist otherwise
// (RFC 4314 6). For the selected mailbox the rights are read again before
// each command (refreshSelectedRights); once the read right is gone, the
// session gets NO [NOPERM] for every command that works on the selected
// mailbox, and no more news of it, until it selects another or closes it
// (RFC 4314 5.1.1 allows refusing them).

// sharedPrefix is the other users' namespace (RFC 2342 5).
const sharedPrefix = "Other Users"

// aclStore returns the store's access control lists; nil without them,
// and then neither ACL nor shared mailboxes are offered.
func (srv *Server) aclStore() store.ACLStore {
	as, _ := srv.cfg.Store.(store.ACLStore)
	return as
}

// hasACL reports whether ACL and shared mailboxes are offered.
func (srv *Server) hasACL() bool { return srv.aclStore() != nil }

// otherUser is another user's store as one session reaches it.
type otherUser struct {
	acct store.Account
	acl  store.ACL
}

// sharedSel is the selected mailbox when it belongs to another user.
type sharedSel struct {
	owner  string
	acct   store.Account
	rights acl.Rights
}

// boxAcct is the account holding the selected mailbox.
func (s *Session) boxAcct() store.Account {
	if s.shared != nil {
		return s.shared.acct
	}
	return s.acct
}

// boxOwner is the user whose store holds the selected mailbox.
func (s *Session) boxOwner() string {
	if s.shared != nil {
		return s.shared.owner
	}
	return s.user
}

// other returns owner's store, opened on first use. An owner who does not
// exist is a mailbox that does not exist.
func (s *Session) other(owner string) (*otherUser, error) {
	if o := s.others[owner]; o != nil {
		return o, nil
	}
	as := s.srv.aclStore()
	if as == nil {
		return nil, store.ErrNoMailbox
	}
	ctx := s.ctx()
	a, err := s.srv.cfg.Store.Open(ctx, owner)
	if errors.Is(err, store.ErrNoUser) {
		return nil, fmt.Errorf("user %q: %w", owner, store.ErrNoMailbox)
	} else if err != nil {
		return nil, err
	}
	h, err := as.OpenACL(ctx, owner)
	if err != nil {
		a.Close()
		if errors.Is(err, store.ErrNoUser) {
			return nil, fmt.Errorf("user %q: %w", owner, store.ErrNoMailbox)
		}
		return nil, err
	}
	if s.others == nil {
		s.others = map[string]*otherUser{}
	}
	o := &otherUser{acct: a, acl: h}
	s.others[owner] = o
	return o, nil
}

// closeOthers gives back the other users' stores (logout, UNAUTHENTICATE).
func (s *Session) closeOthers() {
	for _, o := range s.others {
		o.acl.Close()
		o.acct.Close()
	}
	s.others = nil
}

// aclOf returns the access control list of owner's mailbox id.
func (s *Session) aclOf(owner string, id store.MailboxID) ([]store.ACLEntry, error) {
	if owner == s.user {
		as := s.srv.aclStore()
		if as == nil {
			return nil, nil
		}
		h, err := as.OpenACL(s.ctx(), owner)
		if err != nil {
			return nil, err
		}
		defer h.Close()
		return h.MailboxACL(s.ctx(), id)
	}
	o, err := s.other(owner)
	if err != nil {
		return nil, err
	}
	return o.acl.MailboxACL(s.ctx(), id)
}

// rightsOn returns the rights the session's user holds on owner's
// mailbox id: all of them on their own.
func (s *Session) rightsOn(owner string, id store.MailboxID) (acl.Rights, error) {
	if owner == s.user {
		return acl.All, nil
	}
	es, err := s.aclOf(owner, id)
	if err != nil {
		return 0, err
	}
	return rightsFor(s.user, owner, es), nil
}

// rightsFor applies entries to user.
func rightsFor(user, owner string, es []store.ACLEntry) acl.Rights {
	m := make(map[string]acl.Rights, len(es))
	for _, e := range es {
		r, _ := acl.Parse(e.Rights)
		m[e.Identifier] = r
	}
	return acl.For(user, owner, m)
}

// isSharedName reports whether name lies in the other users' namespace.
func isSharedName(name string) bool {
	return name == sharedPrefix || strings.HasPrefix(name, sharedPrefix+"/")
}

// splitShared splits "Other Users/owner/rest".
func splitShared(name string) (owner, rest string, ok bool) {
	if !strings.HasPrefix(name, sharedPrefix+"/") {
		return "", "", false
	}
	owner, rest, ok = strings.Cut(name[len(sharedPrefix)+1:], "/")
	return strings.ToLower(owner), rest, ok && owner != "" && rest != ""
}

// sharedName is how the session names owner's mailbox.
func sharedName(owner, name string) string { return sharedPrefix + "/" + owner + "/" + name }

// mailboxRef is a mailbox a session reaches by name.
type mailboxRef struct {
	owner  string
	acct   store.Account // the owner's
	info   store.MailboxInfo
	rights acl.Rights
}

// isShared reports whether the mailbox is another user's.
func (r *mailboxRef) isShared(s *Session) bool { return r.owner != s.user }

// need checks that the user holds every right of want (RFC 4314 4). A
// user who can neither list nor read the mailbox is told it does not
// exist (RFC 4314 6).
func (r *mailboxRef) need(want acl.Rights) error {
	if r.rights.Has(want) {
		return nil
	}
	if !r.rights.Any(acl.Lookup | acl.Read) {
		return store.ErrNoMailbox
	}
	return No("NOPERM", "Permission denied: this needs the \""+want.Stored()+"\" right")
}

// resolve finds the mailbox a command names: the user's own, or another
// user's in the other users' namespace, with the rights the user holds.
// A mailbox of another user that grants the user nothing does not exist
// for them, whatever the reason.
func (s *Session) resolve(name string) (*mailboxRef, error) {
	ctx := s.ctx()
	if !s.srv.hasACL() || !isSharedName(name) {
		info, err := s.acct.Mailbox(ctx, name)
		if err != nil {
			return nil, err
		}
		return &mailboxRef{owner: s.user, acct: s.acct, info: info, rights: acl.All}, nil
	}
	owner, rest, ok := splitShared(name)
	if !ok || owner == s.user {
		return nil, fmt.Errorf("%q: %w", name, store.ErrNoMailbox)
	}
	o, err := s.other(owner)
	if err != nil {
		return nil, err
	}
	info, err := o.acct.Mailbox(ctx, rest)
	if err != nil {
		return nil, err
	}
	rights, err := s.rightsOn(owner, info.ID)
	if err != nil {
		return nil, err
	}
	if rights == 0 {
		return nil, fmt.Errorf("%q: %w", name, store.ErrNoMailbox)
	}
	return &mailboxRef{owner: owner, acct: o.acct, info: info, rights: rights}, nil
}

// refreshSelectedRights reads the rights on a selected shared mailbox
// again, before each command: a right taken away is gone at once.
func (s *Session) refreshSelectedRights() error {
	if s.shared == nil || s.view == nil {
		return nil
	}
	r, err := s.rightsOn(s.shared.owner, s.view.Mailbox.ID)
	if errors.Is(err, store.ErrNoMailbox) {
		r, err = 0, nil
	}
	if err != nil {
		return err
	}
	s.shared.rights = r
	return nil
}

// selectedRights is what the user holds on the selected mailbox.
func (s *Session) selectedRights() acl.Rights {
	if s.shared != nil {
		return s.shared.rights
	}
	return acl.All
}

// errAccessWithdrawn answers a command on a selected mailbox whose read
// right was taken away.
var errAccessWithdrawn = No("NOPERM", "Access to the selected mailbox was withdrawn; select another")

// needSelected checks a right on the selected mailbox.
func (s *Session) needSelected(want acl.Rights) error {
	r := s.selectedRights()
	if r.Has(want) {
		return nil
	}
	if !r.Has(acl.Read) {
		return errAccessWithdrawn
	}
	return No("NOPERM", "Permission denied: this needs the \""+want.Stored()+"\" right")
}

// allowedFlags removes from f the flags the rights do not let the user
// set or clear (RFC 4314 4): \Seen needs s, \Deleted t, the others w.
func allowedFlags(f store.Flags, r acl.Rights) store.Flags {
	if !r.Has(acl.Seen) {
		f.System &^= store.FlagSeen
	}
	if !r.Has(acl.DeleteMessages) {
		f.System &^= store.FlagDeleted
	}
	if !r.Has(acl.Write) {
		f.System &= store.FlagSeen | store.FlagDeleted
		f.Keywords = nil
	}
	return f
}

// permittedFlags keeps the flag names the rights let the user store
// (RFC 4314 5.1.1: PERMANENTFLAGS reflects the rights).
func permittedFlags(names []string, r acl.Rights) []string {
	var out []string
	for _, n := range names {
		switch {
		case strings.EqualFold(n, `\Seen`):
			if r.Has(acl.Seen) {
				out = append(out, n)
			}
		case strings.EqualFold(n, `\Deleted`):
			if r.Has(acl.DeleteMessages) {
				out = append(out, n)
			}
		case r.Has(acl.Write):
			out = append(out, n)
		}
	}
	return out
}

// checkSelectedAccess runs before each command while another user's
// mailbox is selected: it reads the rights again and, once the read right
// is gone, refuses the commands that work on the selected mailbox.
func (s *Session) checkSelectedAccess(def *Command) error {
	if s.shared == nil || s.state != StateSelected {
		return nil
	}
	if err := s.refreshSelectedRights(); err != nil {
		return err
	}
	if s.shared.rights.Has(acl.Read) || def.States&StateAuthenticated != 0 {
		return nil
	}
	switch def.Name {
	case "CLOSE", "UNSELECT":
		return nil
	}
	return errAccessWithdrawn
}

// selectedName is the name the client knows the selected mailbox by,
// given its name in its owner's store.
func (s *Session) selectedName(name string) string {
	if s.shared != nil {
		return sharedName(s.shared.owner, name)
	}
	return name
}

// copyMessages copies (or moves) uids of the selected mailbox into dst.
// Within one user's store this is the store's Copy or Move: one
// transaction, no bytes copied. Across two users' stores (a shared
// mailbox on either side), or into a mailbox whose rights do not let the
// user keep every flag, the messages are appended to dst with their
// dates and the flags the rights allow (RFC 4314 4), in batches; a move
// then expunges what was copied. That is not one transaction: a crash in
// between leaves the messages in both mailboxes, never in neither.
func (s *Session) copyMessages(ctx context.Context, dst *mailboxRef, uids store.UIDSet, move bool) (store.CopyResult, error) {
	src, srcID := s.boxAcct(), s.view.Mailbox.ID
	if dst.owner == s.boxOwner() && dst.rights.Has(acl.Seen|acl.Write|acl.DeleteMessages) {
		if move {
			return src.Move(ctx, srcID, dst.info.ID, uids)
		}
		return src.Copy(ctx, srcID, dst.info.ID, uids)
	}
	var res store.CopyResult
	var batch []store.NewMessage
	var blobs []store.Blob
	var batchUIDs []store.UID
	closeBlobs := func() {
		for _, b := range blobs {
			b.Close()
		}
		blobs = blobs[:0]
	}
	defer closeBlobs()
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		r, err := dst.acct.Append(ctx, dst.info.ID, batch)
		closeBlobs()
		if err != nil {
			return err
		}
		res.UIDValidity, res.DstModSeq = r.UIDValidity, r.ModSeq
		res.SrcUIDs = append(res.SrcUIDs, batchUIDs...)
		res.DstUIDs = append(res.DstUIDs, r.UIDs...)
		batch, batchUIDs = batch[:0], batchUIDs[:0]
		return nil
	}
	err := src.Messages(ctx, srcID, uids, func(m *store.MessageData) error {
		b, err := src.OpenBlob(ctx, m.BlobID)
		if err != nil {
			return err
		}
		blobs = append(blobs, b)
		batch = append(batch, store.NewMessage{Body: b, Flags: allowedFlags(m.Flags, dst.rights), InternalDate: m.InternalDate})
		batchUIDs = append(batchUIDs, m.UID)
		if len(batch) == copyBatch {
			return flush()
		}
		return nil
	})
	if err == nil {
		err = flush()
	}
	if err != nil || !move || len(res.SrcUIDs) == 0 {
		return res, err
	}
	var gone store.UIDSet
	for _, u := range res.SrcUIDs {
		gone.Add(u)
	}
	ex, err := src.Expunge(ctx, srcID, gone)
	res.SrcModSeq = ex.ModSeq
	return res, err
}

// copyBatch is how many messages a copy across stores appends at once:
// each holds an open body until its batch is written.
const copyBatch = 64

// storeRights applies the rights on the selected mailbox to a STORE
// (RFC 4314 4): \Seen needs s, \Deleted t, other flags w. Flags the user
// may not change are dropped, and the command fails only when none of
// those it names may change. FLAGS without + or - sets the kinds of flag
// the user may change as asked and leaves the others alone
// (replaceAllowedFlags); with UNCHANGEDSINCE it needs all three rights.
func (s *Session) storeRights(a *storeArgs) error {
	r := s.selectedRights()
	if r.Has(acl.Seen | acl.Write | acl.DeleteMessages) {
		return nil
	}
	if a.op == store.FlagsReplace {
		if a.conditional || !r.Any(acl.Seen|acl.Write|acl.DeleteMessages) {
			return s.needSelected(acl.Seen | acl.Write | acl.DeleteMessages)
		}
		a.partialReplace = true
		return nil
	}
	asked := a.flags
	a.flags = allowedFlags(asked, r)
	if a.flags.System == 0 && len(a.flags.Keywords) == 0 && (asked.System != 0 || len(asked.Keywords) != 0) {
		switch {
		case asked.System&store.FlagSeen != 0:
			return s.needSelected(acl.Seen)
		case asked.System&store.FlagDeleted != 0:
			return s.needSelected(acl.DeleteMessages)
		}
		return s.needSelected(acl.Write)
	}
	return nil
}

// sharedMailboxes returns the other users' mailboxes the user may list
// (RFC 4314 4: the l right), named as the user sees them, with the rights
// the user holds: one store query for the grants naming the user or
// "anyone", then one mailbox list per owner.
func (s *Session) sharedMailboxes() ([]*mailboxRef, error) {
	as := s.srv.aclStore()
	if as == nil {
		return nil, nil
	}
	ctx := s.ctx()
	gs, err := as.Grants(ctx, []string{s.user, acl.Anyone})
	if err != nil {
		return nil, err
	}
	type key struct {
		owner string
		id    store.MailboxID
	}
	rights := map[key]acl.Rights{}
	var order []key
	for _, g := range gs {
		if g.Owner == s.user {
			continue
		}
		k := key{g.Owner, g.Mailbox}
		if _, seen := rights[k]; !seen {
			order = append(order, k)
		}
		r, _ := acl.Parse(g.Rights)
		rights[k] |= r
	}
	var out []*mailboxRef
	infos := map[string]map[store.MailboxID]store.MailboxInfo{}
	for _, k := range order {
		if !rights[k].Has(acl.Lookup) {
			continue
		}
		byID, ok := infos[k.owner]
		if !ok {
			o, err := s.other(k.owner)
			if errors.Is(err, store.ErrNoMailbox) {
				infos[k.owner] = nil
				continue
			} else if err != nil {
				return nil, err
			}
			mbs, err := o.acct.Mailboxes(ctx)
			if err != nil {
				return nil, err
			}
			byID = make(map[store.MailboxID]store.MailboxInfo, len(mbs))
			for _, mb := range mbs {
				byID[mb.ID] = mb
			}
			infos[k.owner] = byID
		}
		info, ok := byID[k.id]
		if !ok {
			continue // deleted since
		}
		o := s.others[k.owner]
		out = append(out, &mailboxRef{owner: k.owner, acct: o.acct, info: info, rights: rights[k]})
	}
	return out, nil
}

// errNotYours refuses an own mailbox under the other users' prefix.
var errNotYours = No("CANNOT", "Names under \""+sharedPrefix+"/\" belong to other users")

// creatable finds where rest may be created in owner's store: the rights
// on its nearest existing ancestor must include k (RFC 4314 4). A name
// with no existing ancestor would be a new top-level mailbox of the
// owner's, which only the owner may create.
func (s *Session) creatable(owner string, o *otherUser, rest string) error {
	ctx := s.ctx()
	var parent *store.MailboxInfo
	var err error
	forEachAncestor(rest, func(p string) bool {
		info, e := o.acct.Mailbox(ctx, p)
		if errors.Is(e, store.ErrNoMailbox) {
			return true
		}
		if e == nil {
			parent = &info
		}
		err = e
		return false
	})
	if err != nil {
		return err
	}
	if parent == nil {
		return No("NOPERM", "Only the owner creates top-level mailboxes")
	}
	r, err := s.rightsOn(owner, parent.ID)
	if err != nil {
		return err
	}
	ref := &mailboxRef{owner: owner, acct: o.acct, info: *parent, rights: r}
	return ref.need(acl.CreateMailbox)
}

// createShared creates a mailbox in another user's store.
func (s *Session) createShared(name string, opts store.CreateOptions) error {
	owner, rest, ok := splitShared(name)
	if !ok || owner == s.user {
		return errNotYours
	}
	o, err := s.other(owner)
	if errors.Is(err, store.ErrNoMailbox) {
		return No("NOPERM", "No such user shares mailboxes with you")
	} else if err != nil {
		return err
	}
	if err := s.creatable(owner, o, rest); err != nil {
		return err
	}
	info, err := o.acct.CreateMailbox(s.ctx(), rest, opts)
	if err != nil {
		return err
	}
	return s.inheritACL(owner, info)
}

// inheritACL gives a new mailbox the access control list of its parent
// (RFC 4314 4: CREATE SHOULD), so that what is shared stays shared below.
func (s *Session) inheritACL(owner string, info store.MailboxInfo) error {
	as := s.srv.aclStore()
	if as == nil {
		return nil
	}
	i := strings.LastIndexByte(info.Name, '/')
	if i < 0 {
		return nil
	}
	var acct store.Account = s.acct
	if owner != s.user {
		acct = s.others[owner].acct
	}
	ctx := s.ctx()
	parent, err := acct.Mailbox(ctx, info.Name[:i])
	if err != nil {
		return nil // no parent to inherit from
	}
	h, err := as.OpenACL(ctx, owner)
	if err != nil {
		return err
	}
	defer h.Close()
	es, err := h.MailboxACL(ctx, parent.ID)
	if err != nil {
		return err
	}
	for _, e := range es {
		if err := h.SetACL(ctx, info.ID, e.Identifier, e.Rights); err != nil {
			return err
		}
	}
	return nil
}

// renameShared renames when either name lies under the other users'
// prefix: both must be the same other user's, with x on the mailbox and k
// where it goes (RFC 4314 4).
func (s *Session) renameShared(from, to string) error {
	if !isSharedName(from) || !isSharedName(to) {
		return errNotYours
	}
	ref, err := s.resolve(from)
	if err != nil {
		return err
	}
	if err := ref.need(acl.DeleteMailbox); err != nil {
		return err
	}
	owner, rest, ok := splitShared(to)
	if !ok || owner != ref.owner {
		return No("CANNOT", "A mailbox stays with its owner")
	}
	if err := s.creatable(owner, s.others[owner], rest); err != nil {
		return err
	}
	return ref.acct.RenameMailbox(s.ctx(), ref.info.Name, rest)
}

// idleSync is IDLE's sync point: on another user's mailbox it first reads
// the rights again (SETACL wakes the mailbox's watchers), and when the
// read right has just gone it says so once, in an untagged NO, and sends
// nothing more about the mailbox.
func (s *Session) idleSync() error {
	if err := s.recheckSharedRights(); err != nil {
		return err
	}
	return s.sync(true)
}

// recheckSharedRights reads the rights on a selected shared mailbox again
// between commands and says once, in an untagged NO, when the read right
// has just gone.
func (s *Session) recheckSharedRights() error {
	if s.shared == nil {
		return nil
	}
	had := s.shared.rights.Has(acl.Read)
	if err := s.refreshSelectedRights(); err != nil {
		return err
	}
	if had && !s.shared.rights.Has(acl.Read) {
		s.Untagged().Raw("NO [NOPERM] Access to the selected mailbox was withdrawn").CRLF()
	}
	return nil
}

// sharedNotifyWatch watches the selected mailbox when it is another
// user's and NOTIFY asked for its message events: the user's own account
// watcher hears only the user's own mailboxes. The channel is nil
// otherwise; stop ends the watch.
func (s *Session) sharedNotifyWatch() (<-chan struct{}, func()) {
	if s.shared == nil || s.view == nil || s.notify == nil || s.notify.spec.selected == nil || !s.notify.spec.selected.messages() {
		return nil, func() {}
	}
	w := s.srv.cfg.Store.Hub().Watch(s.shared.owner, s.view.Mailbox.ID)
	return w.C, w.Close
}

// sharedNotifyPoint is the notify point of a selected shared mailbox: the
// ordinary sync point with NOTIFY's SELECTED rules (RFC 5465 5.1-5.3),
// after reading the rights again (idleSync).
func (s *Session) sharedNotifyPoint(inIdle bool) error {
	n := s.notify
	if n == nil || n.spec.selected == nil {
		return nil
	}
	if err := s.recheckSharedRights(); err != nil {
		return err
	}
	n.hideFlags = !n.spec.selected.flagChange
	err := s.sync(inIdle || !n.spec.delayed)
	n.hideFlags = false
	return err
}

// replaceAllowedFlags is STORE FLAGS under rights that cover some kinds of
// flag only: the flags of those kinds are added as asked, then the others
// of those kinds removed (keywords: those the mailbox has in use), in two
// store writes; the flags of the other kinds are left as they are. The
// result merges the two, each message in the state the second left.
func (s *Session) replaceAllowedFlags(uids store.UIDSet, want store.Flags) (store.FlagResult, error) {
	r := s.selectedRights()
	v, ctx, acct := s.view, s.ctx(), s.boxAcct()
	add := allowedFlags(want, r)
	var remove store.Flags
	if r.Has(acl.Seen) && want.System&store.FlagSeen == 0 {
		remove.System |= store.FlagSeen
	}
	if r.Has(acl.DeleteMessages) && want.System&store.FlagDeleted == 0 {
		remove.System |= store.FlagDeleted
	}
	if r.Has(acl.Write) {
		remove.System |= (store.FlagAnswered | store.FlagFlagged | store.FlagDraft) &^ want.System
		for _, k := range v.Keywords() {
			if !slices.ContainsFunc(want.Keywords, func(w string) bool { return strings.EqualFold(w, k) }) {
				remove.Keywords = append(remove.Keywords, k)
			}
		}
	}
	r1, err := acct.SetFlags(ctx, v.Mailbox.ID, uids, store.FlagsAdd, add, 0)
	if err != nil {
		return r1, err
	}
	s.box.Committed(r1.ModSeq, r1.Changed)
	r2, err := acct.SetFlags(ctx, v.Mailbox.ID, uids, store.FlagsRemove, remove, 0)
	if err != nil {
		return r2, err
	}
	s.box.Committed(r2.ModSeq, r2.Changed)
	out := store.FlagResult{ModSeq: max(r1.ModSeq, r2.ModSeq)}
	last := map[store.UID]store.MessageState{}
	for _, m := range r1.Changed {
		last[m.UID] = m
	}
	for _, m := range r2.Changed {
		last[m.UID] = m
	}
	for _, m := range r2.Unchanged {
		if c, ok := last[m.UID]; ok {
			out.Changed = append(out.Changed, c)
		} else {
			out.Unchanged = append(out.Unchanged, m)
		}
	}
	for _, m := range r2.Changed {
		out.Changed = append(out.Changed, m)
	}
	slices.SortFunc(out.Changed, func(a, b store.MessageState) int { return cmp.Compare(a.UID, b.UID) })
	return out, nil
}
