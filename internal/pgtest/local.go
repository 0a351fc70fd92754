package pgtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/slotsync/slotsync/internal/childproc"
)

// local is a postgres process of our own, on a temporary data directory.
type local struct {
	initdb, postgres string
	dir              string              // temporary root: data, socket, log
	lock             *os.File            // flock held while dir is in use
	cred             *syscall.Credential // the OS user postgres runs as, nil for ourselves
	port             int

	mu   sync.Mutex
	proc *childproc.Process // nil while postgres is not running
}

const installHint = "install PostgreSQL (apt-get install postgresql) or set " + EnvURL +
	" to a server that allows CREATE DATABASE"

func startLocal(ctx context.Context) (*Server, error) {
	l, err := newLocal()
	if err != nil {
		return nil, err
	}
	if err := l.initialize(ctx); err != nil {
		l.destroy()
		return nil, err
	}
	base := &url.URL{Scheme: "postgres", User: url.User("postgres"), Host: net.JoinHostPort("127.0.0.1", strconv.Itoa(l.port)),
		RawQuery: "sslmode=disable"}
	s, err := newServer(ctx, base, l)
	if err != nil {
		l.destroy()
		return nil, fmt.Errorf("local postgres: %w", err)
	}
	return s, nil
}

func newLocal() (*local, error) {
	initdb, postgres, err := findBinaries()
	if err != nil {
		return nil, err
	}
	l := &local{initdb: initdb, postgres: postgres}
	// postgres refuses to run as root, and tests often do: run it as postgres.
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return nil, fmt.Errorf("running as root, and postgres refuses to, but there is no OS user postgres to run it as: %w (%s)", err, installHint)
		}
		uid, _ := strconv.ParseUint(u.Uid, 10, 32)
		gid, _ := strconv.ParseUint(u.Gid, 10, 32)
		l.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	}
	root := tempRoot(l.cred != nil)
	removeAbandoned(root)
	if l.dir, err = os.MkdirTemp(root, dirPattern); err != nil {
		return nil, fmt.Errorf("create temporary directory: %w", err)
	}
	if l.lock, err = lockDir(l.dir); err != nil {
		return nil, err
	}
	if err := os.Mkdir(filepath.Join(l.dir, "socket"), 0o700); err != nil {
		return nil, fmt.Errorf("create socket directory: %w", err)
	}
	if l.cred != nil {
		for _, p := range []string{l.dir, filepath.Join(l.dir, "socket")} {
			if err := os.Chown(p, int(l.cred.Uid), int(l.cred.Gid)); err != nil {
				return nil, fmt.Errorf("hand %s to the postgres user: %w", p, err)
			}
		}
	}
	return l, nil
}

// findBinaries looks for initdb and postgres on PATH, then in Debian's
// versioned directories, highest version first.
func findBinaries() (initdb, postgres string, err error) {
	if initdb, err := exec.LookPath("initdb"); err == nil {
		if postgres, err := exec.LookPath("postgres"); err == nil {
			return initdb, postgres, nil
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	version := func(dir string) float64 {
		v, _ := strconv.ParseFloat(filepath.Base(filepath.Dir(dir)), 64)
		return v
	}
	slices.SortFunc(dirs, func(a, b string) int { return int(version(b)*100 - version(a)*100) })
	for _, dir := range dirs {
		initdb, postgres := filepath.Join(dir, "initdb"), filepath.Join(dir, "postgres")
		if isExecutable(initdb) && isExecutable(postgres) {
			return initdb, postgres, nil
		}
	}
	return "", "", fmt.Errorf("no initdb and postgres on PATH or under /usr/lib/postgresql/*/bin: %s", installHint)
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

// tempRoot is where the data directory goes. The postgres user must be able to
// reach it, which a root-only TMPDIR (say under /root) does not allow.
func tempRoot(otherUser bool) string {
	root := os.TempDir()
	if !otherUser {
		return root
	}
	for dir := root; ; dir = filepath.Dir(dir) {
		fi, err := os.Stat(dir)
		if err != nil || fi.Mode().Perm()&0o001 == 0 {
			return "/tmp"
		}
		if dir == filepath.Dir(dir) {
			return root
		}
	}
}

func (l *local) dataDir() string { return filepath.Join(l.dir, "data") }
func (l *local) logPath() string { return filepath.Join(l.dir, "postgres.log") }

// initialize creates the cluster and starts it on a free port.
func (l *local) initialize(ctx context.Context) error {
	cmd := exec.CommandContext(ctx, l.initdb, "-D", l.dataDir(), "--auth=trust", "-U", "postgres",
		"-E", "UTF8", "--locale=C", "--no-sync")
	l.prepare(cmd)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	p, err := childproc.Start(cmd)
	if err == nil {
		err = p.Wait()
	}
	if err != nil {
		return fmt.Errorf("initdb: %w\n%s", err, out.Bytes())
	}
	// The free port may be taken between choosing and binding it: try again then.
	for range 3 {
		if l.port, err = freePort(); err != nil {
			return err
		}
		if err = l.start(ctx); err == nil {
			return nil
		}
	}
	return err
}

// prepare makes cmd run as the postgres user with a clean environment;
// childproc.Start puts it in its own process group and makes it die with us.
func (l *local) prepare(cmd *exec.Cmd) {
	cmd.Dir = l.dir
	cmd.Env = []string{"LC_ALL=C", "PATH=" + os.Getenv("PATH")}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: l.cred}
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// start runs postgres on l.port and waits until it accepts connections.
func (l *local) start(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.proc != nil {
		return errors.New("pgtest: postgres is already running")
	}
	logFile, err := os.OpenFile(l.logPath(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("open postgres log: %w", err)
	}
	defer logFile.Close() // the child keeps its own descriptor
	cmd := exec.Command(l.postgres, "-D", l.dataDir(), "-k", filepath.Join(l.dir, "socket"),
		"-p", strconv.Itoa(l.port),
		"-c", "listen_addresses=127.0.0.1",
		"-c", "fsync=off",
		"-c", "synchronous_commit=off",
		"-c", "full_page_writes=off",
		"-c", "max_connections=200")
	l.prepare(cmd)
	cmd.Stdout, cmd.Stderr = logFile, logFile

	p, err := childproc.Start(cmd)
	if err != nil {
		return fmt.Errorf("start postgres: %w", err)
	}
	l.proc = p

	if err := l.waitReady(ctx); err != nil {
		l.kill()
		return fmt.Errorf("start postgres on port %d: %w\n%s", l.port, err, l.logTail())
	}
	return nil
}

func (l *local) waitReady(ctx context.Context) error {
	dsn := fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable&connect_timeout=2", l.port)
	var last error
	err := wait.PollUntilContextCancel(ctx, 50*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		conn, err := pgx.Connect(ctx, dsn)
		if err == nil {
			return true, conn.Close(ctx)
		}
		last = err
		if done, _ := l.proc.Exited(); done {
			return false, errPostgresExited
		}
		return false, nil
	})
	if err != nil && !errors.Is(err, errPostgresExited) && ctx.Err() != nil {
		return fmt.Errorf("not ready: %w (last error: %w)", ctx.Err(), last)
	}
	return err
}

var errPostgresExited = errors.New("postgres exited")

// shutdown stops postgres with a fast shutdown, killing it if that hangs.
func (l *local) shutdown() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.proc == nil {
		return nil
	}
	// SIGINT to postgres alone: its backends go when it tells them to.
	_ = syscall.Kill(l.proc.Pid(), syscall.SIGINT)
	t := time.NewTimer(30 * time.Second)
	defer t.Stop()
	select {
	case <-l.proc.Done():
	case <-t.C:
		l.killLocked()
		return errors.New("pgtest: postgres did not shut down within 30s; killed")
	}
	// Any backend it left behind.
	_ = l.proc.Kill()
	l.proc = nil
	return nil
}

func (l *local) kill() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.killLocked()
}

// killLocked kills postgres and any backend it left behind.
func (l *local) killLocked() {
	if l.proc == nil {
		return
	}
	_ = l.proc.Kill()
	l.proc = nil
}

// destroy kills postgres and removes its files: the data is throwaway, so there
// is nothing to shut down cleanly for.
func (l *local) destroy() {
	l.kill()
	if l.dir != "" {
		_ = os.RemoveAll(l.dir)
	}
	if l.lock != nil {
		_ = l.lock.Close()
	}
}

const (
	dirPattern = "slotsync-pgtest-"
	lockName   = "pgtest.lock"
)

// lockDir takes an exclusive flock in dir for as long as this process lives, so
// that removeAbandoned can tell a live server's files from a killed one's.
func lockDir(dir string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, lockName), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("create lock file: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", dir, err)
	}
	return f, nil
}

// removeAbandoned deletes the directories of test binaries that were killed:
// their postgres died with them (Pdeathsig), and the kernel released their flock.
func removeAbandoned(root string) {
	dirs, _ := filepath.Glob(filepath.Join(root, dirPattern+"*"))
	for _, dir := range dirs {
		// No lock file yet: a directory being created right now.
		f, err := os.Open(filepath.Join(dir, lockName))
		if err != nil {
			continue
		}
		if syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) == nil {
			_ = os.RemoveAll(dir)
		}
		f.Close()
	}
}

func (l *local) logTail() string {
	b, _ := os.ReadFile(l.logPath())
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > 20 {
		lines = lines[len(lines)-20:]
	}
	return strings.Join(lines, "\n")
}
