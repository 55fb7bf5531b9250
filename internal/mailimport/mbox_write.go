package mailimport

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/tidemark-mail/tidemark/internal/store"
)

// MboxWriter writes messages in mboxrd form: a From_ line with the date in
// asctime form (UTC), the message with every line matching ^>*From  given
// one more '>', Status/X-Status/X-Keywords fields carrying the flags added
// at the end of the header, and an empty line after each message.
type MboxWriter struct {
	w *bufio.Writer
}

// NewMboxWriter writes to w; call Flush at the end.
func NewMboxWriter(w io.Writer) *MboxWriter {
	return &MboxWriter{w: bufio.NewWriterSize(w, 64<<10)}
}

// Flush writes out buffered data.
func (m *MboxWriter) Flush() error { return m.w.Flush() }

// WriteMessage appends one message read from body. An empty sender is
// written as MAILER-DAEMON, the usual stand-in when the envelope sender is
// unknown.
func (m *MboxWriter) WriteMessage(sender string, date time.Time, flags store.Flags, body io.Reader) error {
	if sender == "" || strings.ContainsAny(sender, " \t\r\n") {
		sender = "MAILER-DAEMON"
	}
	fmt.Fprintf(m.w, "From %s %s\n", sender, date.UTC().Format("Mon Jan _2 15:04:05 2006"))
	br := bufio.NewReaderSize(body, 64<<10)
	inHeader := true
	atStart := true
	eol := []byte("\n") // the message's own line ending, learned from its first line
	learned := false
	lastByte := byte('\n')
	for {
		p, err := br.ReadSlice('\n')
		if len(p) > 0 {
			start := atStart
			atStart = p[len(p)-1] == '\n'
			if !learned && atStart {
				if bytes.HasSuffix(p, []byte("\r\n")) {
					eol = []byte("\r\n")
				}
				learned = true
			}
			if start && inHeader && isBlankLine(p) {
				m.writeMetaFields(flags, eol)
				inHeader = false
			}
			if start && needsFromQuote(p) {
				m.w.WriteByte('>')
			}
			m.w.Write(p)
			lastByte = p[len(p)-1]
		}
		if err == nil || errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if err != io.EOF {
			return fmt.Errorf("mbox export: %w", err)
		}
		break
	}
	if lastByte != '\n' {
		m.w.Write(eol)
	}
	if inHeader { // a message with no body: the fields end the header
		m.writeMetaFields(flags, eol)
	}
	m.w.WriteByte('\n')
	return nil
}

func needsFromQuote(p []byte) bool {
	i := 0
	for i < len(p) && p[i] == '>' {
		i++
	}
	return bytes.HasPrefix(p[i:], []byte("From "))
}

func (m *MboxWriter) writeMetaFields(f store.Flags, eol []byte) {
	if f.System&store.FlagSeen != 0 {
		m.w.WriteString("Status: RO")
	} else {
		m.w.WriteString("Status: O")
	}
	m.w.Write(eol)
	var xs []byte
	for _, x := range []struct {
		flag store.SystemFlags
		c    byte
	}{{store.FlagAnswered, 'A'}, {store.FlagFlagged, 'F'}, {store.FlagDraft, 'T'}, {store.FlagDeleted, 'D'}} {
		if f.System&x.flag != 0 {
			xs = append(xs, x.c)
		}
	}
	if len(xs) > 0 {
		m.w.WriteString("X-Status: ")
		m.w.Write(xs)
		m.w.Write(eol)
	}
	if len(f.Keywords) > 0 {
		m.w.WriteString("X-Keywords: " + strings.Join(f.Keywords, " "))
		m.w.Write(eol)
	}
}
