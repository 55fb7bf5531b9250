package server

// NAMESPACE (RFC 2342, RFC 9051 6.3.10). Tidemark has a personal
// namespace with the empty prefix and "/" as delimiter and, when the store
// keeps access control lists, the other users' namespace "Other Users/"
// (shared.go); no shared namespace.
func init() {
	register(&Command{Name: "NAMESPACE", States: authenticated, Run: runNamespace})
	addCapability("NAMESPACE", nil)
}

func runNamespace(s *Session, c *Cmd) error {
	if err := c.End(); err != nil {
		return err
	}
	others := "NIL"
	if s.srv.hasACL() {
		// Other users' mailboxes shared with the user (shared.go).
		others = `(("` + sharedPrefix + hierarchyDelimiter + `" "` + hierarchyDelimiter + `"))`
	}
	s.Untagged().Raw(`NAMESPACE (("" "` + hierarchyDelimiter + `")) ` + others + ` NIL`).CRLF()
	return s.enc.Err()
}
