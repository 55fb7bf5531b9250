package loadtest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
)

// scriptServer accepts one connection on loopback and hands it to serve;
// the test's assertions on the client side are what matter, serve only
// plays a fixed server transcript.
func scriptServer(t *testing.T, serve func(r *bufio.Reader, w io.Writer) error) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		conn, err := ln.Accept()
		ln.Close()
		if err != nil {
			done <- err
			return
		}
		defer conn.Close()
		done <- serve(bufio.NewReader(conn), conn)
	}()
	t.Cleanup(func() {
		if err := <-done; err != nil {
			t.Errorf("script server: %v", err)
		}
	})
	return ln.Addr().String()
}

func expectLine(r *bufio.Reader, want string) error {
	got, err := r.ReadString('\n')
	if err != nil {
		return err
	}
	if got != want+"\r\n" {
		return fmt.Errorf("got %q, want %q", got, want+"\r\n")
	}
	return nil
}

func TestClientReadsLiteralsAndCountsBytes(t *testing.T) {
	body := "Subject: hi\r\n\r\nline } with {3}\r\n"
	fetch := "* 1 FETCH (UID 5 BODY[] {" + strconv.Itoa(len(body)) + "}\r\n" + body + " FLAGS (\\Seen))\r\n"
	tagged := "T1 OK done\r\n"
	addr := scriptServer(t, func(r *bufio.Reader, w io.Writer) error {
		io.WriteString(w, "* OK [CAPABILITY IMAP4rev1 MULTIAPPEND] ready\r\n")
		if err := expectLine(r, "T1 FETCH 1 (UID BODY[] FLAGS)"); err != nil {
			return err
		}
		_, err := io.WriteString(w, fetch+tagged)
		if err != nil {
			return err
		}
		if err := expectLine(r, "T2 NOOP"); err != nil {
			return err
		}
		_, err = io.WriteString(w, "T2 NO [ALERT] not now\r\n")
		r.ReadString('\n') // LOGOUT
		return err
	})
	c, err := Dial(context.Background(), addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if !c.Has("multiappend") || c.Has("LITERAL+") {
		t.Errorf("capabilities from the greeting: %v", c.Caps)
	}
	var got []string
	rep, err := c.Exec("FETCH 1 (UID BODY[] FLAGS)", func(resp []byte) { got = append(got, string(resp)) })
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0] != fetch {
		t.Errorf("untagged responses %q, want [%q]", got, fetch)
	}
	if rep.Bytes != int64(len(fetch)+len(tagged)) {
		t.Errorf("Bytes = %d, want %d", rep.Bytes, len(fetch)+len(tagged))
	}
	_, err = c.Exec("NOOP", nil)
	var se *StatusError
	if !errors.As(err, &se) || se.Reply.Status != "NO" || se.Reply.Text != "[ALERT] not now" {
		t.Errorf("NO completion: err = %v", err)
	}
}

// Without LITERAL+ each APPEND literal must wait for a continuation request.
func TestClientMultiAppendSynchronizing(t *testing.T) {
	msgs := [][]byte{[]byte("A: 1\r\n\r\nx\r\n"), []byte("A: 2\r\n\r\nyy\r\n")}
	addr := scriptServer(t, func(r *bufio.Reader, w io.Writer) error {
		io.WriteString(w, "* OK [CAPABILITY IMAP4rev1 MULTIAPPEND] ready\r\n")
		if err := expectLine(r, fmt.Sprintf(`T1 APPEND "box" {%d}`, len(msgs[0]))); err != nil {
			return err
		}
		for i, m := range msgs {
			io.WriteString(w, "+ go ahead\r\n")
			buf := make([]byte, len(m))
			if _, err := io.ReadFull(r, buf); err != nil {
				return err
			}
			if string(buf) != string(m) {
				return fmt.Errorf("literal %d: got %q", i, buf)
			}
			next := "\r\n"
			if i+1 < len(msgs) {
				next = fmt.Sprintf(" {%d}\r\n", len(msgs[i+1]))
			}
			line, err := r.ReadString('\n')
			if err != nil {
				return err
			}
			if line != next {
				return fmt.Errorf("after literal %d: got %q, want %q", i, line, next)
			}
		}
		io.WriteString(w, "T1 OK [APPENDUID 1 1:2] appended\r\n")
		r.ReadString('\n') // LOGOUT
		return nil
	})
	c, err := Dial(context.Background(), addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	rep, err := c.Append("box", msgs, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(rep.Text, "[APPENDUID 1 1:2]") {
		t.Errorf("reply %+v", rep)
	}
	if want := int64(2*len("+ go ahead\r\n") + len("T1 OK [APPENDUID 1 1:2] appended\r\n")); rep.Bytes != want {
		t.Errorf("Bytes = %d, want %d", rep.Bytes, want)
	}
}

// With LITERAL+ the whole MULTIAPPEND goes out at once as {N+} literals.
func TestClientMultiAppendLiteralPlus(t *testing.T) {
	msgs := [][]byte{[]byte("A: 1\r\n\r\nx\r\n"), []byte("A: 2\r\n\r\nyy\r\n")}
	addr := scriptServer(t, func(r *bufio.Reader, w io.Writer) error {
		io.WriteString(w, "* OK [CAPABILITY IMAP4rev1 MULTIAPPEND LITERAL+] ready\r\n")
		want := fmt.Sprintf("T1 APPEND \"box\" {%d+}\r\n%s {%d+}\r\n%s\r\n", len(msgs[0]), msgs[0], len(msgs[1]), msgs[1])
		buf := make([]byte, len(want))
		if _, err := io.ReadFull(r, buf); err != nil {
			return err
		}
		if string(buf) != want {
			return fmt.Errorf("got %q, want %q", buf, want)
		}
		io.WriteString(w, "T1 OK appended\r\n")
		r.ReadString('\n') // LOGOUT
		return nil
	})
	c, err := Dial(context.Background(), addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Append("box", msgs, nil); err != nil {
		t.Fatal(err)
	}
}
