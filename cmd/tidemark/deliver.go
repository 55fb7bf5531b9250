package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/tidemark-mail/tidemark/internal/message"
	"github.com/tidemark-mail/tidemark/internal/store"
	"github.com/tidemark-mail/tidemark/internal/wire"
)

func init() {
	register("deliver", "store one message from standard input (local delivery agent)", runDeliver)
}

// Exit codes of `tidemark deliver`, from sysexits.h, which MTAs map to
// bounce (permanent) or defer (temporary).
const (
	exOK        = 0
	exUsage     = 64 // bad arguments or flags
	exDataErr   = 65 // empty or too big a message
	exNoUser    = 67 // no such user
	exCantCreat = 73 // the store refused the message for good (over quota, no mailbox)
	exTempFail  = 75 // try again later
	exConfig    = 78 // no data directory
)

const deliverUsage = `usage: tidemark deliver --data DIR --user NAME [--mailbox M] [--create] [--flags '\Seen,$Label'] [--max-size BYTES] < message

Stores the message read on standard input in the user's mailbox M (default
INBOX). A mailbox that does not exist is created with --create, else the
message goes to INBOX. Exit codes follow sysexits: 0 delivered, 64 bad usage,
65 empty or too big a message, 67 no such user, 73 refused, 75 temporary
failure (the MTA should retry), 78 no data directory.
`

func runDeliver(args []string) int {
	return deliverMain(context.Background(), args, os.Stdin, os.Stderr)
}

func deliverMain(ctx context.Context, args []string, stdin io.Reader, stderr io.Writer) int {
	fs := flag.NewFlagSet("deliver", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, deliverUsage) }
	dataDir := fs.String("data", os.Getenv("TIDEMARK_DATA"), "data directory")
	user := fs.String("user", "", "recipient user")
	mailbox := fs.String("mailbox", "INBOX", "target mailbox")
	create := fs.Bool("create", false, "create the mailbox if it does not exist")
	flagList := fs.String("flags", "", "comma-separated flags to set, e.g. '\\Seen,$Label1'")
	configPath := configFlag(fs)
	maxSize := fs.Int64("max-size", 0, "refuse messages larger than this many bytes (0: no limit)")
	if err := fs.Parse(args); err != nil || fs.NArg() > 0 || *dataDir == "" || *user == "" {
		if err == nil {
			fs.Usage()
		}
		return exUsage
	}
	flags, err := parseFlagList(*flagList)
	if err != nil {
		fmt.Fprintf(stderr, "tidemark deliver: %v\n", err)
		return exUsage
	}
	if st, err := os.Stat(*dataDir); err != nil || !st.IsDir() {
		fmt.Fprintf(stderr, "tidemark deliver: data directory %s: not found\n", *dataDir)
		return exConfig
	}

	body := bufio.NewReaderSize(stdin, 64<<10)
	if _, err := body.Peek(1); err == io.EOF {
		fmt.Fprintln(stderr, "tidemark deliver: empty message")
		return exDataErr
	}

	st, err := openConfiguredStore(ctx, *configPath, *dataDir, storeOptions{MaxMessageSize: *maxSize})
	if err != nil {
		fmt.Fprintf(stderr, "tidemark deliver: %v\n", err)
		return exTempFail
	}
	defer st.Close()
	acct, err := st.Open(ctx, *user)
	if errors.Is(err, store.ErrNoUser) {
		fmt.Fprintf(stderr, "tidemark deliver: %s: no such user\n", *user)
		return exNoUser
	}
	if err != nil {
		fmt.Fprintf(stderr, "tidemark deliver: %v\n", err)
		return exTempFail
	}
	defer acct.Close()

	info, err := acct.Mailbox(ctx, *mailbox)
	if errors.Is(err, store.ErrNoMailbox) {
		if *create {
			info, err = acct.CreateMailbox(ctx, *mailbox, store.CreateOptions{})
			if errors.Is(err, store.ErrMailboxExists) {
				info, err = acct.Mailbox(ctx, *mailbox)
			}
			if err != nil && !isTemporary(err) {
				fmt.Fprintf(stderr, "tidemark deliver: creating %q: %v\n", *mailbox, err)
				return exCantCreat
			}
		} else {
			fmt.Fprintf(stderr, "tidemark deliver: no mailbox %q, delivering to INBOX\n", *mailbox)
			info, err = acct.Mailbox(ctx, "INBOX")
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "tidemark deliver: %v\n", err)
		if isTemporary(err) {
			return exTempFail
		}
		return exCantCreat
	}
	// A local delivery agent reads the Unix convention from its pipe; the
	// store keeps messages with CRLF line endings.
	_, err = acct.Append(ctx, info.ID, []store.NewMessage{{Body: message.CRLFReader(body), Flags: flags}})
	switch {
	case err == nil:
		return exOK
	case errors.Is(err, store.ErrTooBig):
		fmt.Fprintf(stderr, "tidemark deliver: %v\n", err)
		return exDataErr
	case errors.Is(err, store.ErrOverQuota), errors.Is(err, store.ErrInvalidKeyword):
		fmt.Fprintf(stderr, "tidemark deliver: %v\n", err)
		return exCantCreat
	default:
		fmt.Fprintf(stderr, "tidemark deliver: %v\n", err)
		return exTempFail
	}
}

// isTemporary tells store failures worth retrying (I/O, locks) from
// refusals that will not change.
func isTemporary(err error) bool {
	for _, permanent := range []error{store.ErrInvalidName, store.ErrCannot, store.ErrNoMailbox, store.ErrOverQuota, store.ErrTooBig} {
		if errors.Is(err, permanent) {
			return false
		}
	}
	return true
}

// parseFlagList reads "\Seen,$Label1 Work": system flags by name (any
// case, as IMAP spells them: wire.AddFlag), anything else a keyword, which
// must be an IMAP atom the store accepts (store.ValidKeyword, RFC 9051 9).
func parseFlagList(s string) (store.Flags, error) {
	var f store.Flags
	for _, name := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' }) {
		if !strings.HasPrefix(name, `\`) && !store.ValidKeyword(name) {
			return f, fmt.Errorf("invalid keyword %q", name)
		}
		if !wire.AddFlag(&f, name) {
			return f, fmt.Errorf("unknown system flag %s", name)
		}
	}
	f.Keywords = store.NormalizeKeywords(f.Keywords)
	return f, nil
}
