// Package pgtest gives tests a throwaway real PostgreSQL: one server per test
// binary, and a fresh database per test, already migrated by the production path
// (store.Migrate) and cloned from a template so that it costs milliseconds.
//
// The server is SLOTSYNC_TEST_DATABASE_URL when set (it must allow CREATE
// DATABASE), else a private postgres started from the local installation.
//
//	func TestMain(m *testing.M) { pgtest.Main(m) }
//
//	func TestSomething(t *testing.T) {
//		url := pgtest.NewDatabase(t)
//		...
//	}
package pgtest

import (
	"context"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/slotsync/slotsync/internal/store"
)

// EnvURL names the environment variable of an existing server to test against.
const EnvURL = "SLOTSYNC_TEST_DATABASE_URL"

// startTimeout bounds starting a server, initdb included, on a loaded machine.
const startTimeout = 2 * time.Minute

var shared struct {
	sync.Mutex
	main    bool
	started bool
	server  *Server
	err     error
}

// Main runs the package's tests and then stops the package's server, if a test
// started one, and runs also (e.g. kubetest.Stop). Call it from TestMain.
func Main(m *testing.M, also ...func()) {
	shared.Lock()
	shared.main = true
	shared.Unlock()

	code := m.Run()

	shared.Lock()
	if shared.server != nil {
		shared.server.Stop()
	}
	shared.Unlock()
	for _, f := range also {
		f()
	}
	os.Exit(code)
}

// Default returns the package's shared server, starting it on first use. It fails
// the test when no server can be had: a missing PostgreSQL is a broken test
// environment, not a reason to skip.
func Default(t testing.TB) *Server {
	t.Helper()
	shared.Lock()
	defer shared.Unlock()
	if !shared.main {
		t.Fatal("pgtest: the package's TestMain must call pgtest.Main(m), which stops the server")
	}
	if !shared.started {
		shared.started = true
		ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
		shared.server, shared.err = Start(ctx)
		cancel()
	}
	if shared.err != nil {
		t.Fatalf("pgtest: %v", shared.err)
	}
	return shared.server
}

// NewDatabase returns the URL of a fresh, migrated database on the package's
// server, dropped when the test ends.
func NewDatabase(t testing.TB) string {
	t.Helper()
	return Default(t).NewDatabase(t)
}

// OpenStore opens a store on the database at url, closed when the test ends: before
// the database is dropped, when the test made it first.
func OpenStore(t testing.TB, url string) *store.Store {
	t.Helper()
	db, err := store.Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	return db
}

// NewEmptyDatabase returns the URL of a fresh database without any schema, for
// tests of the migrations themselves, dropped when the test ends.
func NewEmptyDatabase(t testing.TB) string {
	t.Helper()
	return Default(t).NewEmptyDatabase(t)
}

// NewServer starts a private local server for a test that stops or restarts it,
// and removes it when the test ends. It ignores SLOTSYNC_TEST_DATABASE_URL: an
// external server is not ours to stop.
func NewServer(t testing.TB) *Server {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	s, err := startLocal(ctx)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(s.Stop)
	return s
}
