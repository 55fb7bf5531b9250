package server

import (
	"bytes"
	"errors"
	"fmt"
	"github.com/tidemark-mail/tidemark/internal/acl"
	"io"
	"os"
	"sync"

	"github.com/tidemark-mail/tidemark/internal/store"
	"github.com/tidemark-mail/tidemark/internal/wire"
)

// APPEND (RFC 9051 6.3.12) with MULTIAPPEND (RFC 3502), UIDPLUS's
// APPENDUID (RFC 4315 3), APPENDLIMIT (RFC 7889), literal8 message data
// (RFC 3516 4.4) and CATENATE (RFC 4469, cmd_append_catenate.go).
//
// All the messages of one command go to the store in one append, one
// transaction: either all are appended or none (RFC 3502 6). The store
// takes the messages one at a time as the client sends them
// (store.AppendStream): each literal is spooled as it arrives, in memory
// up to spoolInMemory bytes, to a temporary file beyond, and handed over,
// so that the store hashes, parses and compresses it on another core while
// the next one is read. Nothing is committed before the command's last
// byte has been read and checked.
//
// Refusals come as early as the protocol allows: a missing mailbox is
// answered before the first literal is accepted, and a synchronizing
// literal above the limit, or one that would take the user over quota with
// the messages before it, is refused before the client sends it (the
// decoder checks Limits.MaxAppendLiteral and the quota before asking for
// the bytes), so nothing is spooled for a refused message.
//
// Memory is bounded per command and for the whole server: a message is
// kept in memory only if it is at most spoolInMemory bytes, the command's
// messages in memory stay within appendMemoryPerCommand, and all commands'
// within the server's spool budget (Server.spoolMem); the rest goes to
// temporary files.
func init() {
	register(&Command{Name: "APPEND", States: authenticated, Run: runAppend})
	addCapability("MULTIAPPEND", nil)
	// RFC 7889 2(a): the same limit for every mailbox.
	addCapabilityFunc(func(s *Session) string { return "APPENDLIMIT=" + itoa64(uint64(s.configuredAppendLimit())) }, nil)
}

// configuredAppendLimit is the largest message literal the decoder
// accepts, from the configuration (Limits.MaxAppendLiteral, or the wire
// default), so that it is known before the connection's decoder exists.
func (s *Session) configuredAppendLimit() int64 {
	if n := s.srv.cfg.Limits.MaxAppendLiteral; n > 0 {
		return n
	}
	return wire.DefaultLimits.MaxAppendLiteral
}

const (
	// spoolInMemory is the largest message kept in memory while the
	// command is read; larger ones go to a temporary file.
	spoolInMemory = 256 << 10
	// maxAppendTotal bounds the bytes of one MULTIAPPEND command, on top
	// of the per-message limit.
	maxAppendTotal = 1 << 30
	// appendMemoryPerCommand bounds the messages of one command held in
	// memory; spoolMemoryTotal those of all commands of the server.
	appendMemoryPerCommand = 1 << 20
	spoolMemoryTotal       = 64 << 20
)

// memBudget is a count of bytes that callers reserve and give back.
type memBudget struct {
	mu   sync.Mutex
	left int64 // guarded by mu
}

func newMemBudget(n int64) *memBudget { return &memBudget{left: n} }

// reserve takes n bytes if that many are left.
func (b *memBudget) reserve(n int64) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if n > b.left {
		return false
	}
	b.left -= n
	return true
}

// available is what is left.
func (b *memBudget) available() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.left
}

func (b *memBudget) release(n int64) {
	b.mu.Lock()
	b.left += n
	b.mu.Unlock()
}

func runAppend(s *Session, c *Cmd) error {
	d := c.Dec
	if err := d.SP(); err != nil {
		return err
	}
	name, err := s.ReadMailbox(d)
	if err != nil {
		return err
	}
	// Before any literal: a client waiting for its first continuation
	// gets NO [TRYCREATE] instead, and sends no message bytes.
	mb, err := s.destination(name)
	if err != nil {
		return err
	}

	var spooled []*spooledMessage
	defer func() {
		for _, m := range spooled {
			m.close()
		}
	}()
	total := max(int64(maxAppendTotal), d.Limits().MaxAppendLiteral)
	var appendBytes int64 // for the quota check
	inMemory := int64(0)  // of this command, under appendMemoryPerCommand
	count := 0
	// next reads one append-message = [SP flag-list] [SP date-time] SP
	// literal (RFC 3502 6) off the connection. The store takes each as it
	// is read, preparing it while the client sends the next one.
	var readErr error
	var read bool    // the whole command was read
	var flagged bool // some message was appended with flags
	next := func() (store.NewMessage, bool, error) {
		m, err := func() (store.NewMessage, error) {
			var m store.NewMessage
			if err := d.SP(); err != nil {
				return m, err
			}
			var err error
			if c, _ := d.Peek(); c == '(' {
				if m.Flags, err = readFlagList(d); err != nil {
					return m, err
				}
				if err := d.SP(); err != nil {
					return m, err
				}
			}
			if c, _ := d.Peek(); c == '"' {
				if m.InternalDate, err = d.DateTime(); err != nil {
					return m, err
				}
				if err := d.SP(); err != nil {
					return m, err
				}
			}
			if isCatenate(d) {
				// RFC 4469: the message is built from TEXT and URL parts.
				sp, size, err := readCatenate(s, d, func(size int64) error {
					if size > total {
						return No("TOOBIG", "Messages of one APPEND exceed the total size limit")
					}
					return s.checkQuotaOf(mb.owner, appendBytes+size, int64(count+1))
				})
				if sp != nil {
					spooled = append(spooled, sp)
				}
				if err != nil {
					return m, err
				}
				appendBytes += size
				total -= size
				m.Body = sp.reader()
				return m, nil
			}
			lit, err := d.LiteralChecked(func(size int64) error {
				if size > total {
					return No("TOOBIG", "Messages of one APPEND exceed the total size limit")
				}
				// The quota with this message and those before it, before
				// the client sends (or the server spools) its bytes.
				return s.checkQuotaOf(mb.owner, appendBytes+size, int64(count+1))
			})
			if err != nil {
				return m, literalRefusal(err)
			}
			if lit.Size == 0 {
				return m, No("", "Empty messages cannot be appended")
			}
			appendBytes += lit.Size
			total -= lit.Size
			var mem *memBudget
			if lit.Size <= spoolInMemory && inMemory+lit.Size <= appendMemoryPerCommand && s.srv.spoolMem.reserve(lit.Size) {
				mem = s.srv.spoolMem
				inMemory += lit.Size
			}
			sp, err := spoolLiteral(lit, mem)
			if sp != nil {
				spooled = append(spooled, sp)
			}
			if err != nil {
				return m, err
			}
			m.Body = sp.reader()
			return m, nil
		}()
		if err == nil {
			count++
			if mb.rights != acl.All {
				m.Flags = allowedFlags(m.Flags, mb.rights) // RFC 4314 4
			}
			flagged = flagged || m.Flags.System != 0 || len(m.Flags.Keywords) > 0
			if c, _ := d.Peek(); c == ' ' {
				return m, true, nil
			}
			if err = c.End(); err == nil {
				err = s.checkQuotaOf(mb.owner, appendBytes, int64(count))
			}
		}
		if err != nil {
			readErr = err
			return m, false, err
		}
		read = true
		return m, false, nil
	}

	res, err := store.AppendStream(s.ctx(), mb.acct, mb.info.ID, next)
	if readErr != nil {
		return readErr
	}
	if err != nil {
		// A store that gave up before the last message (the mailbox
		// deleted meanwhile) leaves the rest of the command to read, so
		// that the answer is a clean NO rather than a discarded line.
		for more := !read; more; {
			if _, more, _ = next(); readErr != nil {
				return readErr
			}
		}
		return tryCreate(err) // deleted meanwhile
	}
	if !flagged && s.box != nil && mb.acct == s.boxAcct() && mb.info.ID == s.view.Mailbox.ID {
		// Into the selected mailbox: the open mailbox learns of the new
		// messages from here rather than from the store (as a STORE's).
		s.box.CommittedAppend(res.ModSeq, res.UIDs)
	}
	var uids store.UIDSet
	for _, u := range res.UIDs {
		uids.Add(u)
	}
	c.Code = "APPENDUID " + itoa64(uint64(res.UIDValidity)) + " " + uids.String()
	return nil
}

// literalRefusal turns the decoder's refusal of an oversized message
// literal into the tagged NO [TOOBIG] that RFC 7889 4 asks for (the
// decoder's own answer is BAD, right for other literals). Errors that end
// the connection stay as they are.
func literalRefusal(err error) error {
	var we *wire.Error
	if errors.As(err, &we) && we.Code == wire.CodeTooBig && !we.Close {
		return &Error{Status: NO, Code: "TOOBIG", Text: "Message exceeds the APPENDLIMIT", internal: err}
	}
	return err
}

// spooledMessage is one message literal read off the connection, held
// until the append transaction.
type spooledMessage struct {
	data []byte   // the message, when small
	file *os.File // the message, when large; removed by close
	mem  *memBudget
}

// errNUL is the answer to a message sent as an ordinary literal that
// holds NUL bytes: RFC 9051 9 literal is CHAR8, which excludes NUL; such
// messages need literal8 "~{n}" (RFC 3516 4.4).
var errNUL = Bad("", "Message contains NUL bytes; send it as literal8 (~{n})")

// spoolLiteral reads lit to its end into memory, when mem holds a
// reservation of its size (given back by close), or a temporary file. It
// returns the spooled message even with an error, for the caller to
// close.
func spoolLiteral(lit *wire.Literal, mem *memBudget) (*spooledMessage, error) {
	if mem != nil {
		m := &spooledMessage{mem: mem, data: make([]byte, lit.Size)}
		if _, err := io.ReadFull(lit, m.data); err != nil {
			return m, fmt.Errorf("append: reading message: %w", err)
		}
		if !lit.Binary && bytes.IndexByte(m.data, 0) >= 0 {
			return m, errNUL
		}
		return m, nil
	}
	f, err := os.CreateTemp("", "tidemark-append-*")
	if err != nil {
		return nil, fmt.Errorf("append: spool: %w", err)
	}
	m := &spooledMessage{file: f}
	var w io.Writer = f
	if !lit.Binary {
		w = nulChecker{f}
	}
	if _, err := io.Copy(w, lit); err != nil {
		if errors.Is(err, errNULFound) {
			return m, errNUL
		}
		return m, fmt.Errorf("append: spool: %w", err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return m, fmt.Errorf("append: spool: %w", err)
	}
	return m, nil
}

// reader returns the spooled bytes from the start.
func (m *spooledMessage) reader() io.Reader {
	if m.file != nil {
		return m.file
	}
	return bytes.NewReader(m.data)
}

func (m *spooledMessage) close() {
	if m.mem != nil {
		m.mem.release(int64(len(m.data)))
		m.mem, m.data = nil, nil
	}
	if m.file != nil {
		m.file.Close()
		os.Remove(m.file.Name())
	}
}

var errNULFound = errors.New("NUL byte in message literal")

// nulChecker passes writes through, failing at the first NUL byte.
type nulChecker struct{ w io.Writer }

func (c nulChecker) Write(p []byte) (int, error) {
	if bytes.IndexByte(p, 0) >= 0 {
		return 0, errNULFound
	}
	return c.w.Write(p)
}
