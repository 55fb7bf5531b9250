package urlauth

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	const msg = "imap://joe@example.com/INBOX/;uid=20/;section=1.2"
	tests := []struct {
		raw     string
		rump    string
		owner   string
		access  Access
		mech    string
		expire  string
		wantErr string
	}{
		{raw: msg + ";urlauth=submit+fred", rump: msg + ";urlauth=submit+fred", owner: "joe", access: Access{Submit, "fred"}},
		{raw: msg + ";urlauth=submit+fred:internal:91354a473744909de610943775f92038", rump: msg + ";urlauth=submit+fred",
			owner: "joe", access: Access{Submit, "fred"}, mech: "INTERNAL"},
		{raw: msg + ";URLAUTH=AUTHUSER", rump: msg + ";URLAUTH=AUTHUSER", owner: "joe", access: Access{Kind: AuthUser}},
		{raw: msg + ";urlauth=anonymous", rump: msg + ";urlauth=anonymous", owner: "joe", access: Access{Kind: Anonymous}},
		{raw: msg + ";urlauth=user+a%40b", rump: msg + ";urlauth=user+a%40b", owner: "joe", access: Access{User, "a@b"}},
		{raw: msg + ";expire=2026-03-05T10:00:00Z;urlauth=anonymous", rump: msg + ";expire=2026-03-05T10:00:00Z;urlauth=anonymous",
			owner: "joe", access: Access{Kind: Anonymous}, expire: "2026-03-05T10:00:00Z"},
		{raw: "imap://j%6Fe@host/INBOX/;uid=1;urlauth=anonymous", rump: "imap://j%6Fe@host/INBOX/;uid=1;urlauth=anonymous", owner: "joe", access: Access{Kind: Anonymous}},

		{raw: msg, wantErr: "no URLAUTH"},
		{raw: "/INBOX/;uid=20;urlauth=anonymous", wantErr: "absolute"},
		{raw: "imap://example.com/INBOX/;uid=20;urlauth=anonymous", wantErr: "no user"},
		{raw: "imap://joe;AUTH=*@example.com/INBOX/;uid=20;urlauth=anonymous", wantErr: "AUTH"},
		{raw: msg + ";urlauth=everyone", wantErr: "access identifier"},
		{raw: msg + ";urlauth=user+", wantErr: "access identifier"},
		{raw: msg + ";urlauth=submit+fred:internal", wantErr: "verifier"},
		{raw: msg + ";urlauth=submit+fred:internal:xyz", wantErr: "token"},
		{raw: msg + ";urlauth=submit+fred:internal:91354a47", wantErr: "token"},
		{raw: msg + ";expire=tomorrow;urlauth=anonymous", wantErr: "EXPIRE"},
	}
	for _, tc := range tests {
		u, err := Parse(tc.raw)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("Parse(%q): %v, want an error about %q", tc.raw, err, tc.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("Parse(%q): %v", tc.raw, err)
			continue
		}
		if u.Rump != tc.rump || u.Owner != tc.owner || u.Access != tc.access || u.Mechanism != tc.mech {
			t.Errorf("Parse(%q) = %+v", tc.raw, u)
		}
		if !strings.HasPrefix(tc.raw, u.Message) || strings.Contains(strings.ToLower(u.Message), "urlauth") || strings.Contains(strings.ToLower(u.Message), "expire") {
			t.Errorf("Parse(%q): message part %q", tc.raw, u.Message)
		}
		if tc.expire != "" {
			want, _ := time.Parse(time.RFC3339, tc.expire)
			if !u.Expire.Equal(want) {
				t.Errorf("Parse(%q): expire %v", tc.raw, u.Expire)
			}
		} else if !u.Expire.IsZero() {
			t.Errorf("Parse(%q): expire %v, want none", tc.raw, u.Expire)
		}
	}
}

// TestSignVerify: a signed URL verifies with its key and no other, and
// any change to the rump, the expiry or the access breaks it.
func TestSignVerify(t *testing.T) {
	key := bytes.Repeat([]byte{7}, 32)
	other := bytes.Repeat([]byte{8}, 32)
	rump := "imap://joe@example.com/INBOX/;uid=20/;section=1.2;expire=2026-03-05T10:00:00Z;urlauth=user+fred"
	full := Sign(key, rump)
	u, err := Parse(full)
	if err != nil {
		t.Fatal(err)
	}
	if !u.Verify(key) {
		t.Fatal("a signed URL does not verify")
	}
	if u.Verify(other) || u.Verify(nil) {
		t.Fatal("a URL verifies with another key")
	}
	r, _ := Parse(rump)
	if r.Verify(key) {
		t.Fatal("a rump verifies")
	}
	tok := full[strings.LastIndexByte(full, ':')+1:]
	for _, changed := range []string{
		strings.Replace(rump, "uid=20", "uid=21", 1),
		strings.Replace(rump, "section=1.2", "section=1", 1),
		strings.Replace(rump, "2026-03-05", "2027-03-05", 1),
		strings.Replace(rump, "user+fred", "user+frederick", 1),
		strings.Replace(rump, "user+fred", "anonymous", 1),
	} {
		u, err := Parse(changed + ":internal:" + tok)
		if err != nil {
			t.Fatal(err)
		}
		if u.Verify(key) {
			t.Errorf("the token of %q verifies %q", rump, changed)
		}
	}
	u, _ = Parse(rump + ":xsample:" + tok)
	if u.Verify(key) {
		t.Error("another mechanism verifies")
	}
}

func TestAllowsAndExpired(t *testing.T) {
	cases := []struct {
		a         Access
		user      string
		submitter bool
		want      bool
	}{
		{Access{Kind: AuthUser}, "bob", false, true},
		{Access{Kind: Anonymous}, "bob", false, true},
		{Access{User, "fred"}, "fred", false, true},
		{Access{User, "fred"}, "FRED", false, true},
		{Access{User, "fred"}, "bob", false, false},
		{Access{User, "fred"}, "bob", true, false},
		{Access{Submit, "fred"}, "fred", false, false},
		{Access{Submit, "fred"}, "submitd", true, true},
	}
	for _, c := range cases {
		if got := c.a.Allows(c.user, c.submitter); got != c.want {
			t.Errorf("%+v.Allows(%q, %v) = %v", c.a, c.user, c.submitter, got)
		}
	}
	u, _ := Parse("imap://joe@h/INBOX/;uid=1;expire=2026-03-05T10:00:00Z;urlauth=anonymous")
	at := u.Expire
	if u.Expired(at.Add(-time.Second)) || !u.Expired(at) || !u.Expired(at.Add(time.Hour)) {
		t.Error("expiry is not checked against the clock given")
	}
	u, _ = Parse("imap://joe@h/INBOX/;uid=1;urlauth=anonymous")
	if u.Expired(at.Add(100 * 365 * 24 * time.Hour)) {
		t.Error("a URL without EXPIRE expired")
	}
}
