package server

import (
	"errors"
	"strings"
	"time"

	"github.com/tidemark-mail/tidemark/internal/store"
	"github.com/tidemark-mail/tidemark/internal/wire"
)

// IDLE (RFC 2177, RFC 9051 6.3.13): the session waits on the store's Hub
// for commits to the selected mailbox and runs a sync point at each one,
// so changes reach the client as they happen, until the client sends DONE.
func init() {
	register(&Command{Name: "IDLE", States: authenticated, NoSync: true, Run: runIdle})
}

// idleSyncPatience is how long a session in IDLE waits for other writers
// to sync the changes it is about to report before syncing them itself:
// longer than a pipelined command takes, short enough not to be seen.
const idleSyncPatience = 25 * time.Millisecond

func runIdle(s *Session, c *Cmd) error {
	if err := c.End(); err != nil {
		return err
	}
	var wake, sel <-chan struct{}
	notify := s.notify != nil
	if notify {
		// RFC 5465 4: IDLE sends exactly the events NOTIFY asked for.
		wake = s.notify.aw.C
		var stop func()
		sel, stop = s.sharedNotifyWatch()
		defer stop()
		if err := s.notifyPoint(true); err != nil {
			return err
		}
	} else if s.view != nil {
		w := s.srv.cfg.Store.Hub().Watch(s.boxOwner(), s.view.Mailbox.ID)
		defer w.Close()
		wake = w.C
		// Report what happened before the watch began.
		if err := s.sync(true); err != nil {
			return err
		}
	}
	if err := s.continuation("idling"); err != nil {
		return err
	}
	// From here until DONE the session writes only what others changed:
	// a writer syncs its changes before it answers, so waiting a little
	// for that sync lets one cover both (a client pipelining writes in
	// another session would otherwise have this one sync after each). The
	// wait is bounded per wake-up, not per write: a large update flushed
	// in many pieces waits once.
	patient := func() { s.patientUntil = time.Now().Add(idleSyncPatience) }
	defer func() { s.patientUntil = time.Time{} }()

	// The client's next line is read by its own goroutine so that this
	// one can write updates meanwhile; nothing else reads the connection
	// until it has delivered the line.
	type lineResult struct {
		line string
		err  error
	}
	lines := make(chan lineResult, 1)
	s.conn().SetReadDeadline(time.Now().Add(s.srv.cfg.IdleTimeout))
	go func() {
		l, err := s.dec.Line()
		lines <- lineResult{l, err}
	}()
	for {
		select {
		case r := <-lines:
			s.conn().SetReadDeadline(time.Time{})
			if r.err != nil {
				// The connection is gone or silent for too long: end it.
				c.answered = true
				s.endOnReadError(r.err)
				return r.err
			}
			// The client waits for the answer now: no patience.
			s.patientUntil = time.Time{}
			if !strings.EqualFold(strings.TrimSpace(r.line), "DONE") {
				return Bad("", "Expected DONE")
			}
			return s.sync(true)
		case <-sel:
			patient()
			err := s.sharedNotifyPoint(true)
			if err == nil {
				err = s.enc.Flush()
			}
			if err != nil {
				s.conn().Close()
				<-lines
				c.answered = true
				return err
			}
		case <-wake:
			patient()
			var err error
			if s.notify != nil {
				err = s.notifyPoint(true)
			} else if !notify {
				err = s.idleSync()
			}
			if err == nil {
				err = s.enc.Flush()
			}
			if err != nil {
				// The reader goroutine still owns the decoder: end the
				// connection (with BYE when the error asks for it, as
				// for a deleted mailbox) and wait for it to let go.
				var we *wire.Error
				if errors.As(err, &we) && we.Close {
					s.byeFor(we)
				} else if errors.Is(err, store.ErrUserDeleted) {
					s.bye("[UNAVAILABLE] Account deleted")
					s.log.Info("account deleted, session ended")
				}
				s.conn().Close()
				<-lines
				c.answered = true
				return err
			}
		case <-s.srv.done:
			s.bye("Server shutting down")
			s.conn().Close()
			<-lines
			s.state = StateLogout
			c.answered = true
			return nil
		}
	}
}
