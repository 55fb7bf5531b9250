package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/tidemark-mail/tidemark/internal/auth"
	"github.com/tidemark-mail/tidemark/internal/config"
	"github.com/tidemark-mail/tidemark/internal/lmtp"
	"github.com/tidemark-mail/tidemark/internal/metrics"
	"github.com/tidemark-mail/tidemark/internal/proxyproto"
	"github.com/tidemark-mail/tidemark/internal/quota"
	"github.com/tidemark-mail/tidemark/internal/retention"
	"github.com/tidemark-mail/tidemark/internal/server"
	"github.com/tidemark-mail/tidemark/internal/store"
	"github.com/tidemark-mail/tidemark/internal/tlscert"
	"github.com/tidemark-mail/tidemark/internal/wire"
)

func init() {
	register("serve", "run the IMAP server (and LMTP, metrics)", runServe)
}

// shutdownGrace is how long SIGTERM waits for commands and deliveries in
// progress before closing what remains.
const shutdownGrace = 30 * time.Second

func runServe(args []string) int {
	// SIGHUP is taken before anything else: one that arrives while the
	// server starts (an operator's certificate renewal racing a restart)
	// must not kill it. It waits in the channel and is acted on, as a
	// reload, once the server runs.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	d := config.Default()
	configFile := fs.String("config", "", "configuration file (TOML); flags override it")
	fs.String("data", d.DataDir, "data directory (accounts, mail store, certificate)")
	fs.String("imap", d.IMAP.Listen, "address for IMAP with STARTTLS; empty to disable")
	fs.String("imaps", d.IMAPS.Listen, "address for IMAP over implicit TLS; empty to disable")
	fs.String("lmtp", "", "TCP address for LMTP delivery; empty: off unless configured")
	fs.String("lmtp-socket", "", "Unix socket path for LMTP delivery")
	fs.String("metrics", "", "address for Prometheus /metrics and /healthz; empty: off unless configured")
	fs.String("cert", "", "TLS certificate (PEM); default: a self-signed one kept in the data directory")
	fs.String("key", "", "TLS private key (PEM) for --cert")
	fs.Bool("allow-plaintext-auth", false, "allow passwords over unencrypted non-loopback connections")
	fs.Int("max-conns-per-ip", d.Limits.MaxConnsPerIP, "simultaneous connections per client address (0: unlimited)")
	fs.Int("max-sessions-per-user", d.Limits.MaxSessionsUser, "simultaneous sessions per user (0: unlimited)")
	fs.String("log-level", d.Log.Level, "log level: debug, info, warn, error")
	fs.String("log-format", d.Log.Format, "log format: text or json")
	demo := fs.Bool("demo", false, "create the account demo on an empty data directory even with --config (the default without it)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() != 0 {
		fmt.Fprintln(os.Stderr, "tidemark serve: unexpected arguments:", strings.Join(fs.Args(), " "))
		return 2
	}
	cfg := &d
	if *configFile != "" {
		c, err := config.Load(*configFile)
		if err != nil {
			fmt.Fprintf(os.Stderr, "tidemark serve: %s:\n%v\n", *configFile, err)
			return 2
		}
		cfg = c
	}
	if errs := applyServeFlags(fs, cfg); len(errs) > 0 {
		fmt.Fprintf(os.Stderr, "tidemark serve:\n%v\n", errs)
		return 2
	}
	log := newLogger(cfg.Log)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	// A configured server is an operator's: no account it did not ask for,
	// and no password in its journal.
	if err := serve(ctx, cfg, log, hup, *demo || *configFile == ""); err != nil {
		log.Error("tidemark serve failed", "err", err)
		return 1
	}
	return 0
}

// applyServeFlags copies the flags given on the command line over the
// configuration, then checks the result.
func applyServeFlags(fs *flag.FlagSet, cfg *config.Config) config.Errors {
	fs.Visit(func(f *flag.Flag) {
		v := f.Value.String()
		switch f.Name {
		case "data":
			cfg.DataDir = v
		case "imap":
			cfg.IMAP.Listen = v
		case "imaps":
			cfg.IMAPS.Listen = v
		case "lmtp":
			cfg.LMTP.Listen = v
		case "lmtp-socket":
			cfg.LMTP.Socket = v
		case "metrics":
			cfg.Metrics.Listen = v
		case "cert":
			cfg.TLS.Cert = v
		case "key":
			cfg.TLS.Key = v
		case "allow-plaintext-auth":
			cfg.IMAP.AllowPlaintextAuth = v == "true"
		case "max-conns-per-ip":
			fmt.Sscan(v, &cfg.Limits.MaxConnsPerIP)
		case "max-sessions-per-user":
			fmt.Sscan(v, &cfg.Limits.MaxSessionsUser)
		case "log-level":
			cfg.Log.Level = v
		case "log-format":
			cfg.Log.Format = v
		}
	})
	return cfg.Validate()
}

func newLogger(c config.Log) *slog.Logger {
	var level slog.Level
	level.UnmarshalText([]byte(c.Level)) // validated already
	opts := &slog.HandlerOptions{Level: level}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(os.Stderr, opts))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, opts))
}

// reclaimEvery is how soon after an expunge the server reclaims the
// bodies that no message names any more (sqlitestore.Options.ReclaimEvery).
const reclaimEvery = 10 * time.Second

// keepIdle is how long a user's embedded database stays open with nobody
// using it: an MTA delivering to a user every few seconds, or a client
// that logs in for each check, then finds it open.
const keepIdle = time.Minute

// textMergeIdle is how long a user's database has had no commit before the
// server merges its text index's segments in the background
// (sqlitestore.Options.TextMergeIdle): long enough that a fill or a burst
// of deliveries is not slowed by it, short enough that the index is merged
// between bursts.
const textMergeIdle = 5 * time.Second

// serve runs every configured listener until ctx ends, then shuts them
// down gracefully: IMAP clients are told BYE after the command they are
// running, LMTP transactions in progress finish, the metrics endpoint
// answers until the end. Each value on hup reloads the TLS certificate;
// demo creates the demo account in an empty data directory.
func serve(ctx context.Context, cfg *config.Config, log *slog.Logger, hup <-chan os.Signal, demo bool) error {
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return err
	}
	// The store enforces the same message size limit as the IMAP literal
	// and LMTP SIZE checks, so every path into it agrees.
	// Only the server reclaims the bodies of expunged messages, in the
	// background, since only it knows which of its sessions still read
	// them; tools opening the store beside it leave bodies alone.
	raw, err := openStore(ctx, cfg.Store, cfg.DataDir, storeOptions{
		MaxMessageSize: int64(cfg.Limits.MaxMessageSize),
		Watch:          true,
		KeepIdle:       keepIdle,
		Logger:         log,
		ReclaimEvery:   reclaimEvery,
		NoTextIndex:    !cfg.Search.TextIndex,
		TextMergeIdle:  textMergeIdle,
		// A serving process stays up to index what a MULTIAPPEND left
		// behind; a one-shot command indexes as it appends.
		TextIndexBehind: true,
	})
	if err != nil {
		return err
	}
	defer raw.Close()
	var (
		st  store.Store = raw
		met *metrics.Metrics
		obs server.Observer
	)
	if cfg.Metrics.Listen != "" {
		met = metrics.New()
		st = met.WrapStore(raw)
		obs = met
	}
	l := cfg.Limits
	accts, err := openAccounts(ctx, cfg.Store, cfg.DataDir, auth.Options{
		MaxFailuresPerIP:   orUnlimited(l.MaxAuthFailuresPerIP),
		MaxFailuresPerUser: orUnlimited(l.MaxAuthFailuresPerUser),
		FailureWindow:      l.AuthFailureWindow.D(),
		Cooldown:           l.AuthCooldown.D(),
		UserBrakeFailures:  orUnlimited(l.AuthUserBrake),
		UserBrakeInterval:  l.AuthUserBrakeInterval.D(),
	}, log)
	if err != nil {
		return err
	}
	defer accts.Close()
	if demo {
		if err := ensureDemoAccount(accts, raw); err != nil {
			return err
		}
	}
	if cfg.TLS.Key != "" {
		if msg, err := keyPermProblem(cfg.TLS.Key); err == nil && msg != "" {
			log.Warn("TLS private key: "+msg, "key", cfg.TLS.Key)
		}
	}
	certs, err := tlscert.NewReloader(cfg.DataDir, cfg.TLS.Cert, cfg.TLS.Key)
	if err != nil {
		return err
	}
	// Replication sees commits through the store IMAP and LMTP use.
	repl, st, replLn, err := startReplication(cfg, st, accts, certs, log)
	if err != nil {
		return err
	}
	qc := quotaConfig(cfg)
	qc.Shared = sharedSettings(raw)
	quotas, err := quota.New(st, qc)
	if err != nil {
		return err
	}
	if repl != nil {
		repl.setQuotas(quotas)
	}
	limiter := auth.NewConnLimiter(l.MaxConnsPerIP, l.MaxSessionsUser)
	limiter.SetLoopbackExempt(l.LoopbackExempt)
	trusted, err := cfg.Proxy.TrustedPrefixes()
	if err != nil {
		return err
	}
	// Connections from a trusted front proxy carry the client's address
	// in a PROXY v2 header.
	behindProxy := func(ln net.Listener) net.Listener {
		if len(trusted) == 0 {
			return ln
		}
		return &proxyproto.Listener{Listener: ln, Trusted: trusted}
	}

	imapSrv := server.New(server.Config{
		Store:               st,
		Auth:                accts,
		Limiter:             limiter,
		TLS:                 certs.TLSConfig(),
		AllowPlaintextAuth:  cfg.IMAP.AllowPlaintextAuth,
		NoLoopbackPlaintext: !cfg.IMAP.LoopbackPlaintext,
		URLAuthSubmitters:   cfg.IMAP.URLAuthSubmitters,
		Limits: wire.Limits{
			MaxLine:          int(l.MaxLineLength),
			MaxLiteral:       int64(l.MaxLiteralSize),
			MaxAppendLiteral: int64(l.MaxMessageSize),
		},
		IdleTimeout:     l.IdleTimeout.D(),
		LoginTimeout:    l.LoginTimeout.D(),
		WriteTimeout:    l.WriteTimeout.D(),
		MaxConnections:  orUnlimited(l.MaxConnections),
		MaxBadCommands:  l.MaxBadCommands,
		MaxCompressed:   noneIfZero(l.MaxCompressed),
		Metadata:        store.MetadataLimits{MaxSize: int(l.MaxMetadataSize), MaxEntries: l.MaxMetadataEntries},
		NotifyMaxNames:  orUnlimited(l.MaxNotifyNames),
		NotifyMaxEvents: orUnlimited(l.MaxNotifyEvents),
		CommandRate:     float64(l.CommandRate),
		CommandBurst:    l.CommandBurst,
		Logger:          log,
		Observer:        obs,
		Quota:           quotas,

		DefaultMailboxes: defaultMailboxes(cfg.SpecialUse),
	})

	// Every listener is opened before anything is served, so a busy port
	// fails the start instead of leaving a half-running server.
	var lns []func() error // start functions
	var closers []net.Listener
	fail := func(err error) error {
		for _, c := range closers {
			c.Close()
		}
		return err
	}
	listenTCP := func(proto, addr string) (net.Listener, error) {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return nil, fmt.Errorf("%s listener: %w", proto, err)
		}
		closers = append(closers, ln)
		log.Info("listening", "proto", proto, "addr", ln.Addr().String())
		return ln, nil
	}
	if replLn != nil {
		closers = append(closers, replLn)
	}
	errc := make(chan error, 8)
	if cfg.IMAP.Listen != "" {
		ln, err := listenTCP("imap", cfg.IMAP.Listen)
		if err != nil {
			return fail(err)
		}
		lns = append(lns, func() error { return imapSrv.Serve(behindProxy(ln)) })
	}
	if cfg.IMAPS.Listen != "" {
		ln, err := listenTCP("imaps", cfg.IMAPS.Listen)
		if err != nil {
			return fail(err)
		}
		lns = append(lns, func() error { return imapSrv.ServeTLS(behindProxy(ln)) })
	}
	var lmtpSrv *lmtp.Server
	if cfg.LMTP.Listen != "" || cfg.LMTP.Socket != "" {
		lc := lmtp.Config{
			Store:               st,
			Domains:             cfg.LMTP.Domains,
			SubaddressSeparator: cfg.LMTP.SubaddressSeparator,
			NoSubaddress:        cfg.LMTP.SubaddressSeparator == "",

			SubaddressSpecialUse: cfg.LMTP.SubaddressSpecialUse,
			MaxMessageSize:       int64(l.MaxMessageSize),
			MaxRecipients:        cfg.LMTP.MaxRecipients,
			Quota:                quota.LMTPChecker{M: quotas},
			OverQuotaTempFail:    cfg.LMTP.OverQuotaTempFail,
			DeliveredTo:          cfg.LMTP.DeliveredTo,
			Logger:               log,
		}
		if met != nil {
			lc.OnDelivery = met.ObserveDelivery
		}
		lmtpSrv = lmtp.New(lc)
		if cfg.LMTP.Listen != "" {
			ln, err := lmtp.Listen("tcp", cfg.LMTP.Listen)
			if err != nil {
				return fail(err)
			}
			closers = append(closers, ln)
			log.Info("listening", "proto", "lmtp", "addr", ln.Addr().String())
			lns = append(lns, func() error { return lmtpSrv.Serve(ln) })
		}
		if cfg.LMTP.Socket != "" {
			ln, err := lmtp.Listen("unix", cfg.LMTP.Socket)
			if err != nil {
				return fail(err)
			}
			closers = append(closers, ln)
			log.Info("listening", "proto", "lmtp-unix", "addr", cfg.LMTP.Socket)
			lns = append(lns, func() error { return lmtpSrv.Serve(ln) })
		}
	}
	var httpSrv *http.Server
	if met != nil {
		ln, err := listenTCP("metrics", cfg.Metrics.Listen)
		if err != nil {
			return fail(err)
		}
		if publicListener(ln.Addr()) {
			log.Warn("metrics and /healthz are served without authentication on an address other machines can reach; prefer a loopback address", "addr", ln.Addr().String())
		}
		met.Logger = log
		httpSrv = met.NewHTTPServer(st.(store.Pinger).Ping)
		lns = append(lns, func() error { return httpSrv.Serve(ln) })
	}

	if repl != nil && repl.server != nil {
		lns = append(lns, func() error {
			if err := repl.server.Serve(replLn); err != nil {
				return err
			}
			return server.ErrServerClosed
		})
	}
	var wg sync.WaitGroup
	for _, start := range lns {
		wg.Go(func() { errc <- start() })
	}

	bg, stopBG := context.WithCancel(context.Background())
	defer stopBG()
	if !cfg.Tombstones.Retention.Forever {
		p := &retention.Pruner{
			Store:     st,
			Age:       cfg.Tombstones.Retention.Age,
			StateFile: filepath.Join(cfg.DataDir, retention.StateFileName),
			Shared:    sharedSettings(raw),
			Logger:    log,
		}
		if repl != nil {
			// Logins replicate: their tombstones are pruned under the
			// same age once every peer holds them.
			p.Accounts = accts
		}
		if met != nil {
			p.OnPass = met.ObserveRetentionPass
		}
		interval := min(time.Hour, max(time.Minute, cfg.Tombstones.Retention.Age/24))
		wg.Go(func() { p.Run(bg, interval) })
	}

	if repl != nil {
		repl.run(bg, &wg)
	}
	wg.Go(func() { watchQuotas(bg, quotas, filepath.Join(cfg.DataDir, quota.OverridesFileName), log) })

	// SIGHUP (hup, taken since start-up) replaces the certificate for new
	// handshakes; connections already established keep theirs
	// (tlscert.Reloader).
	var serveErr error
	running := len(lns)
loop:
	for {
		select {
		case <-ctx.Done():
			log.Info("shutting down")
			break loop
		case <-hup:
			if err := certs.Reload(); err != nil {
				log.Error("certificate reload failed; keeping the current one", "err", err)
			} else {
				log.Info("certificate reloaded", "not_after", certs.Certificate().Leaf.NotAfter)
			}
		case err := <-errc:
			running--
			if err != nil && !errors.Is(err, server.ErrServerClosed) && !errors.Is(err, http.ErrServerClosed) {
				serveErr = err
				log.Error("listener failed", "err", err)
				break loop
			}
		}
	}
	shutCtx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	var sw sync.WaitGroup
	sw.Go(func() {
		if err := imapSrv.Shutdown(shutCtx); err != nil {
			log.Warn("IMAP shutdown incomplete", "err", err)
		}
	})
	if lmtpSrv != nil {
		sw.Go(func() {
			if err := lmtpSrv.Shutdown(shutCtx); err != nil {
				log.Warn("LMTP shutdown incomplete", "err", err)
				lmtpSrv.Close()
			}
		})
	}
	sw.Wait()
	if repl != nil && repl.server != nil {
		replLn.Close()
		repl.server.Close()
	}
	// The metrics endpoint goes last so a scrape can see the drain.
	if httpSrv != nil {
		httpSrv.Shutdown(shutCtx)
	}
	stopBG()
	for ; running > 0; running-- {
		<-errc
	}
	wg.Wait()
	log.Info("stopped")
	return serveErr
}

// orUnlimited maps the configuration's 0 (unlimited) to auth's -1.
func orUnlimited(n int) int {
	if n == 0 {
		return -1
	}
	return n
}

// quotaConfig turns the configuration's quota section into the manager's.
func quotaConfig(cfg *config.Config) quota.Config {
	q := quota.Config{
		Default:       quota.Limits{StorageBytes: int64(cfg.Quota.Storage), Messages: cfg.Quota.Messages},
		Users:         map[string]quota.Limits{},
		Admins:        cfg.Quota.Admins,
		OverridesFile: filepath.Join(cfg.DataDir, quota.OverridesFileName),
	}
	for name, u := range cfg.Quota.Users {
		q.Users[name] = quota.Limits{StorageBytes: int64(u.Storage), Messages: u.Messages}
	}
	return q
}

// ensureDemoAccount creates the account "demo" with a random password on
// a data directory that has no accounts yet, and prints the password once.
func ensureDemoAccount(accts *auth.Accounts, st store.Store) error {
	names, err := accts.List()
	if err != nil || len(names) > 0 {
		return err
	}
	raw := make([]byte, 12)
	rand.Read(raw)
	password := base64.RawURLEncoding.EncodeToString(raw)
	if err := accts.Add("demo", password); err != nil {
		return err
	}
	if err := st.CreateUser(context.Background(), "demo"); err != nil && !errors.Is(err, store.ErrUserExists) {
		return err
	}
	fmt.Printf("Created the account demo with password %s (shown only once).\n", password)
	return nil
}

// defaultMailboxes turns [special_use] into what the server creates at a
// user's first login.
func defaultMailboxes(u config.SpecialUse) []store.DefaultMailbox {
	var out []store.DefaultMailbox
	for _, m := range u.Mailboxes() {
		out = append(out, store.DefaultMailbox{Name: m.Name, SpecialUse: store.SpecialUse(m.Attribute)})
	}
	return out
}

// noneIfZero maps a configured cap of 0 (none may) to the server's
// negative value for it (server.Config.MaxCompressed).
func noneIfZero(n int) int {
	if n == 0 {
		return -1
	}
	return n
}
