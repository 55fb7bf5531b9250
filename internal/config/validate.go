package config

import (
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/tidemark-mail/tidemark/internal/auth"
	"github.com/tidemark-mail/tidemark/internal/store"
)

// Validate checks the values themselves: addresses parse, files exist,
// enumerations hold a known word, limits are usable. It returns every
// problem, with the line that set the value when known.
func (c *Config) Validate() Errors {
	var errs Errors
	add := func(key, format string, args ...any) {
		errs = append(errs, Error{Line: c.lineOf(key), Key: key, Msg: fmt.Sprintf(format, args...)})
	}
	if c.DataDir == "" {
		add("data_dir", "must not be empty")
	}
	switch c.Store.Kind {
	case StoreEmbedded:
		if c.Store.DSN != "" || len(c.Store.Shards) > 0 || len(c.Store.Users) > 0 {
			add("store.dsn", "dsn, shards and users are only used with kind = %q", StorePostgres)
		}
	case StorePostgres:
		if c.Store.DSN == "" {
			add("store.dsn", "must be set for kind = %q", StorePostgres)
		}
		for name, dsn := range c.Store.Shards {
			if name == DefaultShard || dsn == "" {
				add("store.shards."+name, "must be a connection string, and not named %q", DefaultShard)
			}
		}
		for user, shard := range c.Store.Users {
			if _, ok := c.Store.Shards[shard]; !ok && shard != DefaultShard {
				add("store.users."+user, "shard %q is not in store.shards", shard)
			}
		}
	default:
		add("store.kind", "%q is not one of %s, %s", c.Store.Kind, StoreEmbedded, StorePostgres)
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		add("log.level", "%q is not one of debug, info, warn, error", c.Log.Level)
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		add("log.format", "%q is not one of text, json", c.Log.Format)
	}
	checkAddr := func(key, addr string) {
		if addr == "" {
			return
		}
		if err := CheckAddress(addr); err != nil {
			add(key, "%v", err)
		}
	}
	if _, err := c.Proxy.TrustedPrefixes(); err != nil {
		add("proxy.trusted", "%v", err)
	}
	checkAddr("imap.listen", c.IMAP.Listen)
	checkAddr("imaps.listen", c.IMAPS.Listen)
	checkAddr("lmtp.listen", c.LMTP.Listen)
	checkAddr("metrics.listen", c.Metrics.Listen)
	checkAddr("replication.listen", c.Replication.Listen)
	for _, p := range c.Replication.Peers {
		if err := CheckAddress(p); err != nil || strings.HasPrefix(p, ":") {
			add("replication.peers", "%q is not host:port", p)
		}
	}
	if r := c.Replication; r.Listen != "" || len(r.Peers) > 0 {
		if r.SecretFile == "" && r.CAFile == "" {
			add("replication", "secret_file or ca_file is needed to authenticate peers")
		}
		for key, f := range map[string]string{"replication.secret_file": r.SecretFile, "replication.ca_file": r.CAFile} {
			if f == "" {
				continue
			}
			if st, err := os.Stat(f); err != nil {
				add(key, "%v", err)
			} else if key == "replication.secret_file" && st.Size() < 16 {
				add(key, "the secret must be at least 16 bytes")
			}
		}
		if r.CAFile != "" && c.TLS.Cert == "" {
			add("replication.ca_file", "mutual TLS needs [tls] cert and key signed by this CA")
		}
	}
	if c.Replication.FullSyncInterval.D() < time.Second {
		add("replication.full_sync_interval", "must be at least 1s")
	}
	if c.IMAP.Listen == "" && c.IMAPS.Listen == "" && c.LMTP.Listen == "" && c.LMTP.Socket == "" {
		add("imap.listen", "every listener is disabled")
	}
	if s := c.LMTP.Socket; s != "" {
		if st, err := os.Stat(filepath.Dir(s)); err != nil || !st.IsDir() {
			add("lmtp.socket", "directory %s does not exist", filepath.Dir(s))
		}
	}
	for _, dom := range c.LMTP.Domains {
		if dom == "" || strings.ContainsAny(dom, "@ \t") {
			add("lmtp.domains", "%q is not a domain", dom)
		}
	}
	if len(c.LMTP.SubaddressSeparator) > 1 {
		add("lmtp.subaddress_separator", "must be one character or empty")
	}
	seen := map[string]bool{}
	for _, m := range c.SpecialUse.Mailboxes() {
		key := "special_use." + strings.ToLower(m.Attribute[1:])
		name, err := store.CanonicalMailboxName(m.Name)
		switch {
		case err != nil:
			add(key, "%q is not a mailbox name: %v", m.Name, err)
		case name == "INBOX":
			add(key, "INBOX cannot be a special-use mailbox")
		case seen[name]:
			add(key, "%q is named twice", m.Name)
		}
		seen[name] = true
	}
	if c.LMTP.MaxRecipients < 1 {
		add("lmtp.max_recipients", "must be at least 1")
	}
	switch {
	case (c.TLS.Cert == "") != (c.TLS.Key == ""):
		add("tls", "cert and key must be given together")
	case c.TLS.Cert != "":
		certOK, keyOK := true, true
		if _, err := os.Stat(c.TLS.Cert); err != nil {
			add("tls.cert", "%v", err)
			certOK = false
		}
		if _, err := os.Stat(c.TLS.Key); err != nil {
			add("tls.key", "%v", err)
			keyOK = false
		}
		if certOK && keyOK {
			if _, err := tls.LoadX509KeyPair(c.TLS.Cert, c.TLS.Key); err != nil {
				add("tls.cert", "%v", err)
			}
		}
	}
	l := c.Limits
	if l.MaxLineLength < 1024 {
		add("limits.max_line_length", "must be at least 1KiB")
	}
	if l.MaxLiteralSize < 1024 {
		add("limits.max_literal_size", "must be at least 1KiB")
	}
	if l.MaxMessageSize < 1024 {
		add("limits.max_message_size", "must be at least 1KiB")
	}
	if l.IdleTimeout.D() < 30*60e9 {
		// RFC 9051 5.4: at least 30 minutes.
		add("limits.idle_timeout", "must be at least 30m (RFC 9051 5.4)")
	}
	if l.LoginTimeout <= 0 {
		add("limits.login_timeout", "must be positive")
	}
	if l.WriteTimeout <= 0 {
		add("limits.write_timeout", "must be positive")
	}
	if l.MaxConnections < 0 {
		add("limits.max_connections", "must not be negative")
	}
	if l.AuthFailureWindow <= 0 {
		add("limits.auth_failure_window", "must be positive")
	}
	if l.AuthCooldown <= 0 {
		add("limits.auth_cooldown", "must be positive")
	}
	if l.AuthUserBrake < 0 {
		add("limits.auth_user_brake", "must not be negative")
	}
	if l.AuthUserBrakeInterval <= 0 {
		add("limits.auth_user_brake_interval", "must be positive")
	}
	if l.CommandRate < 0 {
		add("limits.command_rate", "must not be negative")
	}
	if l.CommandBurst < 1 {
		add("limits.command_burst", "must be at least 1")
	}
	if l.MaxMetadataSize < 1024 {
		add("limits.max_metadata_size", "must be at least 1KiB (RFC 5464 4.1)")
	}
	if l.MaxMetadataEntries < 10 {
		add("limits.max_metadata_entries", "must be at least 10 (RFC 5464 4.1)")
	}
	if l.MaxNotifyNames < 0 {
		add("limits.max_notify_names", "must not be negative")
	}
	if l.MaxNotifyEvents < 0 {
		add("limits.max_notify_events", "must not be negative")
	}
	if l.MaxCompressed < 0 {
		add("limits.max_compressed_connections", "must not be negative")
	}
	if l.MaxBadCommands < 1 {
		add("limits.max_bad_commands", "must be at least 1")
	}
	for _, a := range c.Quota.Admins {
		if err := auth.ValidName(a); err != nil {
			add("quota.admins", "%q: %v", a, err)
		}
	}
	for name := range c.Quota.Users {
		if err := auth.ValidName(name); err != nil {
			add("quota.users."+name, "%v", err)
		}
	}
	return errs
}

// CheckAddress accepts "host:port" with a numeric port; an empty host
// listens on every interface.
func CheckAddress(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("invalid address %q: want host:port", addr)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("invalid port %q in %q", port, addr)
	}
	if strings.ContainsAny(host, " /") {
		return fmt.Errorf("invalid host %q in %q", host, addr)
	}
	return nil
}
