package search

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/tidemark-mail/tidemark/internal/message"
	"github.com/tidemark-mail/tidemark/internal/store"
	"github.com/tidemark-mail/tidemark/internal/wire"
)

const latinMessage = "From: =?ISO-8859-1?Q?Andr=E9?= <andre@example.org>\r\n" +
	"To: bob@example.com, Carol <carol@example.net>\r\n" +
	"Cc: dave@example.com\r\n" +
	"Subject: =?UTF-8?B?Q2Fmw6kgb3LDqGU=?=\r\n" +
	"Date: Tue, 3 Mar 2020 23:30:00 -0800\r\n" +
	"X-Tag: alpha\r\n" +
	"MIME-Version: 1.0\r\n" +
	"Content-Type: text/plain; charset=ISO-8859-1\r\n" +
	"Content-Transfer-Encoding: quoted-printable\r\n" +
	"\r\n" +
	"Le na=EFf gar=E7on a mang=E9 une cr=E8me br=FBl=E9e.\r\n"

// testMessage builds the evaluation input for raw with the given state.
func testMessage(t *testing.T, raw string, st store.MessageState, internal time.Time) (*Message, *Message) {
	t.Helper()
	s, err := message.Parse(strings.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	md := &store.MessageData{MessageState: st, InternalDate: internal, SaveDate: internal.Add(time.Hour),
		Size: int64(len(raw)), Structure: s, EmailID: "Mabc", ThreadID: "Tdef"}
	return &Message{State: &md.MessageState}, &Message{State: &md.MessageState, Data: md, Body: bytes.NewReader([]byte(raw))}
}

func TestMatchKeys(t *testing.T) {
	internal := time.Date(2020, 3, 5, 0, 30, 0, 0, time.FixedZone("", 2*3600)) // 4 Mar 22:30 UTC
	st := store.MessageState{UID: 7, ModSeq: 40, Flags: store.Flags{System: store.FlagSeen | store.FlagFlagged, Keywords: []string{"$Junk"}}}
	stateOnly, full := testMessage(t, latinMessage, st, internal)
	now := internal.Add(2 * time.Hour)
	for _, tc := range []struct {
		key   string
		state Result // with flags only
		full  bool
	}{
		{"ALL", Yes, true},
		{"RECENT", No, false},
		{"NEW", No, false},
		{"OLD", Yes, true},
		{"SEEN", Yes, true},
		{"UNSEEN", No, false},
		{"FLAGGED DELETED", No, false},
		{"UNDELETED UNDRAFT UNANSWERED", Yes, true},
		{"ANSWERED", No, false},
		{"KEYWORD $junk", Yes, true},
		{"UNKEYWORD $Junk", No, false},
		{"KEYWORD other", No, false},
		{"UID 5:7", Yes, true},
		{"UID 8:*", No, false},
		{"MODSEQ 40", Yes, true},
		{"MODSEQ 41", No, false},
		{"LARGER 10", Unknown, true},
		{"SMALLER 10", Unknown, false},
		{"SEEN SMALLER 10", Unknown, false},
		{"UNSEEN SMALLER 10", No, false},
		{"OR SEEN SMALLER 10", Yes, true},
		{"NOT LARGER 10", Unknown, false},
		// INTERNALDATE's day is 5 Mar in its own zone.
		{"ON 5-Mar-2020", Unknown, true},
		{"ON 4-Mar-2020", Unknown, false},
		{"BEFORE 5-Mar-2020", Unknown, false},
		{"BEFORE 6-Mar-2020", Unknown, true},
		{"SINCE 5-Mar-2020", Unknown, true},
		{"SINCE 6-Mar-2020", Unknown, false},
		// The Date header's day is 3 Mar in its own zone.
		{"SENTON 3-Mar-2020", Unknown, true},
		{"SENTBEFORE 3-Mar-2020", Unknown, false},
		{"SENTSINCE 4-Mar-2020", Unknown, false},
		{"SENTSINCE 3-Mar-2020", Unknown, true},
		{"SAVEDSINCE 1-Mar-2020", Unknown, true},
		{"SAVEDBEFORE 1-Mar-2020", Unknown, false},
		{"OLDER 7200", Unknown, true},
		{"OLDER 7201", Unknown, false},
		{"YOUNGER 7200", Unknown, true},
		{"YOUNGER 7199", Unknown, false},
		{"EMAILID Mabc", Unknown, true},
		{"THREADID Mabc", Unknown, false},
		{`FROM "andré"`, Unknown, true},
		{`FROM "ANDRE@"`, Unknown, true},
		{`TO carol`, Unknown, true},
		{`CC dave`, Unknown, true},
		{`CC carol`, Unknown, false},
		{`BCC ""`, Unknown, true},
		{`BCC x`, Unknown, false},
		{`SUBJECT "CAFÉ ORÈ"`, Unknown, true},
		{`SUBJECT "=?UTF-8"`, Unknown, false},
		{`BODY "crème brûlée"`, Unknown, true},
		{`BODY "NAÏF"`, Unknown, true},
		{`BODY "=E8"`, Unknown, false},
		{`BODY "x-tag"`, Unknown, false},
		{`TEXT "x-tag: alpha"`, Unknown, true},
		{`TEXT "garçon"`, Unknown, true},
		{`HEADER x-tag ALPH`, Unknown, true},
		{`HEADER x-tag ""`, Unknown, true},
		{`HEADER x-other ""`, Unknown, false},
		{`HEADER subject "café"`, Unknown, true},
		{`OR UNSEEN BODY "nothing"`, Unknown, false},
		{`OR SEEN BODY "nothing"`, Yes, true},
		{`NOT (UNSEEN BODY x)`, Yes, true},
	} {
		p, err := parse(t, tc.key)
		if err != nil {
			t.Fatalf("%s: %v", tc.key, err)
		}
		if err := p.Resolve(func(set wire.SeqSet, uid bool) (store.UIDSet, error) { return set.Resolve(9), nil }); err != nil {
			t.Fatal(err)
		}
		r, err := p.Match(stateOnly, now)
		if err != nil || r != tc.state {
			t.Errorf("%s with state: %v %v, want %v", tc.key, r, err, tc.state)
		}
		r, err = p.Match(full, now)
		if err != nil || r != boolResult(tc.full) {
			t.Errorf("%s: %v %v, want %v", tc.key, r, err, tc.full)
		}
	}
	// With metadata but no bytes, only the body keys stay undecided.
	noBody := &Message{State: full.State, Data: full.Data}
	for key, want := range map[string]Result{`SUBJECT "café"`: Yes, "BODY x": Unknown, `OR SUBJECT "café" BODY x`: Yes, "SUBJECT nope TEXT x": No} {
		p, err := parse(t, key)
		if err != nil {
			t.Fatalf("%s: %v", key, err)
		}
		if r, _ := p.Match(noBody, now); r != want {
			t.Errorf("%s without body: %v, want %v", key, r, want)
		}
	}
}

// TestMatchRecent: RECENT, NEW and OLD follow the UIDs the session gave
// SetRecent (message 7 is seen, message 8 unseen).
func TestMatchRecent(t *testing.T) {
	seen := &Message{State: &store.MessageState{UID: 7, Flags: store.Flags{System: store.FlagSeen}}}
	unseen := &Message{State: &store.MessageState{UID: 8}}
	for _, tc := range []struct {
		key          string
		recent       store.UIDSet
		seen, unseen Result
	}{
		{"RECENT", nil, No, No},
		{"OLD", nil, Yes, Yes},
		{"RECENT", store.UIDSetOf(7, 8), Yes, Yes},
		{"NEW", store.UIDSetOf(7, 8), No, Yes},
		{"OLD", store.UIDSetOf(8), Yes, No},
		{"NOT NEW", store.UIDSetOf(8), Yes, No},
		{"OR NEW SEEN", store.UIDSetOf(8), Yes, Yes},
	} {
		p, err := parse(t, tc.key)
		if err != nil {
			t.Fatal(err)
		}
		p.SetRecent(tc.recent)
		if r, _ := p.Match(seen, time.Time{}); r != tc.seen {
			t.Errorf("%s with recent %v: seen message %v, want %v", tc.key, tc.recent, r, tc.seen)
		}
		if r, _ := p.Match(unseen, time.Time{}); r != tc.unseen {
			t.Errorf("%s with recent %v: unseen message %v, want %v", tc.key, tc.recent, r, tc.unseen)
		}
	}
}
