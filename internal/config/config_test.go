package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestEmptyFileGivesDefaults(t *testing.T) {
	c, err := Parse("")
	if err != nil {
		t.Fatal(err)
	}
	d := Default()
	if c.DataDir != d.DataDir || c.IMAP.Listen != "127.0.0.1:1143" || c.IMAPS.Listen != "127.0.0.1:1993" ||
		c.LMTP.Listen != "" || c.Metrics.Listen != "" || !c.Tombstones.Retention.Forever ||
		c.LMTP.SubaddressSeparator != "+" || c.Limits.MaxMessageSize != 64<<20 {
		t.Fatalf("defaults: %+v", c)
	}
}

func TestFullFile(t *testing.T) {
	src := `
data_dir = "/var/lib/tidemark"

[log]
level = "debug"
format = "json"

[imap]
listen = "0.0.0.0:143"
allow_plaintext_auth = true

[imaps]
listen = ""

[lmtp]
listen = "127.0.0.1:2424"
domains = ["example.org", "example.net"]
subaddress_separator = ""
over_quota_tempfail = true

[metrics]
listen = "127.0.0.1:9143"

[limits]
max_line_length = "128KiB"
max_message_size = 10485760
idle_timeout = "1h"
max_conns_per_ip = 0

[quota]
storage = "1GiB"
messages = 100000
admins = ["root"]

[quota.users.alice]
storage = "10GiB"

[quota.users."bob"]
messages = 5

[tombstones]
retention = "30d"
`
	c, err := Parse(src)
	if err != nil {
		t.Fatal(err)
	}
	if c.DataDir != "/var/lib/tidemark" || c.Log.Level != "debug" || c.Log.Format != "json" ||
		c.IMAP.Listen != "0.0.0.0:143" || !c.IMAP.AllowPlaintextAuth || c.IMAPS.Listen != "" ||
		c.LMTP.Listen != "127.0.0.1:2424" || len(c.LMTP.Domains) != 2 || c.LMTP.SubaddressSeparator != "" ||
		!c.LMTP.OverQuotaTempFail || c.Metrics.Listen != "127.0.0.1:9143" {
		t.Fatalf("decoded: %+v", c)
	}
	if c.Limits.MaxLineLength != 128<<10 || c.Limits.MaxMessageSize != 10<<20 || c.Limits.IdleTimeout.D() != time.Hour ||
		c.Limits.MaxConnsPerIP != 0 || c.Limits.MaxSessionsUser != 50 {
		t.Fatalf("limits: %+v", c.Limits)
	}
	if c.Tombstones.Retention.Forever || c.Tombstones.Retention.Age != 30*24*time.Hour {
		t.Fatalf("retention: %+v", c.Tombstones.Retention)
	}
	for _, tc := range []struct {
		user              string
		storage, messages int64
	}{{"alice", 10 << 30, 100000}, {"bob", 1 << 30, 5}, {"carol", 1 << 30, 100000}} {
		s, m := c.Quota.UserQuotaFor(tc.user)
		if s != tc.storage || m != tc.messages {
			t.Errorf("quota for %s: %d %d, want %d %d", tc.user, s, m, tc.storage, tc.messages)
		}
	}
	if c.Line("lmtp.listen") != 16 || c.Line("quota.users.bob.messages") != 39 {
		t.Errorf("lines: %d %d", c.Line("lmtp.listen"), c.Line("quota.users.bob.messages"))
	}
}

// Every problem in the file is reported, each with its line.
func TestEveryErrorWithItsLine(t *testing.T) {
	dir := t.TempDir()
	src := `data_dir = "x"
colour = "blue"
[imap]
listen = "localhost"
[imaps]
listen = 993
[tls]
cert = "` + filepath.Join(dir, "missing.pem") + `"
key = "` + filepath.Join(dir, "missing.key") + `"
[log]
level = "chatty"
[limits]
max_message_size = "12 furlongs"
idle_timeout = "5m"
max_conns_per_ip = -3
[lmtp]
domains = [
  "example.org",
  7,
]
socket = "/nonexistent-dir/lmtp.sock"
[quota.users.Alice]
storage = "1GiB"
quota = 3
[tombstones]
retention = "10m"
`
	_, err := Parse(src)
	var errs Errors
	if !errors.As(err, &errs) {
		t.Fatalf("want Errors, got %v", err)
	}
	want := []struct {
		line int
		key  string
	}{
		{2, "colour"},
		{4, "imap.listen"},
		{6, "imaps.listen"},
		{8, "tls.cert"},
		{9, "tls.key"},
		{11, "log.level"},
		{13, "limits.max_message_size"},
		{14, "limits.idle_timeout"},
		{15, "limits.max_conns_per_ip"},
		{17, "lmtp.domains"},
		{21, "lmtp.socket"},
		{22, "quota.users.Alice"},
		{24, "quota.users.Alice.quota"},
		{26, "tombstones.retention"},
	}
	got := map[string]int{}
	for _, e := range errs {
		got[e.Key] = e.Line
	}
	for _, w := range want {
		if l, ok := got[w.key]; !ok || l != w.line {
			t.Errorf("%s: line %d (reported %v), want line %d", w.key, l, ok, w.line)
		}
	}
	if len(errs) != len(want) {
		t.Errorf("%d errors, want %d:\n%v", len(errs), len(want), err)
	}
	for i := 1; i < len(errs); i++ {
		if errs[i].Line < errs[i-1].Line {
			t.Errorf("errors out of file order:\n%v", err)
		}
	}
	if !strings.Contains(err.Error(), "line 2: colour: unknown key") {
		t.Errorf("message:\n%v", err)
	}
}

func TestSyntaxErrorHasLine(t *testing.T) {
	_, err := Parse("data_dir = \"x\"\n[imap\nlisten = 1\n")
	var errs Errors
	if !errors.As(err, &errs) || len(errs) != 1 || errs[0].Line < 2 {
		t.Fatalf("got %#v", err)
	}
}

func TestLoadFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "tidemark.toml")
	if err := os.WriteFile(p, []byte("[metrics]\nlisten = \"127.0.0.1:0\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(p)
	if err != nil || c.Metrics.Listen != "127.0.0.1:0" {
		t.Fatalf("%v %+v", err, c)
	}
	if _, err := Load(filepath.Join(t.TempDir(), "none.toml")); err == nil {
		t.Fatal("missing file loaded")
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]Size{"0": 0, "1234": 1234, "4KiB": 4096, "64 MiB": 64 << 20, "2GiB": 2 << 30, "1TiB": 1 << 40, "7B": 7} {
		if got, err := ParseSize(in); err != nil || got != want {
			t.Errorf("%q: %d %v, want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "x", "-1", "1.5GiB", "3KB"} {
		if _, err := ParseSize(in); err == nil {
			t.Errorf("%q accepted", in)
		}
	}
}

// The example in docs/configuration.md parses, and names every key of
// the schema, so the documentation cannot fall behind the code.
func TestDocumentedExampleHasEveryKey(t *testing.T) {
	doc, err := os.ReadFile("../../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(doc), "```toml\n")
	example, _, ok2 := strings.Cut(rest, "```")
	if !ok || !ok2 {
		t.Fatal("no toml example in docs/configuration.md")
	}
	c, err := Parse(example)
	if err != nil {
		t.Fatalf("documented example: %v", err)
	}
	var walk func(rt reflect.Type, path string)
	walk = func(rt reflect.Type, path string) {
		for i := range rt.NumField() {
			f := rt.Field(i)
			name := f.Tag.Get("toml")
			if name == "" {
				continue
			}
			key := join(path, name)
			if f.Type.Kind() == reflect.Struct && f.Type != reflect.TypeOf(Retention{}) {
				walk(f.Type, key)
				continue
			}
			if key != "quota.users" && c.Line(key) == 0 {
				t.Errorf("key %s is not in the documented example", key)
			}
		}
	}
	walk(reflect.TypeOf(Config{}), "")
}

// TestStoreSection: the backend kind, its DSN and the shard directory are
// checked together.
func TestStoreSection(t *testing.T) {
	c, err := Parse("[store]\nkind = \"postgres\"\ndsn = \"host=db1\"\n[store.shards]\neu = \"host=db2\"\n[store.users]\nann = \"eu\"\n")
	if err != nil {
		t.Fatal(err)
	}
	if c.Store.Kind != StorePostgres || c.Store.Shards["eu"] != "host=db2" || c.Store.Users["ann"] != "eu" {
		t.Fatalf("store %+v", c.Store)
	}
	if errs := c.Validate(); len(errs) != 0 {
		t.Fatalf("valid section refused: %v", errs)
	}
	for _, bad := range []string{
		"[store]\nkind = \"mysql\"\n",
		"[store]\nkind = \"postgres\"\n",
		"[store]\nkind = \"embedded\"\ndsn = \"host=x\"\n",
		"[store]\nkind = \"postgres\"\ndsn = \"host=db1\"\n[store.users]\nann = \"nowhere\"\n",
	} {
		c, err := Parse(bad)
		if err != nil {
			continue
		}
		if errs := c.Validate(); len(errs) == 0 {
			t.Errorf("accepted:\n%s", bad)
		}
	}
}

// [special_use]: the defaults, a renamed and a skipped mailbox, all off,
// and names that cannot be used.
func TestSpecialUseSection(t *testing.T) {
	d := Default()
	if got := d.SpecialUse.Mailboxes(); len(got) != 5 || got[0] != (DefaultMailbox{"Drafts", `\Drafts`}) || got[4] != (DefaultMailbox{"Archive", `\Archive`}) {
		t.Fatalf("default mailboxes %v", got)
	}
	c, err := Parse("[special_use]\nsent = \"Sent Items\"\njunk = \"\"\n")
	if err != nil {
		t.Fatal(err)
	}
	got := c.SpecialUse.Mailboxes()
	want := []DefaultMailbox{{"Drafts", `\Drafts`}, {"Sent Items", `\Sent`}, {"Trash", `\Trash`}, {"Archive", `\Archive`}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("mailboxes %v, want %v", got, want)
	}
	c, err = Parse("[special_use]\ncreate = false\n")
	if err != nil || c.SpecialUse.Mailboxes() != nil {
		t.Fatalf("create = false gave %v, %v", c.SpecialUse.Mailboxes(), err)
	}
	_, err = Parse("[special_use]\ndrafts = \"inbox\"\nsent = \"Trash\"\narchive = \"a/\"\n")
	var errs Errors
	if !errors.As(err, &errs) || len(errs) != 3 {
		t.Fatalf("want 3 errors, got %v", err)
	}
	for _, k := range []string{"special_use.drafts", "special_use.trash", "special_use.archive"} {
		if !strings.Contains(err.Error(), k) {
			t.Errorf("no error for %s in\n%v", k, err)
		}
	}
}

// TestMetadataAndNotifyLimits: the METADATA and NOTIFY limits parse, and
// values below RFC 5464 4.1's minimums or negative are refused.
func TestMetadataAndNotifyLimits(t *testing.T) {
	c, err := Parse("[limits]\nmax_metadata_size = \"2KiB\"\nmax_metadata_entries = 20\nmax_notify_names = 0\nmax_notify_events = 5\n")
	if err != nil {
		t.Fatal(err)
	}
	if l := c.Limits; l.MaxMetadataSize != 2048 || l.MaxMetadataEntries != 20 || l.MaxNotifyNames != 0 || l.MaxNotifyEvents != 5 {
		t.Fatalf("parsed %+v", l)
	}
	_, err = Parse("[limits]\nmax_metadata_size = 1000\nmax_metadata_entries = 9\nmax_notify_names = -1\nmax_notify_events = -1\n")
	var errs Errors
	if !errors.As(err, &errs) || len(errs) != 4 {
		t.Fatalf("want 4 errors, got %v", err)
	}
	for i, key := range []string{"limits.max_metadata_size", "limits.max_metadata_entries", "limits.max_notify_names", "limits.max_notify_events"} {
		if errs[i].Key != key || errs[i].Line != i+2 {
			t.Errorf("error %d: %s line %d, want %s line %d", i, errs[i].Key, errs[i].Line, key, i+2)
		}
	}
}

// [search] text_index: on unless the file turns it off; a value that is
// not a boolean is an error on its line.
func TestSearchSection(t *testing.T) {
	c, err := Parse("")
	if err != nil {
		t.Fatal(err)
	}
	if !c.Search.TextIndex {
		t.Fatal("text_index is off by default")
	}
	c, err = Parse("[search]\ntext_index = false\n")
	if err != nil {
		t.Fatal(err)
	}
	if c.Search.TextIndex {
		t.Fatal("text_index = false left it on")
	}
	c, err = Parse("[search]\ntext_index = true\n")
	if err != nil || !c.Search.TextIndex {
		t.Fatalf("text_index = true: %v %+v", err, c.Search)
	}
	if _, err := Parse("[search]\ntext_index = \"no\"\n"); err == nil || !strings.Contains(err.Error(), "2") {
		t.Fatalf("string value: %v", err)
	}
}
