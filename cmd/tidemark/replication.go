package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/tidemark-mail/tidemark/internal/auth"
	"github.com/tidemark-mail/tidemark/internal/config"
	"github.com/tidemark-mail/tidemark/internal/quota"
	"github.com/tidemark-mail/tidemark/internal/replica"
	"github.com/tidemark-mail/tidemark/internal/store"
	"github.com/tidemark-mail/tidemark/internal/tlscert"
)

// replicationAuth builds how this server and its peers authenticate each
// other from [replication] and [tls]: the shared secret, and for mutual
// TLS the CA that signs every replica's certificate.
func replicationAuth(cfg *config.Config, certs *tlscert.Reloader) (replica.Auth, error) {
	r := cfg.Replication
	var a replica.Auth
	if r.SecretFile != "" {
		b, err := os.ReadFile(r.SecretFile)
		if err != nil {
			return a, err
		}
		a.Secret = []byte(strings.TrimSpace(string(b)))
		if len(a.Secret) < 16 {
			return a, fmt.Errorf("%s: the secret must be at least 16 bytes", r.SecretFile)
		}
	}
	tc := certs.TLSConfig()
	tc.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return certs.Certificate(), nil }
	if r.CAFile != "" {
		pem, err := os.ReadFile(r.CAFile)
		if err != nil {
			return a, err
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return a, fmt.Errorf("%s: no certificate found", r.CAFile)
		}
		tc.RootCAs, tc.ClientCAs = pool, pool
		tc.ClientAuth = tls.RequireAndVerifyClientCert
	}
	if a.Secret == nil && r.CAFile == "" {
		return a, errors.New("replication needs secret_file or ca_file")
	}
	a.TLS = tc
	return a, nil
}

// replication is the running replication of a server: its listener and
// one pusher per peer.
type replication struct {
	local   *replica.Local
	server  *replica.Server
	pushers []*replica.Pusher
}

// startReplication prepares replication for serve. The returned store is
// what IMAP and LMTP must use: it reports their commits to the pushers.
// Accounts (logins) replicate too, and quota settings once setQuotas has
// been called.
// Listening starts with the other listeners (ln is nil when none is
// configured); pushers start with run.
func startReplication(cfg *config.Config, st store.Store, accts *auth.Accounts, certs *tlscert.Reloader, log *slog.Logger) (*replication, store.Store, net.Listener, error) {
	rc := cfg.Replication
	if rc.Listen == "" && len(rc.Peers) == 0 {
		return nil, st, nil, nil
	}
	auth, err := replicationAuth(cfg, certs)
	if err != nil {
		return nil, nil, nil, err
	}
	node, err := replica.NodeID(cfg.DataDir)
	if err != nil {
		return nil, nil, nil, err
	}
	r := &replication{local: &replica.Local{Store: st, NodeID: node, Accounts: accts, StageDir: cfg.DataDir}}
	for _, peer := range rc.Peers {
		r.pushers = append(r.pushers, &replica.Pusher{Local: r.local, Addr: peer, Auth: auth,
			FullEvery: rc.FullSyncInterval.D(), Logger: log.With("peer", peer)})
	}
	changed := func(user string) {
		for _, p := range r.pushers {
			p.Changed(user)
		}
	}
	var ln net.Listener
	if rc.Listen != "" {
		if ln, err = net.Listen("tcp", rc.Listen); err != nil {
			return nil, nil, nil, fmt.Errorf("replication listener: %w", err)
		}
		log.Info("listening", "proto", "replication", "addr", ln.Addr().String(), "node", node)
		// Changes a peer made here travel on to the other peers.
		r.server = &replica.Server{Local: r.local, Auth: auth, Logger: log, OnApplied: changed,
			OnSettings: func() {
				for _, p := range r.pushers {
					p.SettingsChanged()
				}
			}}
	}
	return r, replica.Notify(st, changed), ln, nil
}

// setQuotas makes the SETQUOTA overrides replicate; it must be called
// before the listener serves and run starts.
func (r *replication) setQuotas(q *quota.Manager) { r.local.Quotas = q }

// run pushes to every peer until ctx ends.
func (r *replication) run(ctx context.Context, wg *sync.WaitGroup) {
	for _, p := range r.pushers {
		wg.Go(func() { p.Run(ctx) })
	}
}

// watchQuotas reloads the SETQUOTA overrides file when it changes on disk
// (checked each second), so that overrides written by another process on
// this data directory (a one-shot `tidemark sync`) apply here without a
// restart. The server's own writes change it too; reloading them finds
// nothing newer and changes nothing.
func watchQuotas(ctx context.Context, q *quota.Manager, path string, log *slog.Logger) {
	var last os.FileInfo
	if fi, err := os.Stat(path); err == nil {
		last = fi
	}
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		fi, err := os.Stat(path)
		if err != nil || last != nil && fi.ModTime().Equal(last.ModTime()) && fi.Size() == last.Size() {
			continue
		}
		last = fi
		n, err := q.Reload()
		if err != nil {
			log.Warn("quota settings: reload", "err", err)
		} else if n > 0 {
			log.Info("quota settings: reloaded overrides written by another process", "taken", n)
		}
	}
}
