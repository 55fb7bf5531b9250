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
	l, err := net.Listen("tcp", "127.0.0.1:0")
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
// in the clear unless --insecure.
func TestSourceRefusesPlainLogin(t *testing.T) {
	src := &Source{User: "x", Host: "127.0.0.1", Port: 1}
	if !isLoopback(src.Host) || isLoopback("192.0.2.1") || !isLoopback("localhost") {
		t.Fatal("isLoopback")
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
