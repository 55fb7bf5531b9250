package server

import (
	"fmt"
	"strings"
	"testing"

	"github.com/tidemark-mail/tidemark/internal/store"
)

// TestSearchLiteralMemory: SEARCH with a thousand 64 KiB literals used to
// hold about 128 MB for one command. The literals of one command read into
// memory are bounded together (wire.Limits.MaxCommandMemory, 1 MiB): the
// one past the bound is refused before the client sends it, and the
// connection goes on.
func TestSearchLiteralMemory(t *testing.T) {
	env := newTestEnv(t, nil)
	env.appendMessages("INBOX", 1, store.Flags{})
	c := env.dial()
	c.login()
	c.send("s SELECT INBOX")
	c.until("s OK")
	lit := strings.Repeat("z", 60<<10)
	c.send(fmt.Sprintf("a SEARCH TEXT {%d}", len(lit)))
	refused := -1
	for i := 1; i < 40; i++ {
		l := c.readLine()
		if strings.HasPrefix(l, "a BAD [LIMIT]") {
			refused = i
			break
		}
		if !strings.HasPrefix(l, "+ ") {
			t.Fatalf("literal %d: %q", i, l)
		}
		c.conn.Write([]byte(lit))
		c.send(fmt.Sprintf(" TEXT {%d}", len(lit)))
	}
	if refused < 0 || int64(refused-1)*int64(len(lit)) > 1<<20 {
		t.Fatalf("refused at literal %d", refused)
	}
	c.send("b NOOP")
	c.expect(`^b OK `)
}
