// Package pgtest gives tests a real PostgreSQL: a private instance started
// once per test binary (initdb and postgres in a temporary directory,
// listening only on a unix socket there, run as an unprivileged user when
// the tests run as root), or the instance named by TIDEMARK_TEST_PG_DSN
// (which .ci/run sets after starting its own). Each test gets a fresh
// database of its own, dropped when the test ends.
//
// Packages that use it run their tests through Main, which stops the
// private instance when the tests are done:
//
//	func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }
//
// A package whose tests all want the same prepared database (a migrated
// schema) names its preparation in TestMain with UseTemplate; DSN then
// copies a database prepared once instead of preparing each.
//
// When no PostgreSQL can be started, tests that ask for one are skipped
// with the reason, except under CI (CI=true or TIDEMARK_CI=1), where they
// fail: CI must never pass by skipping them.
package pgtest

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// EnvDSN names an existing server to use instead of a private one. It must
// allow CREATE DATABASE.
const EnvDSN = "TIDEMARK_TEST_PG_DSN"

var (
	once     sync.Once
	adminDSN string
	startErr error
	inst     *instance
	dbSeq    atomic.Int64
)

// Main runs the tests and then stops the private instance, if one was
// started (or drops the template database from a server it did not
// start).
func Main(m *testing.M) int {
	code := m.Run()
	if inst != nil {
		inst.stop()
	} else if tmpl.name != "" && adminDSN != "" {
		ctx := context.Background()
		if conn, err := pgx.Connect(ctx, adminDSN); err == nil {
			conn.Exec(ctx, "DROP DATABASE IF EXISTS "+tmpl.name+" WITH (FORCE)")
			conn.Close(ctx)
		}
	}
	return code
}

// ParallelDefault, called from TestMain, lets n parallel tests run at
// once unless -test.parallel says otherwise: tests of a store mostly wait
// on the server, so more of them than there are CPUs keep it busy.
func ParallelDefault(n int) {
	flag.Parse()
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == "test.parallel" })
	if !set {
		flag.Set("test.parallel", strconv.Itoa(n))
	}
}

// tmpl is the template database of UseTemplate, made on first use.
var tmpl struct {
	prepare func(ctx context.Context, dsn string) error
	mu      sync.Mutex
	name    string
	err     error
}

// UseTemplate, called from TestMain before the tests run, makes every
// database DSN returns a copy of one database that prepare readied once
// (for a store: its schema migrations). Copying a database is cheaper
// than migrating a new one for each test. prepare must close its
// connections before it returns. EmptyDSN still gives an empty database.
func UseTemplate(prepare func(ctx context.Context, dsn string) error) {
	tmpl.prepare = prepare
}

// template returns the template database's name, preparing it on first
// use.
func template(admin string) (string, error) {
	tmpl.mu.Lock()
	defer tmpl.mu.Unlock()
	if tmpl.name != "" || tmpl.err != nil {
		return tmpl.name, tmpl.err
	}
	ctx := context.Background()
	name := fmt.Sprintf("tm_%d_template", os.Getpid())
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		tmpl.err = err
		return "", err
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		tmpl.err = fmt.Errorf("create template database: %w", err)
		return "", tmpl.err
	}
	if err := tmpl.prepare(ctx, withDatabase(admin, name)); err != nil {
		conn.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
		tmpl.err = fmt.Errorf("prepare template database: %w", err)
		return "", tmpl.err
	}
	tmpl.name = name
	return name, nil
}

// DSN returns the connection string of a new database for this test,
// dropped at its end: a copy of the template when the package uses one
// (UseTemplate), else empty. It skips the test (fails it under CI) when
// no server can be had.
func DSN(t testing.TB) string {
	t.Helper()
	return newDatabase(t, tmpl.prepare != nil)
}

// EmptyDSN is DSN for a database that is empty even in a package that
// uses a template: for tests of what the template's preparation does
// (schema migrations and upgrades).
func EmptyDSN(t testing.TB) string {
	t.Helper()
	return newDatabase(t, false)
}

// objectInUse is PostgreSQL's error code when the template database still
// has a session (one that prepare closed may take a moment to end).
const objectInUse = "55006"

func newDatabase(t testing.TB, fromTemplate bool) string {
	t.Helper()
	admin := Admin(t)
	name := fmt.Sprintf("tm_%d_%d", os.Getpid(), dbSeq.Add(1))
	ctx := context.Background()
	create := "CREATE DATABASE " + name
	if fromTemplate {
		tn, err := template(admin)
		if err != nil {
			t.Fatalf("pgtest: %v", err)
		}
		create += " TEMPLATE " + tn
	}
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	defer conn.Close(ctx)
	for try := 0; ; try++ {
		_, err := conn.Exec(ctx, create)
		if err == nil {
			break
		}
		var pe *pgconn.PgError
		if errors.As(err, &pe) && pe.Code == objectInUse && try < 100 {
			time.Sleep(50 * time.Millisecond)
			continue
		}
		t.Fatalf("pgtest: create database: %v", err)
	}
	t.Cleanup(func() {
		conn, err := pgx.Connect(ctx, admin)
		if err != nil {
			return
		}
		defer conn.Close(ctx)
		conn.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
	})
	return withDatabase(admin, name)
}

// Admin returns the connection string of the server's maintenance
// database, starting the private instance on first use.
func Admin(t testing.TB) string {
	t.Helper()
	once.Do(func() {
		if dsn := os.Getenv(EnvDSN); dsn != "" {
			adminDSN = dsn
			return
		}
		inst, startErr = start()
		if startErr == nil {
			adminDSN = inst.dsn
		}
	})
	if startErr != nil {
		msg := "pgtest: no PostgreSQL for this test: " + startErr.Error()
		if os.Getenv("CI") == "true" || os.Getenv("TIDEMARK_CI") == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return adminDSN
}

// withDatabase returns dsn (URL or key=value form) naming database db.
func withDatabase(dsn, db string) string {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err == nil {
			u.Path = "/" + db
			return u.String()
		}
	}
	return dsn + " dbname=" + db
}

// instance is a private server: its directory and postmaster process.
type instance struct {
	dir  string
	cmd  *exec.Cmd
	dsn  string
	done chan struct{}
}

// binDir finds the directory holding initdb and postgres: PATH first, then
// Debian's versioned directories, newest first.
func binDir() (string, error) {
	if p, err := exec.LookPath("initdb"); err == nil {
		if r, err := filepath.EvalSymlinks(p); err == nil {
			p = r
		}
		return filepath.Dir(p), nil
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	best, bestV := "", -1
	for _, d := range dirs {
		v, err := strconv.Atoi(filepath.Base(filepath.Dir(d)))
		if err == nil && v > bestV {
			if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
				best, bestV = d, v
			}
		}
	}
	if best == "" {
		return "", errors.New("initdb not found (install Debian's postgresql package)")
	}
	return best, nil
}

// start runs initdb and postgres in a new temporary directory. The server
// listens on a unix socket in that directory only (no TCP port to collide
// on), without fsync (a test database is thrown away), and dies with the
// test binary (parent-death signal), so a killed test run leaves nothing
// behind but the directory.
func start() (*instance, error) {
	bin, err := binDir()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "tmpg-")
	if err != nil {
		return nil, err
	}
	cred, owner, err := credential()
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	if cred != nil {
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
	}
	data := filepath.Join(dir, "data")
	initdb := exec.Command(filepath.Join(bin, "initdb"), "-D", data, "-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8", "--locale=C")
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	initdb.Dir = dir
	if out, err := initdb.CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("initdb as %s: %v: %s", owner, err, lastLines(out))
	}
	logf, err := os.Create(filepath.Join(dir, "postgres.log"))
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	if cred != nil {
		logf.Chown(int(cred.Uid), int(cred.Gid))
	}
	cmd := exec.Command(filepath.Join(bin, "postgres"), "-D", data,
		"-c", "listen_addresses=", "-c", "unix_socket_directories="+dir,
		"-c", "fsync=off", "-c", "full_page_writes=off", "-c", "max_connections=200",
		"-c", "shared_buffers=32MB")
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = logf, logf
	// SIGQUIT asks the postmaster for an immediate shutdown when this
	// process dies without stopping it. The signal is tied to the thread
	// that starts the child, which must therefore live on: a locked
	// thread is only destroyed when its goroutine exits locked.
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGQUIT}
	runtime.LockOSThread()
	err = cmd.Start()
	runtime.UnlockOSThread()
	logf.Close()
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	in := &instance{dir: dir, cmd: cmd, done: make(chan struct{}),
		dsn: "host=" + dir + " port=5432 user=postgres dbname=postgres sslmode=disable"}
	go func() { cmd.Wait(); close(in.done) }()
	deadline := time.Now().Add(60 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		conn, err := pgx.Connect(ctx, in.dsn)
		cancel()
		if err == nil {
			conn.Close(context.Background())
			return in, nil
		}
		select {
		case <-in.done:
			log, _ := os.ReadFile(filepath.Join(dir, "postgres.log"))
			os.RemoveAll(dir)
			return nil, fmt.Errorf("postgres exited: %s", lastLines(log))
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			in.stop()
			return nil, fmt.Errorf("postgres did not accept connections: %v", err)
		}
	}
}

// stop shuts the server down (fast shutdown, then kill) and removes its
// directory.
func (in *instance) stop() {
	in.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-in.done:
	case <-time.After(20 * time.Second):
		in.cmd.Process.Kill()
		<-in.done
	}
	os.RemoveAll(in.dir)
}

// credential returns who runs the server: the current user, or "nobody"
// when running as root (PostgreSQL refuses to run as root).
func credential() (*syscall.Credential, string, error) {
	if os.Geteuid() != 0 {
		u, _ := user.Current()
		name := "current user"
		if u != nil {
			name = u.Username
		}
		return nil, name, nil
	}
	u, err := user.Lookup("nobody")
	if err != nil {
		return nil, "", fmt.Errorf("running as root and no user 'nobody' to run postgres as: %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, "nobody", nil
}

func lastLines(b []byte) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > 5 {
		lines = lines[len(lines)-5:]
	}
	return strings.Join(lines, " | ")
}
