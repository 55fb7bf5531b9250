package server

import (
	"slices"
	"strings"
)

// ENABLE (RFC 5161). The extensions a client enabled are recorded on the
// session (Session.Enabled) for command files to consult.
func init() {
	register(&Command{Name: "ENABLE", States: authenticated, Run: runEnable})
}

// enableable lists what ENABLE accepts, by upper-case name.
var enableable = map[string]bool{
	"CONDSTORE":   true,
	"QRESYNC":     true,
	"IMAP4REV2":   true,
	"UTF8=ACCEPT": true,
	"METADATA":    true, // unsolicited METADATA (metadata_unsolicited.go)
}

func runEnable(s *Session, c *Cmd) error {
	d := c.Dec
	var names []string
	for d.Special(' ') {
		a, err := d.Atom()
		if err != nil {
			return err
		}
		names = append(names, a)
	}
	if len(names) == 0 {
		return Bad("", "ENABLE needs at least one extension")
	}
	if err := c.End(); err != nil {
		return err
	}
	var newly []string
	enable := func(ext string) {
		if !s.enabled[ext] {
			s.enabled[ext] = true
			newly = append(newly, ext)
		}
	}
	for _, n := range names {
		up := strings.ToUpper(n)
		if !enableable[up] || up == "METADATA" && !s.srv.hasMetadata() {
			continue // RFC 5161 3.1: unknown extensions are ignored
		}
		if up == "QRESYNC" {
			enable("CONDSTORE") // RFC 7162 3.2.3
		}
		enable(up)
	}
	if s.enabled["IMAP4REV2"] || s.enabled["UTF8=ACCEPT"] {
		s.enc.UTF8 = true // RFC 6855 3, RFC 9051 6.3.1
	}
	// RFC 5161 3.1: ENABLED lists only what this command newly enabled.
	e := s.Untagged().Raw("ENABLED")
	for _, n := range newly {
		e.SP().Raw(enabledSpelling(n))
	}
	e.CRLF()
	// RFC 7162 3.1: ENABLE CONDSTORE (or QRESYNC, which implies it) is a
	// CONDSTORE-enabling command; the first one with a mailbox selected
	// reports its HIGHESTMODSEQ. (RFC 5161 asks clients to ENABLE before
	// selecting; Tidemark does not refuse it afterwards.)
	if slices.Contains(newly, "CONDSTORE") {
		s.announceHighestModSeq()
	}
	if slices.Contains(newly, "METADATA") {
		return s.startMetadataWatch()
	}
	return nil
}

// enabledSpelling writes extension names as they are advertised.
func enabledSpelling(up string) string {
	if up == "IMAP4REV2" {
		return "IMAP4rev2"
	}
	return up
}
