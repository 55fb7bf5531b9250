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
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/tidemark-mail/tidemark/internal/auth"
	"github.com/tidemark-mail/tidemark/internal/server"
	"github.com/tidemark-mail/tidemark/internal/sqlitestore"
	"github.com/tidemark-mail/tidemark/internal/store"
	"github.com/tidemark-mail/tidemark/internal/tlscert"
)

func init() {
	register("serve", "run the IMAP server", runServe)
}

func runServe(args []string) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	dataDir := fs.String("data", "./tidemark-data", "data directory (accounts, mail store, certificate)")
	imapAddr := fs.String("imap", "127.0.0.1:1143", "address for IMAP with STARTTLS; empty to disable")
	imapsAddr := fs.String("imaps", "127.0.0.1:1993", "address for IMAP over implicit TLS; empty to disable")
	certFile := fs.String("cert", "", "TLS certificate (PEM); default: a self-signed one kept in the data directory")
	keyFile := fs.String("key", "", "TLS private key (PEM) for --cert")
	allowPlain := fs.Bool("allow-plaintext-auth", false, "allow passwords over unencrypted non-loopback connections")
	perIP := fs.Int("max-conns-per-ip", 50, "simultaneous connections per client address (0: unlimited)")
	perUser := fs.Int("max-sessions-per-user", 50, "simultaneous sessions per user (0: unlimited)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if err := serve(*dataDir, *imapAddr, *imapsAddr, *certFile, *keyFile, *allowPlain, *perIP, *perUser, log); err != nil {
		fmt.Fprintln(os.Stderr, "tidemark serve:", err)
		return 1
	}
	return 0
}

func serve(dataDir, imapAddr, imapsAddr, certFile, keyFile string, allowPlain bool, perIP, perUser int, log *slog.Logger) error {
	st, err := sqlitestore.Open(dataDir, sqlitestore.Options{})
	if err != nil {
		return err
	}
	defer st.Close()
	accts, err := auth.OpenAccounts(dataDir)
	if err != nil {
		return err
	}
	defer accts.Close()
	if err := ensureDemoAccount(accts, st); err != nil {
		return err
	}
	tlsConfig, err := tlscert.Load(dataDir, certFile, keyFile)
	if err != nil {
		return err
	}
	limiter := auth.NewConnLimiter(perIP, perUser)
	limiter.SetLoopbackExempt(true)

	srv := server.New(server.Config{
		Store:              st,
		Auth:               accts,
		Limiter:            limiter,
		TLS:                tlsConfig,
		AllowPlaintextAuth: allowPlain,
		Logger:             log,
	})
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	errc := make(chan error, 2)
	listen := func(addr string, implicitTLS bool) error {
		if addr == "" {
			return nil
		}
		l, err := net.Listen("tcp", addr)
		if err != nil {
			return err
		}
		log.Info("listening", "addr", l.Addr().String(), "implicit_tls", implicitTLS)
		go func() {
			if implicitTLS {
				errc <- srv.ServeTLS(l)
			} else {
				errc <- srv.Serve(l)
			}
		}()
		return nil
	}
	if err := listen(imapAddr, false); err != nil {
		return err
	}
	if err := listen(imapsAddr, true); err != nil {
		srv.Shutdown(context.Background())
		return err
	}

	var serveErr error
	select {
	case <-ctx.Done():
		log.Info("shutting down")
	case serveErr = <-errc:
	}
	shutCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutCtx); err != nil {
		log.Warn("shutdown incomplete", "err", err)
	}
	if serveErr != nil && !errors.Is(serveErr, server.ErrServerClosed) {
		return serveErr
	}
	return nil
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
