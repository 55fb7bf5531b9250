package lmtp

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/tidemark-mail/tidemark/internal/store"
)

// QuotaChecker is the hook through which delivery asks whether a user may
// receive size more bytes. It returns nil, or an error wrapping
// store.ErrOverQuota (reply 552 5.2.2, or 452 4.2.2 with
// Config.OverQuotaTempFail); any other error is a temporary failure.
type QuotaChecker interface {
	CheckQuota(ctx context.Context, user string, size int64) error
}

// Delivery describes one recipient's outcome, for logs and metrics.
type Delivery struct {
	Recipient string // as given in RCPT TO
	User      string // "" when the recipient was refused before a user was found
	Mailbox   string
	Size      int64
	UID       store.UID
	Err       error // nil on success
	Duration  time.Duration
}

// Config configures a Server.
type Config struct {
	Store store.Store
	// Domains served; a recipient is "name" or "name@domain" for one of
	// them. Empty accepts any domain (routing is the MTA's job).
	Domains []string
	// SubaddressSeparator splits "user+folder" (default "+"; set
	// NoSubaddress to turn sub-addressing off).
	SubaddressSeparator string
	NoSubaddress        bool
	// SubaddressSpecialUse lets "user+Sent" deliver into a special-use
	// mailbox (RFC 6154: Sent, Drafts, Trash, Junk...). Off by default:
	// anyone could otherwise plant mail in a user's Sent or Drafts.
	SubaddressSpecialUse bool
	// MaxMessageSize is advertised with SIZE; larger messages get
	// 552 5.3.4. Zero means no limit here (the store may still have one).
	MaxMessageSize int64
	// MaxRecipients per transaction (default 1000).
	MaxRecipients int
	// Quota, when set, is asked before accepting a recipient (with the
	// declared SIZE) and before each delivery (with the real size).
	Quota QuotaChecker
	// OverQuotaTempFail replies 452 4.2.2 instead of 552 5.2.2 to a user
	// over quota, so the MTA keeps the mail and retries.
	OverQuotaTempFail bool
	// DeliveredTo prepends a Delivered-To field per recipient. It makes
	// each recipient's copy distinct bytes.
	DeliveredTo bool
	// Hostname is used in the greeting (default os.Hostname()).
	Hostname string
	// SpoolDir holds the temporary copy of each message (default the
	// system's temporary directory).
	SpoolDir string
	// ReadTimeout and WriteTimeout bound each network read and write
	// (default 5 minutes and 1 minute); DeliveryTimeout bounds storing one
	// message for all its recipients (default 5 minutes).
	ReadTimeout, WriteTimeout, DeliveryTimeout time.Duration
	Logger                                     *slog.Logger
	// OnDelivery, when set, is called once per recipient after DATA.
	OnDelivery func(Delivery)
}

// Server is an LMTP server. It can serve several listeners at once.
type Server struct {
	cfg    Config
	smtp   *smtp.Server
	ctx    context.Context // canceled by Close, ends deliveries in progress
	cancel context.CancelFunc
}

// New makes a server; call Serve with each listener.
func New(cfg Config) *Server {
	if cfg.SubaddressSeparator == "" {
		cfg.SubaddressSeparator = "+"
	}
	if cfg.NoSubaddress {
		cfg.SubaddressSeparator = ""
	}
	if cfg.MaxRecipients <= 0 {
		cfg.MaxRecipients = 1000
	}
	if cfg.ReadTimeout <= 0 {
		cfg.ReadTimeout = 5 * time.Minute
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = time.Minute
	}
	if cfg.DeliveryTimeout <= 0 {
		cfg.DeliveryTimeout = 5 * time.Minute
	}
	if cfg.Hostname == "" {
		cfg.Hostname, _ = os.Hostname()
		if cfg.Hostname == "" {
			cfg.Hostname = "localhost"
		}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	s := &Server{cfg: cfg}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	srv := smtp.NewServer(smtp.BackendFunc(s.newSession))
	srv.LMTP = true
	srv.Domain = cfg.Hostname
	srv.MaxMessageBytes = cfg.MaxMessageSize
	srv.MaxRecipients = cfg.MaxRecipients
	srv.ReadTimeout = cfg.ReadTimeout
	srv.WriteTimeout = cfg.WriteTimeout
	srv.EnableSMTPUTF8 = true // bytes are stored as received; nothing needs ASCII
	srv.ErrorLog = slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelError)
	s.smtp = srv
	return s
}

// Serve accepts connections on l until Close; it returns nil after Close.
func (s *Server) Serve(l net.Listener) error {
	err := s.smtp.Serve(bareRcptListener{l})
	if errors.Is(err, smtp.ErrServerClosed) {
		return nil
	}
	return err
}

// Close stops the listeners, closes every connection and abandons
// deliveries in progress (their recipients get no 250, so the MTA retries).
func (s *Server) Close() error {
	s.cancel()
	return s.smtp.Close()
}

// Shutdown stops the listeners and waits for open connections to finish,
// until ctx is done.
func (s *Server) Shutdown(ctx context.Context) error {
	err := s.smtp.Shutdown(ctx)
	s.cancel()
	return err
}

// Listen opens a listener: network "tcp" with a host:port address, or
// "unix" with a socket path. A stale socket file left by an earlier run is
// replaced; the socket gets mode 0660 so a mail-group MTA can connect.
func Listen(network, address string) (net.Listener, error) {
	if network != "unix" {
		l, err := net.Listen(network, address)
		if err != nil {
			return nil, fmt.Errorf("lmtp: %w", err)
		}
		return l, nil
	}
	if st, err := os.Lstat(address); err == nil && st.Mode().Type() == fs.ModeSocket {
		// Only a socket nobody answers on is stale.
		if c, err := net.Dial("unix", address); err == nil {
			c.Close()
			return nil, fmt.Errorf("lmtp: %s: a server is already listening", address)
		}
		if err := os.Remove(address); err != nil {
			return nil, fmt.Errorf("lmtp: %w", err)
		}
	}
	l, err := net.Listen("unix", address)
	if err != nil {
		return nil, fmt.Errorf("lmtp: %w", err)
	}
	if err := os.Chmod(address, 0o660); err != nil {
		l.Close()
		return nil, fmt.Errorf("lmtp: %w", err)
	}
	return l, nil
}
