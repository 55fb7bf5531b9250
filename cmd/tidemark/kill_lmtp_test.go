package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/tidemark-mail/tidemark/internal/sqlitestore"
)

// TestKillLMTPUnderLoad kills the server with SIGKILL while LMTP clients
// deliver messages to several users at once (each transaction to three of
// them, appended concurrently) and checks, after each kill, that every
// recipient answered 250 holds its copy. TIDEMARK_KILL_ROUNDS sets the
// rounds, TIDEMARK_KILL_SEED the random delays.
func TestKillLMTPUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	rounds := envIntDefault(killRoundsEnv, 2)
	seed := envIntDefault(killSeedEnv, 1)
	const users, clients = 8, 6
	bin := buildTidemark(t)
	data := t.TempDir()
	ctx := context.Background()
	st, err := sqlitestore.Open(data, sqlitestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range users {
		if err := st.CreateUser(ctx, fmt.Sprintf("k%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	st.Close()

	var mu sync.Mutex
	acked := map[string][]string{} // user → tokens answered 250
	total := 0
	rng := rand.New(rand.NewPCG(uint64(seed), 7))
	for round := range rounds {
		sb := startServe(t, bin, "--data", data, "--imap", "127.0.0.1:0", "--imaps", "", "--lmtp", "127.0.0.1:0", "--log-format", "json")
		for sb.addrs["lmtp"] == "" {
			sb.waitLog("listening")
		}
		go func() { // keep the log pipe drained
			for range sb.logs {
			}
		}()
		first := make(chan struct{})
		var once sync.Once
		var wg sync.WaitGroup
		for c := range clients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				conn, err := net.Dial("tcp", sb.addrs["lmtp"])
				if err != nil {
					return
				}
				lc := smtp.NewClientLMTP(conn)
				defer lc.Close()
				if lc.Hello("mta.test") != nil {
					return
				}
				for n := 0; ; n++ {
					token := fmt.Sprintf("r%dc%dn%d", round, c, n)
					var rcpts []string
					for j := range 3 {
						rcpts = append(rcpts, fmt.Sprintf("k%d@example.org", (c+n+j*3)%users))
					}
					ok, err := lmtpDeliver(lc, rcpts, "Subject: "+token+"\r\nMessage-ID: <"+token+"@x>\r\n\r\n"+token+"\r\n")
					mu.Lock()
					for _, r := range ok {
						user := strings.TrimSuffix(r, "@example.org")
						acked[user] = append(acked[user], token)
						total++
					}
					mu.Unlock()
					if len(ok) > 0 {
						once.Do(func() { close(first) })
					}
					if err != nil {
						return // the server is gone
					}
				}
			}()
		}
		select {
		case <-first:
		case <-time.After(hangDeadline):
			t.Fatal("no delivery was acknowledged")
		}
		time.Sleep(time.Duration(20+rng.IntN(400)) * time.Millisecond)
		if err := sb.cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		sb.cmd.Wait()
		wg.Wait()
		if out, err := exec.Command(bin, "check", "--data", data).CombinedOutput(); err != nil {
			t.Fatalf("round %d: tidemark check: %v\n%s", round, err, out)
		}
		mu.Lock()
		lmtpVerify(t, data, acked)
		t.Logf("round %d: %d acknowledged deliveries so far, all found", round, total)
		mu.Unlock()
		if t.Failed() {
			t.FailNow()
		}
	}
}

// lmtpDeliver sends one message to rcpts and returns those answered 250
// (RFC 2033 4.2: one reply each); err is set when the connection failed,
// not for a recipient refused.
func lmtpDeliver(c *smtp.Client, rcpts []string, msg string) ([]string, error) {
	if err := c.Mail("s@example.net", nil); err != nil {
		return nil, err
	}
	for _, r := range rcpts {
		if err := c.Rcpt(r, nil); err != nil {
			return nil, err
		}
	}
	w, err := c.Data()
	if err != nil {
		return nil, err
	}
	if _, err := io.WriteString(w, msg); err != nil {
		return nil, err
	}
	resp, err := w.CloseWithLMTPResponse()
	var ok []string
	for r := range resp {
		ok = append(ok, r)
	}
	if _, refused := err.(smtp.LMTPDataError); refused {
		err = nil
	}
	return ok, err
}

// lmtpVerify opens the store as it is after a kill and checks that every
// acknowledged token is in its user's INBOX.
func lmtpVerify(t *testing.T, data string, acked map[string][]string) {
	t.Helper()
	for user, tokens := range acked {
		_, bodies := mailboxMessages(t, data, user, "INBOX")
		have := map[string]bool{}
		for _, b := range bodies {
			have[strings.TrimSpace(b[strings.LastIndex(b, "\r\n\r\n")+4:])] = true
		}
		for _, tok := range tokens {
			if !have[tok] {
				t.Errorf("%s: delivery %s was acknowledged and is missing", user, tok)
			}
		}
	}
}
