package server

import (
	"strings"

	"github.com/tidemark-mail/tidemark/internal/sortthread"
	"github.com/tidemark-mail/tidemark/internal/store"
)

// THREAD and UID THREAD (RFC 5256) with the ORDEREDSUBJECT and REFERENCES
// algorithms, and REFS (draft-ietf-morg-inthread, as Dovecot implements
// it). The trees are package sortthread's, built from the same cached
// keys as SORT (sort_input.go).
func init() {
	register(
		&Command{Name: "THREAD", States: StateSelected, UsesSeqs: true, Run: runThread},
		&Command{Name: "THREAD", UID: true, States: StateSelected, Run: runThread},
	)
	addCapability("THREAD=ORDEREDSUBJECT", nil)
	addCapability("THREAD=REFERENCES", nil)
	addCapability("THREAD=REFS", nil)
}

func runThread(s *Session, c *Cmd) error {
	d := c.Dec
	uid := c.Name == "UID THREAD"
	if err := d.SP(); err != nil {
		return err
	}
	name, err := d.Atom()
	if err != nil {
		return err
	}
	alg, ok := sortthread.AlgorithmByName[strings.ToUpper(name)]
	if !ok {
		return Bad("CLIENTBUG", "Unknown threading algorithm "+name)
	}
	prog, err := readSortProgram(c)
	if err != nil {
		return err
	}
	in, err := s.sortInput(prog, "THREAD "+strings.ToUpper(name), uid)
	if err != nil {
		return err
	}
	data := in.memo
	if !in.memoHit {
		roots := sortthread.Thread(in.msgs, alg)
		// RFC 5256 BASE.7.2.THREAD.
		num := func(u store.UID) (uint32, bool) {
			if uid {
				return uint32(u), true
			}
			return s.view.Seq(u)
		}
		data = sortthread.Format(roots, num)
		in.remember(data)
	}
	e := s.Untagged().Raw("THREAD")
	if data != "" {
		e.SP().Raw(data)
	}
	e.CRLF()
	return s.enc.Err()
}
