package server

import (
	"strings"

	"github.com/tidemark-mail/tidemark/internal/store"
	"github.com/tidemark-mail/tidemark/internal/wire"
)

// CREATE (RFC 9051 6.3.4) with the USE parameter of CREATE-SPECIAL-USE
// (RFC 6154 3). Missing parents are created by the store; a trailing
// hierarchy delimiter only declares the intent to create children and is
// dropped.
func init() {
	register(&Command{Name: "CREATE", States: authenticated, Run: runCreate})
	addCapability("CREATE-SPECIAL-USE", nil)
}

// specialUses are the RFC 6154 attributes (and RFC 8457 \Important) a
// mailbox can be created with, by lower-case name, spelled as listed.
var specialUses = map[string]store.SpecialUse{
	`\all`: `\All`, `\archive`: `\Archive`, `\drafts`: `\Drafts`, `\flagged`: `\Flagged`,
	`\junk`: `\Junk`, `\sent`: `\Sent`, `\trash`: `\Trash`, `\important`: `\Important`,
}

func runCreate(s *Session, c *Cmd) error {
	d := c.Dec
	if err := d.SP(); err != nil {
		return err
	}
	name, err := s.ReadMailbox(d)
	if err == errNameNotMUTF7 {
		return errCannotCreateName
	}
	if err != nil {
		return err
	}
	var uses []string
	if d.Special(' ') {
		// RFC 4466 2.2 create-params; USE is the only one known.
		err := d.List(func() error {
			p, err := d.Atom()
			if err != nil {
				return err
			}
			if !strings.EqualFold(p, "USE") {
				return Bad("", "Unknown CREATE parameter "+p)
			}
			if err := d.SP(); err != nil {
				return err
			}
			return d.List(func() error {
				f, err := d.Flag()
				uses = append(uses, f)
				return err
			})
		})
		if err != nil {
			return err
		}
	}
	if err := c.End(); err != nil {
		return err
	}
	var opts store.CreateOptions
	switch len(uses) {
	case 0:
	case 1:
		u, ok := specialUses[strings.ToLower(uses[0])]
		if !ok {
			return No("USEATTR", uses[0]+" is not a special use") // RFC 6154 3
		}
		opts.SpecialUse = u
	default:
		return No("USEATTR", "A mailbox can have only one special use")
	}
	name = strings.TrimSuffix(name, hierarchyDelimiter)
	if strings.EqualFold(name, "INBOX") {
		return No("ALREADYEXISTS", "INBOX always exists") // RFC 9051 6.3.4
	}
	if s.srv.hasACL() && isSharedName(name) {
		return s.createShared(name, opts)
	}
	info, err := s.acct.CreateMailbox(s.ctx(), name, opts)
	if err != nil {
		return err
	}
	return s.inheritACL(s.user, info)
}

// readMailboxArg reads " mailbox" for the commands that take one name.
func readMailboxArg(s *Session, d *wire.Decoder) (string, error) {
	if err := d.SP(); err != nil {
		return "", err
	}
	return s.ReadMailbox(d)
}
