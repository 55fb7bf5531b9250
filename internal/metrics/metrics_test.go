package metrics

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/tidemark-mail/tidemark/internal/auth"
	"github.com/tidemark-mail/tidemark/internal/lmtp"
	"github.com/tidemark-mail/tidemark/internal/server"
	"github.com/tidemark-mail/tidemark/internal/sqlitestore"
)

// A real IMAP server, LMTP server and metrics endpoint over loopback: a
// session and a delivery move the counters a scrape then shows.
func TestScrapeAfterSession(t *testing.T) {
	dir := t.TempDir()
	raw, err := sqlitestore.Open(dir, sqlitestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	accts, err := auth.OpenAccountsWith(dir, auth.Options{
		Hash:         auth.HashParams{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32},
		FailureDelay: -1,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer accts.Close()
	if err := accts.Add("joe", "secret-pass"); err != nil {
		t.Fatal(err)
	}
	if err := raw.CreateUser(context.Background(), "joe"); err != nil {
		t.Fatal(err)
	}
	m := New()
	st := m.WrapStore(raw)
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))

	srv := server.New(server.Config{Store: st, Auth: accts, Observer: m, Logger: quiet})
	il, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(il)
	defer srv.Shutdown(context.Background())

	ls := lmtp.New(lmtp.Config{Store: st, OnDelivery: m.ObserveDelivery, Logger: quiet})
	ll, err := lmtp.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go ls.Serve(ll)
	defer ls.Close()

	healthy := true
	hs := m.NewHTTPServer(func(ctx context.Context) error {
		if !healthy {
			return errors.New("store down")
		}
		_, err := raw.Users(ctx)
		return err
	})
	hl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go hs.Serve(hl)
	defer hs.Close()
	base := "http://" + hl.Addr().String()

	before := scrape(t, base)

	// One IMAP session: a failed login, a good one, SELECT, an unknown
	// command, LOGOUT.
	c, err := net.Dial("tcp", il.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(c)
	for _, line := range []string{"a LOGIN joe wrong", "b LOGIN joe secret-pass", "c SELECT INBOX", "d FROBNICATE", "e LOGOUT"} {
		fmt.Fprintf(c, "%s\r\n", line)
		tag := line[:1] + " "
		for {
			c.SetReadDeadline(time.Now().Add(2 * time.Minute)) // only a hang
			l, err := r.ReadString('\n')
			if err != nil {
				t.Fatalf("%s: %v", line, err)
			}
			if strings.HasPrefix(l, tag) {
				break
			}
		}
	}
	c.Close()

	// One LMTP delivery to joe, one to an unknown user.
	conn, err := net.Dial("tcp", ll.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	lc := smtp.NewClientLMTP(conn)
	if err := lc.Hello("localhost"); err != nil {
		t.Fatal(err)
	}
	if err := lc.Mail("sender@example.org", nil); err != nil {
		t.Fatal(err)
	}
	if err := lc.Rcpt("joe@example.org", nil); err != nil {
		t.Fatal(err)
	}
	if err := lc.Rcpt("nobody@example.org", nil); err == nil {
		t.Fatal("unknown recipient accepted")
	}
	w, err := lc.Data()
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(w, "Subject: hi\r\n\r\nhello\r\n")
	if _, err := w.CloseWithLMTPResponse(); err != nil {
		t.Fatal(err)
	}
	lc.Quit()

	// The connection's close is counted by its goroutine: wait for it.
	var after map[string]float64
	for deadline := time.Now().Add(2 * time.Minute); ; { // only a hang reaches the deadline
		after = scrape(t, base)
		if after["tidemark_imap_connections"] == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	delta := func(k string) float64 { return after[k] - before[k] }
	checks := map[string]float64{
		`tidemark_imap_connections_total{tls="false"}`:                   1,
		`tidemark_imap_commands_total{command="LOGIN",status="NO"}`:      1,
		`tidemark_imap_commands_total{command="LOGIN",status="OK"}`:      1,
		`tidemark_imap_commands_total{command="SELECT",status="OK"}`:     1,
		`tidemark_imap_commands_total{command="UNKNOWN",status="BAD"}`:   1,
		`tidemark_imap_commands_total{command="LOGOUT",status="OK"}`:     1,
		`tidemark_imap_command_duration_seconds_count{command="SELECT"}`: 1,
		`tidemark_imap_auth_failures_total{reason="invalid"}`:            1,
		`tidemark_lmtp_deliveries_total{result="delivered"}`:             1,
		`tidemark_lmtp_delivery_duration_seconds_count`:                  1,
		`tidemark_store_call_duration_seconds_count{op="append"}`:        1,
	}
	for k, want := range checks {
		if got := delta(k); got != want {
			t.Errorf("%s moved by %v, want %v", k, got, want)
		}
	}
	if after["tidemark_imap_connections"] != 0 {
		t.Errorf("connections open: %v", after["tidemark_imap_connections"])
	}
	if delta("tidemark_imap_read_bytes_total") < 60 || delta("tidemark_imap_written_bytes_total") < 200 {
		t.Errorf("bytes read %v written %v", delta("tidemark_imap_read_bytes_total"), delta("tidemark_imap_written_bytes_total"))
	}
	if delta(`tidemark_store_call_duration_seconds_count{op="open"}`) < 2 {
		t.Errorf("store opens not timed")
	}

	if code, body := get(t, base+"/healthz"); code != 200 || body != "ok\n" {
		t.Errorf("healthz: %d %q", code, body)
	}
	healthy = false
	if code, _ := get(t, base+"/healthz"); code != 503 {
		t.Errorf("unhealthy healthz: %d", code)
	}
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

var sampleLine = regexp.MustCompile(`^([a-z_]+(?:\{[^}]*\})?) (\S+)$`)

// scrape fetches /metrics in the text format and returns each sample by
// its name and labels as written.
func scrape(t *testing.T, base string) map[string]float64 {
	t.Helper()
	code, body := get(t, base+"/metrics")
	if code != 200 {
		t.Fatalf("/metrics: %d", code)
	}
	out := map[string]float64{}
	for _, l := range strings.Split(body, "\n") {
		if mm := sampleLine.FindStringSubmatch(l); mm != nil {
			v, err := strconv.ParseFloat(mm[2], 64)
			if err == nil {
				out[mm[1]] = v
			}
		}
	}
	return out
}
