package loadtest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
)

// runResync measures how a client that was offline catches up with a
// mailbox after another session changed it (RFC 7162). Each repetition:
//
//  1. the resyncing client learns UIDVALIDITY and HIGHESTMODSEQ (M), then
//     leaves the mailbox;
//  2. a second session makes cfg.Changes changes: 40% flag changes (each
//     toggles \Answered, so every one really changes a message), 30%
//     expunges and 30% appends, keeping the mailbox at N messages;
//  3. timed: SELECT mbox (QRESYNC (uidvalidity M)) on a new session that
//     has enabled QRESYNC (RFC 7162 3.2.5), to the tagged OK — the client
//     reconnecting;
//  4. timed: the CONDSTORE-only way on another new session: SELECT (CONDSTORE),
//     UID FETCH 1:* (FLAGS) (CHANGEDSINCE M) for the flag changes, and
//     UID SEARCH over all UIDs (ESEARCH RETURN (ALL) when advertised) to find
//     the expunges by difference.
func runResync(ctx context.Context, cfg Config, n int) ([]Result, error) {
	qc, err := cfg.connect(ctx)
	if err != nil {
		return nil, err
	}
	defer qc.Close()
	name, err := ensureMailbox(ctx, cfg, qc, n)
	if err != nil {
		return nil, err
	}
	if !qc.Has("QRESYNC") {
		return nil, fmt.Errorf("server lacks QRESYNC")
	}
	changer, err := cfg.connect(ctx)
	if err != nil {
		return nil, err
	}
	defer changer.Close()
	// A mailbox too small for the requested changes gets as many as it can
	// take (the tiny sizes of tests).
	changes := min(cfg.Changes, n/2)
	if changes < 10 {
		return nil, fmt.Errorf("%s is too small for a resync measurement", name)
	}
	rng := rand.New(rand.NewPCG(uint64(n), 7162))
	var qs, cs samples
	var qNote, cNote string
	for rep := range cfg.Reps {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		si, _, err := selectMailbox(qc, name, "(CONDSTORE)")
		if err != nil {
			return nil, err
		}
		if si.HighestModSeq == 0 {
			return nil, fmt.Errorf("SELECT %s gave no HIGHESTMODSEQ", name)
		}
		if err := leave(qc); err != nil {
			return nil, err
		}
		if err := makeChanges(changer, name, changes, cfg.Messages, rng, rep); err != nil {
			return nil, fmt.Errorf("changes: %w", err)
		}

		q, err := cfg.connect(ctx)
		if err != nil {
			return nil, err
		}
		if _, err := q.Exec("ENABLE QRESYNC", nil); err != nil {
			q.Close()
			return nil, err
		}
		var qi SelectInfo
		d, b, err := timed(func() (Reply, error) {
			return q.Exec(fmt.Sprintf("SELECT %s (QRESYNC (%d %d))", quote(name), si.UIDValidity, si.HighestModSeq), qi.Update)
		})
		q.Close()
		if err != nil {
			return nil, err
		}
		qs.add(d, b)
		qNote = fmt.Sprintf("%d FETCH + %d VANISHED responses", qi.Fetches, qi.Vanished)

		cc, err := cfg.connect(ctx)
		if err != nil {
			return nil, err
		}

		var changed, uids int
		d, b, err = timed(func() (Reply, error) {
			_, r1, err := selectMailbox(cc, name, "(CONDSTORE)")
			if err != nil {
				return r1, err
			}
			r2, err := cc.Exec(fmt.Sprintf("UID FETCH 1:* (FLAGS) (CHANGEDSINCE %d)", si.HighestModSeq), func([]byte) { changed++ })
			if err != nil {
				return r2, err
			}
			search := "UID SEARCH UID 1:*"
			if cc.Has("ESEARCH") {
				search = "UID SEARCH RETURN (ALL) UID 1:*"
			}
			r3, err := cc.Exec(search, func(resp []byte) {
				if k, ok := parseSearchCount(resp); ok {
					uids = k
				}
			})
			return Reply{Status: r3.Status, Bytes: r1.Bytes + r2.Bytes + r3.Bytes}, err
		})
		cc.Close()
		if err != nil {
			return nil, err
		}
		cs.add(d, b)
		cNote = fmt.Sprintf("%d changed, %d UIDs listed", changed, uids)
	}
	q := qs.result("resync.qresync", n)
	q.Note = fmt.Sprintf("%d changes; %s", changes, qNote)
	c := cs.result("resync.condstore", n)
	c.Note = fmt.Sprintf("%d changes; %s", changes, cNote)
	return []Result{q, c}, nil
}

// makeChanges makes total changes to mailbox from session c: 30% expunges,
// as many appends, the rest (40%) flag toggles, on distinct random messages.
func makeChanges(c *Client, mailbox string, total int, corpus [][]byte, rng *rand.Rand, rep int) error {
	si, _, err := selectMailbox(c, mailbox, "")
	if err != nil {
		return err
	}
	// As many appends as expunges, so the mailbox keeps its size.
	nExpunge := total * 3 / 10
	nAppend := nExpunge
	nFlag := total - nExpunge - nAppend
	if si.Exists < nFlag+nExpunge {
		return fmt.Errorf("%s holds %d messages, too few for %d changes", mailbox, si.Exists, total)
	}
	picked := map[int]bool{}
	var seqs []int
	for len(seqs) < nFlag+nExpunge {
		s := 1 + rng.IntN(si.Exists)
		if !picked[s] {
			picked[s] = true
			seqs = append(seqs, s)
		}
	}
	flagSeqs, delSeqs := seqs[:nFlag], seqs[nFlag:]

	// Toggle \Answered: learn who has it, then add it to the others and
	// remove it from those, so each STORE changes exactly one message.
	answered := map[int]bool{}
	if len(flagSeqs) > 0 {
		if _, err := c.Exec("FETCH "+seqList(flagSeqs)+" (FLAGS)", func(resp []byte) {
			if seq, flags, ok := parseFetchFlags(resp); ok && slices.ContainsFunc(flags, func(f string) bool { return strings.EqualFold(f, `\Answered`) }) {
				answered[int(seq)] = true
			}
		}); err != nil {
			return err
		}
	}
	var add, remove []int
	for _, s := range flagSeqs {
		if answered[s] {
			remove = append(remove, s)
		} else {
			add = append(add, s)
		}
	}
	if len(add) > 0 {
		if _, err := c.Exec("STORE "+seqList(add)+` +FLAGS.SILENT (\Answered)`, nil); err != nil {
			return err
		}
	}
	if len(remove) > 0 {
		if _, err := c.Exec("STORE "+seqList(remove)+` -FLAGS.SILENT (\Answered)`, nil); err != nil {
			return err
		}
	}
	if len(delSeqs) > 0 {
		if _, err := c.Exec("STORE "+seqList(delSeqs)+` +FLAGS.SILENT (\Deleted)`, nil); err != nil {
			return err
		}
		if _, err := c.Exec("EXPUNGE", nil); err != nil {
			return err
		}
	}
	if nAppend > 0 {
		batch := make([][]byte, nAppend)
		for i := range batch {
			batch[i] = corpus[(rep*nAppend+i)%len(corpus)]
		}
		if _, err := c.Append(mailbox, batch, nil); err != nil {
			return err
		}
	}
	err = leave(c)
	return err
}

// seqList formats sequence numbers as an IMAP sequence set.
func seqList(seqs []int) string {
	parts := make([]string, len(seqs))
	for i, s := range seqs {
		parts[i] = strconv.Itoa(s)
	}
	return strings.Join(parts, ",")
}
