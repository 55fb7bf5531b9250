package server

// ID (RFC 2971): logs what the client says about itself and answers with
// the server's name.
func init() {
	register(&Command{Name: "ID", States: anyState, Run: runID})
}

func runID(s *Session, c *Cmd) error {
	d := c.Dec
	if err := d.SP(); err != nil {
		return err
	}
	var fields []any
	if d.Special('(') {
		if !d.Special(')') {
			for n := 0; ; n++ {
				k, err := d.String()
				if err != nil {
					return err
				}
				if err := d.SP(); err != nil {
					return err
				}
				v, _, err := d.Nstring()
				if err != nil {
					return err
				}
				if n >= 30 { // RFC 2971 3.3: at most 30 pairs
					return Bad("", "Too many ID fields")
				}
				fields = append(fields, "id."+k, v)
				if d.Special(')') {
					break
				}
				if err := d.SP(); err != nil {
					return err
				}
			}
		}
	} else if _, ok, err := d.Nstring(); err != nil || ok {
		if err == nil {
			err = Bad("", "ID takes a list or NIL")
		}
		return err
	}
	if err := c.End(); err != nil {
		return err
	}
	if len(fields) > 0 {
		s.log.Info("client id", fields...)
	}
	s.Untagged().Raw(`ID ("name" "Tidemark" "vendor" "Tidemark")`).CRLF()
	return nil
}
