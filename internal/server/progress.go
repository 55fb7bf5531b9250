package server

import (
	"context"
	"fmt"
	"time"

	"github.com/tidemark-mail/tidemark/internal/store"
)

// INPROGRESS (RFC 9585): a command that goes over many messages tells the
// client how far it is, in untagged OK responses carrying
//
//	S: * OK [INPROGRESS ("tag" count goal)] Working
//
// where count messages of goal are done (goal NIL when unknown). The
// reports are flushed at once, so a client sees them while the command
// runs; they also keep a client with a short timeout from giving up.
//
// When to report is decided by counting, not by a clock running on its own:
// every Config.ProgressEvery messages the command checks whether
// Config.ProgressInterval has passed since its start or its last report
// (10 s by default; RFC 9585 4 recommends 10 to 15), and reports if so. A
// negative interval reports at every check point, which is what tests use
// to see the reports without depending on the machine's speed.
//
// FETCH and SEARCH report as they go through the messages. STORE, COPY
// and MOVE change everything in one store transaction: they announce the
// goal ("tag" 0 goal) before it starts, then run it in a goroutine of its
// own (withProgress) while the connection's goroutine, the only one that
// writes to the client, relays the counts the store reports through the
// context (store.WithProgress) every ProgressEvery messages. A backend
// that changes messages in bulk statements (PostgreSQL) reports nothing
// between the announcement and the end.
func init() {
	addCapability("INPROGRESS", nil)
}

// progress counts one command's messages.
type progress struct {
	s     *Session
	tag   string
	goal  uint64 // 0: unknown (NIL)
	done  uint64
	next  uint64 // the count at which to check again
	every uint64
	last  time.Time
}

// startProgress returns a counter for the running command over goal
// messages (0 if unknown), or nil when the set is too small to report on.
func (s *Session) startProgress(goal uint64) *progress {
	every := uint64(s.srv.cfg.ProgressEvery)
	if s.cmdTag == "" || every == 0 || goal != 0 && goal < every {
		return nil
	}
	return &progress{s: s, tag: s.cmdTag, goal: goal, next: every, every: every, last: time.Now()}
}

// maxQueuedReports bounds the counts a store call may hand over before
// they are written.
const maxQueuedReports = 1024

// withProgress runs work, a store call over goal messages, reporting its
// progress: the goal first, then the counts the store gives as it goes,
// paced like step. work runs in a goroutine of its own so that this one,
// the connection's, can write the reports meanwhile; it must touch nothing
// of the session but the context it is given. A panic in work is raised
// again here, where the connection recovers it.
func (s *Session) withProgress(goal uint64, work func(ctx context.Context) error) error {
	p := s.startProgress(goal)
	if p == nil {
		return work(s.ctx())
	}
	if err := p.write(); err != nil {
		return err
	}
	// The store's goroutine must never wait for this one (it holds the
	// user's write lock), so counts are handed over without blocking, in
	// a buffer with room for every report of a command of goal messages
	// (bounded: beyond it a count is dropped, and a later one says more).
	counts := make(chan uint64, min(goal/p.every+1, maxQueuedReports))
	ctx := store.WithProgress(s.ctx(), int(p.every), func(done int) {
		select {
		case counts <- uint64(done):
		default:
		}
	})
	type result struct {
		err      error
		panicked any
	}
	finished := make(chan result, 1)
	go func() {
		var r result
		defer func() {
			r.panicked = recover()
			finished <- r
		}()
		r.err = work(ctx)
	}()
	for {
		select {
		case r := <-finished:
			// Every count was handed over before the call returned.
			for drained := false; !drained; {
				select {
				case done := <-counts:
					if err := p.reach(done); err != nil {
						return err
					}
				default:
					drained = true
				}
			}
			if r.panicked != nil {
				panic(fmt.Sprint("store call with progress: ", r.panicked))
			}
			return r.err
		case done := <-counts:
			if err := p.reach(done); err != nil {
				// The client is gone; the store call still ends on its own.
				return err
			}
		}
	}
}

// reach reports that done messages are done, paced like step: when
// ProgressInterval has passed since the last report, and only forward.
func (p *progress) reach(done uint64) error {
	if done <= p.done {
		return nil
	}
	p.done = done
	if iv := p.s.srv.cfg.ProgressInterval; iv >= 0 && time.Since(p.last) < iv {
		return nil
	}
	p.last = time.Now()
	return p.write()
}

// step is called as each message is begun: it reports the messages done
// before it, when due. A nil progress does nothing.
func (p *progress) step() error {
	if p == nil {
		return nil
	}
	defer func() { p.done++ }()
	if p.done < p.next {
		return nil
	}
	p.next += p.every
	if iv := p.s.srv.cfg.ProgressInterval; iv >= 0 && time.Since(p.last) < iv {
		return nil
	}
	p.last = time.Now()
	return p.write()
}

// write sends the report and flushes it.
func (p *progress) write() error {
	e := p.s.Untagged().Raw(`OK [INPROGRESS ("`).Raw(p.tag).Raw(`" `).Number64(p.done).SP()
	if p.goal > 0 {
		e.Number64(max(p.goal, p.done))
	} else {
		e.Raw("NIL")
	}
	e.Raw(")] Working").CRLF()
	return p.s.enc.Flush()
}
