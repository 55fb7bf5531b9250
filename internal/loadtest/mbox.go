package loadtest

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
)

// ReadMbox reads an mbox file and returns its messages, see SplitMbox.
func ReadMbox(path string) ([][]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("loadtest: open mbox: %w", err)
	}
	defer f.Close()
	msgs, err := SplitMbox(f)
	if err != nil {
		return nil, fmt.Errorf("loadtest: read mbox %s: %w", path, err)
	}
	return msgs, nil
}

// SplitMbox splits an mbox stream (the "mboxrd" reading) into messages ready
// to APPEND: a message starts at each line beginning with "From "; that
// From_ line itself is dropped; one level of ">From " quoting is removed
// (">>From " becomes ">From "); and every line ends in CRLF, since an IMAP
// literal carries the message in its RFC 5322 wire form. The blank line an
// mbox writer puts between messages is removed.
func SplitMbox(r io.Reader) ([][]byte, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	var (
		msgs [][]byte
		cur  []byte
		in   bool
	)
	flush := func() {
		if !in {
			return
		}
		// Drop the separator blank line that precedes the next From_ line.
		if bytes.HasSuffix(cur, []byte("\r\n\r\n")) {
			cur = cur[:len(cur)-2]
		}
		msgs = append(msgs, cur)
		cur = nil
	}
	for {
		line, err := br.ReadBytes('\n')
		if len(line) > 0 {
			switch {
			case bytes.HasPrefix(line, []byte("From ")):
				flush()
				in = true
			case in:
				line = bytes.TrimRight(line, "\r\n")
				if unq := bytes.TrimLeft(line, ">"); len(unq) < len(line) && bytes.HasPrefix(unq, []byte("From ")) {
					line = line[1:]
				}
				cur = append(cur, line...)
				cur = append(cur, '\r', '\n')
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
	}
	flush()
	return msgs, nil
}
