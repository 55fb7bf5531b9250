package server

import (
	"errors"
	"github.com/tidemark-mail/tidemark/internal/acl"
	"slices"
	"strings"

	"github.com/tidemark-mail/tidemark/internal/store"
	"github.com/tidemark-mail/tidemark/internal/wire"
)

// LIST (RFC 9051 6.3.9) with LIST-EXTENDED (RFC 5258): selection options
// SUBSCRIBED, REMOTE, RECURSIVEMATCH and SPECIAL-USE (RFC 6154), return
// options SUBSCRIBED, CHILDREN, SPECIAL-USE, STATUS (RFC 5819) and
// MYRIGHTS (RFC 8440, with ACL), and several patterns in one command.
//
// The user's own namespace has "/" as the hierarchy delimiter. A listing
// reads the user's mailboxes once (and the subscriptions once when they
// matter) and matches every name in memory, so it costs one store call
// however many mailboxes there are. Store handles are per user, so no
// pattern can reach another user's names: the only other names listed
// are those of mailboxes other users shared with the user (the l right),
// under "Other Users/<owner>/" (shared.go), found by one Grants query and
// one mailbox list per owner who shares.
func init() {
	register(&Command{Name: "LIST", States: authenticated, Run: runList})
	addCapability("LIST-EXTENDED", nil)
	addCapability("LIST-STATUS", nil)
	addCapability("SPECIAL-USE", nil)
	addCapability("CHILDREN", nil)
	addCapability("LIST-MYRIGHTS", func(s *Session) bool { return s.srv.hasACL() })
}

// hierarchyDelimiter is the one delimiter of Tidemark's namespace.
const hierarchyDelimiter = "/"

// listQuery is what to select: the patterns and the selection options.
type listQuery struct {
	patterns listPatterns
	// subscribedOnly selects subscribed names (existing or not) rather
	// than existing mailboxes (selection option SUBSCRIBED; LSUB).
	subscribedOnly bool
	// specialUseOnly selects mailboxes with a special use (RFC 6154).
	specialUseOnly bool
	// recursive (RECURSIVEMATCH) also lists matching names with a
	// selected descendant, with CHILDINFO.
	recursive bool
	// levels lists matching names that are not selected themselves but
	// stand above selected names the patterns do not reach: the "%" rule
	// of RFC 9051 6.3.9 and RFC 3501 6.3.9 (LSUB), where such a level is
	// returned as \NonExistent or \Noselect.
	levels bool
	// wantSubscribed reads subscriptions even without subscribedOnly
	// (return option SUBSCRIBED).
	wantSubscribed bool
}

// listEntry is one name a listing returns.
type listEntry struct {
	name string
	info *store.MailboxInfo // nil when no mailbox has this name
	// selected is set when the name meets the selection criteria itself;
	// otherwise it is listed for a descendant that does.
	selected bool
	// childInfo: a descendant meets the selection criteria (only computed
	// for RECURSIVEMATCH).
	childInfo   bool
	hasChildren bool // an existing mailbox lies below it
	subscribed  bool
	// ref is set for another user's mailbox (shared.go); info then
	// carries the name the user sees.
	ref *mailboxRef
}

// listMailboxes runs a query against the user's mailboxes and returns the
// entries to report, ordered by compareListNames.
func (s *Session) listMailboxes(q listQuery) ([]listEntry, error) {
	ctx := s.ctx()
	mbs, err := s.acct.Mailboxes(ctx)
	if err != nil {
		return nil, err
	}
	if s.srv.hasACL() {
		// A name under the other users' prefix always means another
		// user's mailbox, so an own mailbox there (made before ACL was
		// offered) cannot be reached, and is not listed.
		mbs = slices.DeleteFunc(mbs, func(mb store.MailboxInfo) bool { return isSharedName(mb.Name) })
	}
	// Other users' mailboxes join the list under the names the user sees
	// them by (shared.go); the user's own never lie under that prefix.
	shared, err := s.sharedMailboxes()
	if err != nil {
		return nil, err
	}
	refs := make(map[string]*mailboxRef, len(shared))
	for _, r := range shared {
		info := r.info
		info.Name = sharedName(r.owner, r.info.Name)
		refs[info.Name] = r
		mbs = append(mbs, info)
	}
	exists := make(map[string]*store.MailboxInfo, len(mbs))
	hasChildren := map[string]bool{} // every proper ancestor of an existing mailbox
	for i := range mbs {
		exists[mbs[i].Name] = &mbs[i]
		forEachAncestor(mbs[i].Name, func(p string) bool {
			if hasChildren[p] {
				return false // its ancestors are in already
			}
			hasChildren[p] = true
			return true
		})
	}
	var subscribed map[string]bool
	var subs []string
	if q.subscribedOnly || q.wantSubscribed {
		if subs, err = s.acct.Subscriptions(ctx); err != nil {
			return nil, err
		}
		subscribed = make(map[string]bool, len(subs))
		for _, n := range subs {
			subscribed[n] = true
		}
	}

	// The names that meet the selection criteria.
	var selected []string
	if q.subscribedOnly {
		for _, n := range subs {
			if !q.specialUseOnly || (exists[n] != nil && exists[n].SpecialUse != "") {
				selected = append(selected, n)
			}
		}
	} else {
		for i := range mbs {
			if !q.specialUseOnly || mbs[i].SpecialUse != "" {
				selected = append(selected, mbs[i].Name)
			}
		}
	}

	entry := func(name string, sel bool) listEntry {
		return listEntry{name: name, info: exists[name], selected: sel,
			hasChildren: hasChildren[name], subscribed: subscribed[name], ref: refs[name]}
	}
	var out []listEntry
	isSelected := make(map[string]bool, len(selected))
	// Ancestors of selected names, true when some selected descendant is
	// not listed itself (so listing the ancestor is not redundant,
	// RFC 9051 6.3.9.6).
	ancestors := map[string]bool{}
	for _, n := range selected {
		isSelected[n] = true
		listed := q.patterns.match(n)
		if listed {
			out = append(out, entry(n, true))
		}
		if q.recursive || q.levels {
			forEachAncestor(n, func(p string) bool {
				if ancestors[p] {
					return false
				}
				ancestors[p] = !listed
				return true
			})
		}
	}
	if q.recursive {
		for i := range out {
			_, out[i].childInfo = ancestors[out[i].name]
		}
	}
	for p, unlisted := range ancestors {
		if !unlisted || isSelected[p] || !q.patterns.match(p) {
			continue
		}
		e := entry(p, false)
		e.childInfo = q.recursive
		out = append(out, e)
	}
	slices.SortFunc(out, func(a, b listEntry) int { return compareListNames(a.name, b.name) })
	return out, nil
}

// compareListNames orders a listing: INBOX and its children first, as
// clients show them, then the rest by name.
func compareListNames(a, b string) int {
	ai, bi := isInboxTree(a), isInboxTree(b)
	switch {
	case ai && !bi:
		return -1
	case bi && !ai:
		return 1
	}
	return strings.Compare(a, b)
}

func isInboxTree(name string) bool { return name == "INBOX" || strings.HasPrefix(name, "INBOX/") }

// forEachAncestor calls fn with each proper ancestor of name, nearest
// first, until fn returns false.
func forEachAncestor(name string, fn func(string) bool) {
	for i := len(name) - 1; i > 0; i-- {
		if name[i] == '/' && !fn(name[:i]) {
			return
		}
	}
}

// listOptions are a LIST command's options beyond its patterns.
type listOptions struct {
	extended       bool // the extended syntax was used (RFC 5258 3)
	subscribed     bool // selection SUBSCRIBED
	recursive      bool // selection RECURSIVEMATCH
	specialUse     bool // selection SPECIAL-USE
	retSubscribed  bool
	retChildren    bool
	retSpecialUse  bool
	statusItems    []string // return STATUS (...) items, upper case
	hasStatusItems bool
	meta           *listMetadata // return METADATA (RFC 9590, list_metadata.go)
	retMyRights    bool          // return MYRIGHTS (RFC 8440)
}

func runList(s *Session, c *Cmd) error {
	d := c.Dec
	if err := d.SP(); err != nil {
		return err
	}
	var o listOptions
	if b, err := d.Peek(); err == nil && b == '(' {
		o.extended = true
		if err := readListSelectOptions(d, &o); err != nil {
			return err
		}
		if err := d.SP(); err != nil {
			return err
		}
	}
	ref, err := s.ReadMailbox(d)
	if err == errNameNotMUTF7 {
		ref, err = noMatchPattern, nil
	}
	if err != nil {
		return err
	}
	if err := d.SP(); err != nil {
		return err
	}
	var rawPatterns []string
	if b, err := d.Peek(); err == nil && b == '(' {
		o.extended = true
		err := d.List(func() error {
			p, err := s.readListMailbox(d)
			rawPatterns = append(rawPatterns, p)
			return err
		})
		if err != nil {
			return err
		}
	} else {
		p, err := s.readListMailbox(d)
		if err != nil {
			return err
		}
		rawPatterns = append(rawPatterns, p)
	}
	if d.Special(' ') {
		o.extended = true
		if err := s.readListReturnOptions(d, &o); err != nil {
			return err
		}
	}
	if err := c.End(); err != nil {
		return err
	}
	if o.meta != nil {
		defer o.meta.close()
	}
	s.noteStatusItems(o.statusItems)
	if o.recursive && !o.subscribed && !o.specialUse {
		// RFC 9051 6.3.9.1: RECURSIVEMATCH alone (or with REMOTE) is BAD.
		return Bad("", "RECURSIVEMATCH needs another selection option")
	}

	// RFC 9051 6.3.9: in the basic syntax an empty pattern asks for the
	// hierarchy delimiter.
	if !o.extended && rawPatterns[0] == "" {
		s.Untagged().Raw(`LIST (\Noselect) "` + hierarchyDelimiter + `" ""`).CRLF()
		return s.enc.Err()
	}
	q := listQuery{
		subscribedOnly: o.subscribed,
		specialUseOnly: o.specialUse,
		recursive:      o.recursive,
		levels:         !o.subscribed && !o.specialUse,
		wantSubscribed: o.retSubscribed,
	}
	for _, p := range rawPatterns {
		if p == "" {
			continue // RFC 9051 6.3.9: ignored in the extended syntax
		}
		if p == noMatchPattern || ref == noMatchPattern {
			continue
		}
		// No break-out characters: the canonical pattern is the
		// reference followed by the pattern.
		if lp, ok := compileListPattern(ref + p); ok {
			q.patterns = append(q.patterns, lp)
		}
	}
	if len(q.patterns) == 0 {
		return nil
	}
	entries, err := s.listMailboxes(q)
	if err != nil {
		return err
	}
	for i := range entries {
		s.writeListEntry("LIST", &entries[i], &o)
		if o.retMyRights && entries[i].selected && entries[i].info != nil {
			// RFC 8440 3: after the mailbox's LIST, for a mailbox that
			// exists and meets the selection criteria.
			r := acl.All
			if entries[i].ref != nil {
				r = entries[i].ref.rights
			}
			s.Untagged().Raw("MYRIGHTS ").Mailbox(entries[i].name).SP().Astring(r.String()).CRLF()
		}
		if o.hasStatusItems && entries[i].selected && entries[i].info != nil {
			// RFC 5819: STATUS follows the LIST of each selectable
			// mailbox that meets the selection criteria. A mailbox
			// deleted in between gets no STATUS (RFC 9051 6.3.9.2);
			// any other failure fails the command.
			var st statusValues
			var err error
			if r := entries[i].ref; r != nil {
				if r.rights.Has(acl.Read) { // RFC 4314 4: STATUS needs r
					st, err = s.statusOf(r, o.statusItems)
				} else {
					err = store.ErrNoMailbox // listed, not read
				}
			} else {
				st, err = s.status(entries[i].info.ID, o.statusItems)
			}
			switch {
			case err == nil:
				s.writeStatus(entries[i].name, st, o.statusItems)
			case !errors.Is(err, store.ErrNoMailbox):
				return err
			}
		}
		if o.meta != nil && entries[i].selected && entries[i].info != nil && entries[i].ref == nil {
			if err := s.writeListMetadata(&entries[i], o.meta); err != nil {
				return err
			}
		}
	}
	if o.meta != nil {
		o.meta.finish(c)
	}
	return s.enc.Err()
}

// writeListEntry writes one LIST (or LSUB) response. Attributes: a name
// without a mailbox is \NonExistent to clients that know it (IMAP4rev2,
// or the extended syntax of RFC 5258) and \Noselect to the others;
// \HasChildren / \HasNoChildren always (RFC 9051 7.3.1 allows them
// unasked, and IMAP4rev2 clients expect them); the special use always
// (RFC 6154 2 allows it); \Subscribed when asked for.
func (s *Session) writeListEntry(resp string, e *listEntry, o *listOptions) {
	var attrs []string
	if e.info == nil {
		if s.Rev2() || o.extended {
			attrs = append(attrs, `\NonExistent`)
		} else {
			attrs = append(attrs, `\Noselect`)
		}
	}
	if resp == "LIST" {
		if e.hasChildren {
			attrs = append(attrs, `\HasChildren`)
		} else {
			attrs = append(attrs, `\HasNoChildren`)
		}
		if e.info != nil && e.info.SpecialUse != "" {
			attrs = append(attrs, string(e.info.SpecialUse))
		}
		if e.subscribed && (o.subscribed || o.retSubscribed) {
			attrs = append(attrs, `\Subscribed`)
		}
	}
	enc := s.Untagged().Raw(resp).SP().List(len(attrs), func(i int) { s.enc.Raw(attrs[i]) }).
		Raw(` "` + hierarchyDelimiter + `" `).Mailbox(e.name)
	if e.childInfo {
		// RFC 9051 6.3.9.6; the criteria are what RECURSIVEMATCH applied
		// to.
		enc.Raw(` ("CHILDINFO" (`)
		if o.subscribed {
			enc.Raw(`"SUBSCRIBED"`)
			if o.specialUse {
				enc.SP()
			}
		}
		if o.specialUse {
			enc.Raw(`"SPECIAL-USE"`)
		}
		enc.Raw("))")
	}
	enc.CRLF()
}

// readListMailbox reads a list-mailbox (RFC 9051 9: 1*list-char / string)
// and converts it to UTF-8 like any mailbox name.
func (s *Session) readListMailbox(d *wire.Decoder) (string, error) {
	b, err := d.Peek()
	if err != nil {
		return "", err
	}
	var p string
	if b == '"' || b == '{' {
		if p, err = d.String(); err != nil {
			return "", err
		}
	} else {
		var sb strings.Builder
		for {
			b, err := d.Peek()
			if err != nil || !isListChar(b) {
				break
			}
			d.Special(b)
			sb.WriteByte(b)
		}
		if sb.Len() == 0 {
			return "", Bad("", "Expected a mailbox pattern")
		}
		p = sb.String()
	}
	if s.enc.UTF8 {
		return p, nil
	}
	u, err := wire.DecodeMUTF7(p)
	if err != nil {
		// No mailbox has a name that is not valid modified UTF-7, so the
		// pattern matches nothing; LIST still answers OK.
		return noMatchPattern, nil
	}
	return u, nil
}

// noMatchPattern stands for a LIST pattern or reference that no name can
// match (a string that is not valid UTF-8, as no stored name is).
const noMatchPattern = "\xff"

// isListChar: ATOM-CHAR / list-wildcards / resp-specials (RFC 9051 9).
func isListChar(b byte) bool { return wire.IsAstringChar(b) || b == '%' || b == '*' }

// readListSelectOptions reads "(" [option *(SP option)] ")".
func readListSelectOptions(d *wire.Decoder, o *listOptions) error {
	return d.List(func() error {
		opt, err := d.Atom()
		if err != nil {
			return err
		}
		switch strings.ToUpper(opt) {
		case "SUBSCRIBED":
			o.subscribed = true
		case "REMOTE":
			// No remote mailboxes exist (RFC 9051 6.3.9.1).
		case "RECURSIVEMATCH":
			o.recursive = true
		case "SPECIAL-USE":
			o.specialUse = true
		default:
			return Bad("", "Unknown LIST selection option "+opt) // RFC 9051 6.3.9
		}
		return nil
	})
}

// readListReturnOptions reads "RETURN" SP "(" [option *(SP option)] ")".
func (s *Session) readListReturnOptions(d *wire.Decoder, o *listOptions) error {
	kw, err := d.Atom()
	if err != nil {
		return err
	}
	if !strings.EqualFold(kw, "RETURN") {
		return Bad("", "Expected RETURN")
	}
	if err := d.SP(); err != nil {
		return err
	}
	return d.List(func() error {
		opt, err := d.Atom()
		if err != nil {
			return err
		}
		switch strings.ToUpper(opt) {
		case "SUBSCRIBED":
			o.retSubscribed = true
		case "CHILDREN":
			o.retChildren = true
		case "SPECIAL-USE":
			o.retSpecialUse = true
		case "STATUS":
			if err := d.SP(); err != nil {
				return err
			}
			items, err := s.readStatusItems(d)
			if err != nil {
				return err
			}
			o.statusItems, o.hasStatusItems = items, true
		case "MYRIGHTS":
			if !s.srv.hasACL() {
				return Bad("", "Unknown LIST return option "+opt)
			}
			o.retMyRights = true
		case "METADATA":
			if !s.srv.hasMetadata() {
				return Bad("", "Unknown LIST return option "+opt)
			}
			m, err := s.readListMetadata(d)
			if err != nil {
				return err
			}
			o.meta = m
		default:
			return Bad("", "Unknown LIST return option "+opt)
		}
		return nil
	})
}
