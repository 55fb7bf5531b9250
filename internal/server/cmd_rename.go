package server

// RENAME (RFC 9051 6.3.6). The store renames the whole subtree, creates
// missing parents of the new name and keeps mailbox ids, so a session
// with a renamed mailbox selected keeps its view. Renaming INBOX moves its
// messages to the new mailbox and leaves INBOX empty; a session with
// INBOX selected sees them expunged at its next sync point.
func init() {
	register(&Command{Name: "RENAME", States: authenticated, Run: runRename})
}

func runRename(s *Session, c *Cmd) error {
	from, err := readMailboxArg(s, c.Dec)
	if err != nil {
		return err
	}
	to, err := readMailboxArg(s, c.Dec)
	if err == errNameNotMUTF7 {
		return errCannotCreateName
	}
	if err != nil {
		return err
	}
	if err := c.End(); err != nil {
		return err
	}
	if to == "INBOX" {
		return No("ALREADYEXISTS", "INBOX always exists")
	}
	if s.srv.hasACL() && (isSharedName(from) || isSharedName(to)) {
		return s.renameShared(from, to)
	}
	return s.acct.RenameMailbox(s.ctx(), from, to)
}
