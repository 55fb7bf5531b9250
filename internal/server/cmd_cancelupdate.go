package server

// CANCELUPDATE "tag" ... (RFC 5267 4.3.5): stop the updates of the named
// searching commands (context.go).
func init() {
	register(&Command{Name: "CANCELUPDATE", States: StateSelected, Run: runCancelUpdate})
}

func runCancelUpdate(s *Session, c *Cmd) error {
	d := c.Dec
	var tags []string
	for {
		if err := d.SP(); err != nil {
			return err
		}
		t, err := d.Quoted()
		if err != nil {
			return err
		}
		tags = append(tags, t)
		if c, err := d.Peek(); err != nil || c != ' ' {
			break
		}
	}
	if err := c.End(); err != nil {
		return err
	}
	if !s.cancelContexts(tags) {
		return Bad("CLIENTBUG", "No updating search under that tag")
	}
	c.Text = "No further updates"
	return nil
}
