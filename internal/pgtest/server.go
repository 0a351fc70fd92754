package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/slotsync/slotsync/internal/store"
)

// Server is a PostgreSQL server that tests create databases on.
type Server struct {
	base  *url.URL      // the server's URL; URL swaps the database name in
	admin *pgxpool.Pool // creates and drops databases
	local *local        // nil for an external server

	// Databases are named prefix+suffix; the random prefix keeps test binaries
	// that share an external server apart.
	prefix string
	seq    atomic.Int64

	tmplMu sync.Mutex
	tmpl   string // the migrated template, once made

	dbMu sync.Mutex
	dbs  map[string]bool // databases not dropped yet
}

// Start returns the server named by SLOTSYNC_TEST_DATABASE_URL, or else starts a
// local one. Stop releases it.
func Start(ctx context.Context) (*Server, error) {
	raw := os.Getenv(EnvURL)
	if raw == "" {
		return startLocal(ctx)
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("%s is not a postgres:// URL", EnvURL)
	}
	s, err := newServer(ctx, u, nil)
	if err != nil {
		return nil, fmt.Errorf("use %s (%s): %w", EnvURL, store.RedactURL(raw), err)
	}
	return s, nil
}

func newServer(ctx context.Context, base *url.URL, l *local) (*Server, error) {
	var b [4]byte
	_, _ = rand.Read(b[:])
	s := &Server{base: base, local: l, prefix: "slotsync_test_" + hex.EncodeToString(b[:]) + "_", dbs: map[string]bool{}}
	adminDB := "postgres"
	if l == nil && len(base.Path) > 1 {
		adminDB = base.Path[1:]
	}
	cfg, err := pgxpool.ParseConfig(s.URL(adminDB))
	if err != nil {
		return nil, errors.New("parse server URL: malformed")
	}
	cfg.MaxConns = 4
	if s.admin, err = pgxpool.NewWithConfig(ctx, cfg); err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	if err := s.admin.Ping(ctx); err != nil {
		s.admin.Close()
		return nil, fmt.Errorf("connect: %w", err)
	}
	return s, nil
}

// URL returns the URL of database db on the server.
func (s *Server) URL(db string) string {
	u := *s.base
	u.Path = "/" + db
	u.RawPath = ""
	return u.String()
}

// NewDatabase creates a fresh database, migrated by store.Migrate, dropped when
// the test ends, and returns its URL.
func (s *Server) NewDatabase(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	tmpl, err := s.template(ctx)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	return s.newDatabase(ctx, t, tmpl)
}

// NewEmptyDatabase creates a fresh database with no schema, dropped when the test
// ends, and returns its URL.
func (s *Server) NewEmptyDatabase(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// template0 so that nothing added to the server's template1 leaks in.
	return s.newDatabase(ctx, t, "template0")
}

func (s *Server) newDatabase(ctx context.Context, t testing.TB, tmpl string) string {
	t.Helper()
	name := fmt.Sprintf("%s%d", s.prefix, s.seq.Add(1))
	if err := s.createDatabase(ctx, name, tmpl); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		// A test may leave the server stopped; the database then goes with it.
		if err := s.dropDatabase(ctx, name); err != nil {
			t.Logf("pgtest: %v", err)
		}
	})
	return s.URL(name)
}

// template returns the name of a database migrated once per server, which fresh
// databases are cloned from: CREATE DATABASE ... TEMPLATE copies files, far
// cheaper than running every migration per test.
func (s *Server) template(ctx context.Context) (string, error) {
	s.tmplMu.Lock()
	defer s.tmplMu.Unlock()
	if s.tmpl != "" {
		return s.tmpl, nil
	}
	name := s.prefix + "template"
	if err := s.createDatabase(ctx, name, "template0"); err != nil {
		return "", err
	}
	if err := store.Migrate(ctx, s.URL(name)); err != nil {
		return "", fmt.Errorf("migrate template database: %w", err)
	}
	// Cloning fails while anyone is connected to the template: refuse connections.
	if _, err := s.admin.Exec(ctx, "ALTER DATABASE "+ident(name)+" WITH ALLOW_CONNECTIONS false"); err != nil {
		return "", fmt.Errorf("close template database: %w", err)
	}
	s.tmpl = name
	return name, nil
}

func (s *Server) createDatabase(ctx context.Context, name, tmpl string) error {
	if _, err := s.admin.Exec(ctx, "CREATE DATABASE "+ident(name)+" TEMPLATE "+ident(tmpl)); err != nil {
		return fmt.Errorf("create database %s: %w", name, err)
	}
	s.dbMu.Lock()
	s.dbs[name] = true
	s.dbMu.Unlock()
	return nil
}

func (s *Server) dropDatabase(ctx context.Context, name string) error {
	// FORCE ends sessions a test left open, such as a pool not closed yet.
	if _, err := s.admin.Exec(ctx, "DROP DATABASE IF EXISTS "+ident(name)+" WITH (FORCE)"); err != nil {
		return fmt.Errorf("drop database %s: %w", name, err)
	}
	s.dbMu.Lock()
	delete(s.dbs, name)
	s.dbMu.Unlock()
	return nil
}

// Stop drops the databases still left and, for a local server, stops it and
// removes its files.
func (s *Server) Stop() {
	if s.local != nil {
		s.admin.Close()
		s.local.destroy()
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s.dbMu.Lock()
	names := make([]string, 0, len(s.dbs))
	for name := range s.dbs {
		names = append(names, name)
	}
	s.dbMu.Unlock()
	for _, name := range names {
		if err := s.dropDatabase(ctx, name); err != nil {
			fmt.Fprintf(os.Stderr, "pgtest: %v\n", err)
		}
	}
	s.admin.Close()
}

// errExternal is returned by the process controls of an external server.
var errExternal = errors.New("pgtest: an external server cannot be stopped or started; use NewServer")

// StopServer shuts the server down (fast shutdown: sessions are ended, the data
// stays) so that a test can see how a client copes with the database down.
func (s *Server) StopServer() error {
	if s.local == nil {
		return errExternal
	}
	return s.local.shutdown()
}

// StartServer starts a stopped server again on the same port and data, and
// returns once it accepts connections.
func (s *Server) StartServer(ctx context.Context) error {
	if s.local == nil {
		return errExternal
	}
	if err := s.local.start(ctx); err != nil {
		return err
	}
	// The admin pool's connections died with the old server.
	s.admin.Reset()
	return nil
}

// Restart stops and starts the server.
func (s *Server) Restart(ctx context.Context) error {
	if err := s.StopServer(); err != nil {
		return err
	}
	return s.StartServer(ctx)
}

func ident(name string) string { return pgx.Identifier{name}.Sanitize() }
