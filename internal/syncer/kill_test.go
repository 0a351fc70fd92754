package syncer_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/slotsync/slotsync/internal/partnersim"
	"github.com/slotsync/slotsync/internal/pgtest"
	"github.com/slotsync/slotsync/internal/syncer"
	"github.com/slotsync/slotsync/internal/syncertest"
)

// The environment of the worker process that TestSyncWorkerSIGKILLedMidTransaction
// starts and kills.
const (
	envKillChild = "SLOTSYNC_TEST_KILL_CHILD"
	envKillDB    = "SLOTSYNC_TEST_KILL_DATABASE_URL"
	envKillSim   = "SLOTSYNC_TEST_KILL_PARTNER_URL"
	envKillNow   = "SLOTSYNC_TEST_KILL_NOW"
	killChildApp = "slotsync-kill-child"
)

// TestSyncWorkerSIGKILLedMidTransaction kills a worker process with SIGKILL while
// its snapshot transaction is open and has written: the database rolls it back,
// readers never see a part of it, the previous answer stays intact, and the next
// run heals. The worker is this test binary re-run as TestSyncKillChild.
func TestSyncWorkerSIGKILLedMidTransaction(t *testing.T) {
	dbURL := pgtest.NewDatabase(t)
	e := newEnvOn(t, partnersim.Config{Seed: 3, Limit: -1}, snapStart, dbURL)
	a, b := snapshotFixture(t, e)
	ctx := context.Background()

	lock := lockLastStatement(t, dbURL, a, b)
	var out bytes.Buffer
	child := exec.Command(os.Args[0], "-test.run=^TestSyncKillChild$", "-test.count=1")
	child.Env = append(os.Environ(),
		envKillChild+"=1",
		envKillDB+"="+dbURL+"&application_name="+killChildApp,
		envKillSim+"="+e.url,
		envKillNow+"="+e.clock.now().Format(time.RFC3339Nano),
	)
	child.Stdout, child.Stderr = &out, &out
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- child.Wait() }()
	t.Cleanup(func() {
		_ = child.Process.Kill()
		<-exited
	})

	pid := waitBlockedWriter(t, dbURL, killChildApp)
	requireSnapshot(t, e.db, a, "while the worker is mid-transaction")
	if err := child.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		exited <- err // for the cleanup
		t.Logf("worker process: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("the killed worker did not exit")
	}
	// Its backend still waits for the lock; once it has it, it finds its client
	// gone and aborts. Nothing can commit a transaction whose client is dead.
	if err := lock.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	err = wait.PollUntilContextTimeout(ctx, 20*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		var alive bool
		err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT FROM pg_stat_activity WHERE pid = $1)`, pid).Scan(&alive)
		return !alive, err
	})
	if wait.Interrupted(err) {
		t.Fatalf("the killed worker's backend %d is still there after 30s", pid)
	}
	if err != nil {
		t.Fatal(err)
	}
	requireSnapshot(t, e.db, a, "after the killed worker's backend ended")

	if sum, err := e.worker(t).Run(ctx, e.config([]int64{14}, 2, 2)); err != nil {
		t.Fatalf("the next run: %v (%s)", err, sum.Line())
	}
	requireSnapshot(t, e.db, b, "after the next run")
	if t.Failed() {
		t.Logf("worker process output:\n%s", out.String())
	}
}

// TestSyncKillChild is the worker process of TestSyncWorkerSIGKILLedMidTransaction;
// on its own it is skipped.
func TestSyncKillChild(t *testing.T) {
	if os.Getenv(envKillChild) != "1" {
		t.Skip("the worker process of TestSyncWorkerSIGKILLedMidTransaction")
	}
	now, err := time.Parse(time.RFC3339Nano, os.Getenv(envKillNow))
	if err != nil {
		t.Fatal(err)
	}
	w, err := syncertest.Workers{DB: pgtest.OpenStore(t, os.Getenv(envKillDB)), URL: os.Getenv(envKillSim), Key: key}.New()
	if err != nil {
		t.Fatal(err)
	}
	sum, err := w.Run(context.Background(), syncer.Config{Products: []int64{14}, FromDay: 2, ToDay: 2, ShardCount: 1, Now: func() time.Time { return now }})
	// Reaching this line means the kill came too late.
	t.Fatalf("the worker finished: %v (%s)", err, sum.Line())
}
