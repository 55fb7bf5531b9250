package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/term"

	"github.com/tidemark-mail/tidemark/internal/auth"
	"github.com/tidemark-mail/tidemark/internal/store"
)

func init() {
	register("user", "manage accounts: add, passwd, del, list", runUser)
}

// userIO is where `tidemark user` talks: stdin is a file so that it can
// tell a terminal (prompt without echo, ask for confirmation) from a pipe
// (read the password's first line).
type userIO struct {
	stdin          *os.File
	stdout, stderr io.Writer
	// accountOpts configure the accounts; the zero value is the
	// production default (tests choose cheaper hashing).
	accountOpts auth.Options
}

func runUser(args []string) int {
	return userMain(args, userIO{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr})
}

const userUsage = `usage:
  tidemark user add    --data DIR [--config FILE] [--password-file FILE] NAME
  tidemark user passwd --data DIR [--config FILE] [--password-file FILE] NAME
  tidemark user del    --data DIR [--config FILE] [--yes] NAME
  tidemark user list   --data DIR [--config FILE]

The password is read from FILE, else from the first line of standard input
when it is not a terminal, else prompted for without echo. --data defaults to
$TIDEMARK_DATA, else ./tidemark-data as for serve. An account is a login plus
a mail store; add and del act on both. With the embedded store (the default)
both are in DIR (DIR/accounts.db, DIR/users/NAME); when the [store] of the
--config FILE is PostgreSQL, both are in its database, shared by every node.
`

// userMain runs `tidemark user ARGS` and returns the exit code: 0 done, 1
// failed, 2 bad usage.
func userMain(args []string, uio userIO) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(uio.stderr, userUsage)
		return 2
	}
	verb, args := args[0], args[1:]
	fs := flag.NewFlagSet("user "+verb, flag.ContinueOnError)
	fs.SetOutput(uio.stderr)
	fs.Usage = func() { fmt.Fprint(uio.stderr, userUsage) }
	defaultData := os.Getenv("TIDEMARK_DATA")
	if defaultData == "" {
		defaultData = "./tidemark-data" // as `tidemark serve`
	}
	dataDir := fs.String("data", defaultData, "data directory")
	configPath := configFlag(fs)
	var passwordFile *string
	var yes *bool
	wantName := true
	switch verb {
	case "add", "passwd":
		passwordFile = fs.String("password-file", "", "read the password from the first line of `FILE`")
	case "del":
		yes = fs.Bool("yes", false, "delete without asking")
	case "list":
		wantName = false
	default:
		fmt.Fprintf(uio.stderr, "tidemark user: unknown action %q\n\n%s", verb, userUsage)
		return 2
	}
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return 2
	}
	switch {
	case *dataDir == "":
		fmt.Fprintln(uio.stderr, "tidemark user: --data must not be empty")
		return 2
	case wantName && len(pos) != 1, !wantName && len(pos) != 0:
		fmt.Fprint(uio.stderr, userUsage)
		return 2
	}

	var name string
	if wantName {
		n, err := auth.NormalizeName(pos[0])
		if err != nil {
			fmt.Fprintln(uio.stderr, "tidemark user:", err)
			return 2
		}
		name = n
	}

	err = withAccounts(*configPath, *dataDir, uio.accountOpts, func(accounts *auth.Accounts, st store.Store) error {
		switch verb {
		case "list":
			return userList(accounts, uio)
		case "passwd":
			return userPasswd(accounts, name, *passwordFile, uio)
		case "add":
			return userAdd(accounts, st, name, *passwordFile, uio)
		default:
			return userDel(accounts, st, name, *yes, uio)
		}
	})
	if err != nil {
		fmt.Fprintln(uio.stderr, "tidemark user:", err)
		return 1
	}
	return 0
}

// withAccounts opens the mail store the configuration names and the
// logins that go with it (openAccounts: DIR/accounts.db beside the
// embedded store, shared tables beside PostgreSQL) for f.
func withAccounts(configPath, dataDir string, opts auth.Options, f func(*auth.Accounts, store.Store) error) error {
	ctx := context.Background()
	c, err := storeConfig(configPath)
	if err != nil {
		return err
	}
	// The node's data directory is made here whichever store holds the
	// accounts, as it always was: deliver and serve expect it.
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return err
	}
	st, err := openStore(ctx, c.Store, dataDir, storeOptions{NoTextIndex: !c.Search.TextIndex})
	if err != nil {
		return err
	}
	accounts, err := openAccounts(ctx, c.Store, dataDir, opts, nil)
	if err != nil {
		st.Close()
		return err
	}
	defer accounts.Close()
	err = f(accounts, st)
	if cerr := st.Close(); err == nil {
		err = cerr
	}
	return err
}

func userAdd(accounts *auth.Accounts, st store.Store, name, passwordFile string, uio userIO) error {
	// Checked first so that nobody is asked for a password in vain.
	if ok, err := accounts.Exists(name); err != nil {
		return err
	} else if ok {
		return fmt.Errorf("%w: %s", auth.ErrExists, name)
	}
	pw, err := readNewPassword(passwordFile, uio)
	if err != nil {
		return err
	}
	if err := accounts.Add(name, pw); err != nil {
		return err
	}
	err = st.CreateUser(context.Background(), name)
	switch {
	case errors.Is(err, store.ErrUserExists):
		// Mail imported before the login was made, or left by an account
		// deleted without its mail: the new login takes it over.
		fmt.Fprintf(uio.stderr, "tidemark user: %s already has a mail store; keeping it\n", name)
	case err != nil:
		// An account that cannot receive mail is worse than none.
		if derr := accounts.Delete(name); derr != nil {
			return fmt.Errorf("mail store for %s: %w (and removing the login again failed: %w)", name, err, derr)
		}
		return fmt.Errorf("mail store for %s: %w", name, err)
	}
	fmt.Fprintf(uio.stdout, "added %s\n", name)
	return nil
}

func userPasswd(accounts *auth.Accounts, name, passwordFile string, uio userIO) error {
	if ok, err := accounts.Exists(name); err != nil {
		return err
	} else if !ok {
		return fmt.Errorf("%w: %s", auth.ErrNoUser, name)
	}
	pw, err := readNewPassword(passwordFile, uio)
	if err != nil {
		return err
	}
	if err := accounts.SetPassword(name, pw); err != nil {
		return err
	}
	fmt.Fprintf(uio.stdout, "password of %s changed\n", name)
	return nil
}

// userDel removes the login first, so no new session can start, then the
// mail. Either may be missing (a half-finished earlier add or del); only
// both missing is an error.
func userDel(accounts *auth.Accounts, st store.Store, name string, yes bool, uio userIO) error {
	if !yes {
		if !term.IsTerminal(int(uio.stdin.Fd())) {
			return errors.New("standard input is not a terminal: pass --yes to delete")
		}
		fmt.Fprintf(uio.stderr, "Delete %s and all of its mail? [y/N] ", name)
		answer, _ := bufio.NewReader(uio.stdin).ReadString('\n')
		if a := strings.ToLower(strings.TrimSpace(answer)); a != "y" && a != "yes" {
			return errors.New("not deleted")
		}
	}
	errAccount := accounts.Delete(name)
	if errAccount != nil && !errors.Is(errAccount, auth.ErrNoUser) {
		return errAccount
	}
	errStore := st.DeleteUser(context.Background(), name)
	if errStore != nil && !errors.Is(errStore, store.ErrNoUser) {
		return fmt.Errorf("login of %s removed, but its mail store: %w", name, errStore)
	}
	if errAccount != nil && errStore != nil {
		return fmt.Errorf("%w: %s", auth.ErrNoUser, name)
	}
	fmt.Fprintf(uio.stdout, "deleted %s\n", name)
	return nil
}

func userList(accounts *auth.Accounts, uio userIO) error {
	names, err := accounts.List()
	if err != nil {
		return err
	}
	for _, n := range names {
		fmt.Fprintln(uio.stdout, n)
	}
	return nil
}

// readNewPassword takes the password from passwordFile, a pipe on stdin,
// or a terminal prompt (twice, without echo).
func readNewPassword(passwordFile string, uio userIO) (string, error) {
	if passwordFile != "" {
		f, err := os.Open(passwordFile)
		if err != nil {
			return "", err
		}
		defer f.Close()
		return readFirstLine(f, passwordFile)
	}
	fd := int(uio.stdin.Fd())
	if !term.IsTerminal(fd) {
		return readFirstLine(uio.stdin, "standard input")
	}
	fmt.Fprint(uio.stderr, "Password: ")
	pw1, err := term.ReadPassword(fd)
	fmt.Fprintln(uio.stderr)
	if err != nil {
		return "", fmt.Errorf("reading password: %w", err)
	}
	fmt.Fprint(uio.stderr, "Repeat password: ")
	pw2, err := term.ReadPassword(fd)
	fmt.Fprintln(uio.stderr)
	if err != nil {
		return "", fmt.Errorf("reading password: %w", err)
	}
	if !bytes.Equal(pw1, pw2) {
		return "", errors.New("the passwords differ")
	}
	if len(pw1) == 0 {
		return "", errors.New("empty password")
	}
	return string(pw1), nil
}

// readFirstLine returns r's first line without its line ending. Spaces
// are kept: they may be part of the password.
func readFirstLine(r io.Reader, what string) (string, error) {
	line, err := bufio.NewReader(io.LimitReader(r, auth.MaxPasswordLen+2)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("reading password from %s: %w", what, err)
	}
	line = strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
	if line == "" {
		return "", fmt.Errorf("no password on the first line of %s", what)
	}
	return line, nil
}

// parseInterspersed parses flags that may come before or after the
// positional arguments ("user add NAME --data DIR" as well as
// "user add --data DIR NAME").
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}
