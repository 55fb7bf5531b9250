// Package config owns Tidemark's configuration file: its schema, its
// defaults, how it is read and how it is checked.
//
// # Model
//
// The file is TOML. Every key has a default (Default), so an empty file,
// or no file at all, gives a working server on loopback. Reading a file
// starts from the defaults and replaces only the keys the file sets, so a
// file may be as short as one line. `tidemark serve` flags then override
// the file.
//
// Reading never stops at the first problem: Load decodes every key it
// knows, collects every error (unknown key, value of the wrong type, bad
// address, missing certificate file...) with the line it comes from, and
// returns them together as Errors, which is what `tidemark config check`
// prints. The decoder walks the Config struct by its `toml` tags, so the
// struct below is the schema, and docs/configuration.md lists it key by
// key.
package config

import (
	"fmt"
	"net/netip"
	"time"
)

// Config is the whole configuration of a server.
type Config struct {
	// DataDir holds accounts, mail stores and the generated certificate.
	DataDir string `toml:"data_dir"`

	Store      Store      `toml:"store"`
	Search     Search     `toml:"search"`
	Log        Log        `toml:"log"`
	IMAP       IMAP       `toml:"imap"`
	IMAPS      Listener   `toml:"imaps"`
	TLS        TLS        `toml:"tls"`
	LMTP       LMTP       `toml:"lmtp"`
	Metrics    Listener   `toml:"metrics"`
	Limits     Limits     `toml:"limits"`
	Quota      Quota      `toml:"quota"`
	Tombstones Tombstones `toml:"tombstones"`
	Proxy      Proxy      `toml:"proxy"`
	// SpecialUse names the mailboxes each account gets at first login.
	SpecialUse SpecialUse `toml:"special_use"`
	// Replication keeps this server's users in step with peer servers.
	Replication Replication `toml:"replication"`

	// lines maps dotted keys ("imap.listen") to the line that set them,
	// for error messages; nil for a Config not read from a file.
	lines map[string]int
}

// Store chooses the mail store backend.
type Store struct {
	// Kind is "embedded" (the default: SQLite files under data_dir) or
	// "postgres" (every user in one PostgreSQL database, which several
	// Tidemark processes may share).
	Kind string `toml:"kind"`
	// DSN is the PostgreSQL connection string (libpq key=value form or a
	// postgres:// URL); required for kind "postgres". With Shards, it is
	// the default cluster's.
	DSN string `toml:"dsn"`
	// Shards names further PostgreSQL clusters (name → DSN), and Users
	// places users on them (user → shard name); a user not listed lives
	// on the default cluster (DSN). Every node needs the same lists.
	Shards map[string]string `toml:"shards"`
	Users  map[string]string `toml:"users"`
}

// Search configures how SEARCH finds text.
type Search struct {
	// TextIndex keeps the full-text index SEARCH BODY/TEXT/SUBJECT/FROM...
	// read (default true). Off, appends write no index rows, so ingest is
	// faster and the store smaller, and those keys scan the messages
	// instead (exact, slower). Turned back on, new messages are indexed;
	// `tidemark reindex` indexes the older ones.
	TextIndex bool `toml:"text_index"`
}

// DefaultShard is the name of the cluster Store.DSN names.
const DefaultShard = "default"

// Store kinds.
const (
	StoreEmbedded = "embedded"
	StorePostgres = "postgres"
)

// Log configures the server's log on standard error.
type Log struct {
	Level  string `toml:"level"`  // debug, info, warn, error
	Format string `toml:"format"` // text or json
}

// Listener is one TCP listening address; empty disables it.
type Listener struct {
	Listen string `toml:"listen"`
}

// IMAP is the plain listener, which offers STARTTLS.
type IMAP struct {
	Listen string `toml:"listen"`
	// AllowPlaintextAuth allows passwords over connections that are
	// neither TLS nor loopback.
	AllowPlaintextAuth bool `toml:"allow_plaintext_auth"`
	// LoopbackPlaintext allows passwords over unencrypted loopback
	// connections (default true). Turn it off when a proxy on this host
	// forwards remote clients without the PROXY protocol.
	LoopbackPlaintext bool `toml:"loopback_plaintext"`
	// URLAuthSubmitters are the accounts of message submission servers:
	// URLAUTH URLs for "submit+user" admit their sessions alone.
	URLAuthSubmitters []string `toml:"urlauth_submitters"`
}

// SpecialUse names the mailboxes every account gets, with their RFC 6154
// attributes, at its first login: once in the account's life, so a user
// who deletes one keeps it deleted. An empty name skips that mailbox;
// Create = false skips them all.
type SpecialUse struct {
	Create  bool   `toml:"create"`
	Drafts  string `toml:"drafts"`
	Sent    string `toml:"sent"`
	Trash   string `toml:"trash"`
	Junk    string `toml:"junk"`
	Archive string `toml:"archive"`
}

// Mailboxes returns the mailboxes to create, each with its attribute
// (`\Drafts`...), in the order above; none when Create is off.
func (u SpecialUse) Mailboxes() []DefaultMailbox {
	if !u.Create {
		return nil
	}
	var out []DefaultMailbox
	for _, m := range []DefaultMailbox{
		{u.Drafts, `\Drafts`}, {u.Sent, `\Sent`}, {u.Trash, `\Trash`}, {u.Junk, `\Junk`}, {u.Archive, `\Archive`},
	} {
		if m.Name != "" {
			out = append(out, m)
		}
	}
	return out
}

// DefaultMailbox is one mailbox of SpecialUse.Mailboxes.
type DefaultMailbox struct {
	Name, Attribute string
}

// Proxy names the front proxies that send the PROXY protocol (v2) header.
type Proxy struct {
	// Trusted are addresses or CIDR prefixes; connections from them to the
	// IMAP listeners must start with a PROXY v2 header, whose client
	// address is then used for limits, throttling, loopback trust and logs.
	Trusted []string `toml:"trusted"`
}

// TrustedPrefixes parses Trusted (checked by Validate).
func (p Proxy) TrustedPrefixes() ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range p.Trusted {
		if pr, err := netip.ParsePrefix(s); err == nil {
			out = append(out, pr.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("%q is neither an address nor a prefix", s)
		}
		out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
	}
	return out, nil
}

// TLS names the certificate files; both empty selects a self-signed
// certificate generated in the data directory.
type TLS struct {
	Cert string `toml:"cert"`
	Key  string `toml:"key"`
}

// LMTP is local delivery. It is off unless Listen or Socket is set.
type LMTP struct {
	Listen string `toml:"listen"` // TCP host:port
	Socket string `toml:"socket"` // Unix socket path
	// Domains served; empty accepts any domain.
	Domains []string `toml:"domains"`
	// SubaddressSeparator splits "user+folder"; empty turns sub-addressing
	// off.
	SubaddressSeparator string `toml:"subaddress_separator"`
	// SubaddressSpecialUse lets sub-addressed mail into special-use
	// mailboxes (Sent, Drafts, Trash, Junk...); off by default.
	SubaddressSpecialUse bool `toml:"subaddress_special_use"`
	// OverQuotaTempFail answers 452 instead of 552 to a full mailbox.
	OverQuotaTempFail bool `toml:"over_quota_tempfail"`
	DeliveredTo       bool `toml:"delivered_to"`
	MaxRecipients     int  `toml:"max_recipients"`
}

// Limits bound what clients may make the server do.
type Limits struct {
	MaxLineLength  Size `toml:"max_line_length"`  // one command line, literals excluded
	MaxLiteralSize Size `toml:"max_literal_size"` // a string literal held in memory
	MaxMessageSize Size `toml:"max_message_size"` // APPEND literal and LMTP message
	MaxConnsPerIP  int  `toml:"max_conns_per_ip"` // 0: unlimited
	// LoopbackExempt exempts loopback clients from MaxConnsPerIP
	// (default true).
	LoopbackExempt  bool `toml:"loopback_exempt"`
	MaxSessionsUser int  `toml:"max_sessions_per_user"`
	// Failed logins allowed per address and per user at one address
	// within AuthFailureWindow before they are refused for AuthCooldown.
	MaxAuthFailuresPerIP   int      `toml:"max_auth_failures_per_ip"`
	MaxAuthFailuresPerUser int      `toml:"max_auth_failures_per_user"`
	AuthFailureWindow      Duration `toml:"auth_failure_window"`
	AuthCooldown           Duration `toml:"auth_cooldown"`
	// A user's failures from all addresses within AuthFailureWindow after
	// which that user's password checks are spaced AuthUserBrakeInterval
	// apart (0: no brake).
	AuthUserBrake         int      `toml:"auth_user_brake"`
	AuthUserBrakeInterval Duration `toml:"auth_user_brake_interval"`
	IdleTimeout           Duration `toml:"idle_timeout"`
	// LoginTimeout is the idle timeout before login; WriteTimeout bounds
	// each write to a client; MaxConnections caps connections served at
	// once (0: unlimited).
	LoginTimeout   Duration `toml:"login_timeout"`
	WriteTimeout   Duration `toml:"write_timeout"`
	MaxConnections int      `toml:"max_connections"`
	MaxBadCommands int      `toml:"max_bad_commands"`
	// MaxCompressed caps the connections using COMPRESS DEFLATE at once
	// (0: no connection may compress).
	MaxCompressed int `toml:"max_compressed_connections"`
	// MaxMetadataSize and MaxMetadataEntries bound SETMETADATA (RFC 5464):
	// one value, and the entries of one mailbox (or of the server).
	MaxMetadataSize    Size `toml:"max_metadata_size"`
	MaxMetadataEntries int  `toml:"max_metadata_entries"`
	// MaxNotifyNames bounds the mailbox names of one NOTIFY SET,
	// MaxNotifyEvents the responses of one batch of NOTIFY events (RFC
	// 5465 NOTIFICATIONOVERFLOW); 0: unlimited.
	MaxNotifyNames  int `toml:"max_notify_names"`
	MaxNotifyEvents int `toml:"max_notify_events"`
	// CommandRate is the commands one connection may send a second, in
	// bursts of CommandBurst; past it commands are delayed (0: no limit).
	CommandRate  int `toml:"command_rate"`
	CommandBurst int `toml:"command_burst"`
}

// Quota sets storage and message-count limits (RFC 9208). Zero means
// unlimited.
type Quota struct {
	Storage  Size  `toml:"storage"`
	Messages int64 `toml:"messages"`
	// Admins may change quotas with SETQUOTA.
	Admins []string             `toml:"admins"`
	Users  map[string]UserQuota `toml:"users"`
}

// UserQuota overrides the default quota for one user. A key absent from
// the file keeps the default (-1 here).
type UserQuota struct {
	Storage  Size  `toml:"storage"`
	Messages int64 `toml:"messages"`
}

// Tombstones configures how long expunge history is kept.
type Tombstones struct {
	// Retention is how long tombstones are kept; Forever keeps them all.
	Retention Retention `toml:"retention"`
}

// Replication configures two-way replication with peer servers
// (docs/replication.md). It is off unless Listen or Peers is set.
type Replication struct {
	// Listen is the address peers connect to (TLS); "" accepts none.
	Listen string `toml:"listen"`
	// Peers are the replication addresses ("host:port") of the servers
	// this one pushes its changes to.
	Peers []string `toml:"peers"`
	// SecretFile holds the shared secret both sides prove they know.
	SecretFile string `toml:"secret_file"`
	// CAFile, for mutual TLS instead of (or with) a secret: the CA that
	// signs every replica's certificate ([tls] cert and key).
	CAFile string `toml:"ca_file"`
	// FullSyncInterval is how often every user is synced with every peer
	// even without a local change (to catch writes by other processes,
	// such as tidemark deliver).
	FullSyncInterval Duration `toml:"full_sync_interval"`
}

// Retention is a duration or "forever" (the zero value).
type Retention struct {
	Forever bool
	Age     time.Duration
}

// Default returns the configuration used when no file is given: a data
// directory in the working directory and loopback listeners, LMTP and
// metrics off, no quota, tombstones kept forever.
func Default() Config {
	return Config{
		DataDir: "./tidemark-data",
		Store:   Store{Kind: StoreEmbedded},
		Search:  Search{TextIndex: true},
		Log:     Log{Level: "info", Format: "text"},
		IMAP:    IMAP{Listen: "127.0.0.1:1143", LoopbackPlaintext: true},
		IMAPS:   Listener{Listen: "127.0.0.1:1993"},
		LMTP:    LMTP{SubaddressSeparator: "+", MaxRecipients: 1000},
		Limits: Limits{
			MaxLineLength:          64 << 10,
			MaxLiteralSize:         64 << 10,
			MaxMessageSize:         64 << 20,
			MaxConnsPerIP:          50,
			LoopbackExempt:         true,
			MaxSessionsUser:        50,
			MaxAuthFailuresPerIP:   20,
			MaxAuthFailuresPerUser: 10,
			AuthFailureWindow:      Duration(15 * time.Minute),
			AuthCooldown:           Duration(5 * time.Minute),
			AuthUserBrake:          100,
			AuthUserBrakeInterval:  Duration(time.Second),
			IdleTimeout:            Duration(30 * time.Minute),
			LoginTimeout:           Duration(time.Minute),
			WriteTimeout:           Duration(time.Minute),
			MaxConnections:         10_000,
			MaxBadCommands:         20,
			MaxCompressed:          1000,
			MaxMetadataSize:        64 << 10,
			MaxMetadataEntries:     256,
			MaxNotifyNames:         1000,
			MaxNotifyEvents:        1000,
			CommandRate:            500,
			CommandBurst:           2000,
		},
		Tombstones: Tombstones{Retention: Retention{Forever: true}},
		SpecialUse: SpecialUse{Create: true, Drafts: "Drafts", Sent: "Sent", Trash: "Trash",
			Junk: "Junk", Archive: "Archive"},
		Replication: Replication{FullSyncInterval: Duration(time.Minute)},
	}
}

// Line returns the line of the file that set key ("limits.idle_timeout"),
// or 0 when the key was not in a file.
func (c *Config) Line(key string) int { return c.lines[key] }

// UserQuotaFor returns the storage (bytes) and message limits for user:
// the user's override where it has one, the default otherwise. Zero means
// unlimited.
func (q Quota) UserQuotaFor(user string) (storage, messages int64) {
	storage, messages = int64(q.Storage), q.Messages
	if u, ok := q.Users[user]; ok {
		if u.Storage >= 0 {
			storage = int64(u.Storage)
		}
		if u.Messages >= 0 {
			messages = u.Messages
		}
	}
	return storage, messages
}
