package pgtest_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/slotsync/slotsync/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func connect(t *testing.T, url string) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func TestNewDatabaseIsFreshAndMigrated(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a, b := pgtest.NewDatabase(t), pgtest.NewDatabase(t)
	if a == b {
		t.Fatalf("two tests got the same database %s", a)
	}
	ca, cb := connect(t, a), connect(t, b)
	if _, err := ca.Exec(ctx, `INSERT INTO partner_budgets (key_hash, tat) VALUES (repeat('a', 64), now())`); err != nil {
		t.Fatalf("the schema is not there: %v", err)
	}
	var n int
	if err := cb.QueryRow(ctx, `SELECT count(*) FROM partner_budgets`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("a row written in one database shows in another: %d rows", n)
	}
}

func TestNewEmptyDatabaseHasNoSchema(t *testing.T) {
	t.Parallel()
	conn := connect(t, pgtest.NewEmptyDatabase(t))
	var n int
	err := conn.QueryRow(context.Background(),
		`SELECT count(*) FROM pg_tables WHERE schemaname = 'public'`).Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("an empty database has %d tables", n)
	}
}

func TestDatabaseDroppedAtCleanup(t *testing.T) {
	t.Parallel()
	var url string
	t.Run("user", func(t *testing.T) { url = pgtest.NewDatabase(t) })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err == nil {
		conn.Close(ctx)
		t.Fatal("the database still accepts connections after its test ended")
	}
}

func TestStopAndStartServer(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	srv := pgtest.NewServer(t)
	url := srv.NewDatabase(t)

	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `INSERT INTO partner_budgets (key_hash, tat) VALUES (repeat('b', 64), now())`); err != nil {
		t.Fatal(err)
	}

	if err := srv.StopServer(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	if _, err := conn.Exec(ctx, `SELECT 1`); err == nil {
		t.Error("a session survived the server stopping")
	}
	conn.Close(ctx)
	if c, err := pgx.Connect(ctx, url); err == nil {
		c.Close(ctx)
		t.Fatal("connected to a stopped server")
	}

	if err := srv.StartServer(ctx); err != nil {
		t.Fatalf("start: %v", err)
	}
	conn = connect(t, url)
	var n int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM partner_budgets`).Scan(&n); err != nil {
		t.Fatalf("after restart: %v", err)
	}
	if n != 1 {
		t.Errorf("after restart the database has %d rows, want 1", n)
	}
	if err := srv.Restart(ctx); err != nil {
		t.Fatalf("restart: %v", err)
	}
	// A fresh database still works after a restart: the admin pool reconnected.
	connect(t, srv.NewDatabase(t))
}
