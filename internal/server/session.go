package server

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"github.com/tidemark-mail/tidemark/internal/openbox"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tidemark-mail/tidemark/internal/store"
	"github.com/tidemark-mail/tidemark/internal/view"
	"github.com/tidemark-mail/tidemark/internal/wire"
)

// State is a connection's IMAP state (RFC 9051 3).
type State uint8

const (
	StateNotAuthenticated State = 1 << iota
	StateAuthenticated
	StateSelected
	StateLogout
)

func (st State) String() string {
	switch st {
	case StateNotAuthenticated:
		return "not authenticated"
	case StateAuthenticated:
		return "authenticated"
	case StateSelected:
		return "selected"
	case StateLogout:
		return "logout"
	}
	return fmt.Sprintf("State(%d)", uint8(st))
}

// Session is one client connection. Everything but the fields under mu
// belongs to the connection's goroutine; command handlers run there.
type Session struct {
	srv    *Server
	remote netip.Addr
	log    *slog.Logger

	mu      sync.Mutex
	nc      net.Conn // guarded by mu (STARTTLS replaces it)
	busy    bool     // guarded by mu: a command is being read or run
	closing bool     // guarded by mu: Shutdown asked for the end

	br  *bufio.Reader
	bw  *bufio.Writer
	dec *wire.Decoder
	enc *wire.Encoder

	tls   bool // the connection is encrypted
	state State
	user  string
	acct  store.Account
	// view is the selected mailbox; nil unless state is StateSelected.
	view *view.View
	// box is the shared in-memory copy of the selected mailbox; set
	// together with view.
	box *openbox.Box
	// shared is set while the selected mailbox is another user's
	// (shared.go); others holds the other users' stores opened so far.
	shared *sharedSel
	others map[string]*otherUser
	// recent holds the UIDs of the selected mailbox that are \Recent for
	// this session (IMAP4rev1 only, see recent.go); recentUpTo is the UID
	// below which the session has claimed or looked.
	recent     store.UIDSet
	recentUpTo store.UID
	// searchRes is the SEARCH result variable of RFC 5182 ("$").
	searchRes savedSearch
	// contexts are the searches whose results the client asked to be
	// kept up to date (RFC 5267 UPDATE; context.go).
	contexts []*updateContext
	// enabled records ENABLEd extensions (RFC 5161), upper case.
	enabled map[string]bool
	// releaseUser gives back the per-user session slot.
	releaseUser func()
	bad         int // BAD responses in a row
	idLogged    bool
	// selected names the selected mailbox for other sessions' goroutines
	// (RESETKEY's announcement, urlauth.go); nil when none. urlmechDue is
	// set by them: a key of the selected mailbox was reset.
	selected   atomic.Pointer[selectedMailbox]
	urlmechDue atomic.Bool
	// metaWatch is the state of unsolicited METADATA after ENABLE
	// METADATA (metadata_unsolicited.go); nil before.
	metaWatch *metadataWatch
	// notify is the NOTIFY state (RFC 5465, notify_events.go); nil
	// without NOTIFY.
	notify *notifyState
	// rate is the command-rate limit; nil without one.
	rate       *rateBucket
	rateLogged bool
	// cmdTag is the tag of the command running, for INPROGRESS reports.
	cmdTag string
	// anonLog is the logger from before login, for UNAUTHENTICATE.
	anonLog *slog.Logger
	// storeCtx is what store calls run under (ctx); durable, when the
	// store lets a session defer its syncs (store.DeferredSync), makes
	// every change committed so far durable and runs before any byte
	// goes to the client (deadlineWriter).
	storeCtx context.Context
	durable  func() error
	// patientUntil is set while the session tells its client only of
	// other sessions' changes (IDLE): until then durable gives their
	// writers time to sync them, rather than syncing at once.
	patientUntil time.Time
	// deflate is set while COMPRESS DEFLATE is on (cmd_compress.go);
	// releaseCompress gives back its slot.
	deflate         *deflateLayer
	releaseCompress func()
}

func newSession(srv *Server, nc net.Conn, implicitTLS bool) *Session {
	s := &Session{srv: srv, nc: nc, tls: implicitTLS, state: StateNotAuthenticated, enabled: map[string]bool{}}
	s.log = srv.log
	s.storeCtx = context.Background()
	if ds, ok := srv.cfg.Store.(store.DeferredSync); ok {
		// The commands a client pipelined commit one after the other and
		// share the sync their answers wait for.
		s.storeCtx = store.DeferSync(s.storeCtx)
		s.durable = func() error {
			if !s.patientUntil.IsZero() {
				if d := time.Until(s.patientUntil); d > 0 {
					return ds.MakeDurable(store.WithSyncPatience(s.storeCtx, d))
				}
			}
			return ds.MakeDurable(s.storeCtx)
		}
	}
	s.setupIO(nc)
	if srv.cfg.CommandRate > 0 {
		s.rate = newRateBucket(srv.cfg.CommandRate, srv.cfg.CommandBurst, time.Now())
	}
	return s
}

// identify learns the client's address, by the connection's goroutine: behind
// a PROXY protocol listener that means reading the proxy's header, which
// must not hold up the accept loop.
func (s *Session) identify() {
	addr := s.nc.RemoteAddr()
	if ap, err := netip.ParseAddrPort(addr.String()); err == nil {
		s.remote = ap.Addr().Unmap()
	}
	s.log = s.srv.log.With("remote", addr.String())
}

// setupIO (re)builds the buffered reader, writer, decoder and encoder over
// nc: at the start and after STARTTLS.
func (s *Session) setupIO(nc net.Conn) {
	s.br = bufio.NewReaderSize(nc, 16<<10)
	s.bw = bufio.NewWriterSize(s.netWriter(nc), 16<<10)
	s.dec = wire.NewDecoder(s.br, s.srv.cfg.Limits)
	s.dec.OnSyncLiteral = s.syncLiteral
	utf8 := s.enc != nil && s.enc.UTF8
	s.enc = wire.NewEncoder(s.bw)
	s.enc.UTF8 = utf8
}

// syncLiteral asks the client for a synchronizing literal's bytes.
func (s *Session) syncLiteral(int64) error {
	return s.enc.Raw("+ Ready for literal data").CRLF().Flush()
}

// netWriter is what the session's responses are finally written to.
func (s *Session) netWriter(nc net.Conn) deadlineWriter {
	return deadlineWriter{nc: nc, timeout: s.srv.cfg.WriteTimeout, durable: s.durable}
}

// deadlineWriter gives every write to the connection a deadline, so that a
// client that stops reading cannot hold the session forever. With durable
// set, nothing is written before every change committed so far is
// durable: a response may acknowledge or report any of them.
type deadlineWriter struct {
	nc      net.Conn
	timeout time.Duration
	durable func() error
}

func (w deadlineWriter) Write(p []byte) (int, error) {
	if w.durable != nil {
		if err := w.durable(); err != nil {
			return 0, fmt.Errorf("making changes durable before answering: %w", err)
		}
	}
	if err := w.nc.SetWriteDeadline(time.Now().Add(w.timeout)); err != nil {
		return 0, err
	}
	n, err := w.nc.Write(p)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		err = writeTimeoutError{err}
	}
	return n, err
}

// writeTimeoutError marks a write that timed out, so the session ends
// without calling it an idle client.
type writeTimeoutError struct{ err error }

func (e writeTimeoutError) Error() string { return "client not reading: " + e.err.Error() }
func (e writeTimeoutError) Unwrap() error { return e.err }

func (s *Session) conn() net.Conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.nc
}

// isLoopback says whether the client connects from this machine, where
// plaintext passwords cannot be overheard on the network.
func (s *Session) isLoopback() bool { return s.remote.IsLoopback() }

// serve runs the connection: greeting, then commands until LOGOUT, an
// error, the idle timeout or Shutdown.
func (s *Session) serve() {
	s.identify()
	start := time.Now()
	s.logClient(slog.LevelInfo, "connection opened", "tls", s.tls)
	s.srv.obs.ConnectionOpened(s.tls)
	defer func() {
		defer func() { s.srv.obs.ConnectionClosed(time.Since(start)) }()
		if p := recover(); p != nil {
			s.log.Error("panic in connection", "panic", p, "stack", string(debug.Stack()))
		}
		s.cleanup()
		s.conn().Close()
		s.logClient(slog.LevelInfo, "connection closed", "duration", time.Since(start).Round(time.Millisecond))
	}()

	if s.srv.cfg.Limiter != nil {
		release, ok := s.srv.cfg.Limiter.AcquireIP(s.remote)
		if !ok {
			s.enc.Raw("* BYE [UNAVAILABLE] Too many connections from your address").CRLF().Flush()
			s.logClient(slog.LevelWarn, "connection refused: per-address limit")
			return
		}
		defer release()
	}
	if tc, ok := s.conn().(*tls.Conn); ok {
		tc.SetDeadline(time.Now().Add(time.Minute))
		if err := tc.Handshake(); err != nil {
			s.logClient(slog.LevelInfo, "TLS handshake failed", "err", err)
			return
		}
		tc.SetDeadline(time.Time{})
	}
	s.enc.Raw("* OK [CAPABILITY ").Raw(s.capabilityString()).Raw("] Tidemark ready").CRLF()
	if s.enc.Flush() != nil {
		return
	}
	for s.state != StateLogout {
		timeout := s.srv.cfg.IdleTimeout
		if s.state == StateNotAuthenticated {
			timeout = s.srv.cfg.LoginTimeout
		}
		// Shutdown interrupts this wait by moving the read deadline to
		// now; checking closing under mu first means that interruption
		// cannot be overwritten here.
		s.mu.Lock()
		closing := s.closing
		var err error
		if !closing {
			err = s.nc.SetReadDeadline(time.Now().Add(timeout))
		}
		s.mu.Unlock()
		if closing {
			s.bye("Server shutting down")
			return
		}
		if err != nil {
			return
		}
		if err := s.waitForCommand(); err != nil {
			s.endOnReadError(err)
			return
		}
		s.waitForRate()
		s.mu.Lock()
		if s.closing {
			s.mu.Unlock()
			s.bye("Server shutting down")
			return
		}
		s.busy = true
		s.mu.Unlock()

		err = s.runCommand()

		s.mu.Lock()
		s.busy = false
		closing = s.closing
		s.mu.Unlock()
		if err != nil {
			var src *wire.SourceError
			switch {
			case errors.As(err, &src):
				// The server's fault, not the client's: a message's
				// content could not be read after its size was sent.
				s.log.Error("message content unreadable while sending it; connection closed", "user", s.user, "err", err)
			case errors.As(err, new(writeTimeoutError)):
				s.logClient(slog.LevelInfo, "write timeout; connection closed", "user", s.user)
			case errors.Is(err, os.ErrDeadlineExceeded):
				// A command that did not arrive whole within the
				// timeout (slowloris).
				s.endOnReadError(err)
			case !isClosedConn(err):
				s.logClient(slog.LevelInfo, "connection ended", "err", err)
			}
			return
		}
		if closing && s.state != StateLogout {
			s.bye("Server shutting down")
			return
		}
	}
}

// endOnReadError says goodbye to a client that went silent for too long,
// or whose wait Shutdown interrupted.
func (s *Session) endOnReadError(err error) {
	s.mu.Lock()
	closing := s.closing
	s.mu.Unlock()
	if closing {
		s.bye("Server shutting down")
		return
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		s.bye("Autologout; idle for too long")
		s.logClient(slog.LevelInfo, "idle timeout")
	}
}

func isClosedConn(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || errors.Is(err, io.ErrUnexpectedEOF)
}

// bye writes an untagged BYE and flushes, best effort: the connection is
// about to close anyway.
func (s *Session) bye(text string) {
	s.enc.Raw("* BYE ").Text(text).CRLF().Flush()
}

// byeFor says goodbye for a decoder error that leaves the connection
// unusable, with the error's response code.
func (s *Session) byeFor(we *wire.Error) {
	if we.Code != "" {
		s.bye("[" + we.Code + "] " + we.Text)
		return
	}
	s.bye(we.Text)
}

// shutdown is called by Server.Shutdown: a connection waiting for a
// command is told BYE and closed now; one running a command finishes it
// first (IDLE wakes up through Server.done).
//
// Only the connection's goroutine ever writes to it: shutdown never does.
// It marks the session closing and, if the goroutine is waiting for a
// command, moves its read deadline to now; the goroutine wakes, sees
// closing and says BYE itself.
func (s *Session) shutdown() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closing = true
	if !s.busy {
		s.nc.SetReadDeadline(time.Now())
	}
}

// cleanup releases what the session holds.
func (s *Session) cleanup() {
	s.stopNotify()
	s.deselect()
	s.closeOthers()
	if s.acct != nil {
		s.acct.Close()
		s.acct = nil
	}
	if s.releaseUser != nil {
		s.releaseUser()
		s.releaseUser = nil
	}
	if s.releaseCompress != nil {
		s.releaseCompress()
		s.releaseCompress = nil
	}
}

// ctx returns the context for store calls of one command. Commands are
// not cut short by Shutdown (it lets them finish); a dead client shows up
// as a write error instead.
func (s *Session) ctx() context.Context {
	if s.storeCtx == nil {
		return context.Background()
	}
	return s.storeCtx
}

// pipelined says whether the client has begun sending another command
// already: the answer to this one may then wait in the buffer, to leave
// with the next ones after one sync of all their changes. The start of a
// line counts as much as a whole one (a read may end anywhere in a
// stream of pipelined commands): a client finishes the line it began
// before it waits for any answer, so reading on cannot deadlock.
func (s *Session) pipelined() bool {
	return s.br.Buffered() > 0
}

// deselect leaves the selected state, releasing the shared mailbox.
func (s *Session) deselect() {
	if s.box != nil {
		s.box.Release()
		s.box = nil
	}
	s.view = nil
	s.shared = nil
	s.selected.Store(nil)
	s.recent, s.recentUpTo = nil, 0
	if s.state == StateSelected {
		s.state = StateAuthenticated
	}
}
