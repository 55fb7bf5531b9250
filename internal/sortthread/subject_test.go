package sortthread

import "testing"

func TestBaseSubject(t *testing.T) {
	for _, c := range []struct {
		in, want string
		reply    bool
	}{
		{"Hello", "Hello", false},
		{"Re: Hello", "Hello", true},
		{"RE:Hello", "Hello", true},
		{"re : Hello", "Hello", true},
		{"Fwd: Hello", "Hello", true},
		{"FW: Hello", "Hello", true},
		{"Re: Re: Fwd: re: Hello", "Hello", true},
		{"Re[2]: Hello", "Hello", true},
		{"Re [2]: Hello", "Hello", true},
		{"[list] Re: Hello", "Hello", true},
		{"[list] [other] Re: Hello", "Hello", true},
		{"Re: [list] Hello", "Hello", true},
		{"[list] Hello", "Hello", false},
		{"[list]", "[list]", false},    // (4): the blob stays when nothing else would
		{"[a] [b]", "[b]", false},      // the last blob is the base
		{"Hello (fwd)", "Hello", true}, // (2)
		{"Hello (FWD) (fwd)  ", "Hello", true},
		{"[Fwd: Hello]", "Hello", true},     // (6)
		{"[fwd: Re: Hello]", "Hello", true}, // (6) then (3)
		{"[Fwd: [fwd: Hello (fwd)]]", "Hello", true},
		{"Re:  Hello \t world  ", "Hello world", true},
		{"Hello\r\n world", "Hello world", false},
		{"  Hello", "Hello", false},
		{"Reply: Hello", "Reply: Hello", false}, // "re" must be followed by [blob] ":"
		{"Fwdx: Hello", "Fwdx: Hello", false},
		{"Re:", "", true},
		{"", "", false},
		{"[b[a]d] Hello", "[b[a]d] Hello", false}, // "[" is no BLOBCHAR
		{"Re: [fwd: Hello]", "Hello", true},
		{"Résumé: Re: x", "Résumé: Re: x", false},
	} {
		got, reply := BaseSubject(c.in)
		if got != c.want || reply != c.reply {
			t.Errorf("BaseSubject(%q) = %q, %v; want %q, %v", c.in, got, reply, c.want, c.reply)
		}
	}
}

func TestCasemap(t *testing.T) {
	for _, c := range [][2]string{
		{"hello", "Hello"}, {"ÉCOLE", "école"}, {"cafe\u0301", "CAFÉ"}, {"Straße", "STRAßE"},
	} {
		if a, b := Casemap(c[0]), Casemap(c[1]); a != b {
			t.Errorf("Casemap(%q) = %q, Casemap(%q) = %q; want equal", c[0], a, c[1], b)
		}
	}
	if Casemap("a") >= Casemap("B") {
		t.Errorf("a should sort before B")
	}
	if Casemap("") >= Casemap("a") {
		t.Errorf("the empty string sorts first")
	}
}

func TestNormalizeID(t *testing.T) {
	for _, c := range [][2]string{
		{`<"01KF8JCEOCBS0045PS"@xxx.yyy.com>`, "01KF8JCEOCBS0045PS@xxx.yyy.com"},
		{"<01KF8JCEOCBS0045PS@xxx.yyy.com>", "01KF8JCEOCBS0045PS@xxx.yyy.com"},
		{` < a@b > `, "a@b"},
		{`<"a\"b"@c>`, `a"b@c`},
	} {
		if got := NormalizeID(c[0]); got != c[1] {
			t.Errorf("NormalizeID(%q) = %q, want %q", c[0], got, c[1])
		}
	}
}
