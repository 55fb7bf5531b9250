package server

import "time"

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
// and MOVE change everything in one store transaction, which cannot report
// from inside; for a large set they announce the goal ("tag" 0 goal) before
// it starts.
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

// announce reports the goal before a long step that cannot report while
// it runs (a store transaction).
func (s *Session) announceProgress(goal uint64) error {
	if p := s.startProgress(goal); p != nil {
		return p.write()
	}
	return nil
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
