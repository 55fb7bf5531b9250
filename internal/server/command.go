package server

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/tidemark-mail/tidemark/internal/store"
	"github.com/tidemark-mail/tidemark/internal/wire"
)

// Command declares one IMAP command: where it is allowed, how it relates
// to sequence numbers and expunges, and the function that runs it. Each
// command file registers its commands from init with register; the
// dispatcher enforces what they declare, so the timing rules of
// RFC 9051 7.4.1 and 5.5 live here and not in handlers.
type Command struct {
	// Name is the command name in upper case ("FETCH"). With UID set, the
	// command is "UID <Name>".
	Name string
	UID  bool
	// States lists the states the command is valid in (a bitwise OR);
	// elsewhere it is answered with BAD.
	States State
	// UsesSeqs is set for commands whose arguments or responses are
	// message sequence numbers (non-UID FETCH, STORE, SEARCH, COPY,
	// MOVE): no EXPUNGE may be sent while they run or when they end,
	// because the client could not tell which message a number meant.
	UsesSeqs bool
	// Expunges is set for commands that remove messages themselves and
	// must report it (EXPUNGE, MOVE, UID EXPUNGE): expunge responses are
	// sent at their end even when UsesSeqs is set.
	Expunges bool
	// NoSync skips the sync point after the command: for commands that
	// leave the selected state or do their own syncing (SELECT, CLOSE,
	// UNSELECT, LOGOUT, IDLE).
	NoSync bool
	// Run parses the command's arguments from c.Dec (the decoder stands
	// just after the command name), reads the final CRLF with c.End, does
	// the work and writes untagged responses. It returns nil for a tagged
	// OK (with c.Code/c.Text if set), a *Error for NO/BAD, a *wire.Error
	// for a syntax problem, or a store error (mapped by storeError).
	Run func(s *Session, c *Cmd) error
}

// Cmd is one command in progress.
type Cmd struct {
	Tag  string
	Name string // as declared, upper case; "UID FETCH" for UID variants
	Dec  *wire.Decoder
	// Code and Text customize the tagged OK: "A1 OK [Code] Text".
	Code string
	Text string
	def  *Command
	// answered is set by handlers that wrote their own tagged response
	// (STARTTLS must answer before the TLS handshake).
	answered bool
}

// End reads the end of the command line. Handlers call it after parsing
// their arguments and before acting, so a malformed line is rejected
// before anything changes.
func (c *Cmd) End() error { return c.Dec.CRLF() }

// commands is the command table, keyed by name ("UID FETCH" for UID
// variants). It is filled by init functions and read-only afterwards.
var commands = map[string]*Command{}

// register adds commands to the table; a name registered twice is a
// programming error.
func register(cmds ...*Command) {
	for _, c := range cmds {
		key := c.Name
		if c.UID {
			key = "UID " + c.Name
		}
		if _, dup := commands[key]; dup {
			panic("server: command registered twice: " + key)
		}
		if c.States == 0 || c.Run == nil {
			panic("server: incomplete command declaration: " + key)
		}
		commands[key] = c
	}
}

const (
	anyState      = StateNotAuthenticated | StateAuthenticated | StateSelected
	authenticated = StateAuthenticated | StateSelected
)

// runCommand reads and runs one command and writes its tagged response.
// An error return ends the connection.
func (s *Session) runCommand() (err error) {
	d := s.dec
	d.Begin()
	start := time.Now()
	tag, err := d.Tag()
	if err != nil {
		return s.answerParseError("*", "", err)
	}
	var name string
	if err = d.SP(); err == nil {
		name, err = d.Atom()
	}
	if err != nil {
		return s.answerParseError(tag, "", err)
	}
	name = strings.ToUpper(name)
	if name == "UID" {
		var sub string
		if err = d.SP(); err == nil {
			sub, err = d.Atom()
		}
		if err != nil {
			return s.answerParseError(tag, name, err)
		}
		name += " " + strings.ToUpper(sub)
	}
	def := commands[name]
	if def == nil {
		return s.answerParseError(tag, name, &Error{Status: BAD, Code: "CLIENTBUG", Text: "Unknown command " + name})
	}
	if def.States&s.state == 0 {
		return s.answerParseError(tag, name, &Error{Status: BAD, Text: fmt.Sprintf("%s is not valid in the %s state", name, s.state)})
	}
	if def.UsesSeqs && s.uidOnly() {
		return s.answerParseError(tag, name, errUIDRequired()) // RFC 9586 3
	}
	if err := s.checkSelectedAccess(def); err != nil {
		return s.answerParseError(tag, name, err)
	}
	c := &Cmd{Tag: tag, Name: name, Dec: d, def: def}
	s.cmdTag = tag
	runErr := def.Run(s, c)
	s.cmdTag = ""
	s.noteCommandDone(name, runErr)
	if c.answered {
		s.observeCommand(c, statusOf(runErr), start)
		return runErr
	}
	if !d.Ended() {
		if runErr == nil {
			runErr = errors.New("server: " + name + " handler did not read its CRLF")
			s.log.Error("handler bug", "cmd", name)
		}
		if derr := d.Discard(); derr != nil {
			var we *wire.Error
			if errors.As(derr, &we) && we.Close {
				s.byeFor(we)
				return derr
			}
			if !errors.As(derr, &we) {
				return derr
			}
		}
	}
	if s.state == StateLogout {
		return s.writeTagged(c, runErr, start)
	}
	var ioErr error
	if st := statusOf(runErr); st != BAD && s.view != nil && !def.NoSync {
		ioErr = s.sync(syncAllowsExpunge(def))
	}
	if ioErr != nil && runErr == nil {
		runErr = ioErr
	}
	return s.writeTagged(c, runErr, start)
}

// syncAllowsExpunge applies RFC 9051 7.4.1: no EXPUNGE at the end of
// FETCH, STORE or SEARCH or any command that relies on sequence numbers,
// unless it expunges itself.
func syncAllowsExpunge(def *Command) bool { return def.Expunges || !def.UsesSeqs }

// answerParseError answers a command that could not even be dispatched.
func (s *Session) answerParseError(tag, name string, err error) error {
	if derr := s.dec.Discard(); derr != nil {
		var we *wire.Error
		if errors.As(derr, &we) {
			s.byeFor(we)
		}
		return derr
	}
	return s.writeTagged(&Cmd{Tag: tag, Name: name}, err, time.Now())
}

// writeTagged writes the tagged response for err and flushes. It counts
// BAD responses in a row and ends the connection after too many.
func (s *Session) writeTagged(c *Cmd, err error, start time.Time) error {
	var we *wire.Error
	if errors.As(err, &we) && we.Close {
		s.byeFor(we)
		return err
	}
	if errors.Is(err, store.ErrUserDeleted) {
		// The account was deleted while logged in: nothing this session
		// holds may be used again (RFC 9051 7.1.5).
		s.observeCommand(c, NO, start)
		s.bye("[UNAVAILABLE] Account deleted")
		s.log.Info("account deleted, session ended")
		return err
	}
	e := protocolError(err)
	if e.Status == OK {
		if c.Code != "" {
			e.Code = c.Code
		}
		e.Text = c.Text
		if e.Text == "" {
			e.Text = c.Name + " completed"
		}
	}
	s.enc.Raw(c.Tag).SP().Raw(e.Status.String()).SP()
	if e.Code != "" {
		s.enc.Special('[').Raw(e.Code).Raw("] ")
	}
	s.enc.Text(e.Text).CRLF()
	s.observeCommand(c, e.Status, start)
	if !s.pipelined() {
		if ferr := s.enc.Flush(); ferr != nil {
			return ferr
		}
	}
	// A failure with an internal cause is the server's, logged once below
	// at error level; the others are the client's.
	if e.Status != OK && e.internal == nil {
		s.logClient(slog.LevelInfo, "command failed", "tag", clip(c.Tag), "cmd", clip(c.Name), "status", e.Status.String(), "code", e.Code, "text", clip(e.Text),
			"err", clip(err.Error()), "duration", time.Since(start).Round(time.Microsecond))
	}
	if e.Status == BAD {
		s.bad++
		if s.bad >= s.srv.cfg.MaxBadCommands {
			s.bye("Too many invalid commands")
			return errors.New("server: too many invalid commands")
		}
	} else {
		s.bad = 0
	}
	if e.internal != nil {
		// The user is in s.log; the mailbox selected, if any, says where.
		// (A target mailbox, as for APPEND, is named by the store's error.)
		var mailbox string
		if s.view != nil {
			mailbox = s.view.Mailbox.Name
		}
		s.log.Error("command error", "tag", clip(c.Tag), "cmd", clip(c.Name), "code", e.Code, "mailbox", mailbox, "err", e.internal,
			"duration", time.Since(start).Round(time.Microsecond))
	}
	return nil
}
