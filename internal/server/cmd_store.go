package server

import (
	"context"
	"strconv"
	"strings"

	"github.com/tidemark-mail/tidemark/internal/store"
	"github.com/tidemark-mail/tidemark/internal/view"
	"github.com/tidemark-mail/tidemark/internal/wire"
)

// STORE and UID STORE (RFC 9051 6.4.6) with the UNCHANGEDSINCE modifier
// (RFC 7162 3.1.3). One command is one store.Account.SetFlags call, so
// every message it changes gets the same modseq, and the UNCHANGEDSINCE
// test runs inside that write transaction.
//
// What the client is told:
//   - FLAGS / +FLAGS / -FLAGS: "* n FETCH (FLAGS (...))" for every message
//     of the set that exists, changed or already as asked;
//   - .SILENT: nothing, unless CONDSTORE is enabled: then RFC 7162 3.1.3
//     requires an untagged FETCH with MODSEQ "even if the .SILENT suffix is
//     specified", so ".SILENT" only drops FLAGS: "* n FETCH (MODSEQ (m))";
//   - UID STORE (RFC 9051 6.4.9) and CONDSTORE (RFC 7162 3.2.4) add UID;
//   - messages that failed UNCHANGEDSINCE are listed in the tagged
//     "OK [MODIFIED set]": sequence numbers for STORE, UIDs for UID STORE.
//
// The responses are written here, and the changes marked as reported in
// the view so that the sync point does not repeat them.
func init() {
	register(
		&Command{Name: "STORE", States: StateSelected, UsesSeqs: true, Run: runStore},
		// RFC 9051 7.4.1: EXPUNGE may be sent during UID commands.
		&Command{Name: "STORE", UID: true, States: StateSelected, Run: runStore},
	)
}

// storeArgs is a parsed STORE command.
type storeArgs struct {
	set            wire.SeqSet
	unchangedSince store.ModSeq
	conditional    bool // UNCHANGEDSINCE was given (its value may be 0)
	op             store.FlagOp
	silent         bool
	flags          store.Flags
	// partialReplace: FLAGS on a shared mailbox whose rights cover only
	// some kinds of flag (shared.go, replaceAllowedFlags).
	partialReplace bool
}

// readStoreArgs parses
//
//	store = "STORE" SP sequence-set [SP store-modifiers] SP store-att-flags
//	store-att-flags = (["+" / "-"] "FLAGS" [".SILENT"]) SP
//	                  (flag-list / (flag *(SP flag)))
//
// (RFC 9051 9, RFC 4466 2.5, RFC 7162 7).
func readStoreArgs(d *wire.Decoder) (*storeArgs, error) {
	var a storeArgs
	var err error
	if err = d.SP(); err != nil {
		return nil, err
	}
	if a.set, err = d.SeqSet(); err != nil {
		return nil, err
	}
	if err = d.SP(); err != nil {
		return nil, err
	}
	if c, _ := d.Peek(); c == '(' {
		err := d.List(func() error {
			name, err := d.Atom()
			if err != nil {
				return err
			}
			if !strings.EqualFold(name, "UNCHANGEDSINCE") || a.conditional {
				return Bad("", "Unknown or repeated STORE modifier "+name)
			}
			if err := d.SP(); err != nil {
				return err
			}
			n, err := d.Number64()
			a.unchangedSince, a.conditional = store.ModSeq(n), true
			return err
		})
		if err != nil {
			return nil, err
		}
		if err = d.SP(); err != nil {
			return nil, err
		}
	}
	item, err := d.Atom()
	if err != nil {
		return nil, err
	}
	item = strings.ToUpper(item)
	switch {
	case strings.HasPrefix(item, "+"):
		a.op, item = store.FlagsAdd, item[1:]
	case strings.HasPrefix(item, "-"):
		a.op, item = store.FlagsRemove, item[1:]
	default:
		a.op = store.FlagsReplace
	}
	if rest, ok := strings.CutSuffix(item, ".SILENT"); ok {
		a.silent, item = true, rest
	}
	if item != "FLAGS" {
		return nil, Bad("", "STORE supports FLAGS, +FLAGS and -FLAGS")
	}
	if err = d.SP(); err != nil {
		return nil, err
	}
	if c, _ := d.Peek(); c == '(' {
		a.flags, err = readFlagList(d)
		return &a, err
	}
	// The parentheses may be left out (RFC 9051 9 store-att-flags).
	for {
		f, err := d.Flag()
		if err != nil {
			return nil, err
		}
		if err := addFlag(&a.flags, f); err != nil {
			return nil, err
		}
		if c, _ := d.Peek(); c != ' ' {
			return &a, nil
		}
		d.SP()
	}
}

// readFlagList reads a flag-list "(" [flag *(SP flag)] ")" as the store's
// flags; the same rules apply to STORE and APPEND.
func readFlagList(d *wire.Decoder) (store.Flags, error) {
	var f store.Flags
	err := d.List(func() error {
		name, err := d.Flag()
		if err != nil {
			return err
		}
		return addFlag(&f, name)
	})
	f.Keywords = store.NormalizeKeywords(f.Keywords)
	return f, err
}

// addFlag adds one flag as the client spelled it (wire.AddFlag: system
// flags match case-insensitively, RFC 9051 2.3.2; anything else is a
// keyword atom, as the decoder only accepts ATOM-CHARs). \Recent cannot be
// set by a client (RFC 3501 2.3.2; IMAP4rev2 dropped it), and no other
// backslash flag is defined, so both are errors, as is \* outside
// PERMANENTFLAGS.
func addFlag(f *store.Flags, name string) error {
	switch {
	case wire.AddFlag(f, name):
		return nil
	case strings.EqualFold(name, `\Recent`):
		return Bad("CLIENTBUG", `The \Recent flag cannot be set`)
	}
	return Bad("", "Unknown flag "+name)
}

// errReadOnly answers a change to a mailbox selected read-only: the
// READ-ONLY response code (RFC 9051 7.1) says why.
func errReadOnly() *Error { return No("READ-ONLY", "Mailbox is read-only") }

func runStore(s *Session, c *Cmd) error {
	a, err := readStoreArgs(c.Dec)
	if err != nil {
		return err
	}
	if err := c.End(); err != nil {
		return err
	}
	v := s.view
	if v.ReadOnly {
		return errReadOnly()
	}
	if err := s.storeRights(a); err != nil {
		return err
	}
	uid := c.def.UID
	if a.conditional {
		s.EnableCondstore() // RFC 7162 3.1
	}
	uids, err := s.SeqSetUIDs(a.set, uid)
	if err != nil {
		return err
	}
	// Flag changes other sessions made since the last sync go out first,
	// so that this command's own responses are the last word on the
	// messages it changes (RFC 9051 6.4.6 note).
	if err := s.sync(false); err != nil {
		return err
	}
	if uids.Empty() {
		return nil
	}

	var res store.FlagResult
	if a.conditional && a.unchangedSince == 0 {
		// RFC 7162 3.1.3: UNCHANGEDSINCE 0 fails for every message, since
		// every message has a modseq (and the store reads 0 as "no test").
		forEachInView(v, uids, func(_ uint32, u store.UID) {
			if !v.Expunged(u) {
				res.Modified.Add(u)
			}
		})
	} else if a.partialReplace {
		if res, err = s.replaceAllowedFlags(uids, a.flags); err != nil {
			return err
		}
	} else {
		err = s.withProgress(uint64(v.CountIn(uids)), func(ctx context.Context) (err error) {
			res, err = s.boxAcct().SetFlags(ctx, v.Mailbox.ID, uids, a.op, a.flags, a.unchangedSince)
			return err
		})
		if err != nil {
			return err
		}
		// The shared mailbox takes the change from here rather than
		// reading 100,000 changed messages back from the store.
		s.box.Committed(res.ModSeq, res.Changed)
	}
	s.reportStore(a, uid, res)

	if !res.Modified.Empty() {
		c.Code = "MODIFIED " + modifiedSet(s, res.Modified, uid)
		c.Text = "Conditional STORE failed for some messages"
	}
	return s.enc.Err()
}

// reportStore writes the untagged FETCH responses for a STORE's result
// and marks what it wrote as reported in the view.
func (s *Session) reportStore(a *storeArgs, uid bool, res store.FlagResult) {
	v := s.view
	condstore := s.Enabled("CONDSTORE")
	withFlags := !a.silent
	if !withFlags && !condstore {
		// Nothing to write, but the client knows what it asked for.
		for _, m := range res.Changed {
			v.MarkReported(m.UID, m.ModSeq)
		}
		return
	}
	if withFlags {
		var kws []string
		for _, m := range res.Changed {
			kws = append(kws, m.Flags.Keywords...)
		}
		if v.AddKeywords(kws) {
			s.writeFlagList(v.Keywords())
		}
	}
	// RFC 7162 3.2.4: a server that implements QRESYNC includes UID in
	// every untagged FETCH once CONDSTORE is enabled.
	withUID := (uid || condstore) && !s.uidOnly() // RFC 9586 3.3: UIDFETCH names the UID
	// One pass: the changed and unchanged lists are ascending by UID, and
	// so are the sequence numbers looked up for them.
	seqs := v.SeqCursor()
	write := func(m store.MessageState) {
		seq, ok := seqs.Seq(m.UID)
		if !ok {
			return
		}
		e := s.fetchStart(seq, uint32(m.UID))
		sep := false
		if withUID {
			e.Raw("UID ").Number(uint32(m.UID))
			sep = true
		}
		if withFlags {
			if sep {
				e.SP()
			}
			e.Raw("FLAGS ").FlagsRecent(m.Flags, s.isRecent(m.UID))
			sep = true
		}
		if condstore {
			if sep {
				e.SP()
			}
			e.Raw("MODSEQ (").Number64(uint64(m.ModSeq)).Special(')')
		}
		e.Special(')').CRLF()
	}
	ch, un := res.Changed, res.Unchanged
	for len(ch) > 0 || len(un) > 0 {
		if len(un) == 0 || (len(ch) > 0 && ch[0].UID < un[0].UID) {
			write(ch[0])
			ch = ch[1:]
		} else {
			write(un[0])
			un = un[1:]
		}
	}
	// What the client was told, by modseq: the changed messages all carry
	// the STORE's one modseq, so they make one UID set.
	for _, m := range res.Changed {
		v.MarkReported(m.UID, m.ModSeq)
	}
	if withFlags {
		for _, m := range res.Unchanged {
			v.MarkReported(m.UID, m.ModSeq)
		}
	}
}

func modifiedSet(s *Session, uids store.UIDSet, uid bool) string {
	if uid {
		return uids.String()
	}
	var seqs store.UIDSet
	forEachInView(s.view, uids, func(seq uint32, _ store.UID) { seqs.Add(store.UID(seq)) })
	return seqs.String()
}

// forEachInView calls fn, in order, for each message of the view whose
// UID is in set. It walks the view, not the set, so a sparse UID range
// costs only the messages it holds.
func forEachInView(v *view.View, set store.UIDSet, fn func(seq uint32, uid store.UID)) {
	n := v.Exists()
	for _, r := range set {
		seq, _ := v.Seq(r.Start)
		for ; seq <= n; seq++ {
			u, _ := v.UID(seq)
			if u > r.Stop {
				break
			}
			fn(seq, u)
		}
	}
}

// itoa64 formats a modseq or count for response codes.
func itoa64(n uint64) string { return strconv.FormatUint(n, 10) }
