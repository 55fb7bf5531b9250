package server

import "log/slog"

// ID (RFC 2971): logs what the client says about itself and answers with
// the server's name.
func init() {
	register(&Command{Name: "ID", States: anyState, Run: runID})
}

// maxIDLogFields is how many ID pairs are logged (clipped, see clip).
const maxIDLogFields = 8

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
				if n < maxIDLogFields {
					fields = append(fields, "id."+clip(k), clipLen(v))
				}
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
	// Logged once per connection: a client has no reason to repeat it.
	if len(fields) > 0 && !s.idLogged {
		s.idLogged = true
		s.logClient(slog.LevelInfo, "client id", fields...)
	}
	s.Untagged().Raw(`ID ("name" "Tidemark" "vendor" "Tidemark")`).CRLF()
	return nil
}
