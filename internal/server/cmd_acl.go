package server

import (
	"errors"

	"github.com/tidemark-mail/tidemark/internal/acl"
	"github.com/tidemark-mail/tidemark/internal/store"
)

// SETACL, DELETEACL, GETACL, LISTRIGHTS and MYRIGHTS (RFC 4314 3), offered
// with the capabilities ACL and RIGHTS=texk when the store keeps access
// control lists (store.ACLStore). Rights and identifiers are package
// acl's; which mailbox a name means, and the rights the user holds on it,
// come from resolve (shared.go), so these commands work on the user's own
// mailboxes and on other users' alike, given the a right.
//
// Answers: a malformed identifier or rights string is BAD (RFC 4314 3,
// 3.1); an identifier that names no user, negative rights ("-name") and
// an entry for the owner are NO; a mailbox the user may neither list nor
// read does not exist (RFC 4314 6); without the a right (any of lrikxa
// for MYRIGHTS) NO [NOPERM].
func init() {
	hasACL := func(s *Session) bool { return s.srv.hasACL() }
	register(
		&Command{Name: "SETACL", States: authenticated, Run: runSetACL},
		&Command{Name: "DELETEACL", States: authenticated, Run: runSetACL},
		&Command{Name: "GETACL", States: authenticated, Run: runGetACL},
		&Command{Name: "LISTRIGHTS", States: authenticated, Run: runListRights},
		&Command{Name: "MYRIGHTS", States: authenticated, Run: runMyRights},
	)
	addCapability("ACL", hasACL)
	addCapability("RIGHTS="+acl.Extra, hasACL)
}

// errNoACL answers the ACL commands on a store without access control
// lists, where they are not advertised.
var errNoACL = Bad("", "ACL is not available")

// readIdentifier reads " identifier" and checks its form.
func readIdentifier(c *Cmd) (raw, id string, err error) {
	if err = c.Dec.SP(); err != nil {
		return "", "", err
	}
	if raw, err = c.Dec.Astring(); err != nil {
		return "", "", err
	}
	id, err = acl.Identifier(raw)
	switch {
	case errors.Is(err, acl.ErrNegative):
		// Read the rest of the line first; the answer is NO.
		return raw, "", nil
	case err != nil:
		return "", "", Bad("", "Invalid identifier")
	}
	return raw, id, nil
}

// checkIdentifier refuses what cannot hold an entry: negative rights, the
// owner (who holds every right), and a name that is no user.
func (s *Session) checkIdentifier(id string, ref *mailboxRef) error {
	switch {
	case id == "":
		return No("CANNOT", "Negative rights are not supported")
	case id == acl.Anyone:
		return nil
	case id == ref.owner:
		return No("CANNOT", "The owner always holds every right")
	}
	a, err := s.srv.cfg.Store.Open(s.ctx(), id)
	if errors.Is(err, store.ErrNoUser) {
		return No("", "No such identifier")
	} else if err != nil {
		return err
	}
	return a.Close()
}

// aclName is how a response names the mailbox ref: as the user sees it.
func (s *Session) aclName(ref *mailboxRef) string {
	if ref.isShared(s) {
		return sharedName(ref.owner, ref.info.Name)
	}
	return ref.info.Name
}

func runSetACL(s *Session, c *Cmd) error {
	name, err := readACLMailboxName(s, c)
	if err != nil {
		return err
	}
	_, id, err := readIdentifier(c)
	if err != nil {
		return err
	}
	mod := acl.Mod{Op: acl.Replace} // DELETEACL: no rights at all
	if c.Name == "SETACL" {
		if err := c.Dec.SP(); err != nil {
			return err
		}
		raw, err := c.Dec.Astring()
		if err != nil {
			return err
		}
		if mod, err = acl.ParseMod(raw); err != nil {
			return Bad("", err.Error()) // RFC 4314 3.1: never ignored
		}
	}
	if err := c.End(); err != nil {
		return err
	}
	ref, err := s.resolve(name)
	if err != nil {
		return err
	}
	if err := ref.need(acl.Admin); err != nil {
		return err
	}
	if err := s.checkIdentifier(id, ref); err != nil {
		return err
	}
	as := s.srv.aclStore()
	ctx := s.ctx()
	h, err := as.OpenACL(ctx, ref.owner)
	if err != nil {
		return err
	}
	defer h.Close()
	es, err := h.MailboxACL(ctx, ref.info.ID)
	if err != nil {
		return err
	}
	var old acl.Rights
	for _, e := range es {
		if e.Identifier == id {
			old, _ = acl.Parse(e.Rights)
		}
	}
	if err := h.SetACL(ctx, ref.info.ID, id, mod.Apply(old).Stored()); err != nil {
		return err
	}
	// Sessions of the mailbox (IDLE, NOTIFY) wake and read their rights
	// again at once: a right taken away is gone now, not at their next
	// command.
	s.srv.cfg.Store.Hub().Publish(ref.owner, ref.info.ID, 0)
	return nil
}

func runGetACL(s *Session, c *Cmd) error {
	ref, err := readACLMailbox(s, c)
	if err != nil {
		return err
	}
	if err := ref.need(acl.Admin); err != nil {
		return err
	}
	es, err := s.aclOf(ref.owner, ref.info.ID)
	if err != nil {
		return err
	}
	// The owner's implicit rights come first, then the entries.
	e := s.Untagged().Raw("ACL ").Mailbox(s.aclName(ref)).SP().Astring(ref.owner).SP().Astring(acl.All.String())
	for _, en := range es {
		r, _ := acl.Parse(en.Rights)
		e.SP().Astring(en.Identifier).SP().Astring(r.String())
	}
	e.CRLF()
	return s.enc.Err()
}

// listRightsAny is what LISTRIGHTS offers an identifier other than the
// owner: nothing always granted, each right on its own (none are tied),
// the virtual c and d last (RFC 4314 2.1.1, 3.7).
const listRightsAny = `"" l r s w i p k x t e a c d`

func runListRights(s *Session, c *Cmd) error {
	name, err := readACLMailboxName(s, c)
	if err != nil {
		return err
	}
	raw, id, err := readIdentifier(c)
	if err != nil {
		return err
	}
	if err := c.End(); err != nil {
		return err
	}
	ref, err := s.resolve(name)
	if err != nil {
		return err
	}
	if err := ref.need(acl.Admin); err != nil {
		return err
	}
	if id != ref.owner {
		if err := s.checkIdentifier(id, ref); err != nil {
			return err
		}
	}
	// The identifier goes back as the client spelled it (RFC 4314 3.4).
	e := s.Untagged().Raw("LISTRIGHTS ").Mailbox(s.aclName(ref)).SP().Astring(raw).SP()
	if id == ref.owner {
		e.Astring(acl.All.String()).CRLF()
	} else {
		e.Raw(listRightsAny).CRLF()
	}
	return s.enc.Err()
}

func runMyRights(s *Session, c *Cmd) error {
	ref, err := readACLMailbox(s, c)
	if err != nil {
		return err
	}
	// RFC 4314 4: any of l, r, i, k, x, a.
	if !ref.rights.Any(acl.Lookup | acl.Read | acl.Insert | acl.CreateMailbox | acl.DeleteMailbox | acl.Admin) {
		return ref.need(acl.Lookup)
	}
	s.Untagged().Raw("MYRIGHTS ").Mailbox(s.aclName(ref)).SP().Astring(ref.rights.String()).CRLF()
	return s.enc.Err()
}

// readACLMailbox reads the one mailbox argument of GETACL and MYRIGHTS
// and finds the mailbox it names.
func readACLMailbox(s *Session, c *Cmd) (*mailboxRef, error) {
	name, err := readACLMailboxName(s, c)
	if err != nil {
		return nil, err
	}
	if err := c.End(); err != nil {
		return nil, err
	}
	return s.resolve(name)
}

// readACLMailboxName refuses the ACL commands where the store keeps no
// lists, then reads their mailbox argument.
func readACLMailboxName(s *Session, c *Cmd) (string, error) {
	if !s.srv.hasACL() {
		return "", errNoACL
	}
	return readMailboxArg(s, c.Dec)
}
