package mailimport

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/mail"
	"strings"
	"time"

	"github.com/tidemark-mail/tidemark/internal/store"
)

// MboxVariant says how body lines beginning with "From " were quoted.
type MboxVariant int

const (
	// MboxRD: every line matching ^>*From  got one more '>', so reading
	// removes one '>' from every such line and the bytes come back exactly.
	MboxRD MboxVariant = iota
	// MboxO: only ^From  was quoted (to ">From "); reading turns ">From "
	// back into "From " and leaves ">>From " alone. Lossy for messages that
	// contained ">From " themselves, which is the format's own ambiguity.
	MboxO
)

// ParseMboxVariant accepts "mboxrd" and "mboxo".
func ParseMboxVariant(s string) (MboxVariant, error) {
	switch strings.ToLower(s) {
	case "mboxrd", "rd", "":
		return MboxRD, nil
	case "mboxo", "o":
		return MboxO, nil
	}
	return 0, fmt.Errorf("unknown mbox variant %q (want mboxrd or mboxo)", s)
}

// MboxMessage describes one message read by MboxReader.
type MboxMessage struct {
	Line   int    // line number of its From_ line, from 1
	Sender string // envelope sender from the From_ line
	// Date is the From_ line's date, or the Date header field's when the
	// From_ date cannot be parsed; zero when neither can.
	Date  time.Time
	Flags store.Flags // from Status, X-Status and X-Keywords
}

// MboxSyntaxError reports input that is not an mbox, with its place.
type MboxSyntaxError struct {
	File string
	Line int
	Msg  string
}

func (e *MboxSyntaxError) Error() string { return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg) }

// mboxMetaFields are header fields that carry mbox metadata rather than
// message content. Import turns them into flags and drops them; export
// writes them back (only the first three).
var mboxMetaFields = []string{"status", "x-status", "x-keywords", "x-uid", "x-imap", "x-imapbase"}

// MboxReader splits an mbox into messages. A From_ line starts a message
// when it is the first non-empty line of the file or follows an empty line;
// that empty line belongs to the separator, not to the message before it.
type MboxReader struct {
	br      *bufio.Reader
	name    string
	variant MboxVariant

	line    int    // number of complete lines consumed
	atStart bool   // the next byte read begins a line
	next    []byte // a From_ line read while finishing the previous message
	nextAt  int    // its line number
	done    bool
}

// NewMboxReader reads an mbox from r; name is used in error messages.
func NewMboxReader(r io.Reader, name string, v MboxVariant) *MboxReader {
	return &MboxReader{br: bufio.NewReaderSize(r, 64<<10), name: name, variant: v, atStart: true}
}

// readPiece returns the next piece of input: a whole line including its
// '\n', or a fragment of a very long line. start says whether the piece
// begins a line. It returns io.EOF when the input is exhausted.
func (r *MboxReader) readPiece() (piece []byte, start bool, err error) {
	start = r.atStart
	piece, err = r.br.ReadSlice('\n')
	switch {
	case err == nil:
		r.line++
		r.atStart = true
	case errors.Is(err, bufio.ErrBufferFull):
		r.atStart = false
		err = nil
	case err == io.EOF && len(piece) > 0:
		// a last line without '\n'
		r.line++
		r.atStart = true
		err = nil
	}
	return piece, start, err
}

func isBlankLine(p []byte) bool {
	return len(p) == 1 && p[0] == '\n' || len(p) == 2 && p[0] == '\r' && p[1] == '\n'
}

// Next writes the next message's bytes to w (unquoted, without the mbox
// metadata header fields) and describes it. It returns io.EOF after the last
// message. An *MboxSyntaxError means the input is not an mbox.
func (r *MboxReader) Next(w io.Writer) (MboxMessage, error) {
	if r.done {
		return MboxMessage{}, io.EOF
	}
	var from []byte
	var fromLine int
	if r.next != nil {
		from, fromLine, r.next = r.next, r.nextAt, nil
	} else {
		// Start of file: skip empty lines, then a From_ line must come.
		for {
			p, start, err := r.readPiece()
			if err == io.EOF {
				r.done = true
				return MboxMessage{}, io.EOF
			}
			if err != nil {
				return MboxMessage{}, fmt.Errorf("%s:%d: %w", r.name, r.line+1, err)
			}
			if start && isBlankLine(p) {
				continue
			}
			if !start || !bytes.HasPrefix(p, []byte("From ")) {
				return MboxMessage{}, &MboxSyntaxError{r.name, r.line, fmt.Sprintf("not an mbox: expected a \"From \" separator line, found %q", abbreviate(p))}
			}
			from, fromLine = bytes.Clone(p), r.line
			if !r.atStart { // a From_ line longer than the buffer: drop the rest
				for !r.atStart {
					if _, _, err := r.readPiece(); err != nil {
						break
					}
				}
			}
			break
		}
	}
	msg := MboxMessage{Line: fromLine}
	msg.Sender, msg.Date = parseFromLine(from)
	dateField, err := r.copyMessage(w, &msg)
	if err != nil {
		return msg, err
	}
	if msg.Date.IsZero() && dateField != "" {
		if t, err := mail.ParseDate(dateField); err == nil {
			msg.Date = t
		}
	}
	return msg, nil
}

// copyMessage streams the message body after the From_ line to w, stopping
// at the next separator (kept in r.next) or at EOF. It returns the value of
// the Date header field.
func (r *MboxReader) copyMessage(w io.Writer, msg *MboxMessage) (dateField string, err error) {
	inHeader := true
	var field []byte // the header field being gathered (with continuations)
	var held []byte  // an empty line that may turn out to be the separator
	write := func(p []byte) error {
		if _, err := w.Write(p); err != nil {
			return fmt.Errorf("%s:%d: %w", r.name, r.line, err)
		}
		return nil
	}
	flushField := func() error {
		if field == nil {
			return nil
		}
		f := field
		field = nil
		name, value, ok := splitField(f)
		if ok && isMetaField(name) {
			applyMetaField(&msg.Flags, name, value)
			return nil
		}
		if ok && strings.EqualFold(name, "date") {
			dateField = value
		}
		return write(f)
	}
	for {
		p, start, err := r.readPiece()
		if err == io.EOF {
			r.done = true
			if inHeader {
				return dateField, flushField()
			}
			return dateField, nil // a held empty line at EOF is the separator
		}
		if err != nil {
			return dateField, fmt.Errorf("%s:%d: %w", r.name, r.line+1, err)
		}
		if start && held != nil && bytes.HasPrefix(p, []byte("From ")) {
			// RFC 4155: the empty line and this From_ line separate messages.
			r.next, r.nextAt = bytes.Clone(p), r.line
			if !r.atStart {
				for !r.atStart {
					if _, _, err := r.readPiece(); err != nil {
						break
					}
				}
			}
			return dateField, nil
		}
		if held != nil {
			if err := write(held); err != nil {
				return dateField, err
			}
			held = nil
		}
		if start {
			p = r.unquote(p)
		}
		if start && isBlankLine(p) {
			if inHeader {
				if err := flushField(); err != nil {
					return dateField, err
				}
				inHeader = false
			}
			held = append(held[:0], p...)
			continue
		}
		if inHeader {
			continuation := !start || p[0] == ' ' || p[0] == '\t'
			if !continuation {
				if err := flushField(); err != nil {
					return dateField, err
				}
			}
			field = append(field, p...)
			if len(field) > 1<<20 { // not a field anyone needs parsed
				if err := write(field); err != nil {
					return dateField, err
				}
				field = field[:0]
			}
			continue
		}
		if err := write(p); err != nil {
			return dateField, err
		}
	}
}

// unquote undoes From_ quoting on a line (RFC 4155 and the mboxrd rule).
func (r *MboxReader) unquote(p []byte) []byte {
	if len(p) < 6 || p[0] != '>' {
		return p
	}
	i := 0
	for i < len(p) && p[i] == '>' {
		i++
	}
	if !bytes.HasPrefix(p[i:], []byte("From ")) {
		return p
	}
	if r.variant == MboxO && i != 1 {
		return p
	}
	return p[1:]
}

func abbreviate(p []byte) string {
	p = bytes.TrimRight(p, "\r\n")
	if len(p) > 60 {
		return string(p[:60]) + "..."
	}
	return string(p)
}

// splitField splits a raw header field into its name and unfolded value.
func splitField(f []byte) (name, value string, ok bool) {
	i := bytes.IndexByte(f, ':')
	if i <= 0 {
		return "", "", false
	}
	name = string(bytes.TrimRight(f[:i], " \t"))
	if strings.ContainsAny(name, " \t\r\n") {
		return "", "", false
	}
	v := strings.NewReplacer("\r\n", "", "\n", "").Replace(string(f[i+1:]))
	return name, strings.TrimSpace(v), true
}

func isMetaField(name string) bool {
	for _, m := range mboxMetaFields {
		if strings.EqualFold(name, m) {
			return true
		}
	}
	return false
}

// applyMetaField turns the mbox metadata fields into flags, as written by
// mutt, Dovecot and Thunderbird: Status R = seen (O = old, no IMAP
// meaning); X-Status A = answered, F = flagged, T = draft, D = deleted;
// X-Keywords is a list separated by spaces or commas.
func applyMetaField(f *store.Flags, name, value string) {
	switch strings.ToLower(name) {
	case "status":
		if strings.ContainsRune(value, 'R') {
			f.System |= store.FlagSeen
		}
	case "x-status":
		for _, c := range value {
			switch c {
			case 'A':
				f.System |= store.FlagAnswered
			case 'F':
				f.System |= store.FlagFlagged
			case 'T':
				f.System |= store.FlagDraft
			case 'D':
				f.System |= store.FlagDeleted
			}
		}
	case "x-keywords":
		kws := strings.FieldsFunc(value, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' })
		f.Keywords = store.NormalizeKeywords(append(f.Keywords, kws...))
	}
}

// fromLineLayouts are the date forms seen on From_ lines: asctime, with a
// zone name or offset, and the RFC 5322 form some writers use.
var fromLineLayouts = []string{
	"Mon Jan 2 15:04:05 2006",
	"Mon Jan 2 15:04:05 MST 2006",
	"Mon Jan 2 15:04:05 -0700 2006",
	"Mon Jan 2 15:04 2006",
	"Mon, 2 Jan 2006 15:04:05 -0700",
	"Mon Jan 2 15:04:05 2006 -0700",
}

// parseFromLine extracts the envelope sender and date of a From_ line. The
// asctime date has no zone and is taken as UTC. A date that cannot be read
// gives the zero time.
func parseFromLine(line []byte) (sender string, date time.Time) {
	fields := strings.Fields(strings.TrimSpace(string(line)))
	if len(fields) < 2 {
		return "", time.Time{}
	}
	sender = fields[1]
	rest := strings.Join(fields[2:], " ")
	for _, layout := range fromLineLayouts {
		if t, err := time.Parse(layout, rest); err == nil {
			return sender, t
		}
	}
	return sender, time.Time{}
}
