package server

import (
	"context"
	"fmt"
	"strings"

	"github.com/tidemark-mail/tidemark/internal/auth"
	"github.com/tidemark-mail/tidemark/internal/store"
)

// QUOTA (RFC 9208): GETQUOTA, GETQUOTAROOT and SETQUOTA, with the STORAGE
// and MESSAGE resources.
//
// Each user has one quota root covering every mailbox of the user's
// store. The user names it "" (as in RFC 9208 4.2.2's example); a quota
// administrator names another user's root "#user/NAME". SETQUOTA is an
// administrator's command (RFC 9208 4.1.3): it is refused with NOPERM to
// everyone else, and QUOTASET is advertised only to administrators.
//
// STORAGE is reported in units of 1024 octets (RFC 9208 5.1), usage
// rounded up; MESSAGE is the exact number of messages (5.2). Both come
// from the store's counters (store.Account.Usage), so they cost no scan.
func init() {
	register(
		&Command{Name: "GETQUOTA", States: authenticated, Run: runGetQuota},
		&Command{Name: "GETQUOTAROOT", States: authenticated, Run: runGetQuotaRoot},
		&Command{Name: "SETQUOTA", States: authenticated, Run: runSetQuota},
	)
	addCapability("QUOTA", quotaOffered)
	addCapability("QUOTA=RES-STORAGE", quotaOffered)
	addCapability("QUOTA=RES-MESSAGE", quotaOffered)
	addCapability("QUOTASET", func(s *Session) bool {
		m := s.quotaManager()
		return m != nil && s.state != StateNotAuthenticated && m.IsQuotaAdmin(s.user)
	})
}

// QuotaChecker is asked before a command adds messages to a user's store.
// It returns nil, or an error wrapping store.ErrOverQuota when addBytes
// more bytes or addMessages more messages would exceed the user's limits.
type QuotaChecker interface {
	CheckQuota(ctx context.Context, user string, addBytes, addMessages int64) error
}

// QuotaManager is a QuotaChecker that can also report and change limits.
// When Config.Quota implements it, the QUOTA commands and capabilities are
// offered.
type QuotaManager interface {
	QuotaChecker
	// QuotaLimits returns a user's limits, zero meaning unlimited.
	QuotaLimits(user string) (storageBytes, messages int64)
	// SetQuotaLimits replaces a user's limits (durably).
	SetQuotaLimits(user string, storageBytes, messages int64) error
	// IsQuotaAdmin says whether user may read and set others' quotas.
	IsQuotaAdmin(user string) bool
}

func (s *Session) quotaManager() QuotaManager {
	m, _ := s.srv.cfg.Quota.(QuotaManager)
	return m
}

func quotaOffered(s *Session) bool { return s.quotaManager() != nil }

// checkQuota is called by commands that add messages, before they write:
// APPEND with the literal sizes, COPY with the sizes of the copied
// messages. MOVE within one user's store adds nothing.
func (s *Session) checkQuota(addBytes, addMessages int64) error {
	return s.checkQuotaOf(s.user, addBytes, addMessages)
}

// checkQuotaOf checks the quota of owner, whose mailbox receives the
// messages: a shared mailbox counts against its owner's quota.
func (s *Session) checkQuotaOf(owner string, addBytes, addMessages int64) error {
	q := s.srv.cfg.Quota
	if q == nil {
		return nil
	}
	return q.CheckQuota(s.ctx(), owner, addBytes, addMessages)
}

// userQuotaRootPrefix names another user's quota root.
const userQuotaRootPrefix = "#user/"

// quotaRootUser resolves a quota root name to the user it covers, or
// fails with NONEXISTENT (RFC 9208 4.1.1 "no such quota root").
func (s *Session) quotaRootUser(root string, m QuotaManager) (string, error) {
	if root == "" {
		return s.user, nil
	}
	if name, ok := strings.CutPrefix(root, userQuotaRootPrefix); ok {
		// The name is a login name: "#user/Alice" is alice's root.
		if n, err := auth.NormalizeName(name); err == nil {
			name = n
		}
		if name == s.user {
			return name, nil
		}
		if m.IsQuotaAdmin(s.user) {
			if a, err := s.srv.cfg.Store.Open(s.ctx(), name); err == nil {
				a.Close()
				return name, nil
			}
		}
	}
	return "", No("NONEXISTENT", "No such quota root")
}

// writeQuota writes "* QUOTA root (STORAGE used limit MESSAGE used limit)"
// with the resources that have a limit (RFC 9208 4.2.1: an unnamed
// resource is not limited).
func (s *Session) writeQuota(root, user string, m QuotaManager) error {
	acct := s.acct
	if user != s.user {
		a, err := s.srv.cfg.Store.Open(s.ctx(), user)
		if err != nil {
			return err
		}
		defer a.Close()
		acct = a
	}
	u, err := acct.Usage(s.ctx())
	if err != nil {
		return err
	}
	storage, messages := m.QuotaLimits(user)
	var parts []string
	if storage > 0 {
		parts = append(parts, fmt.Sprintf("STORAGE %d %d", (u.Bytes+1023)/1024, storage/1024))
	}
	if messages > 0 {
		parts = append(parts, fmt.Sprintf("MESSAGE %d %d", u.Messages, messages))
	}
	s.Untagged().Raw("QUOTA ").Astring(root).SP().Raw("(" + strings.Join(parts, " ") + ")").CRLF()
	return nil
}

func runGetQuota(s *Session, c *Cmd) error {
	m := s.quotaManager()
	if m == nil {
		return Bad("", "Quotas are not enabled")
	}
	var root string
	err := c.Dec.SP()
	if err == nil {
		root, err = c.Dec.Astring()
	}
	if err == nil {
		err = c.End()
	}
	if err != nil {
		return err
	}
	user, err := s.quotaRootUser(root, m)
	if err != nil {
		return err
	}
	return s.writeQuota(root, user, m)
}

func runGetQuotaRoot(s *Session, c *Cmd) error {
	m := s.quotaManager()
	if m == nil {
		return Bad("", "Quotas are not enabled")
	}
	err := c.Dec.SP()
	var name string
	if err == nil {
		name, err = s.ReadMailbox(c.Dec)
	}
	if err == nil {
		err = c.End()
	}
	if err != nil {
		return err
	}
	// Every mailbox of the user's store, existing or not yet, is under
	// the user's root (RFC 9208 4.1.2).
	s.Untagged().Raw("QUOTAROOT ").Mailbox(name).SP().Quoted("").CRLF()
	return s.writeQuota("", s.user, m)
}

func runSetQuota(s *Session, c *Cmd) error {
	m := s.quotaManager()
	if m == nil {
		return Bad("", "Quotas are not enabled")
	}
	d := c.Dec
	var root string
	var storage, messages int64
	err := d.SP()
	if err == nil {
		root, err = d.Astring()
	}
	if err == nil {
		err = d.SP()
	}
	if err == nil {
		err = d.List(func() error {
			res, err := d.Atom()
			if err != nil {
				return err
			}
			if err := d.SP(); err != nil {
				return err
			}
			n, err := d.Number64()
			if err != nil {
				return err
			}
			switch strings.ToUpper(res) {
			case "STORAGE":
				if n > (1<<63-1)/1024 {
					return Bad("", "STORAGE limit too large")
				}
				storage = int64(n) * 1024
			case "MESSAGE":
				messages = int64(n)
			default:
				return No("", "Unsupported quota resource "+res)
			}
			return nil
		})
	}
	if err == nil {
		err = c.End()
	}
	if err != nil {
		return err
	}
	if !m.IsQuotaAdmin(s.user) {
		return No("NOPERM", "Only quota administrators may set quotas")
	}
	user, err := s.quotaRootUser(root, m)
	if err != nil {
		return err
	}
	if err := m.SetQuotaLimits(user, storage, messages); err != nil {
		return err
	}
	return s.writeQuota(root, user, m)
}

// checkCopyQuota is checkQuota for copying uids out of mailbox src: it
// adds up the sizes of the messages that exist.
func (s *Session) checkCopyQuota(owner string, src store.MailboxID, uids store.UIDSet) error {
	if s.srv.cfg.Quota == nil {
		return nil
	}
	var bytes, n int64
	err := s.boxAcct().Messages(s.ctx(), src, uids, func(m *store.MessageData) error {
		bytes += m.Size
		n++
		return nil
	})
	if err != nil {
		return err
	}
	return s.checkQuotaOf(owner, bytes, n)
}
