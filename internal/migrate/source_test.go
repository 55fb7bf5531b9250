package migrate

import (
	"bufio"
	"context"
	"net"
	"strings"
	"testing"
)

// closedPort returns a local port nothing listens on.
func closedPort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	return port
}

// fakeServer answers each connection with greeting and then "* CAPABILITY
// caps" to CAPABILITY, over a real socket.
func fakeServer(t testing.TB, greeting, caps string) int {
	t.Helper()
	return fakeServerOn(t, "127.0.0.1:0", greeting, caps)
}

func fakeServerOn(t testing.TB, addr, greeting, caps string) int {
	t.Helper()
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				conn.Write([]byte(greeting + "\r\n"))
				br := bufio.NewReader(conn)
				for {
					line, err := br.ReadString('\n')
					if err != nil {
						return
					}
					f := strings.Fields(line)
					if len(f) < 2 {
						return
					}
					switch strings.ToUpper(f[1]) {
					case "CAPABILITY":
						conn.Write([]byte("* CAPABILITY " + caps + "\r\n" + f[0] + " OK done\r\n"))
					case "LOGOUT":
						conn.Write([]byte("* BYE\r\n" + f[0] + " OK bye\r\n"))
						return
					default:
						conn.Write([]byte(f[0] + " BAD no\r\n"))
					}
				}
			}()
		}
	}()
	return l.Addr().(*net.TCPAddr).Port
}

func TestSourceNotIMAP4rev1(t *testing.T) {
	st, _ := newTarget(t)
	port := fakeServer(t, "* OK old server", "IMAP2 AUTH=PLAIN")
	_, err := Run(context.Background(), st, "alice", &Source{User: "x", Host: "127.0.0.1", Port: port}, Options{Password: "p"})
	if err == nil || !strings.Contains(err.Error(), "not an IMAP4rev1 server") {
		t.Fatalf("IMAP2 server: %v", err)
	}
	port = fakeServer(t, "220 smtp.example.org ESMTP", "")
	_, err = Run(context.Background(), st, "alice", &Source{User: "x", Host: "127.0.0.1", Port: port}, Options{Password: "p"})
	if err == nil || !strings.Contains(err.Error(), "IMAP greeting") && !strings.Contains(err.Error(), "refused") {
		t.Fatalf("SMTP server: %v", err)
	}
}

// A source without STARTTLS that is not on this machine gets no password
// in the clear unless Insecure.
func TestSourceRefusesPlainLogin(t *testing.T) {
	if !isLoopback("127.0.0.1") || isLoopback("192.0.2.1") || !isLoopback("localhost") || !isLoopback("::1") {
		t.Fatal("isLoopback")
	}
	var ip string
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && !n.IP.IsLoopback() && n.IP.To4() != nil {
			ip = n.IP.String()
			break
		}
	}
	if ip == "" {
		t.Skip("no non-loopback IPv4 address on this machine to serve from")
	}
	st, _ := newTarget(t)
	port := fakeServerOn(t, ip+":0", "* OK ready", "IMAP4rev1 AUTH=PLAIN")
	src := &Source{User: "x", Host: ip, Port: port}
	_, err := Run(context.Background(), st, "alice", src, Options{Password: "p"})
	if err == nil || !strings.Contains(err.Error(), "offers no STARTTLS") {
		t.Fatalf("plain login to %s: %v", ip, err)
	}
	_, err = Run(context.Background(), st, "alice", src, Options{Password: "p", Insecure: true})
	if err == nil || !strings.Contains(err.Error(), "login to the source failed") {
		t.Fatalf("with Insecure the login is tried: %v", err)
	}
}

func TestParseSource(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string
		ok   bool
	}{
		{"imap://bob@mail.example.org", "imap://bob@mail.example.org:143", true},
		{"imaps://bob%40example.org@mail.example.org:1993", "imaps://bob%40example.org@mail.example.org:1993", true},
		{"imap://bob:secret@mail.example.org", "", false},
		{"pop3://bob@mail.example.org", "", false},
		{"imap://mail.example.org", "", false},
		{"imap://bob@mail.example.org/INBOX", "", false},
	} {
		s, err := ParseSource(tc.in)
		if (err == nil) != tc.ok {
			t.Fatalf("%s: %v", tc.in, err)
		}
		if err == nil && s.String() != tc.want {
			t.Fatalf("%s: %s, want %s", tc.in, s, tc.want)
		}
	}
	s, _ := ParseSource("imaps://bob%40example.org@mail.example.org:1993")
	if s.User != "bob@example.org" || !s.TLS || s.Port != 1993 {
		t.Fatalf("%+v", s)
	}
}

// readFrom parses responses from text with the source client's reader.
func readFrom(text string) (*response, error) {
	server, clientEnd := net.Pipe()
	go func() {
		server.Write([]byte(text))
		server.Close()
	}()
	c := &client{}
	c.setConn(clientEnd)
	defer clientEnd.Close()
	return c.readResponse()
}

func TestReadResponse(t *testing.T) {
	r, err := readFrom("* 12 FETCH (UID 7 FLAGS (\\Seen $Work) INTERNALDATE \" 2-Jan-2023 10:00:00 +0100\" BODY[] {5}\r\nab\r\nc MODSEQ (42))\r\n")
	if err != nil {
		t.Fatal(err)
	}
	f, err := parseFetch(r, &migration{})
	if err != nil {
		t.Fatal(err)
	}
	if r.kind != "FETCH" || r.number != 12 || f.uid != 7 || string(f.body) != "ab\r\nc" || f.modseq != 42 ||
		f.flags.System != 1 || len(f.flags.Keywords) != 1 || f.date.Day() != 2 {
		t.Fatalf("%+v %+v", r, f)
	}
	r, err = readFrom("* OK [HIGHESTMODSEQ 715194045007] Highest\r\n")
	if err != nil || r.kind != "OK" || r.code != "HIGHESTMODSEQ 715194045007" || r.text != "Highest" {
		t.Fatalf("%+v %v", r, err)
	}
	r, err = readFrom("* VANISHED (EARLIER) 41,43:116,118\r\n")
	if err != nil || r.kind != "VANISHED" || len(r.args) != 2 {
		t.Fatalf("%+v %v", r, err)
	}
	if set, err := parseUIDSet(r.args[1].str(), 200); err != nil || set.Len() != 76 {
		t.Fatalf("%v %v", set, err)
	}
	r, err = readFrom("* LIST (\\HasNoChildren \\Sent) \"/\" {4}\r\nSent\r\n")
	if err != nil || r.args[2].str() != "Sent" {
		t.Fatalf("%+v %v", r, err)
	}
}

// The limits of the source reader: a literal larger than maxLiteral and
// lists nested deeper than 64 are errors, not allocations or a stack
// overflow.
func TestReadResponseLimits(t *testing.T) {
	if _, err := readFrom("* 1 FETCH (BODY[] {2000000000}\r\n"); err == nil || !strings.Contains(err.Error(), "bad size") {
		t.Fatalf("huge literal: %v", err)
	}
	if _, err := readFrom("* 1 FETCH " + strings.Repeat("(", 70) + strings.Repeat(")", 70) + "\r\n"); err == nil || !strings.Contains(err.Error(), "nested") {
		t.Fatalf("deep nesting: %v", err)
	}
	if _, err := readFrom("* 1 FETCH (UID \"unterminated\r\n"); err == nil {
		t.Fatal("unterminated quoted string accepted")
	}
}
