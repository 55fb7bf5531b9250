package lmtp

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/tidemark-mail/tidemark/internal/store"
)

// Replies, with RFC 3463 enhanced codes.
var (
	errNoUser = &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "No such user here"}
	// 5.1.1 too, not 5.1.2: the domain may exist, just not here.
	errNoDomain      = &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "Not a local address"}
	errOverQuota     = &smtp.SMTPError{Code: 552, EnhancedCode: smtp.EnhancedCode{5, 2, 2}, Message: "Mailbox full"}
	errOverQuotaTemp = &smtp.SMTPError{Code: 452, EnhancedCode: smtp.EnhancedCode{4, 2, 2}, Message: "Mailbox full, try again later"}
	errTooBig        = &smtp.SMTPError{Code: 552, EnhancedCode: smtp.EnhancedCode{5, 3, 4}, Message: "Message too big"}
	// RFC 5321 4.5.3.1.6 caps text lines; go-smtp closes the connection.
	errLineTooLong     = &smtp.SMTPError{Code: 500, EnhancedCode: smtp.EnhancedCode{5, 5, 2}, Message: "Line too long"}
	errNoSpace         = &smtp.SMTPError{Code: 452, EnhancedCode: smtp.EnhancedCode{4, 3, 1}, Message: "Mail system storage full, try again later"} // RFC 3463 4.3.1
	errTempFail        = &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Temporary failure, try again later"}
	returnPathReplacer = strings.NewReplacer("\r", "", "\n", "")
)

// rcpt is one accepted recipient of the current transaction.
type rcpt struct {
	raw    string // the RCPT TO address; the key of its status
	acct   store.Account
	detail string
}

// session is one LMTP connection's transaction state.
type session struct {
	s     *Server
	from  string
	size  int64 // declared with MAIL FROM SIZE=, 0 if not
	rcpts []rcpt
}

func (s *Server) newSession(*smtp.Conn) (smtp.Session, error) {
	return &session{s: s}, nil
}

var _ smtp.LMTPSession = (*session)(nil)

func (ss *session) Mail(from string, opts *smtp.MailOptions) error {
	ss.Reset()
	ss.from = from
	if opts != nil {
		ss.size = opts.Size
	}
	return nil
}

// Rcpt accepts a recipient only if it can be delivered to (RFC 2033 4.2
// leaves this to RCPT so that the MTA learns of unknown users at once).
func (ss *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	cfg := &ss.s.cfg
	addr, ok := parseAddress(to, cfg.Domains, cfg.SubaddressSeparator)
	if !ok {
		return errNoDomain
	}
	ctx, cancel := context.WithTimeout(ss.s.ctx, cfg.DeliveryTimeout)
	defer cancel()
	for _, c := range addr.candidates {
		acct, err := cfg.Store.Open(ctx, c.user)
		if errors.Is(err, store.ErrNoUser) {
			continue
		}
		if err != nil {
			cfg.Logger.Error("lmtp: opening account", "user", c.user, "err", err)
			return errTempFail
		}
		if cfg.Quota != nil && ss.size > 0 {
			if err := cfg.Quota.CheckQuota(ctx, acct.User(), ss.size); err != nil {
				acct.Close()
				return ss.s.reply(err)
			}
		}
		ss.rcpts = append(ss.rcpts, rcpt{raw: to, acct: acct, detail: c.detail})
		return nil
	}
	return errNoUser
}

func (ss *session) Data(r io.Reader) error {
	// go-smtp calls LMTPData in LMTP mode; Data serves only as the
	// single-status fallback.
	return ss.LMTPData(r, nil)
}

// LMTPData spools the message once, then stores it for each recipient and
// reports each one's outcome (RFC 2033 4.2).
func (ss *session) LMTPData(r io.Reader, status smtp.StatusCollector) error {
	cfg := &ss.s.cfg
	spool, size, err := spoolMessage(r, cfg.SpoolDir)
	if err != nil {
		var se *smtp.SMTPError
		if errors.As(err, &se) {
			return se // e.g. 552 5.3.4 from the size limit
		}
		if errors.Is(err, smtp.ErrTooLongLine) {
			return errLineTooLong
		}
		cfg.Logger.Error("lmtp: spooling message", "err", err)
		return errTempFail
	}
	defer spool.Close()

	ctx, cancel := context.WithTimeout(ss.s.ctx, cfg.DeliveryTimeout)
	defer cancel()
	received := time.Now()
	returnPath := "Return-Path: <" + returnPathReplacer.Replace(ss.from) + ">\r\n"
	outcomes := ss.deliverAll(ctx, returnPath, spool, size, received)
	var firstErr error
	for i, rc := range ss.rcpts {
		d := outcomes[i]
		if d.Err != nil {
			cfg.Logger.Warn("lmtp: delivery failed", "rcpt", rc.raw, "user", d.User, "mailbox", d.Mailbox, "err", d.Err)
		}
		if cfg.OnDelivery != nil {
			cfg.OnDelivery(d)
		}
		err := ss.s.reply(d.Err)
		if status != nil {
			status.SetStatus(rc.raw, err)
		} else if err != nil && firstErr == nil {
			firstErr = err
		}
	}
	return firstErr
}

// maxParallelAppends bounds the appends one transaction runs at once.
const maxParallelAppends = 16

// deliverAll appends the spooled message to every recipient's mailbox
// and returns each recipient's outcome, in RCPT order. Mailboxes are
// looked up in order, then the appends run concurrently: each user's
// store commits and syncs on its own, so a message to N users waits for
// about one durable commit rather than N in a row. Two recipients naming
// the same mailbox get one copy and share its outcome. An outcome without
// an error means the store made the message durable.
func (ss *session) deliverAll(ctx context.Context, returnPath string, spool *os.File, size int64, received time.Time) []Delivery {
	cfg := &ss.s.cfg
	out := make([]Delivery, len(ss.rcpts))
	starts := make([]time.Time, len(ss.rcpts))
	sameAs := make([]int, len(ss.rcpts)) // the recipient whose copy is shared; -1: none
	first := map[string]int{}
	sem := make(chan struct{}, maxParallelAppends)
	var wg sync.WaitGroup
	for i, rc := range ss.rcpts {
		starts[i], sameAs[i] = time.Now(), -1
		prefix := returnPath
		if cfg.DeliveredTo {
			prefix += "Delivered-To: " + returnPathReplacer.Replace(rc.raw) + "\r\n"
		}
		d := &out[i]
		*d = Delivery{Recipient: rc.raw, User: rc.acct.User(), Size: size + int64(len(prefix))}
		mbox, err := ss.targetMailbox(ctx, rc)
		if err != nil {
			d.Err, d.Duration = err, time.Since(starts[i])
			continue
		}
		d.Mailbox = mbox.Name
		key := fmt.Sprintf("%s\x00%d", d.User, mbox.ID)
		if cfg.DeliveredTo {
			key += "\x00" + rc.raw
		}
		if j, seen := first[key]; seen {
			sameAs[i] = j
			continue
		}
		first[key] = i
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			d.Err = ss.append(ctx, rc, mbox, prefix, spool, size, received, d)
			d.Duration = time.Since(starts[i])
		}()
	}
	wg.Wait()
	for i, j := range sameAs {
		if j >= 0 {
			out[i].Err, out[i].Duration = out[j].Err, time.Since(starts[i])
		}
	}
	return out
}

// append checks the quota and stores prefix + the spooled message.
func (ss *session) append(ctx context.Context, rc rcpt, mbox store.MailboxInfo, prefix string, spool *os.File, size int64, received time.Time, d *Delivery) error {
	if q := ss.s.cfg.Quota; q != nil {
		if err := q.CheckQuota(ctx, d.User, d.Size); err != nil {
			return err
		}
	}
	body := io.MultiReader(strings.NewReader(prefix), io.NewSectionReader(spool, 0, size))
	res, err := rc.acct.Append(ctx, mbox.ID, []store.NewMessage{{Body: body, InternalDate: received}})
	if err != nil {
		return err
	}
	if len(res.UIDs) > 0 {
		d.UID = res.UIDs[0]
	}
	return nil
}

// targetMailbox is the sub-addressed mailbox when it exists (and, unless
// allowed, is not special-use), else INBOX.
func (ss *session) targetMailbox(ctx context.Context, rc rcpt) (store.MailboxInfo, error) {
	if rc.detail != "" {
		mbox, err := rc.acct.Mailbox(ctx, rc.detail)
		if err == nil {
			if mbox.SpecialUse == "" || ss.s.cfg.SubaddressSpecialUse {
				return mbox, nil
			}
			err = store.ErrNoMailbox // Sent, Drafts...: INBOX instead
		}
		if !errors.Is(err, store.ErrNoMailbox) && !errors.Is(err, store.ErrInvalidName) {
			return mbox, err
		}
	}
	return rc.acct.Mailbox(ctx, "INBOX")
}

// reply maps a delivery error to the reply the client gets.
func (s *Server) reply(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, store.ErrNoUser), errors.Is(err, store.ErrUserDeleted):
		return errNoUser
	case errors.Is(err, store.ErrOverQuota):
		if s.cfg.OverQuotaTempFail {
			return errOverQuotaTemp
		}
		return errOverQuota
	case errors.Is(err, store.ErrTooBig):
		return errTooBig
	case errors.Is(err, store.ErrNoSpace):
		return errNoSpace
	}
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		return se
	}
	return errTempFail
}

// spoolMessage copies the message to an unlinked temporary file.
func spoolMessage(r io.Reader, dir string) (*os.File, int64, error) {
	f, err := os.CreateTemp(dir, "tidemark-lmtp-*")
	if err != nil {
		return nil, 0, fmt.Errorf("lmtp spool: %w", err)
	}
	// Unlinked at once: the file vanishes with the process, whatever happens.
	if err := os.Remove(f.Name()); err != nil {
		f.Close()
		return nil, 0, fmt.Errorf("lmtp spool: %w", err)
	}
	w := bufio.NewWriterSize(f, 64<<10)
	n, err := io.Copy(w, r)
	if err == nil {
		err = w.Flush()
	}
	if err != nil {
		f.Close()
		return nil, 0, err
	}
	return f, n, nil
}

func (ss *session) Reset() {
	for _, rc := range ss.rcpts {
		rc.acct.Close()
	}
	ss.rcpts = nil
	ss.from, ss.size = "", 0
}

func (ss *session) Logout() error {
	ss.Reset()
	return nil
}
