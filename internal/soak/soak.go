// Package soak runs slotsync's sync path for many compressed cycles with faults
// injected at random, and checks after every cycle what the design promises: each
// pair holds one whole answer (the one it held before or the partner's answer of
// the cycle), a written pair holds exactly the partner's answer, no row is lost or
// duplicated, and a final clean cycle leaves the database equal to the partner.
//
// Everything on the path is real: the partner client and its retries, the limiter
// shared through Postgres, the store and the worker, over HTTP against the
// simulator. The inventory clock jumps hours between cycles so that answers
// change; rate limits, timeouts and 429 resets run in real time.
//
// The seed decides the fault plan (which faults, rates, delays and clock steps in
// which cycle), so a failing plan can be replayed. The exact interleaving of
// concurrent shards, retries and a database restart is the scheduler's and may
// differ between runs of one seed.
package soak

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/slotsync/slotsync/internal/partner"
	"github.com/slotsync/slotsync/internal/partnersim"
	"github.com/slotsync/slotsync/internal/ratelimit"
	"github.com/slotsync/slotsync/internal/store"
	"github.com/slotsync/slotsync/internal/syncer"
)

// Fault is one kind of misbehaviour a cycle may get.
type Fault string

// The faults of the soak. The partner's are the simulator's; the others hit the
// database or the worker.
const (
	FaultServerErrors Fault = "partner 5xx"
	FaultTimeouts     Fault = "partner timeouts"
	FaultSlow         Fault = "partner slow answers"
	FaultMalformed    Fault = "partner malformed JSON"
	FaultMissingField Fault = "partner missing providerSlotId"
	FaultDuplicateID  Fault = "partner duplicated providerSlotId"
	Fault429Storm     Fault = "partner 429 storm"
	FaultDBRestart    Fault = "Postgres restarted mid-run"
	FaultCancel       Fault = "worker cancelled mid-run"
)

// PartnerFaults are the faults of the partner, which its answers carry.
var PartnerFaults = []Fault{
	FaultServerErrors, FaultTimeouts, FaultSlow, FaultMalformed, FaultMissingField,
	FaultDuplicateID, Fault429Storm,
}

// AllFaults lists every fault, in report order.
var AllFaults = append(slices.Clone(PartnerFaults), FaultDBRestart, FaultCancel)

const (
	apiKey = "soak-key"
	// Budget of the key: the simulator's limit per window and the limiter's.
	limit       = 60
	limitWindow = time.Second
	// The limiter gives up a tenth of the budget: on a busy machine a request may
	// leave later than its slot, and the soak tests faults, not jitter.
	limiterMargin = 0.1
	shards        = 2
	days          = 7
	// attemptTimeout bounds one partner request; slow answers straddle it.
	attemptTimeout = 250 * time.Millisecond
	// cycleTimeout bounds one cycle's run, so that a hang fails the soak.
	cycleTimeout = 2 * time.Minute
	// extraFaultChance is the chance of each fault beside the cycle's main one.
	extraFaultChance = 0.2
)

var products = []int64{14, 15, 16, 17}

// Config configures a soak.
type Config struct {
	// Seed decides the fault plan and the simulator's inventory and draws.
	Seed int64
	// Cycles is how many faulty cycles run before the final clean one.
	Cycles int
	// DatabaseURL is a migrated database of the soak's own.
	DatabaseURL string
	// RestartDatabase stops and starts the database server. Nil leaves
	// FaultDBRestart out of the plan.
	RestartDatabase func(context.Context) error
	// Logf, when set, gets a line per cycle.
	Logf func(format string, args ...any)
}

// Report is what a soak saw. The soak passed when Violations is empty.
type Report struct {
	Seed     int64
	Cycles   int
	Duration time.Duration
	// Injected counts the cycles each fault was switched on in.
	Injected map[Fault]int
	// Answers counts the partner's answers that carried each partner fault, as
	// the client received them (see answerLog).
	Answers map[Fault]int64
	// SimFaults counts requests the simulator broke (5xx, hangs, slow or bad
	// bodies); RateLimited its 429 answers; Requests every request it got.
	SimFaults, RateLimited, Requests int64
	// DBRestartsMidRun counts restarts that began while a worker was running.
	DBRestartsMidRun int
	// ShardRetries counts shards run a second time after a failure, as the Job
	// controller retries a failed index.
	ShardRetries int
	// PairRuns counts (cycle, pair) syncs attempted; PairFailures those that did
	// not write the pair; Recovered those failures healed by a later cycle
	// writing the pair; AgedOut those whose date passed before any did.
	PairRuns, PairFailures, Recovered, AgedOut int
	// What the checks found; all must be zero.
	RowsLost, RowsDuplicated, WrongAnswers, PartialSnapshots int
	// FinalPairs is how many pairs the final clean cycle checked; FinalMismatches
	// how many differ from the partner's answer.
	FinalPairs, FinalMismatches int
	// Violations describe every failed check, at most maxViolations of them.
	Violations []string
}

const maxViolations = 20

func (r *Report) violate(format string, args ...any) {
	if len(r.Violations) < maxViolations {
		r.Violations = append(r.Violations, fmt.Sprintf(format, args...))
	}
}

// String is the report as printed at the end of a soak.
func (r Report) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "soak: seed %d, %d faulty cycles + 1 clean, %s\n", r.Seed, r.Cycles, r.Duration.Round(time.Second))
	fmt.Fprintf(&b, "faults injected: cycles, and faulty partner answers\n")
	for _, f := range AllFaults {
		answers := "-"
		if n, ok := r.Answers[f]; ok {
			answers = fmt.Sprint(n)
		}
		fmt.Fprintf(&b, "  %-36s %4d  %6s\n", f, r.Injected[f], answers)
	}
	fmt.Fprintf(&b, "partner: %d requests, %d broken by the simulator, %d answered 429\n", r.Requests, r.SimFaults, r.RateLimited)
	fmt.Fprintf(&b, "database restarts that landed mid-run: %d of %d\n", r.DBRestartsMidRun, r.Injected[FaultDBRestart])
	fmt.Fprintf(&b, "shard retries: %d\n", r.ShardRetries)
	fmt.Fprintf(&b, "pair syncs: %d, %d failed: %d healed by a later cycle, %d aged out before one\n",
		r.PairRuns, r.PairFailures, r.Recovered, r.AgedOut)
	fmt.Fprintf(&b, "rows lost %d, rows duplicated %d, wrong answers %d, partial snapshots %d\n",
		r.RowsLost, r.RowsDuplicated, r.WrongAnswers, r.PartialSnapshots)
	fmt.Fprintf(&b, "final clean cycle: %d pairs, %d differ from the partner\n", r.FinalPairs, r.FinalMismatches)
	for _, v := range r.Violations {
		fmt.Fprintf(&b, "VIOLATION: %s\n", v)
	}
	return b.String()
}

// plan is what one cycle injects.
type plan struct {
	faults      []Fault
	step        time.Duration // of the inventory clock, before the cycle
	sim         partnersim.Faults
	stormFor    time.Duration
	cancelAfter time.Duration
	// restartAfterWrites is how many snapshots the cycle writes before the
	// restart begins, so that it lands mid-run, between two snapshots or inside one.
	restartAfterWrites int
}

func (p plan) has(f Fault) bool { return slices.Contains(p.faults, f) }

// makePlans draws the fault plan of every cycle from the seed. Each cycle has a
// main fault, taken in turn from a shuffled list so that a few cycles cover every
// fault, and each other fault with a small chance.
func makePlans(seed int64, cycles int, restarts bool) []plan {
	rng := rand.New(rand.NewPCG(uint64(seed), 0x50a4))
	kinds := slices.Clone(AllFaults)
	if !restarts {
		kinds = slices.DeleteFunc(kinds, func(f Fault) bool { return f == FaultDBRestart })
	}
	var order []Fault
	plans := make([]plan, cycles)
	for i := range plans {
		if len(order) == 0 {
			order = slices.Clone(kinds)
			rng.Shuffle(len(order), func(a, b int) { order[a], order[b] = order[b], order[a] })
		}
		p := plan{faults: []Fault{order[0]}}
		order = order[1:]
		for _, f := range kinds {
			if f != p.faults[0] && rng.Float64() < extraFaultChance {
				p.faults = append(p.faults, f)
			}
		}
		// One to six hours: remaining counts, sell-outs and prices move, and the
		// days of the range move on.
		p.step = time.Hour + time.Duration(rng.IntN(5*60))*time.Minute
		rate := func(lo, hi float64) float64 { return lo + rng.Float64()*(hi-lo) }
		for _, f := range p.faults {
			switch f {
			case FaultServerErrors:
				p.sim.ErrorRate = rate(0.2, 0.6)
			case FaultTimeouts:
				p.sim.TimeoutRate = rate(0.1, 0.3)
			case FaultSlow:
				p.sim.SlowRate = rate(0.3, 0.8)
				p.sim.SlowDelay = time.Duration(50+rng.IntN(350)) * time.Millisecond
			case FaultMalformed:
				p.sim.MalformedRate = rate(0.1, 0.4)
			case FaultMissingField:
				p.sim.MissingFieldRate = rate(0.1, 0.4)
			case FaultDuplicateID:
				p.sim.DuplicateRate = rate(0.1, 0.4)
			case Fault429Storm:
				p.stormFor = time.Duration(300+rng.IntN(900)) * time.Millisecond
			case FaultDBRestart:
				p.restartAfterWrites = 1 + rng.IntN(8)
			case FaultCancel:
				p.cancelAfter = time.Duration(50+rng.IntN(500)) * time.Millisecond
			}
		}
		plans[i] = p
	}
	return plans
}

// pairKey names a pair in maps.
type pairKey struct {
	product int64
	day     string
}

func keyOf(p syncer.Pair) pairKey {
	return pairKey{product: p.ProductID, day: p.Date.Format(time.DateOnly)}
}

// invClock is the inventory's clock: it stands still within a cycle, so that
// every fetch of a cycle sees the same truth, and jumps between cycles.
type invClock struct{ ns atomic.Int64 }

func (c *invClock) now() time.Time          { return time.Unix(0, c.ns.Load()).UTC() }
func (c *invClock) set(t time.Time)         { c.ns.Store(t.UnixNano()) }
func (c *invClock) advance(d time.Duration) { c.ns.Add(int64(d)) }

// recorder is the real store, remembering which pairs it wrote in the cycle.
type recorder struct {
	*store.Store
	writes  *writeCounter
	mu      sync.Mutex
	written map[pairKey]bool
}

func (r *recorder) WriteSnapshot(ctx context.Context, productID int64, date time.Time, slots []partner.Slot, syncedAt time.Time) (store.SnapshotResult, error) {
	r.writes.add()
	res, err := r.Store.WriteSnapshot(ctx, productID, date, slots, syncedAt)
	if err == nil {
		r.mu.Lock()
		r.written[pairKey{product: productID, day: date.Format(time.DateOnly)}] = true
		r.mu.Unlock()
	}
	return res, err
}

// writeCounter counts the snapshot writes of a cycle begun by all shards and
// closes reached once they are at least at.
type writeCounter struct {
	mu      sync.Mutex
	n, at   int
	reached chan struct{}
}

func (w *writeCounter) arm(at int) <-chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.n, w.at, w.reached = 0, at, make(chan struct{})
	return w.reached
}

func (w *writeCounter) add() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.n++
	if w.n == w.at {
		close(w.reached)
	}
}

func (r *recorder) reset() map[pairKey]bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	w := r.written
	r.written = map[pairKey]bool{}
	return w
}

type soak struct {
	cfg    Config
	sim    *partnersim.Server
	simURL string
	clock  *invClock
	// Each shard has a pool of its own, as each Job pod has; the pools live
	// through database restarts, so reconnecting is part of what is tested.
	shards  [shards]*recorder
	check   *pgxpool.Pool
	report  Report
	writes  *writeCounter
	answers *answerLog
	// failed counts, per pair, the cycles that failed it since it was last written.
	failed  map[pairKey]int
	retries atomic.Int64 // shard retries, counted by the shards' goroutines
}

// Run runs the soak. Its error is for a soak that could not run (no database, a
// hang); what the checks found is in the report.
func Run(ctx context.Context, cfg Config) (Report, error) {
	if cfg.Cycles < 1 {
		return Report{}, fmt.Errorf("soak: %d cycles, want at least 1", cfg.Cycles)
	}
	if cfg.Logf == nil {
		cfg.Logf = func(string, ...any) {}
	}
	began := time.Now()
	s := &soak{
		cfg:     cfg,
		clock:   &invClock{},
		failed:  map[pairKey]int{},
		writes:  &writeCounter{},
		answers: &answerLog{counts: map[Fault]int64{}},
		report:  Report{Seed: cfg.Seed, Cycles: cfg.Cycles, Injected: map[Fault]int{}},
	}
	// A Monday morning: products 14 and 15 have slots in the first week.
	s.clock.set(time.Date(2026, 11, 30, 6, 0, 0, 0, time.UTC))
	s.sim = partnersim.New(partnersim.Config{
		Seed: cfg.Seed, Products: products, Limit: limit, Window: limitWindow,
		Keys: []string{apiKey}, InventoryNow: s.clock.now,
	})
	defer s.sim.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return s.report, fmt.Errorf("soak: listen for the simulator: %w", err)
	}
	hs := &http.Server{Handler: s.answers.wrap(s.sim.Handler()), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = hs.Serve(ln) }()
	defer hs.Close()
	s.simURL = "http://" + ln.Addr().String()

	for i := range s.shards {
		db, err := store.Open(ctx, cfg.DatabaseURL)
		if err != nil {
			return s.report, err
		}
		defer db.Close()
		s.shards[i] = &recorder{Store: db, writes: s.writes, written: map[pairKey]bool{}}
	}
	checker, err := store.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return s.report, err
	}
	defer checker.Close()
	s.check = checker.Pool()

	for i, p := range makePlans(cfg.Seed, cfg.Cycles, cfg.RestartDatabase != nil) {
		if err := s.cycle(ctx, i+1, p); err != nil {
			return s.report, err
		}
	}
	if err := s.final(ctx); err != nil {
		return s.report, err
	}
	s.report.Answers = s.answers.snapshot()
	s.report.Duration = time.Since(began)
	return s.report, nil
}

// cycle runs one faulty cycle and checks the database after it.
func (s *soak) cycle(ctx context.Context, n int, p plan) error {
	s.clock.advance(p.step)
	pairs := syncer.Pairs(products, syncer.Today(s.clock.now(), time.UTC), 0, days-1)
	before, err := s.readAll(ctx, pairs)
	if err != nil {
		return fmt.Errorf("soak cycle %d: read before: %w", n, err)
	}
	for _, f := range p.faults {
		s.report.Injected[f]++
	}
	faults := p.sim
	if p.has(Fault429Storm) {
		faults.Storm429Until = time.Now().Add(p.stormFor)
	}
	if err := s.sim.SetFaults(faults); err != nil {
		return fmt.Errorf("soak cycle %d: %w", n, err)
	}
	st0 := s.sim.Stats()

	runCtx, cancel := context.WithTimeout(ctx, cycleTimeout)
	defer cancel()
	if p.has(FaultCancel) {
		stop := time.AfterFunc(p.cancelAfter, cancel)
		defer stop.Stop()
	}
	ran := make(chan struct{})
	restarted := make(chan error, 1)
	if p.has(FaultDBRestart) {
		reached := s.writes.arm(p.restartAfterWrites)
		go func() {
			select {
			case <-reached:
				s.report.DBRestartsMidRun++
			case <-ran: // the run ended first: restart between runs instead
			case <-ctx.Done():
				restarted <- ctx.Err()
				return
			}
			restarted <- s.cfg.RestartDatabase(ctx)
		}()
	} else {
		s.writes.arm(0)
		restarted <- nil
	}

	scheduled := s.clock.now()
	var wg sync.WaitGroup
	sums := make([][]syncer.Summary, shards)
	for i := range shards {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sums[i] = s.runShard(runCtx, i, scheduled)
		}()
	}
	wg.Wait()
	close(ran)
	if err := <-restarted; err != nil {
		return fmt.Errorf("soak cycle %d: restart the database: %w", n, err)
	}
	if err := s.sim.SetFaults(partnersim.Faults{}); err != nil {
		return err
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if err := s.waitDatabase(ctx); err != nil {
		return fmt.Errorf("soak cycle %d: %w", n, err)
	}
	st1 := s.sim.Stats()
	s.report.Requests += st1.Requests - st0.Requests
	s.report.SimFaults += st1.Faults - st0.Faults
	s.report.RateLimited += st1.RateLimited - st0.RateLimited

	written := map[pairKey]bool{}
	for _, r := range s.shards {
		for k := range r.reset() {
			written[k] = true
		}
	}
	failed, err := s.verify(ctx, n, pairs, before, written)
	if err != nil {
		return err
	}
	retries := 0
	for _, ss := range sums {
		retries += len(ss) - 1
	}
	s.report.ShardRetries = int(s.retries.Load())
	s.cfg.Logf("cycle %3d at %s: %-70s %2d/%d pairs failed, %d shard retries, %d sim faults, %d 429s",
		n, s.clock.now().Format("01-02 15:04"), faultNames(p.faults), failed, len(pairs), retries,
		st1.Faults-st0.Faults, st1.RateLimited-st0.RateLimited)
	return nil
}

// runShard runs one shard as one index of an Indexed Job: a second attempt
// follows a failure, as backoffLimitPerIndex allows, and skips the pairs the
// first one wrote.
func (s *soak) runShard(ctx context.Context, i int, scheduled time.Time) []syncer.Summary {
	var sums []syncer.Summary
	for attempt := range 2 {
		if attempt > 0 {
			s.retries.Add(1)
		}
		sum, err := s.runOnce(ctx, i, scheduled)
		sums = append(sums, sum)
		if err == nil || ctx.Err() != nil {
			break
		}
	}
	return sums
}

// runOnce is one worker process: a pod's own limiter and client on the shard's pool.
func (s *soak) runOnce(ctx context.Context, i int, scheduled time.Time) (syncer.Summary, error) {
	rec := s.shards[i]
	limiter, err := ratelimit.New(rec.Pool(), apiKey, limit, limitWindow, ratelimit.WithMargin(limiterMargin))
	if err != nil {
		return syncer.Summary{}, err
	}
	client, err := partner.New(s.simURL, apiKey,
		partner.WithLimiter(limiter),
		partner.WithTimeout(attemptTimeout),
		partner.WithRetry(3, 5*time.Millisecond, 40*time.Millisecond),
		partner.WithRateLimitRetry(3, 10*time.Second))
	if err != nil {
		return syncer.Summary{}, err
	}
	w := &syncer.Worker{Fetcher: client, Writer: rec}
	return w.Run(ctx, syncer.Config{
		Products: products, FromDay: 0, ToDay: days - 1, Location: time.UTC,
		ShardIndex: i, ShardCount: shards,
		// One run per cycle: a retried index skips what it wrote.
		ScheduledAt: scheduled,
		RunID:       "soak-" + scheduled.Format(time.RFC3339Nano),
		Now:         s.clock.now,
	})
}

// final clears the faults, runs one clean cycle and requires every pair of the
// range to equal the partner's answer.
func (s *soak) final(ctx context.Context) error {
	s.clock.advance(time.Hour)
	pairs := syncer.Pairs(products, syncer.Today(s.clock.now(), time.UTC), 0, days-1)
	before, err := s.readAll(ctx, pairs)
	if err != nil {
		return fmt.Errorf("soak final cycle: read before: %w", err)
	}
	// As in the faulty cycles, a failed index runs once more, as the Job
	// controller would run it: a pooled connection that was in use when the
	// last restart came fails once.
	scheduled := s.clock.now()
	var wg sync.WaitGroup
	errs := make([]string, shards)
	for i := range shards {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sums := s.runShard(ctx, i, scheduled)
			if last := sums[len(sums)-1]; last.PairsFailed > 0 {
				errs[i] = fmt.Sprintf("final clean cycle, shard %d: %s %v", i, last.Line(), last.Failures)
			}
		}()
	}
	wg.Wait()
	s.report.ShardRetries = int(s.retries.Load())
	for _, e := range errs {
		if e != "" {
			s.report.violate("%s", e)
		}
	}
	written := map[pairKey]bool{}
	for _, r := range s.shards {
		for k := range r.reset() {
			written[k] = true
		}
	}
	inRange := map[pairKey]bool{}
	for _, p := range pairs {
		inRange[keyOf(p)] = true
	}
	for k, n := range s.failed {
		if !inRange[k] {
			s.report.AgedOut += n
			delete(s.failed, k)
		}
	}
	if _, err := s.verify(ctx, 0, pairs, before, written); err != nil {
		return err
	}
	s.report.FinalPairs = len(pairs)
	after, err := s.readAll(ctx, pairs)
	if err != nil {
		return err
	}
	for _, p := range pairs {
		if !sameSlots(after[keyOf(p)].slots, s.sim.Inventory(p.ProductID, p.Date, s.clock.now())) {
			s.report.FinalMismatches++
			s.report.violate("final: %s differs from the partner's answer", p)
		}
	}
	return s.checkTotals(ctx)
}

// pgxTxReadOnly reads one consistent snapshot of the database.
var pgxTxReadOnly = pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}

// stored is what the database holds for one pair.
type stored struct {
	synced    bool
	slots     []partner.Slot
	slotCount int // inventory_syncs.slot_count
	slotRows  int
	paxRows   int
}

func (s *soak) readAll(ctx context.Context, pairs []syncer.Pair) (map[pairKey]stored, error) {
	out := make(map[pairKey]stored, len(pairs))
	for _, p := range pairs {
		st, err := s.read(ctx, p)
		if err != nil {
			return nil, err
		}
		out[keyOf(p)] = st
	}
	return out, nil
}

// read takes the pair's answer, sync row and row counts from one snapshot of
// the database, so that a check never pairs one answer with another's counts.
func (s *soak) read(ctx context.Context, p syncer.Pair) (stored, error) {
	var st stored
	tx, err := s.check.BeginTx(ctx, pgxTxReadOnly)
	if err != nil {
		return st, err
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	day := p.Date.Format(time.DateOnly)
	var slotCount *int
	err = tx.QueryRow(ctx, `
SELECT (SELECT slot_count FROM inventory_syncs WHERE product_id = $1 AND date = $2),
       (SELECT count(*) FROM slots WHERE product_id = $1 AND date = $2),
       (SELECT count(*) FROM slot_pax WHERE product_id = $1 AND date = $2)`, p.ProductID, day).
		Scan(&slotCount, &st.slotRows, &st.paxRows)
	if err != nil {
		return st, fmt.Errorf("count rows of %s: %w", p, err)
	}
	if slotCount != nil {
		st.synced, st.slotCount = true, *slotCount
	}
	snap, err := store.ReadSnapshotTx(ctx, tx, p.ProductID, p.Date)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return st, fmt.Errorf("read slots of %s: %w", p, err)
	}
	st.slots = snap.Slots
	return st, nil
}

// verify checks every pair of the cycle: a pair the cycle wrote holds the
// partner's answer of the cycle; any other holds what it held before or that
// answer (a commit whose acknowledgement a restart cut off); either way the rows
// match the answer one for one. It returns how many pairs the cycle failed.
func (s *soak) verify(ctx context.Context, n int, pairs []syncer.Pair, before map[pairKey]stored, written map[pairKey]bool) (int, error) {
	cycle := fmt.Sprintf("cycle %d", n)
	if n == 0 {
		cycle = "final cycle"
	}
	after, err := s.readAll(ctx, pairs)
	if err != nil {
		return 0, fmt.Errorf("soak %s: read after: %w", cycle, err)
	}
	failed := 0
	for _, p := range pairs {
		k := keyOf(p)
		s.report.PairRuns++
		got, prev := after[k], before[k]
		truth := s.sim.Inventory(p.ProductID, p.Date, s.clock.now())
		var want []partner.Slot
		switch {
		case written[k]:
			if !got.synced || !sameSlots(got.slots, truth) {
				s.report.WrongAnswers++
				s.report.violate("%s: %s was written but differs from the partner's answer", cycle, p)
			}
			want = truth
			s.report.Recovered += s.failed[k]
			delete(s.failed, k)
		default:
			failed++
			s.report.PairFailures++
			s.failed[k]++
			switch {
			case got.synced && sameSlots(got.slots, truth):
				want = truth
			case got.synced == prev.synced && sameSlots(got.slots, prev.slots):
				want = prev.slots
			default:
				s.report.PartialSnapshots++
				s.report.violate("%s: %s failed and holds neither its previous answer nor the partner's", cycle, p)
				want = truth
			}
		}
		wantSlots, wantPax := len(want), 0
		for _, sl := range want {
			wantPax += len(sl.PaxAvailability)
		}
		if !got.synced {
			wantSlots, wantPax = 0, 0
		}
		s.countRows(cycle, p, wantSlots, got.slotRows)
		s.countRows(cycle, p, wantPax, got.paxRows)
		if got.synced && got.slotCount != got.slotRows {
			s.report.violate("%s: %s records %d slots but has %d rows", cycle, p, got.slotCount, got.slotRows)
			s.countRows(cycle, p, got.slotCount, got.slotRows)
		}
	}
	return failed, nil
}

func (s *soak) countRows(cycle string, p syncer.Pair, want, got int) {
	switch {
	case got < want:
		s.report.RowsLost += want - got
		s.report.violate("%s: %s has %d rows, want %d", cycle, p, got, want)
	case got > want:
		s.report.RowsDuplicated += got - want
		s.report.violate("%s: %s has %d rows, want %d", cycle, p, got, want)
	}
}

// checkTotals compares the whole database with its own sync records: every
// slot row belongs to a recorded snapshot that counts it, and no key repeats.
func (s *soak) checkTotals(ctx context.Context) error {
	var recorded, slotRows, distinctSlots, paxRows, distinctPax int64
	err := s.check.QueryRow(ctx, `
SELECT (SELECT coalesce(sum(slot_count), 0) FROM inventory_syncs),
       (SELECT count(*) FROM slots),
       (SELECT count(DISTINCT (product_id, date, provider_slot_id)) FROM slots),
       (SELECT count(*) FROM slot_pax),
       (SELECT count(DISTINCT (product_id, date, provider_slot_id, pax_type)) FROM slot_pax)`).
		Scan(&recorded, &slotRows, &distinctSlots, &paxRows, &distinctPax)
	if err != nil {
		return fmt.Errorf("soak: count all rows: %w", err)
	}
	if slotRows < recorded {
		s.report.RowsLost += int(recorded - slotRows)
		s.report.violate("database: %d slot rows, its sync records count %d", slotRows, recorded)
	}
	if slotRows > recorded || slotRows != distinctSlots || paxRows != distinctPax {
		s.report.RowsDuplicated += int(max(slotRows-recorded, 0) + slotRows - distinctSlots + paxRows - distinctPax)
		s.report.violate("database: %d slot rows (%d distinct) for %d recorded, %d pax rows (%d distinct)",
			slotRows, distinctSlots, recorded, paxRows, distinctPax)
	}
	return nil
}

// waitDatabase waits until the database answers again after a restart.
func (s *soak) waitDatabase(ctx context.Context) error {
	var last error
	err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		last = s.check.Ping(pctx)
		return last == nil, nil
	})
	if err != nil {
		return fmt.Errorf("database not back within a minute: %w", errors.Join(last, ctx.Err()))
	}
	return nil
}

// sameSlots compares answers as the API serves them: an empty day equals a
// missing one, and a slot without pax equals one with an empty list.
func sameSlots(a, b []partner.Slot) bool {
	if len(a) == 0 && len(b) == 0 {
		return true
	}
	norm := func(in []partner.Slot) []partner.Slot {
		out := slices.Clone(in)
		for i := range out {
			if len(out[i].PaxAvailability) == 0 {
				out[i].PaxAvailability = nil
			}
		}
		return out
	}
	return reflect.DeepEqual(norm(a), norm(b))
}

func faultNames(fs []Fault) string {
	names := make([]string, len(fs))
	for i, f := range fs {
		names[i] = string(f)
	}
	sort.Strings(names)
	if len(names) == 0 {
		return "-"
	}
	return strings.Join(names, ", ")
}

// answerLog classifies every answer of the simulator by the fault it carried,
// the way the client sees it: 429, 5xx, no answer before the client gave up
// (a hang, or a slow answer slower than the attempt timeout), an answer that
// took 50ms or more (the shortest slow delay), and bodies the decoder rejects
// as truncated, missing a providerSlotId or repeating one.
type answerLog struct {
	mu     sync.Mutex
	counts map[Fault]int64
}

func (l *answerLog) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &recordingWriter{ResponseWriter: w}
		began := time.Now()
		h.ServeHTTP(rec, r)
		if !strings.HasPrefix(r.URL.Path, "/api/v1/inventory/") {
			return
		}
		var f Fault
		switch {
		case rec.status == http.StatusTooManyRequests:
			f = Fault429Storm
		case rec.status >= 500:
			f = FaultServerErrors
		case rec.status == 0:
			f = FaultTimeouts
		case rec.status == http.StatusOK:
			day, err := time.Parse(time.DateOnly, r.URL.Query().Get("date"))
			if err != nil {
				return
			}
			_, err = partner.Decode(rec.body.Bytes(), 0, day)
			var me *partner.MalformedError
			switch {
			case errors.As(err, &me) && me.Slot < 0:
				f = FaultMalformed
			case errors.As(err, &me) && me.Field == "providerSlotId" && strings.Contains(me.Error(), "duplicated"):
				f = FaultDuplicateID
			case errors.As(err, &me) && me.Field == "providerSlotId":
				f = FaultMissingField
			case err == nil && time.Since(began) >= 50*time.Millisecond:
				f = FaultSlow
			}
		}
		if f != "" {
			l.mu.Lock()
			l.counts[f]++
			l.mu.Unlock()
		}
	})
}

func (l *answerLog) snapshot() map[Fault]int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := map[Fault]int64{}
	for _, f := range PartnerFaults {
		out[f] = l.counts[f]
	}
	return out
}

// recordingWriter keeps the status and body of an answer; status 0 means
// nothing was written.
type recordingWriter struct {
	http.ResponseWriter
	status int
	body   bytes.Buffer
}

func (w *recordingWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

func (w *recordingWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	w.body.Write(b)
	return w.ResponseWriter.Write(b)
}
