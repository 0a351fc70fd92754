package syncer_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"sync/atomic"
	"testing"
	"time"

	"github.com/slotsync/slotsync/internal/partner"
	"github.com/slotsync/slotsync/internal/partnersim"
	"github.com/slotsync/slotsync/internal/pgtest"
	"github.com/slotsync/slotsync/internal/store"
	"github.com/slotsync/slotsync/internal/syncer"
	"github.com/slotsync/slotsync/internal/syncertest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

const key = "test-key"

// simClock is the simulator's and the worker's clock, moved by the test.
type simClock struct{ ns atomic.Int64 }

func newClock(t time.Time) *simClock { c := &simClock{}; c.set(t); return c }
func (c *simClock) now() time.Time   { return time.Unix(0, c.ns.Load()).UTC() }
func (c *simClock) set(t time.Time)  { c.ns.Store(t.UnixNano()) }

type env struct {
	sim   *partnersim.Server
	url   string
	db    *store.Store
	clock *simClock
}

func newEnv(t *testing.T, cfg partnersim.Config, start time.Time) *env {
	t.Helper()
	return newEnvOn(t, cfg, start, pgtest.NewDatabase(t))
}

// newEnvOn is newEnv on the database at dbURL.
func newEnvOn(t *testing.T, cfg partnersim.Config, start time.Time, dbURL string) *env {
	t.Helper()
	clock := newClock(start)
	cfg.Keys = []string{key}
	cfg.Now = clock.now
	sim := partnersim.New(cfg)
	url := syncertest.Serve(t, sim, nil)
	return &env{sim: sim, url: url, db: pgtest.OpenStore(t, dbURL), clock: clock}
}

// workers builds the env's workers: quick retries, so that faults cost the
// tests little time.
func (e *env) workers() syncertest.Workers {
	return syncertest.Workers{DB: e.db, URL: e.url, Key: key,
		Options: []partner.Option{partner.WithRetry(3, time.Millisecond, 5*time.Millisecond), partner.WithTimeout(2 * time.Second)}}
}

func (e *env) worker(t *testing.T, opts ...partner.Option) *syncer.Worker {
	t.Helper()
	w, err := e.workers().New(opts...)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func (e *env) config(products []int64, from, to int) syncer.Config {
	return syncer.Config{Products: products, FromDay: from, ToDay: to, ShardCount: 1, Now: e.clock.now}
}

// requireTruth checks that the database holds exactly what the simulator answers now
// for every pair.
func (e *env) requireTruth(t *testing.T, products []int64, from, to int) {
	t.Helper()
	now := e.clock.now()
	for _, p := range syncer.Pairs(products, syncer.Today(now, time.UTC), from, to) {
		want := e.sim.Inventory(p.ProductID, p.Date, now)
		got, err := e.db.ReadSnapshot(context.Background(), p.ProductID, p.Date)
		if err != nil {
			t.Fatalf("read %s: %v", p, err)
		}
		if got.SyncedAt == nil {
			t.Fatalf("%s was never synced", p)
		}
		if len(want) == 0 && len(got.Slots) == 0 {
			continue
		}
		if !reflect.DeepEqual(got.Slots, want) {
			t.Fatalf("%s: database differs from the partner\n got: %+v\nwant: %+v", p, got.Slots, want)
		}
	}
}

func TestSyncMirrorsPartnerOverAMonth(t *testing.T) {
	start := time.Date(2026, 11, 30, 8, 0, 0, 0, time.UTC) // a Monday
	e := newEnv(t, partnersim.Config{Seed: 7, Limit: -1}, start)
	products := []int64{14, 15}
	ctx := context.Background()

	sum, err := e.worker(t).Run(ctx, e.config(products, 0, 29))
	if err != nil {
		t.Fatalf("first run: %v (%s)", err, sum.Line())
	}
	if sum.PairsOK != 60 || sum.PairsFailed != 0 || sum.Requests != 60 || sum.SnapshotsChanged != 60 {
		t.Fatalf("first run summary: %s", sum.Line())
	}
	if sum.SlotsWritten == 0 {
		t.Fatal("no slot written for a month of products 14 and 15")
	}
	e.requireTruth(t, products, 0, 29)

	// Day by day the partner sells places, sells slots out and moves prices; each
	// run must mirror that exactly, deleting what the partner no longer returns.
	slotIDs := func(from int) map[string]bool {
		ids := map[string]bool{}
		for _, p := range syncer.Pairs(products, syncer.Today(e.clock.now(), time.UTC), from, 29-from) {
			snap, err := e.db.ReadSnapshot(ctx, p.ProductID, p.Date)
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range snap.Slots {
				ids[s.ProviderSlotID] = true
			}
		}
		return ids
	}
	changed, deleted := 0, 0
	for day := 1; day <= 6; day++ {
		e.clock.set(start.Add(time.Duration(day) * 24 * time.Hour))
		before := slotIDs(0)
		sum, err = e.worker(t).Run(ctx, e.config(products, 0, 29))
		if err != nil {
			t.Fatalf("run of day %d: %v (%s)", day, err, sum.Line())
		}
		e.requireTruth(t, products, 0, 29)
		changed += sum.SnapshotsChanged
		after := slotIDs(0)
		for id := range before {
			if !after[id] {
				deleted++
			}
		}
	}
	if changed == 0 || deleted == 0 {
		t.Errorf("over six simulated days %d snapshots changed and %d sold-out slots were deleted; want both", changed, deleted)
	}
	t.Logf("six simulated days: %d snapshots changed, %d sold-out slots deleted", changed, deleted)
}

func TestSyncShardsCoverEveryPairOnce(t *testing.T) {
	e := newEnv(t, partnersim.Config{Seed: 1, Limit: -1}, time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC))
	products := []int64{14, 15}
	sums, errs := e.workers().RunShards(context.Background(), e.config(products, 7, 29), 4)
	total := 0
	for i := range 4 {
		if errs[i] != nil {
			t.Fatalf("shard %d: %v", i, errs[i])
		}
		total += sums[i].PairsOK
	}
	if total != 2*23 {
		t.Fatalf("shards wrote %d pairs, want %d", total, 2*23)
	}
	if got := e.sim.Stats().Requests; got != 2*23 {
		t.Errorf("simulator served %d requests, want one per pair (%d)", got, 2*23)
	}
	e.requireTruth(t, products, 7, 29)
}

func TestSyncFaultsKeepPreviousSnapshot(t *testing.T) {
	start := time.Date(2026, 11, 30, 8, 0, 0, 0, time.UTC)
	products := []int64{14}
	faults := []struct {
		name   string
		faults partnersim.Faults
		is     error
	}{
		{"server errors", partnersim.Faults{ErrorRate: 1}, nil},
		{"malformed JSON", partnersim.Faults{MalformedRate: 1}, partner.ErrMalformed},
		{"missing providerSlotId", partnersim.Faults{MissingFieldRate: 1}, partner.ErrMalformed},
		{"duplicated providerSlotId", partnersim.Faults{DuplicateRate: 1}, partner.ErrMalformed},
		{"timeouts", partnersim.Faults{TimeoutRate: 1}, partner.ErrTimeout},
		{"429 storm", partnersim.Faults{Storm429Until: start.Add(20*time.Hour + 30*time.Minute)}, nil},
	}
	for _, f := range faults {
		t.Run(f.name, func(t *testing.T) {
			e := newEnv(t, partnersim.Config{Seed: 3, Limit: -1}, start)
			ctx := context.Background()
			if _, err := e.worker(t).Run(ctx, e.config(products, 0, 2)); err != nil {
				t.Fatalf("clean run: %v", err)
			}
			good := map[string]store.Snapshot{}
			for _, p := range syncer.Pairs(products, syncer.Today(start, time.UTC), 0, 2) {
				good[p.String()], _ = e.db.ReadSnapshot(ctx, p.ProductID, p.Date)
			}

			e.clock.set(start.Add(20 * time.Hour)) // the partner's truth moved on
			if err := e.sim.SetFaults(f.faults); err != nil {
				t.Fatal(err)
			}
			opts := []partner.Option{partner.WithTimeout(200 * time.Millisecond), partner.WithRateLimitRetry(1, time.Millisecond)}
			sum, err := e.worker(t, opts...).Run(ctx, e.config(products, 0, 2))
			if err == nil || sum.PairsFailed == 0 || len(sum.Failures) != sum.PairsFailed {
				t.Fatalf("faulty run: err %v, summary %s", err, sum.Line())
			}
			failed := map[string]bool{}
			for _, f := range sum.Failures {
				failed[f.Date] = true
			}
			for _, p := range syncer.Pairs(products, syncer.Today(start, time.UTC), 0, 2) {
				got, _ := e.db.ReadSnapshot(ctx, p.ProductID, p.Date)
				want := e.sim.Inventory(p.ProductID, p.Date, e.clock.now())
				switch {
				case failed[p.Date.Format(time.DateOnly)] && !reflect.DeepEqual(got, good[p.String()]):
					t.Fatalf("%s changed after a failed fetch", p)
				case !failed[p.Date.Format(time.DateOnly)] && len(want) > 0:
					t.Fatalf("%s has slots but no fault hit it", p)
				}
			}
			if f.is != nil {
				// The summary keeps text only; the typed error is what the client returns.
				day, _ := time.Parse(time.DateOnly, sum.Failures[0].Date)
				client, _ := partner.New(e.url, key, opts...)
				_, ferr := client.FetchInventory(ctx, 14, day)
				if !errors.Is(ferr, f.is) {
					t.Fatalf("fetch error %v is not %v", ferr, f.is)
				}
			}

			// The fault clears; the next run heals every pair.
			if err := e.sim.SetFaults(partnersim.Faults{}); err != nil {
				t.Fatal(err)
			}
			e.clock.set(start.Add(21 * time.Hour))
			if _, err := e.worker(t).Run(ctx, e.config(products, 0, 2)); err != nil {
				t.Fatalf("healing run: %v", err)
			}
			e.requireTruth(t, products, 0, 2)
		})
	}
}

func TestSyncStopsOnRevokedKey(t *testing.T) {
	e := newEnv(t, partnersim.Config{Seed: 3, Limit: -1, Faults: partnersim.Faults{RevokedKeys: []string{key}}}, time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC))
	sum, err := e.worker(t).Run(context.Background(), e.config([]int64{14, 15}, 0, 29))
	if err == nil {
		t.Fatal("a revoked key gave no error")
	}
	if sum.Reason != "PartnerUnauthorized" || sum.PairsFailed != 60 || sum.Requests != 1 {
		t.Fatalf("want one request then stop with PartnerUnauthorized, got %s", sum.Line())
	}
}

func TestSyncRetrySkipsPairsWrittenInTheSameRun(t *testing.T) {
	start := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
	e := newEnv(t, partnersim.Config{Seed: 5, Limit: -1}, start)
	ctx := context.Background()
	cfg := e.config([]int64{14, 15}, 0, 9)
	cfg.ScheduledAt, cfg.RunID = start.Add(-time.Minute), "sample-today-1"
	if _, err := e.worker(t).Run(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	e.sim.ResetStats()
	sum, err := e.worker(t).Run(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if sum.PairsSkipped != 20 || sum.Requests != 0 || e.sim.Stats().Requests != 0 {
		t.Fatalf("retry of a finished run refetched: %s, simulator saw %d requests", sum.Line(), e.sim.Stats().Requests)
	}
	// A later run of the same window fetches again.
	cfg.ScheduledAt, cfg.RunID = start.Add(time.Minute), "sample-today-2"
	e.clock.set(start.Add(2 * time.Minute))
	sum, err = e.worker(t).Run(ctx, cfg)
	if err != nil || sum.PairsSkipped != 0 || sum.Requests != 20 {
		t.Fatalf("next run: err %v, %s", err, sum.Line())
	}
}

// TestSyncFetchesPairsAnotherRunWrote: a run skips only what an earlier attempt
// of its own run wrote. Another schedule's run that synced the same products a
// minute ago, perhaps from another partner, saves it nothing.
func TestSyncFetchesPairsAnotherRunWrote(t *testing.T) {
	start := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
	e := newEnv(t, partnersim.Config{Seed: 5, Limit: -1}, start)
	ctx := context.Background()
	products := []int64{14, 15}

	sample := e.config(products, 0, 2)
	sample.ScheduledAt, sample.RunID = start, "sample-today-29630400"
	if _, err := e.worker(t).Run(ctx, sample); err != nil {
		t.Fatal(err)
	}

	// A new schedule's run, scheduled before the sample's writes and started after.
	e.clock.set(start.Add(5 * time.Minute))
	other := e.config(products, 0, 2)
	other.ScheduledAt, other.RunID = start.Add(-time.Minute), "other-today-29630399"
	e.sim.ResetStats()
	sum, err := e.worker(t).Run(ctx, other)
	if err != nil {
		t.Fatal(err)
	}
	if sum.PairsSkipped != 0 || sum.Requests != 6 || e.sim.Stats().Requests != 6 {
		t.Fatalf("a run skipped pairs another run wrote: %s, simulator saw %d requests; want all 6 fetched", sum.Line(), e.sim.Stats().Requests)
	}

	// Its retry skips what its own first attempt wrote.
	e.sim.ResetStats()
	sum, err = e.worker(t).Run(ctx, other)
	if err != nil || sum.PairsSkipped != 6 || e.sim.Stats().Requests != 0 {
		t.Fatalf("retry: err %v, %s, simulator saw %d requests; want all 6 skipped", err, sum.Line(), e.sim.Stats().Requests)
	}
}

func TestSyncCancelledStopsFetchingAndLeavesWholeSnapshots(t *testing.T) {
	start := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
	e := newEnv(t, partnersim.Config{Seed: 5, Limit: -1, Faults: partnersim.Faults{SlowRate: 1, SlowDelay: 50 * time.Millisecond}}, start)
	ctx, cancel := context.WithTimeout(context.Background(), 400*time.Millisecond)
	defer cancel()
	sum, err := e.worker(t).Run(ctx, e.config([]int64{14, 15}, 0, 29))
	if err == nil || sum.PairsOK == 0 || sum.PairsOK == 60 || sum.PairsOK+sum.PairsFailed != 60 {
		t.Fatalf("cancelled run: err %v, %s", err, sum.Line())
	}
	// Every pair is either whole (equal to the partner) or absent.
	written := 0
	for _, p := range syncer.Pairs([]int64{14, 15}, syncer.Today(start, time.UTC), 0, 29) {
		got, err := e.db.ReadSnapshot(context.Background(), p.ProductID, p.Date)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if got.SyncedAt == nil {
			continue
		}
		written++
		if want := e.sim.Inventory(p.ProductID, p.Date, start); !(len(want) == 0 && len(got.Slots) == 0) && !reflect.DeepEqual(got.Slots, want) {
			t.Fatalf("%s is not a whole snapshot:\n got %+v\nwant %+v", p, got.Slots, e.sim.Inventory(p.ProductID, p.Date, start))
		}
	}
	if written != sum.PairsOK {
		t.Errorf("%d pairs in the database, summary says %d written", written, sum.PairsOK)
	}
}

func TestSyncSharedBudgetNoRateLimits(t *testing.T) {
	// Time compressed 20x: 30 requests per 3 s. Four workers, each with its own
	// limiter instance as separate pods would have, share one key through Postgres.
	const limit, window = 30, 3 * time.Second
	sim := partnersim.New(partnersim.Config{Seed: 9, Count: 16, Limit: limit, Window: window, Keys: []string{key}})
	workers := syncertest.Workers{DB: pgtest.OpenStore(t, pgtest.NewDatabase(t)), URL: syncertest.Serve(t, sim, nil), Key: key, Limit: limit, Window: window}
	products := []int64{14, 15, 16}
	pairs := len(products) * 30 // 90 requests: three windows' worth
	began := time.Now()
	sums, errs := workers.RunShards(context.Background(), syncer.Config{Products: products, FromDay: 0, ToDay: 29}, 4)
	elapsed := time.Since(began)
	failed := 0
	for i, sum := range sums {
		if errs[i] != nil {
			t.Errorf("shard %d: %v (%s) %+v", i, errs[i], sum.Line(), sum.Failures)
		}
		failed += sum.PairsFailed
	}
	st := sim.Stats()
	if st.RateLimited != 0 {
		t.Errorf("the partner answered %d 429s to workers sharing one limiter", st.RateLimited)
	}
	if st.Requests != int64(pairs) || failed != 0 {
		t.Fatalf("served %d requests for %d pairs, %d failed", st.Requests, pairs, failed)
	}
	// The allowance over the run is limit per window; 90 requests at 30 per 3 s take
	// just under 9 s when the budget is fully used.
	used := float64(pairs) / (float64(limit) * elapsed.Seconds() / window.Seconds())
	t.Logf("4 workers: %d requests in %v, %.3f of the allowance, %d 429s", pairs, elapsed.Round(time.Millisecond), used, st.RateLimited)
	if used < 0.9 {
		t.Errorf("used %.3f of the allowance, want at least 0.9", used)
	}
}

func TestSummaryTerminationMessage(t *testing.T) {
	path := filepath.Join(t.TempDir(), "termination-log")
	in := syncer.Summary{PairsTotal: 3, PairsOK: 2, PairsFailed: 1, Requests: 4, RateLimited: 1, SlotsWritten: 9}
	if err := in.WriteTerminationMessage(path); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out syncer.Summary
	if err := json.Unmarshal(b, &out); err != nil || !reflect.DeepEqual(in, out) {
		t.Fatalf("termination message %s does not round-trip: %v", b, err)
	}
	if len(b) > 4096 {
		t.Fatalf("termination message is %d bytes, Kubernetes keeps 4096", len(b))
	}
}

// TestSyncDatesComeFromTheScheduledTime: the shards of a run scheduled just before
// local midnight sync the same dates, whether they start before or after it.
func TestSyncDatesComeFromTheScheduledTime(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	scheduled := time.Date(2026, 12, 1, 23, 59, 0, 0, berlin)
	e := newEnv(t, partnersim.Config{Seed: 5, Limit: -1}, scheduled)
	ctx := context.Background()
	run := func(shard int, at time.Time) {
		t.Helper()
		e.clock.set(at)
		cfg := e.config([]int64{14}, 0, 1)
		cfg.Location, cfg.ScheduledAt, cfg.ShardIndex, cfg.ShardCount = berlin, scheduled, shard, 2
		if sum, err := e.worker(t).Run(ctx, cfg); err != nil || sum.PairsOK != 1 {
			t.Fatalf("shard %d at %v: err %v, %s", shard, at, err, sum.Line())
		}
	}
	run(0, scheduled.Add(30*time.Second))
	run(1, scheduled.Add(90*time.Second)) // 00:00:30 on 2 December in Berlin

	for day, want := range map[string]bool{"2026-12-01": true, "2026-12-02": true, "2026-12-03": false} {
		date, _ := time.Parse(time.DateOnly, day)
		snap, err := e.db.ReadSnapshot(ctx, 14, date)
		if err != nil {
			t.Fatal(err)
		}
		if got := snap.SyncedAt != nil; got != want {
			t.Errorf("%s synced: %v, want %v (the run was scheduled on 1 December, Berlin time)", day, got, want)
		}
	}
}
