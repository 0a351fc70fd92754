package syncer_test

import (
	"context"
	"errors"
	"net/http"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/slotsync/slotsync/internal/partner"
	"github.com/slotsync/slotsync/internal/partnersim"
	"github.com/slotsync/slotsync/internal/pgtest"
	"github.com/slotsync/slotsync/internal/ratelimit"
	"github.com/slotsync/slotsync/internal/syncer"
	"github.com/slotsync/slotsync/internal/syncertest"
)

func TestSyncSlowAnswers(t *testing.T) {
	start := time.Date(2026, 11, 30, 8, 0, 0, 0, time.UTC)
	products := []int64{14}
	ctx := context.Background()

	t.Run("slower than usual but within the timeout", func(t *testing.T) {
		e := newEnv(t, partnersim.Config{Seed: 3, Limit: -1, Faults: partnersim.Faults{SlowRate: 1, SlowDelay: 150 * time.Millisecond}}, start)
		sum, err := e.worker(t, partner.WithTimeout(2*time.Second)).Run(ctx, e.config(products, 0, 2))
		if err != nil || sum.PairsOK != 3 || sum.Requests != 3 {
			t.Fatalf("slow partner: err %v, %s; want every pair written with one request each", err, sum.Line())
		}
		e.requireTruth(t, products, 0, 2)
	})

	t.Run("slower than the timeout", func(t *testing.T) {
		e := newEnv(t, partnersim.Config{Seed: 3, Limit: -1}, start)
		if _, err := e.worker(t).Run(ctx, e.config(products, 0, 2)); err != nil {
			t.Fatal(err)
		}
		good := map[string][]partner.Slot{}
		for _, p := range syncer.Pairs(products, syncer.Today(start, time.UTC), 0, 2) {
			snap, err := e.db.ReadSnapshot(ctx, p.ProductID, p.Date)
			if err != nil {
				t.Fatal(err)
			}
			good[p.String()] = snap.Slots
		}
		e.clock.set(start.Add(20 * time.Hour))
		if err := e.sim.SetFaults(partnersim.Faults{SlowRate: 1, SlowDelay: time.Second}); err != nil {
			t.Fatal(err)
		}
		began := time.Now()
		sum, err := e.worker(t, partner.WithTimeout(100*time.Millisecond)).Run(ctx, e.config(products, 0, 2))
		if err == nil || sum.PairsFailed != 3 {
			t.Fatalf("partner slower than the timeout: err %v, %s; want every pair failed", err, sum.Line())
		}
		// Three attempts of 100ms per pair and short backoffs: far below the answers' second.
		if elapsed := time.Since(began); elapsed > 5*time.Second {
			t.Errorf("the run took %v: attempts were not cut at their timeout", elapsed)
		}
		for _, p := range syncer.Pairs(products, syncer.Today(start, time.UTC), 0, 2) {
			snap, err := e.db.ReadSnapshot(ctx, p.ProductID, p.Date)
			if err != nil {
				t.Fatal(err)
			}
			if !sameAnswer(snap.Slots, good[p.String()]) {
				t.Fatalf("%s changed after its fetches timed out", p)
			}
		}
		client, _ := partner.New(e.url, key, partner.WithTimeout(100*time.Millisecond), partner.WithRetry(1, time.Millisecond, time.Millisecond))
		if _, err := client.FetchInventory(ctx, 14, start); !errors.Is(err, partner.ErrTimeout) {
			t.Fatalf("fetch error %v is not ErrTimeout", err)
		}
		if err := e.sim.SetFaults(partnersim.Faults{}); err != nil {
			t.Fatal(err)
		}
		if _, err := e.worker(t).Run(ctx, e.config(products, 0, 2)); err != nil {
			t.Fatalf("healing run: %v", err)
		}
		e.requireTruth(t, products, 0, 2)
	})
}

// TestSyncRevokedKeyOneRequestPerWorker: every shard of a run stops at its first
// 401, so a revoked key costs the partner one request per worker process, not a
// retry storm.
func TestSyncRevokedKeyOneRequestPerWorker(t *testing.T) {
	const workers = 4
	e := newEnv(t, partnersim.Config{Seed: 3, Limit: -1, Faults: partnersim.Faults{RevokedKeys: []string{key}}}, time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC))
	ws := e.workers()
	ws.Limit, ws.Window = 30, time.Second
	sums, errs := ws.RunShards(context.Background(), e.config([]int64{14, 15}, 0, 29), workers)
	for i := range workers {
		if errs[i] == nil || sums[i].Reason != "PartnerUnauthorized" || sums[i].Requests != 1 || sums[i].PairsFailed != sums[i].PairsTotal {
			t.Errorf("shard %d: err %v, %s; want one request, then every pair failed with PartnerUnauthorized", i, errs[i], sums[i].Line())
		}
	}
	st := e.sim.Stats()
	if st.Requests != workers || st.Unauthorized != workers {
		t.Fatalf("the partner got %d requests (%d answered 401) from %d workers, want one each", st.Requests, st.Unauthorized, workers)
	}
}

// arrivals records when each inventory request reached the simulator and what
// it was answered.
type arrivals struct {
	mu   sync.Mutex
	list []arrival
}

type arrival struct {
	at     time.Time
	status int
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

func (a *arrivals) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		at := time.Now()
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		h.ServeHTTP(sw, r)
		a.mu.Lock()
		a.list = append(a.list, arrival{at: at, status: sw.status})
		a.mu.Unlock()
	})
}

func (a *arrivals) all() []arrival {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]arrival(nil), a.list...)
}

// stormWorkers serves a partner of limit requests per window whose arrivals seen
// records, and builds workers as the storm tests' holders of its key: each with
// a limiter of its own, as separate pods have, that keeps a tenth of the budget
// back (the tests are about storms, not about send jitter on a busy machine), and
// each retrying up to three 429s.
func stormWorkers(t *testing.T, limit int, window time.Duration, seen *arrivals) (*partnersim.Server, syncertest.Workers) {
	t.Helper()
	sim := partnersim.New(partnersim.Config{Seed: 9, Limit: limit, Window: window, Keys: []string{key}})
	return sim, syncertest.Workers{
		DB: pgtest.OpenStore(t, pgtest.NewDatabase(t)), URL: syncertest.Serve(t, sim, seen.wrap), Key: key,
		Limit: limit, Window: window, LimitOptions: []ratelimit.Option{ratelimit.WithMargin(0.1)},
		Options: []partner.Option{partner.WithRateLimitRetry(3, 10*time.Second)},
	}
}

// TestSync429StormAllHoldersBackOff: when the partner answers 429 to one holder of
// the key, every holder (each with its own limiter, as separate pods have) waits
// for the reset: the storm sees at most one request per holder, none reaches the
// partner before the reset after that, and the run then completes within budget.
func TestSync429StormAllHoldersBackOff(t *testing.T) {
	const holders, limit, window = 4, 30, time.Second
	var seen arrivals
	sim, workers := stormWorkers(t, limit, window, &seen)
	reset := time.Now().Add(1500 * time.Millisecond)
	if err := sim.SetFaults(partnersim.Faults{Storm429Until: reset}); err != nil {
		t.Fatal(err)
	}
	products := []int64{14, 15}
	sums, errs := workers.RunShards(context.Background(), syncer.Config{Products: products, FromDay: 0, ToDay: 9}, holders)
	for i := range holders {
		if errs[i] != nil {
			t.Fatalf("holder %d: %v (%s)", i, errs[i], sums[i].Line())
		}
	}
	var during, limitedAfter, total int
	for _, a := range seen.all() {
		total++
		switch {
		case a.at.Before(reset):
			during++
			if a.status != http.StatusTooManyRequests {
				t.Errorf("a request during the storm was answered %d", a.status)
			}
		case a.status == http.StatusTooManyRequests:
			limitedAfter++
		}
	}
	t.Logf("%d holders: %d requests during the storm, %d after it (%d of them 429)", holders, during, total-during, limitedAfter)
	if during < 1 || during > holders {
		t.Errorf("%d requests reached the partner during the storm, want 1 to %d (at most one per holder)", during, holders)
	}
	if limitedAfter > 0 {
		t.Errorf("%d requests after the reset were answered 429: the holders overran the budget", limitedAfter)
	}
	if want := len(products) * 10; total-during != want {
		t.Errorf("%d requests after the storm for %d pairs, want one each", total-during, want)
	}
}

func sameAnswer(a, b []partner.Slot) bool {
	if len(a) == 0 && len(b) == 0 {
		return true
	}
	return reflect.DeepEqual(a, b)
}

// TestSyncResumesAfterA429WithAResetIn2100: a partner whose clock is wrong
// answers 429 with a reset in 2100. Every holder of the key (each with its own
// limiter, as separate pods have) holds back for a bounded block only, then the
// run completes; before, the block lasted until 2100 and the workers never ended.
func TestSyncResumesAfterA429WithAResetIn2100(t *testing.T) {
	const holders, limit, window = 3, 30, time.Second
	var seen arrivals
	sim, workers := stormWorkers(t, limit, window, &seen)
	farAway := time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)
	newWorker := func(t *testing.T, opts ...partner.Option) *syncer.Worker {
		t.Helper()
		w, err := workers.New(opts...)
		if err != nil {
			t.Fatal(err)
		}
		return w
	}

	t.Run("a short storm", func(t *testing.T) {
		stormEnd := time.Now().Add(time.Second)
		if err := sim.SetFaults(partnersim.Faults{Storm429Until: stormEnd, Storm429Reset: farAway}); err != nil {
			t.Fatal(err)
		}
		// Within a minute, or the workers are stuck: their contexts have no deadline in a Job.
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		began := time.Now()
		sums, errs := workers.RunShards(ctx, syncer.Config{Products: []int64{14, 15}, FromDay: 0, ToDay: 5}, holders)
		for i := range holders {
			if errs[i] != nil || sums[i].PairsFailed != 0 {
				t.Errorf("holder %d: %v (%s)", i, errs[i], sums[i].Line())
			}
		}
		var limited, ok int
		for _, a := range seen.all() {
			switch a.status {
			case http.StatusTooManyRequests:
				limited++
			case http.StatusOK:
				ok++
			}
		}
		took := time.Since(began)
		t.Logf("%d holders: %d requests answered 429, %d answered, in %v", holders, limited, ok, took.Round(time.Millisecond))
		if limited < 1 || ok != 12 {
			t.Errorf("%d 429s and %d answers, want at least one 429 and one answer per pair (12)", limited, ok)
		}
		// The storm, the bounded block of two windows after the last 429, the 12 requests.
		if bound := time.Second + ratelimit.MaxBlockWindows*window + 12*window/limit + 10*time.Second; took > bound {
			t.Errorf("the run took %v, want it within %v", took, bound)
		}
	})

	t.Run("a partner that keeps refusing", func(t *testing.T) {
		if err := sim.SetFaults(partnersim.Faults{Storm429Until: time.Now().Add(time.Hour), Storm429Reset: farAway}); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		sum, err := newWorker(t, partner.WithRateLimitRetry(1, 10*time.Second)).Run(ctx, syncer.Config{Products: []int64{14}, FromDay: 0, ToDay: 0, ShardCount: 1})
		if err == nil || sum.Reason != "RateLimitBlocked" || sum.PairsFailed != 1 {
			t.Errorf("a run refused throughout: err %v, %s; want the pair failed with RateLimitBlocked", err, sum.Line())
		}

		// A run ends at its deadline, and says so.
		deadline := time.Now().Add(3 * time.Second)
		sum, err = newWorker(t).Run(ctx, syncer.Config{Products: []int64{14, 15}, FromDay: 0, ToDay: 29, ShardCount: 1, Deadline: deadline})
		if err == nil || sum.Reason != "DeadlineExceeded" || sum.PairsFailed != sum.PairsTotal {
			t.Errorf("a run refused until its deadline: err %v, %s; want every pair failed with DeadlineExceeded", err, sum.Line())
		}
		if late := time.Since(deadline); late > 5*time.Second {
			t.Errorf("the run ended %v after its deadline", late)
		}
	})
}
