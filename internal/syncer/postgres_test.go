package syncer_test

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/slotsync/slotsync/internal/partner"
	"github.com/slotsync/slotsync/internal/partnersim"
	"github.com/slotsync/slotsync/internal/pgtest"
	"github.com/slotsync/slotsync/internal/store"
	"github.com/slotsync/slotsync/internal/syncer"
	"github.com/slotsync/slotsync/internal/syncertest"
)

// The snapshot that the fault tests interrupt: product 14 on Wednesday (day 2 of a
// Monday), first written at snapStart (answer A), then rewritten after the
// partner's truth moved on to answer B at snapLater, the same Monday.
var (
	snapStart = time.Date(2026, 11, 30, 8, 0, 0, 0, time.UTC)
	snapLater = snapStart.Add(12 * time.Hour)
	snapDay   = time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)
)

// snapshotFixture writes answer A of the pair, moves the partner on to answer B,
// and returns A and B.
func snapshotFixture(t *testing.T, e *env) (a, b []partner.Slot) {
	t.Helper()
	ctx := context.Background()
	if _, err := e.worker(t).Run(ctx, e.config([]int64{14}, 2, 2)); err != nil {
		t.Fatalf("write answer A: %v", err)
	}
	snap, err := e.db.ReadSnapshot(ctx, 14, snapDay)
	if err != nil {
		t.Fatal(err)
	}
	a = snap.Slots
	e.clock.set(snapLater)
	b = e.sim.Inventory(14, snapDay, snapLater)
	if len(a) == 0 || reflect.DeepEqual(a, b) {
		t.Fatalf("the fixture needs a non-empty answer A that differs from B:\nA %+v\nB %+v", a, b)
	}
	return a, b
}

// lockLastStatement locks, in a transaction of its own, a pax row that the
// rewrite to answer B updates with the last statement of its snapshot. A writer
// then blocks inside its transaction after it has recorded the sync, deleted the
// vanished rows and merged the slots: the moment a partial snapshot would be
// visible if it ever could be. Rolling back the returned transaction lets it go.
func lockLastStatement(t *testing.T, dbURL string, a, b []partner.Slot) pgx.Tx {
	t.Helper()
	ctx := context.Background()
	var slotID string
	for _, s := range a {
		for _, n := range b {
			if n.ProviderSlotID == s.ProviderSlotID && len(n.PaxAvailability) > 0 {
				slotID = s.ProviderSlotID
			}
		}
	}
	if slotID == "" {
		t.Fatal("answers A and B share no slot to lock")
	}
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := tx.QueryRow(ctx, `SELECT count(*) FROM (SELECT FROM slot_pax WHERE product_id = 14 AND date = $1 AND provider_slot_id = $2 FOR UPDATE) x`,
		snapDay.Format(time.DateOnly), slotID).Scan(&n); err != nil || n == 0 {
		t.Fatalf("lock the pax rows of slot %s: %d rows, %v", slotID, n, err)
	}
	return tx
}

// waitBlockedWriter waits until a backend whose application_name starts with
// app waits for a lock in the middle of a snapshot, and returns its pid. It
// fails the test when the backend has not written anything in its transaction.
func waitBlockedWriter(t *testing.T, dbURL, app string) int {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var pid int
	var xid *string
	var query string
	var last error
	err = wait.PollUntilContextTimeout(ctx, 20*time.Millisecond, 60*time.Second, true, func(ctx context.Context) (bool, error) {
		last = conn.QueryRow(ctx, `
SELECT pid, backend_xid::text, query FROM pg_stat_activity
WHERE datname = current_database() AND application_name LIKE $1 || '%' AND wait_event_type = 'Lock'`, app).
			Scan(&pid, &xid, &query)
		return last == nil, nil
	})
	if err != nil {
		t.Fatalf("no writer of %s blocked mid-snapshot within a minute: %v", app, last)
	}
	// A transaction id is assigned at its first write: the sync row and the
	// deletions are in, uncommitted.
	if xid == nil {
		t.Fatalf("the blocked writer %d has written nothing yet (query %q)", pid, query)
	}
	if !strings.Contains(query, "slot_pax") {
		t.Fatalf("the writer blocked at %q, not at the pax merge", query)
	}
	return pid
}

// requireSnapshot checks that the pair holds exactly want, with a sync record
// that counts its rows.
func requireSnapshot(t *testing.T, db *store.Store, want []partner.Slot, what string) {
	t.Helper()
	ctx := context.Background()
	snap, err := db.ReadSnapshot(ctx, 14, snapDay)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if !reflect.DeepEqual(snap.Slots, want) {
		t.Fatalf("%s: the pair holds\n%+v\nwant\n%+v", what, snap.Slots, want)
	}
	var recorded, rows int
	if err := db.Pool().QueryRow(ctx, `
SELECT (SELECT slot_count FROM inventory_syncs WHERE product_id = 14 AND date = $1),
       (SELECT count(*) FROM slots WHERE product_id = 14 AND date = $1)`, snapDay.Format(time.DateOnly)).Scan(&recorded, &rows); err != nil {
		t.Fatal(err)
	}
	if recorded != rows || rows != len(want) {
		t.Fatalf("%s: the sync record counts %d slots, the table has %d rows, the answer %d", what, recorded, rows, len(want))
	}
}

// TestSyncPostgresRestartMidSnapshot restarts Postgres while a worker is inside a
// snapshot transaction: the run reports the pair failed, readers never see a part
// of the new answer, the previous answer is intact after the restart, and the
// next run heals.
func TestSyncPostgresRestartMidSnapshot(t *testing.T) {
	srv := pgtest.NewServer(t)
	dbURL := srv.NewDatabase(t)
	e := newEnvOn(t, partnersim.Config{Seed: 3, Limit: -1}, snapStart, dbURL)
	a, b := snapshotFixture(t, e)

	lock := lockLastStatement(t, dbURL, a, b)
	writerDB := pgtest.OpenStore(t, dbURL+"&application_name=slotsync-restart-writer")
	w, err := syncertest.Workers{DB: writerDB, URL: e.url, Key: key}.New()
	if err != nil {
		t.Fatal(err)
	}
	type result struct {
		sum syncer.Summary
		err error
	}
	done := make(chan result, 1)
	go func() {
		sum, err := w.Run(context.Background(), e.config([]int64{14}, 2, 2))
		done <- result{sum, err}
	}()
	waitBlockedWriter(t, dbURL, "slotsync-restart-writer")
	requireSnapshot(t, e.db, a, "while the writer is mid-snapshot")

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := srv.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	_ = lock.Rollback(ctx) // its connection died with the server
	waitDatabase(t, e.db)
	var r result
	select {
	case r = <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("the worker did not return within 30s of the restart")
	}
	if r.err == nil || r.sum.PairsFailed != 1 || r.sum.PairsOK != 0 {
		t.Fatalf("run interrupted by a restart: err %v, %s; want the pair failed", r.err, r.sum.Line())
	}
	t.Logf("interrupted run: %s: %s", r.sum.Line(), r.sum.Failures[0].Error)
	requireSnapshot(t, e.db, a, "after the restart")

	if sum, err := e.worker(t).Run(ctx, e.config([]int64{14}, 2, 2)); err != nil {
		t.Fatalf("the run after the restart: %v (%s)", err, sum.Line())
	}
	requireSnapshot(t, e.db, b, "after the next run")
}

// TestSyncPostgresDown: while Postgres is down, runs fail fast, spend none of the
// partner budget and damage nothing; once it is back the next run heals, through
// the same connection pool.
func TestSyncPostgresDown(t *testing.T) {
	srv := pgtest.NewServer(t)
	dbURL := srv.NewDatabase(t)
	e := newEnvOn(t, partnersim.Config{Seed: 3, Limit: -1}, snapStart, dbURL)
	a, b := snapshotFixture(t, e)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	workers := e.workers()
	workers.Limit, workers.Window = 30, time.Second
	run := func() (syncer.Summary, error) {
		w, err := workers.New()
		if err != nil {
			t.Fatal(err)
		}
		cfg := e.config([]int64{14, 15}, 0, 6)
		// As in a Job: a retried index first asks which pairs are done.
		cfg.ScheduledAt, cfg.RunID = e.clock.now().Add(-time.Minute), "sample-today-1"
		return w.Run(ctx, cfg)
	}
	if err := srv.StopServer(); err != nil {
		t.Fatal(err)
	}
	e.sim.ResetStats()
	down := time.Now()
	var first syncer.Summary
	for i := range 3 {
		began := time.Now()
		sum, err := run()
		if i == 0 {
			first = sum
		}
		if err == nil || sum.PairsOK != 0 {
			t.Fatalf("run %d with Postgres down: err %v, %s; want a failure", i+1, err, sum.Line())
		}
		if elapsed := time.Since(began); elapsed > 10*time.Second {
			t.Errorf("run %d with Postgres down took %v, want a fast failure", i+1, elapsed)
		}
		t.Logf("run %d with Postgres down: %v", i+1, err)
		time.Sleep(500 * time.Millisecond)
	}
	t.Run("the summary counts every pair failed", func(t *testing.T) {
		// The termination message must not say "0 of 14 written, 0 failed"
		// (finding F4): every pair failed, with the reason.
		if first.PairsFailed != first.PairsTotal || len(first.Failures) == 0 {
			t.Errorf("run with Postgres down: %s, failures %v; want every pair failed, with the reason", first.Line(), first.Failures)
		}
	})
	if got := e.sim.Stats().Requests; got != 0 {
		t.Errorf("runs with Postgres down sent %d partner requests, want none: their answers could not be stored", got)
	}
	if err := srv.StartServer(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("Postgres was down for %v", time.Since(down).Round(time.Millisecond))
	waitDatabase(t, e.db)
	requireSnapshot(t, e.db, a, "after Postgres came back")

	if sum, err := run(); err != nil {
		t.Fatalf("the run after Postgres came back: %v (%s) %v", err, sum.Line(), sum.Failures)
	}
	requireSnapshot(t, e.db, b, "after the next run")
	e.requireTruth(t, []int64{14, 15}, 0, 6)
}

// waitDatabase waits until db answers after a restart. A pooled connection that
// was in use when the server went away fails its next query once (pgxpool only
// pings connections idle for over a second) and is then replaced.
func waitDatabase(t *testing.T, db *store.Store) {
	t.Helper()
	var last error
	err := wait.PollUntilContextTimeout(context.Background(), 50*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		last = db.Ping(ctx)
		return last == nil, nil
	})
	if err != nil {
		t.Fatalf("the database did not answer within 30s: %v", last)
	}
}
