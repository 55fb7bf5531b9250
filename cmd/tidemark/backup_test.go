package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// dialLines connects a literal-lines client and logs in as joe.
func dialLines(t *testing.T, addr string) *lineClient {
	t.Helper()
	c := dialGreeted(t, addr)
	t.Cleanup(func() { c.conn.Close() })
	if _, tagged, err := c.do("LOGIN joe secret-pass"); err != nil || !strings.HasPrefix(tagged, "OK") {
		t.Fatalf("LOGIN: %q %v", tagged, err)
	}
	return c
}

// mustOK runs a command that must succeed and returns its untagged lines.
func (c *lineClient) mustOK(t *testing.T, cmd string) []string {
	t.Helper()
	un, tagged, err := c.do(cmd)
	if err != nil || !strings.HasPrefix(tagged, "OK") {
		t.Fatalf("%.60q: %q %v", cmd, tagged, err)
	}
	return un
}

var reStatus = regexp.MustCompile(`MESSAGES (\d+) UIDNEXT (\d+) UIDVALIDITY (\d+) HIGHESTMODSEQ (\d+)`)

// boxStatus is STATUS box (MESSAGES UIDNEXT UIDVALIDITY HIGHESTMODSEQ).
func boxStatus(t *testing.T, c *lineClient, box string) (messages, uidnext, uidvalidity, hms uint64) {
	t.Helper()
	for _, l := range c.mustOK(t, "STATUS "+box+" (MESSAGES UIDNEXT UIDVALIDITY HIGHESTMODSEQ)") {
		if m := reStatus.FindStringSubmatch(l); m != nil {
			v := make([]uint64, 4)
			for i := range v {
				v[i], _ = strconv.ParseUint(m[i+1], 10, 64)
			}
			return v[0], v[1], v[2], v[3]
		}
	}
	t.Fatalf("no STATUS for %s", box)
	return
}

func runBin(t *testing.T, bin string, args ...string) string {
	t.Helper()
	out, err := exec.Command(bin, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("tidemark %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// An online backup taken while a client writes is a consistent store
// (`tidemark check` clean). Restored over the live data directory, or into
// an empty one as after losing the disk, it brings back the mail of the
// backup, and a client that synced after the backup was taken can never be
// misled: every mailbox has a new UIDVALIDITY, and HIGHESTMODSEQ is above
// anything the client saw.
func TestBackupRestore(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildTidemark(t)
	data := killTestData(t)
	start := func(dir string) *servedBinary {
		sb := startServe(t, bin, "--data", dir, "--imap", "127.0.0.1:0", "--imaps", "", "--log-format", "json")
		sb.waitLog("listening")
		go func() {
			for range sb.logs {
			}
		}()
		return sb
	}
	stop := func(sb *servedBinary) {
		sb.cmd.Process.Signal(syscall.SIGTERM)
		if err := sb.cmd.Wait(); err != nil {
			t.Fatalf("serve exit: %v", err)
		}
	}
	sb := start(data)
	c := dialLines(t, sb.addrs["imap"])
	var bodies []string
	for i := range 5 {
		m := fmt.Sprintf("From: a@example.org\r\nSubject: before %d\r\n\r\n%s\r\n", i, strings.Repeat("b", i*30000))
		bodies = append(bodies, m)
		c.mustOK(t, fmt.Sprintf("APPEND Load0 {%d+}\r\n%s", len(m), m))
	}

	// The backup runs while another client appends.
	writer := dialLines(t, sb.addrs["imap"])
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-done:
				return
			default:
			}
			m := fmt.Sprintf("Subject: during %d\r\n\r\n%s\r\n", i, strings.Repeat("d", (i%4)*30000))
			if _, tagged, err := writer.do(fmt.Sprintf("APPEND Load1 {%d+}\r\n%s", len(m), m)); err != nil || !strings.HasPrefix(tagged, "OK") {
				t.Errorf("APPEND during the backup: %q %v", tagged, err)
				return
			}
		}
	}()
	backup := filepath.Join(t.TempDir(), "backup")
	t.Log(strings.TrimSpace(runBin(t, bin, "backup", "--data", data, "--to", backup)))
	close(done)
	wg.Wait()
	runBin(t, bin, "check", "--data", backup)

	// After the backup: the client sees more changes, then the server stops.
	for i := range 3 {
		m := fmt.Sprintf("Subject: after %d\r\n\r\nx\r\n", i)
		c.mustOK(t, fmt.Sprintf("APPEND Load0 {%d+}\r\n%s", len(m), m))
	}
	c.mustOK(t, "SELECT Load0")
	c.mustOK(t, `STORE 1 +FLAGS (\Flagged)`)
	c.mustOK(t, `STORE 2 +FLAGS (\Deleted)`)
	c.mustOK(t, "EXPUNGE")
	_, uidnext, uv, hms := boxStatus(t, c, "Load0")
	stop(sb)

	check := func(dir, what string, wantAbove uint64) {
		t.Helper()
		runBin(t, bin, "check", "--data", dir)
		sb := start(dir)
		defer stop(sb)
		c := dialLines(t, sb.addrs["imap"])
		n, next2, uv2, hms2 := boxStatus(t, c, "Load0")
		t.Logf("%s: UIDVALIDITY %d → %d, HIGHESTMODSEQ %d → %d, UIDNEXT %d → %d", what, uv, uv2, hms, hms2, uidnext, next2)
		if uv2 == uv {
			t.Errorf("%s: UIDVALIDITY %d kept, though the client synced after the backup", what, uv)
		}
		if hms2 <= wantAbove {
			t.Errorf("%s: HIGHESTMODSEQ %d, not above %d", what, hms2, wantAbove)
		}
		if n != uint64(len(bodies)) {
			t.Errorf("%s: %d messages, the backup had %d", what, n, len(bodies))
		}
		c.mustOK(t, "EXAMINE Load0")
		for i, want := range bodies {
			un := c.mustOK(t, fmt.Sprintf("FETCH %d BODY.PEEK[]", i+1))
			if !strings.HasSuffix(un[0], fmt.Sprintf("{%d}", len(want))) {
				t.Errorf("%s: message %d: %q", what, i+1, un[0])
			}
		}
	}
	// Over the live data directory: its manifest still knows the highest
	// modseq handed out.
	t.Log(strings.TrimSpace(runBin(t, bin, "restore", "--from", backup, "--data", data)))
	check(data, "restored over the live store", hms)
	// Into an empty directory, as after losing the disk: the backup's own
	// floor is all there is, but the UIDVALIDITY changes all the same.
	fresh := filepath.Join(t.TempDir(), "fresh")
	runBin(t, bin, "restore", "--from", backup, "--data", fresh)
	check(fresh, "restored into an empty directory", 0)
}

// A backup never writes into a directory holding something, and one user
// can be backed up alone; the result is a store `check` accepts.
func TestBackupOneUserAndRefusals(t *testing.T) {
	data := killTestData(t)
	full := t.TempDir()
	if err := os.WriteFile(filepath.Join(full, "keep"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code := runBackup([]string{"--data", data, "--to", full}); code != 2 {
		t.Fatalf("backup into a non-empty directory: exit %d", code)
	}
	if code := runBackup([]string{"--data", data}); code != 2 {
		t.Fatalf("backup without --to: exit %d", code)
	}
	dest := filepath.Join(t.TempDir(), "b")
	if code := runBackup([]string{"--data", data, "--to", dest, "--user", "joe"}); code != 0 {
		t.Fatalf("backup --user joe: exit %d", code)
	}
	if code := runBackup([]string{"--data", data, "--to", filepath.Join(t.TempDir(), "c"), "--user", "nobody"}); code != 1 {
		t.Fatalf("backup of a user that does not exist: exit %d", code)
	}
	if code := runCheck([]string{"--data", dest}); code != 0 {
		t.Fatalf("check of the backup: exit %d", code)
	}
	if code := runRestore([]string{"--from", dest, "--data", filepath.Join(t.TempDir(), "d"), "--user", "nobody"}); code != 1 {
		t.Fatalf("restore of a user the backup lacks: exit %d", code)
	}
}
