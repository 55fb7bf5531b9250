package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"github.com/tidemark-mail/tidemark/internal/openbox"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/tidemark-mail/tidemark/internal/auth"
	"github.com/tidemark-mail/tidemark/internal/store"
	"github.com/tidemark-mail/tidemark/internal/wire"
)

// Authenticator checks a user's password. It returns nil on success,
// an error matching ErrAuthFailed for wrong credentials, ErrThrottled when
// the user or address is locked out for a while, and any other error for
// an operational failure. *auth.Accounts implements it.
type Authenticator interface {
	Authenticate(ctx context.Context, user, password string, remote netip.Addr) error
}

// Errors an Authenticator returns (they are auth's, so *auth.Accounts is
// an Authenticator as is).
var (
	ErrAuthFailed = auth.ErrAuthFailed
	ErrThrottled  = auth.ErrThrottled
)

// ConnLimiter caps simultaneous connections per client address and
// sessions per user; *auth.ConnLimiter implements it. Each successful
// Acquire returns a release function.
type ConnLimiter interface {
	AcquireIP(remote netip.Addr) (release func(), ok bool)
	AcquireUser(user string) (release func(), ok bool)
}

// Config configures a Server. Store and Auth are required.
type Config struct {
	Store store.Store
	Auth  Authenticator
	// Limiter caps connections and sessions; nil means unlimited.
	Limiter ConnLimiter
	// TLS enables STARTTLS on Serve and is required by ServeTLS; nil means
	// no TLS.
	TLS *tls.Config
	// AllowPlaintextAuth allows LOGIN and AUTHENTICATE PLAIN over a
	// connection that is neither TLS nor loopback (RFC 9051 6.2.3 says
	// servers should not).
	AllowPlaintextAuth bool
	// NoLoopbackPlaintext withdraws loopback's exemption from the rule
	// above (for a proxy on this host that does not send the PROXY
	// protocol: its clients would all look local).
	NoLoopbackPlaintext bool
	// Limits bound what a command may make the server read.
	Limits wire.Limits
	// IdleTimeout closes a connection that sends nothing for this long,
	// IDLE included; default 30 minutes, the minimum RFC 9051 5.4 allows.
	IdleTimeout time.Duration
	// LoginTimeout is the idle timeout before a client has logged in
	// (RFC 9051 5.4's minimum is for authenticated sessions); default 1
	// minute.
	LoginTimeout time.Duration
	// WriteTimeout bounds each write to a client: one that stops reading
	// is disconnected after it, instead of holding its goroutine, session
	// slot and store handle; default 1 minute.
	WriteTimeout time.Duration
	// MaxConnections caps the connections served at once; beyond it new
	// ones are told BYE and closed. Default 10,000; negative: no cap.
	MaxConnections int
	// CommandRate limits the commands of one connection to this many a
	// second, with bursts of CommandBurst (default 2,000): past it each
	// command waits its turn (see rateBucket). Zero or negative: no limit.
	CommandRate  float64
	CommandBurst int
	// MaxCompressed caps the connections using COMPRESS DEFLATE at once
	// (about 0.8 MiB of memory each); default 1,000, negative: none (and
	// COMPRESS=DEFLATE is not offered).
	MaxCompressed int
	// ProgressEvery and ProgressInterval pace INPROGRESS reports
	// (progress.go): every ProgressEvery messages (default 1,000) a long
	// command reports if ProgressInterval (default 10 s; negative: always)
	// has passed since the last report.
	ProgressEvery    int
	ProgressInterval time.Duration
	// MaxBadCommands closes a connection after this many BAD responses in
	// a row; default 20.
	MaxBadCommands int
	// Logger receives one line per connection event and per failed
	// command; default slog.Default().
	Logger *slog.Logger
	// Observer is told about connections, commands, failed logins and
	// bytes, for metrics; nil means nobody is told.
	Observer Observer
	// Quota, when set, is asked before APPEND and COPY add messages to a
	// user's store (RFC 9208 OVERQUOTA). MOVE is not checked: within one
	// user's store it adds nothing.
	Quota QuotaChecker
	// Metadata bounds SETMETADATA (RFC 5464): the largest value and the
	// most entries per mailbox (and for the server); zero fields take the
	// defaults, 64 KiB and 256.
	Metadata store.MetadataLimits
	// MetadataAdmin, when set, is the value of the read-only server entry
	// /shared/admin (RFC 5464 3.2.1.1): a URI to reach the administrator.
	MetadataAdmin string
	// NotifyMaxNames bounds the mailbox names one NOTIFY SET may list
	// (beyond: NO [NOTIFICATIONOVERFLOW]); NotifyMaxEvents the responses
	// one batch of events may cause (beyond: * OK
	// [NOTIFICATIONOVERFLOW] and NOTIFY is off). Defaults 1,000 each;
	// negative: no limit.
	NotifyMaxNames  int
	NotifyMaxEvents int
	// DefaultMailboxes are given to each account at its first login
	// (RFC 6154 special-use mailboxes clients expect; see
	// store.DefaultCreator); empty: none.
	DefaultMailboxes []store.DefaultMailbox
	// URLAuthSubmitters are the users that are message submission
	// servers: URLAUTH URLs for "submit+user" admit their sessions alone
	// (RFC 4467 3). Empty: such URLs admit nobody.
	URLAuthSubmitters []string
	// Now is the clock SEARCH OLDER and YOUNGER count back from
	// (RFC 5032) and URLAUTH expiries are checked against; nil means
	// time.Now. The store has its own clock for
	// SAVEDATE and default INTERNALDATE.
	Now func() time.Time
}

// Server serves IMAP.
type Server struct {
	cfg Config
	log *slog.Logger
	obs Observer // cfg.Observer, or one that does nothing

	mu        sync.Mutex
	listeners map[net.Listener]struct{} // guarded by mu
	conns     map[*Session]struct{}     // guarded by mu
	closing   bool                      // guarded by mu
	wg        sync.WaitGroup            // one per connection goroutine
	done      chan struct{}             // closed by Shutdown: IDLE wakes up and says BYE

	// boxes holds the selected mailboxes in memory, shared by sessions.
	boxes *openbox.Registry
	// preAuthLog bounds the log lines unauthenticated clients cause.
	preAuthLog *logBucket
	// spoolMem bounds the APPEND messages held in memory by all sessions.
	spoolMem *memBudget
	// notifyReg holds what the NOTIFY sessions of each user share.
	notifyReg notifyRegistry
	// compress counts the connections using COMPRESS.
	compress compressSlots
}

// ErrServerClosed is returned by Serve and ServeTLS after Shutdown.
var ErrServerClosed = errors.New("server: closed")

// New returns a server for cfg.
func New(cfg Config) *Server {
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = 30 * time.Minute
	}
	if cfg.LoginTimeout <= 0 {
		cfg.LoginTimeout = time.Minute
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = time.Minute
	}
	if cfg.MaxConnections == 0 {
		cfg.MaxConnections = 10_000
	}
	cfg.Limits = cfg.Limits.WithDefaults()
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.CommandBurst <= 0 {
		cfg.CommandBurst = 2000
	}
	if cfg.ProgressEvery <= 0 {
		cfg.ProgressEvery = 1000
	}
	if cfg.ProgressInterval == 0 {
		cfg.ProgressInterval = 10 * time.Second
	}
	if cfg.MaxCompressed == 0 {
		cfg.MaxCompressed = 1000
	}
	if cfg.MaxBadCommands <= 0 {
		cfg.MaxBadCommands = 20
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	obs := cfg.Observer
	if obs == nil {
		obs = nopObserver{}
	}
	return &Server{
		cfg:       cfg,
		log:       log,
		obs:       obs,
		listeners: map[net.Listener]struct{}{},
		conns:     map[*Session]struct{}{},
		done:      make(chan struct{}),
		boxes:     openbox.NewRegistry(cfg.Store),

		preAuthLog: newLogBucket(preAuthLogRate, preAuthLogBurst),
		spoolMem:   newMemBudget(spoolMemoryTotal),
	}
}

// Serve accepts plain connections on l, offering STARTTLS when the
// configuration has TLS. It returns ErrServerClosed after Shutdown.
func (srv *Server) Serve(l net.Listener) error { return srv.serve(l, false) }

// ServeTLS accepts implicit-TLS connections (port 993) on l.
func (srv *Server) ServeTLS(l net.Listener) error {
	if srv.cfg.TLS == nil {
		return errors.New("server: ServeTLS needs Config.TLS")
	}
	// Bytes are counted under TLS, as they cross the socket.
	return srv.serve(tls.NewListener(countingListener{l, srv.obs}, srv.cfg.TLS), true)
}

func (srv *Server) serve(l net.Listener, implicitTLS bool) error {
	srv.mu.Lock()
	if srv.closing {
		srv.mu.Unlock()
		l.Close()
		return ErrServerClosed
	}
	srv.listeners[l] = struct{}{}
	srv.mu.Unlock()
	defer func() {
		srv.mu.Lock()
		delete(srv.listeners, l)
		srv.mu.Unlock()
	}()

	var delay time.Duration
	for {
		nc, err := l.Accept()
		if err != nil {
			srv.mu.Lock()
			closing := srv.closing
			srv.mu.Unlock()
			if closing {
				return ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				// Out of file descriptors and the like: back off, like
				// net/http does, rather than spin.
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				srv.log.Warn("accept failed", "err", err, "retry_in", delay)
				time.Sleep(delay)
				continue
			}
			return fmt.Errorf("server: accept: %w", err)
		}
		delay = 0
		if !implicitTLS {
			nc = countingConn{nc, srv.obs}
		}
		srv.mu.Lock()
		if srv.closing {
			srv.mu.Unlock()
			nc.Close()
			return ErrServerClosed
		}
		if max := srv.cfg.MaxConnections; max > 0 && len(srv.conns) >= max {
			srv.mu.Unlock()
			srv.refuse(nc, implicitTLS)
			continue
		}
		s := newSession(srv, nc, implicitTLS)
		srv.conns[s] = struct{}{}
		srv.wg.Add(1)
		srv.mu.Unlock()
		go func() {
			defer srv.wg.Done()
			s.serve()
			srv.mu.Lock()
			delete(srv.conns, s)
			srv.mu.Unlock()
		}()
	}
}

// Shutdown stops accepting connections, says BYE to clients waiting
// between commands or in IDLE, lets commands in progress finish and answer,
// then waits for every connection to end. When ctx ends first it closes
// the remaining connections and returns ctx's error.
func (srv *Server) Shutdown(ctx context.Context) error {
	srv.mu.Lock()
	if !srv.closing {
		srv.closing = true
		close(srv.done)
	}
	for l := range srv.listeners {
		l.Close()
	}
	sessions := make([]*Session, 0, len(srv.conns))
	for s := range srv.conns {
		sessions = append(sessions, s)
	}
	srv.mu.Unlock()
	for _, s := range sessions {
		s.shutdown()
	}

	finished := make(chan struct{})
	go func() {
		srv.wg.Wait()
		srv.boxes.Close() // the mailboxes kept in memory for returning clients
		close(finished)
	}()
	select {
	case <-finished:
		return nil
	case <-ctx.Done():
		srv.mu.Lock()
		sessions = sessions[:0]
		for s := range srv.conns {
			sessions = append(sessions, s)
		}
		srv.mu.Unlock()
		for _, s := range sessions {
			// Through s.conn: STARTTLS may be replacing the connection.
			s.conn().Close()
		}
		<-finished
		return ctx.Err()
	}
}

// connCount is the number of connections being served.
func (srv *Server) connCount() int {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	return len(srv.conns)
}

// refuse turns away a connection past MaxConnections. A plain connection
// is told BYE (a fresh socket's send buffer takes it at once; the deadline
// is a guard); a TLS one is closed, since answering would mean a handshake
// in the accept loop.
func (srv *Server) refuse(nc net.Conn, implicitTLS bool) {
	srv.log.Warn("connection refused: server connection limit", "remote", nc.RemoteAddr().String())
	if !implicitTLS {
		nc.SetWriteDeadline(time.Now().Add(time.Second))
		io.WriteString(nc, "* BYE [UNAVAILABLE] Too many connections, try again later\r\n")
	}
	nc.Close()
}
