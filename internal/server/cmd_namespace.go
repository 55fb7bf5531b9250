package server

// NAMESPACE (RFC 2342, RFC 9051 6.3.10). Tidemark has a single personal
// namespace with the empty prefix and "/" as delimiter, and neither other
// users' nor shared namespaces.
func init() {
	register(&Command{Name: "NAMESPACE", States: authenticated, Run: runNamespace})
	addCapability("NAMESPACE", nil)
}

func runNamespace(s *Session, c *Cmd) error {
	if err := c.End(); err != nil {
		return err
	}
	s.Untagged().Raw(`NAMESPACE (("" "` + hierarchyDelimiter + `")) NIL NIL`).CRLF()
	return s.enc.Err()
}
