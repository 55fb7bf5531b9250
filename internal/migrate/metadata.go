package migrate

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/tidemark-mail/tidemark/internal/store"
)

// Metadata (RFC 5464): when the source offers METADATA (or METADATA-SERVER,
// server entries only) and the target keeps metadata
// (store.MetadataStore), each run reads every entry of the server and of
// each selectable mailbox ("GETMETADATA (DEPTH infinity) mailbox (/private
// /shared)": IMAP has no "changed since" for entries) and writes what
// differs. The store allocates a modseq only for an entry whose value
// changed, so a run over unchanged entries changes nothing in the target.
//
// An entry an earlier run copied and the source no longer has is removed;
// entries the target's user set themselves are left alone. What each run
// copied is the sync state key "metadata": a JSON object from the target
// mailbox id ("0" for the server) to the entry names, written once the
// entries are.
//
// Not copied: the source's read-only or computed entries that name the
// source server itself — /shared/admin (the target has its own), a
// mailbox's /private/specialuse (RFC 6154 5: special use travels with
// the mailbox already) and the vendor.dovecot tree of Dovecot's internal
// attributes; and names the target refuses (RFC 5464 3.2).

const metadataKey = "metadata"

// skipEntry says whether an entry of the source is not to be copied.
func skipEntry(name string, server bool) bool {
	switch {
	case server && name == "/shared/admin", !server && name == "/private/specialuse":
		return true
	case strings.HasPrefix(name, "/private/vendor/vendor.dovecot/"), strings.HasPrefix(name, "/shared/vendor/vendor.dovecot/"):
		return true
	}
	return false
}

// syncMetadata copies the entries of the server and of boxes.
func (m *migration) syncMetadata(boxes []srcMailbox, before []byte) error {
	mailboxes, server := m.c.caps["METADATA"], m.c.caps["METADATA"] || m.c.caps["METADATA-SERVER"]
	if !server {
		return nil
	}
	ms, ok := m.st.(store.MetadataStore)
	if !ok {
		m.warn("the target store keeps no metadata: the source's entries are not copied")
		return nil
	}
	prev := map[string][]string{}
	if before != nil {
		if err := json.Unmarshal(before, &prev); err != nil {
			return fmt.Errorf("sync state of metadata: %w", err)
		}
	}
	md, err := ms.OpenMetadata(m.ctx, m.user)
	if err != nil {
		return err
	}
	defer md.Close()
	now := map[string][]string{}
	type target struct {
		raw string // "" for the server
		id  store.MailboxID
	}
	targets := []target{{"", store.ServerMetadata}}
	if mailboxes {
		for _, b := range boxes {
			if !b.selectable {
				continue
			}
			s := m.state[b.name]
			if s == nil || s.Target == 0 {
				continue
			}
			targets = append(targets, target{b.raw, s.Target})
		}
	}
	for _, tg := range targets {
		key := strconv.FormatInt(int64(tg.id), 10)
		entries, err := m.getMetadata(tg.raw, "(DEPTH infinity) ", []string{"/private", "/shared"})
		if err != nil {
			return err
		}
		if tg.id == store.ServerMetadata {
			// Dovecot does not list server entries by depth: ask for the
			// registered names (RFC 5464 6.2) and those copied before by
			// name too.
			named, err := m.getMetadata("", "", append([]string{"/shared/comment", "/private/comment"}, prev[key]...))
			if err != nil {
				return err
			}
			for _, e := range named {
				if !slices.ContainsFunc(entries, func(x store.MetadataEntry) bool { return strings.EqualFold(x.Name, e.Name) }) {
					entries = append(entries, e)
				}
			}
		}
		var write []store.MetadataEntry
		var names []string
		for _, e := range entries {
			name, err := store.CanonicalEntry(e.Name, false)
			if err != nil || skipEntry(name, tg.id == store.ServerMetadata) {
				if err != nil {
					m.warn("metadata entry %q of %q: not a valid name here, not copied", e.Name, tg.raw)
				}
				continue
			}
			write = append(write, store.MetadataEntry{Name: name, Value: e.Value})
			names = append(names, name)
		}
		for _, n := range prev[key] {
			if !slices.Contains(names, n) {
				write = append(write, store.MetadataEntry{Name: n}) // gone from the source
			}
		}
		if len(write) > 0 {
			_, err := md.SetMetadata(m.ctx, tg.id, write, store.MetadataLimits{})
			if errors.Is(err, store.ErrNoMailbox) {
				continue // deleted meanwhile; the next run sees it
			}
			if err != nil {
				return fmt.Errorf("metadata of %q: %w", tg.raw, err)
			}
			m.count(func(s *Stats) { s.MetadataEntries += len(names) })
		}
		if len(names) > 0 {
			slices.Sort(names)
			now[key] = names
		}
	}
	b, _ := json.Marshal(now)
	if string(b) == string(before) {
		return nil
	}
	_, err = m.apply(0, store.Batch{Peer: m.peer, State: map[string][]byte{metadataKey: b}})
	return err
}

// getMetadata reads entries of a source mailbox (raw name; "" for the
// server): names, with options ("(DEPTH infinity) " or "").
func (m *migration) getMetadata(raw, options string, names []string) ([]store.MetadataEntry, error) {
	var out []store.MetadataEntry
	mailbox := `""`
	if raw != "" {
		mailbox = encodeName(raw)
	}
	quoted := make([]string, len(names))
	for i, n := range names {
		q, ok := quote(n)
		if !ok {
			return nil, fmt.Errorf("metadata entry %q cannot be quoted", n)
		}
		quoted[i] = q
	}
	cmd := `GETMETADATA ` + options + mailbox + ` (` + strings.Join(quoted, " ") + `)`
	_, err := m.c.run(cmd, func(r *response) error {
		if r.kind != "METADATA" || len(r.args) < 2 || r.args[1].kind != '(' {
			return nil
		}
		items := r.args[1].items
		for i := 0; i+1 < len(items); i += 2 {
			e := store.MetadataEntry{Name: items[i].str()}
			if items[i+1].isNil() {
				continue
			}
			v := items[i+1].str()
			if items[i+1].kind == 'l' {
				e.Value = items[i+1].data
			} else {
				e.Value = []byte(v)
			}
			if e.Value == nil {
				e.Value = []byte{}
			}
			out = append(out, e)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("GETMETADATA %s: %w", raw, err)
	}
	return out, nil
}
