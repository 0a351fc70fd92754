package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/slotsync/slotsync/internal/pgtest"
	"github.com/slotsync/slotsync/internal/store"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// newStore opens a store on a fresh, migrated database.
func newStore(t *testing.T) (*store.Store, string) {
	t.Helper()
	url := pgtest.NewDatabase(t)
	s, err := store.Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s, url
}

func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// connect opens a connection of the test's own, outside the store's pool: a
// session that the store's transactions cannot hold up or share state with.
func connect(t *testing.T, url string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(testContext(t), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	return conn
}

// listener is a connection of the test's own that listens on the snapshot channel.
type listener struct {
	t    *testing.T
	conn *pgx.Conn
}

func listen(t *testing.T, url string) *listener {
	t.Helper()
	conn := connect(t, url)
	if _, err := conn.Exec(testContext(t), "LISTEN "+store.SnapshotChannel); err != nil {
		t.Fatal(err)
	}
	return &listener{t: t, conn: conn}
}

// wait returns the payload of the next notification within d.
func (l *listener) wait(d time.Duration) (string, error) {
	ctx, cancel := context.WithTimeout(l.t.Context(), d)
	defer cancel()
	n, err := l.conn.WaitForNotification(ctx)
	if err != nil {
		return "", err
	}
	return n.Payload, nil
}

// next returns the payload of the next notification, failing the test when
// none comes.
func (l *listener) next() string {
	l.t.Helper()
	payload, err := l.wait(10 * time.Second)
	if err != nil {
		l.t.Fatalf("no notification: %v", err)
	}
	return payload
}

// killWhenStaged makes every write of s lose its connection once it has staged
// its rows, as a crash or a network cut would; store.SetHook(s, nil) ends it.
func killWhenStaged(t *testing.T, s *store.Store, url string) {
	t.Helper()
	killer := connect(t, url)
	store.SetHook(s, func(ctx context.Context, stage string, pid uint32) error {
		if stage != "staged" {
			return nil
		}
		if _, err := killer.Exec(ctx, `SELECT pg_terminate_backend($1)`, pid); err != nil {
			return err
		}
		// Go on only once the backend is gone, so the merge cannot outrun the kill.
		for {
			var alive bool
			if err := killer.QueryRow(ctx, `SELECT EXISTS (SELECT FROM pg_stat_activity WHERE pid = $1)`, pid).Scan(&alive); err != nil || !alive {
				return err
			}
		}
	})
}
