package server

import (
	"cmp"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-message/mail"
	"golang.org/x/text/unicode/norm"

	"github.com/tidemark-mail/tidemark/internal/store"
)

// TestSortRandom: on random mailboxes, SORT with random criteria equals a
// reference sort of fields parsed independently of the server: headers by
// go-message's mail reader, base subjects as the generator built them.
// Seed 1 by default, logged; TIDEMARK_SORT_SEED=n for another.
func TestSortRandom(t *testing.T) {
	seed := uint64(1)
	if v := os.Getenv("TIDEMARK_SORT_SEED"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("TIDEMARK_SORT_SEED: %v", err)
		}
		seed = n
	}
	t.Logf("seed %d (TIDEMARK_SORT_SEED)", seed)
	rnd := rand.New(rand.NewPCG(seed, seed))
	env := newTestEnv(t, nil)
	a := env.account()
	ctx := context.Background()
	mb, err := a.Mailbox(ctx, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	var ref []refMsg
	const n = 80
	var batch []store.NewMessage
	for i := 0; i < n; i++ {
		raw, base, internal := randomMessage(rnd)
		batch = append(batch, store.NewMessage{Body: strings.NewReader(raw), InternalDate: internal})
		ref = append(ref, parseRef(t, raw, base, internal))
	}
	res, err := a.Append(ctx, mb.ID, batch)
	if err != nil {
		t.Fatal(err)
	}
	for i := range ref {
		ref[i].uid = uint32(res.UIDs[i])
		ref[i].seq = uint32(i + 1)
	}
	claimedElsewhere(t, a, mb.ID)
	c := env.dial()
	c.login()
	c.send("s SELECT INBOX")
	c.until("s OK")

	keys := []string{"ARRIVAL", "CC", "DATE", "FROM", "SIZE", "SUBJECT", "TO", "DISPLAYFROM", "DISPLAYTO"}
	for round := 0; round < 60; round++ {
		var crit []string
		var parts []string
		for k := 0; k < 1+rnd.IntN(3); k++ {
			key := keys[rnd.IntN(len(keys))]
			rev := rnd.IntN(2) == 0
			w := key
			if rev {
				w = "REVERSE " + key
			}
			crit = append(crit, w)
			parts = append(parts, key+strconv.FormatBool(rev))
		}
		lo, hi := 1+rnd.IntN(n), 1+rnd.IntN(n)
		lo, hi = min(lo, hi), max(lo, hi)
		cmd := fmt.Sprintf("r SORT (%s) UTF-8 %d:%d", strings.Join(crit, " "), lo, hi)
		c.send(cmd)
		got := strings.TrimSpace(strings.TrimPrefix(c.expect(`^\* SORT.*`, `^r OK`)[0], "* SORT"))
		sub := slices.Clone(ref[lo-1 : hi])
		slices.SortStableFunc(sub, func(x, y refMsg) int {
			for _, p := range parts {
				rev := strings.HasSuffix(p, "true")
				r := x.compare(y, strings.TrimSuffix(strings.TrimSuffix(p, "true"), "false"))
				if rev {
					r = -r
				}
				if r != 0 {
					return r
				}
			}
			return 0
		})
		var want []string
		for _, m := range sub {
			want = append(want, strconv.Itoa(int(m.seq)))
		}
		if got != strings.Join(want, " ") {
			t.Fatalf("%s:\n got  %s\n want %s", cmd, got, strings.Join(want, " "))
		}
	}
}

// refMsg is one message's fields as the reference sees them.
type refMsg struct {
	uid, seq                       uint32
	arrival, sent                  int64
	size                           int
	from, to, cc, dispFrom, dispTo string
	subject                        string
}

func (x refMsg) compare(y refMsg, key string) int {
	switch key {
	case "ARRIVAL":
		return cmp.Compare(x.arrival, y.arrival)
	case "DATE":
		return cmp.Compare(x.sent, y.sent)
	case "SIZE":
		return cmp.Compare(x.size, y.size)
	case "FROM":
		return cmp.Compare(x.from, y.from)
	case "TO":
		return cmp.Compare(x.to, y.to)
	case "CC":
		return cmp.Compare(x.cc, y.cc)
	case "DISPLAYFROM":
		return cmp.Compare(x.dispFrom, y.dispFrom)
	case "DISPLAYTO":
		return cmp.Compare(x.dispTo, y.dispTo)
	case "SUBJECT":
		return cmp.Compare(x.subject, y.subject)
	}
	panic(key)
}

// refFold is the reference's i;unicode-casemap: upper case (titlecase
// and upper case agree on every character the generator uses), then NFKD.
func refFold(s string) string { return norm.NFKD.String(strings.ToUpper(s)) }

// parseRef reads a generated message with go-message.
func parseRef(t *testing.T, raw, base string, internal time.Time) refMsg {
	t.Helper()
	r, err := mail.CreateReader(strings.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	h := r.Header
	m := refMsg{arrival: internal.Unix(), size: len(raw), subject: refFold(base)}
	m.sent = m.arrival
	if d, err := h.Date(); err == nil && h.Get("Date") != "" {
		m.sent = d.Unix()
	}
	first := func(field string) (mbox, disp string) {
		l, err := h.AddressList(field)
		if err != nil || len(l) == 0 {
			return "", ""
		}
		mbox = l[0].Address
		if i := strings.LastIndexByte(mbox, '@'); i >= 0 {
			mbox = mbox[:i]
		}
		disp = l[0].Name
		if disp == "" {
			disp = l[0].Address
		}
		return refFold(mbox), refFold(disp)
	}
	m.from, m.dispFrom = first("From")
	m.to, m.dispTo = first("To")
	m.cc, _ = first("Cc")
	return m
}

// randomMessage makes a message and says what its base subject is.
func randomMessage(rnd *rand.Rand) (raw, base string, internal time.Time) {
	bases := []string{"Hello", "hello world", "Budget 2026", "école", "École", "Zebra", "a", "[tag]", "Ünïcode", "re", "fwd"}
	names := []string{"", "Alice", "bob", "=?UTF-8?Q?=C3=89mile?=", "Zoë", "\"Smith, John\""}
	locals := []string{"alice", "Bob", "carol", "dave", "émile", "zed"}
	base = bases[rnd.IntN(len(bases))]
	subj := base
	if base == "[tag]" || base == "re" || base == "fwd" {
		// A base a decoration could eat: use it bare.
	} else {
		for k := rnd.IntN(4); k > 0; k-- {
			switch rnd.IntN(6) {
			case 0:
				subj = "Re: " + subj
			case 1:
				subj = "FWD: " + subj
			case 2:
				subj = "[list] " + subj
			case 3:
				subj = subj + " (fwd)"
			case 4:
				subj = "[Fwd: " + subj + "]"
			case 5:
				subj = "re[3]:  " + subj
			}
		}
	}
	var b strings.Builder
	addr := func(field string) {
		if rnd.IntN(5) == 0 {
			return
		}
		name := names[rnd.IntN(len(names))]
		local := locals[rnd.IntN(len(locals))]
		if strings.ContainsRune(local, 'é') {
			local = "emile"
		}
		a := local + "@example.org"
		if name != "" {
			a = name + " <" + a + ">"
		}
		fmt.Fprintf(&b, "%s: %s\r\n", field, a)
	}
	addr("From")
	addr("To")
	addr("Cc")
	if strings.ContainsAny(subj, "éÉÜï") && rnd.IntN(2) == 0 {
		subj = mimeQ(subj)
	}
	fmt.Fprintf(&b, "Subject: %s\r\n", subj)
	day := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(rnd.IntN(5)) * time.Hour)
	if rnd.IntN(5) != 0 {
		zone := time.FixedZone("", (rnd.IntN(25)-12)*3600)
		fmt.Fprintf(&b, "Date: %s\r\n", day.In(zone).Format("Mon, 2 Jan 2006 15:04:05 -0700"))
	}
	b.WriteString("\r\n")
	b.WriteString(strings.Repeat("x", rnd.IntN(40)))
	b.WriteString("\r\n")
	internal = time.Date(2021, 1, 1, rnd.IntN(3), 0, 0, 0, time.UTC)
	return b.String(), base, internal
}

// mimeQ encodes s as one RFC 2047 Q word.
func mimeQ(s string) string {
	var b strings.Builder
	b.WriteString("=?UTF-8?Q?")
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ':
			b.WriteByte('_')
		case c >= 0x80 || c == '=' || c == '?' || c == '_' || c == '[' || c == ']' || c == ':' || c == '(' || c == ')':
			fmt.Fprintf(&b, "=%02X", c)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteString("?=")
	return b.String()
}
