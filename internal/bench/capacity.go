package bench

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sort"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"github.com/jackc/pgx/v5/pgxpool"
	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	inventoryv1alpha1 "github.com/slotsync/slotsync/api/v1alpha1"
	"github.com/slotsync/slotsync/controllers"
	"github.com/slotsync/slotsync/internal/fixture"
	"github.com/slotsync/slotsync/internal/partnersim"
	"github.com/slotsync/slotsync/internal/ratelimit"
	"github.com/slotsync/slotsync/internal/syncer"
)

// The capacity benchmark runs a scaled day of the default windows on one key of
// 30 requests per minute.
const (
	capacityLimit  = 30
	capacityShards = 4
	// capacityGoal is the product count the issue asks to keep fresh on one key.
	capacityGoal = 270
)

// defaultModelBands are the bands of the default windows (today 15m, week 4h,
// month 24h) as the controller cuts them.
func defaultModelBands() []modelBand {
	var out []modelBand
	for _, b := range inventoryv1alpha1.Bands(inventoryv1alpha1.DefaultWindows()) {
		out = append(out, modelBand{fromDay: int(b.FromDay), toDay: int(b.ToDay), every: b.Every})
	}
	return out
}

// theoryCapacity is the budget bound: a day's requests over what one product
// costs a day when every band fetches each of its days once per interval.
func theoryCapacity(bands []modelBand, perMinute int) int {
	return perMinute * 24 * 60 / perProductPerDay(bands)
}

// perProductPerDay is what one product costs the key a day: 155 with the defaults.
func perProductPerDay(bands []modelBand) int {
	n := 0
	for _, b := range bands {
		n += (b.toDay - b.fromDay + 1) * int(24*time.Hour/b.every)
	}
	return n
}

// scaledClock runs factor times faster than the wall clock from start.
type scaledClock struct {
	realStart time.Time
	start     time.Time
	factor    float64
}

func (c scaledClock) Now() time.Time {
	return c.start.Add(time.Duration(float64(time.Since(c.realStart)) * c.factor))
}

// wall is the wall time at which the scaled clock shows t.
func (c scaledClock) wall(t time.Time) time.Time { return c.realStart.Add(c.real(t.Sub(c.start))) }

// real converts a span of scaled time into wall time.
func (c scaledClock) real(d time.Duration) time.Duration { return time.Duration(float64(d) / c.factor) }

// pairKey names a (product, date).
type pairKey struct {
	product int64
	day     string
}

// syncHistory holds every sync time seen per pair, in order.
type syncHistory struct {
	mu    sync.Mutex
	times map[pairKey][]time.Time
}

func newSyncHistory() *syncHistory { return &syncHistory{times: map[pairKey][]time.Time{}} }

func (h *syncHistory) add(k pairKey, t time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	ts := h.times[k]
	if n := len(ts); n > 0 && !t.After(ts[n-1]) {
		return // seen already
	}
	h.times[k] = append(ts, t)
}

// fetchedIn reports whether the pair was synced within [from, to).
func (h *syncHistory) fetchedIn(k pairKey, from, to time.Time) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	ts := h.times[k]
	i := sort.Search(len(ts), func(i int) bool { return !ts[i].Before(from) })
	return i < len(ts) && ts[i].Before(to)
}

// lastAt is the last sync at or before t, or the zero time.
func (h *syncHistory) lastAt(k pairKey, t time.Time) time.Time {
	h.mu.Lock()
	defer h.mu.Unlock()
	ts := h.times[k]
	i := sort.Search(len(ts), func(i int) bool { return ts[i].After(t) })
	if i == 0 {
		return time.Time{}
	}
	return ts[i-1]
}

// horizon is a freshness target: the days of one band, each refreshed within
// every period of `every`, periods aligned like the controller's due times.
type horizon struct {
	name           string
	fromDay, toDay int
	every          time.Duration
}

func defaultHorizons() []horizon {
	var out []horizon
	for _, b := range inventoryv1alpha1.Bands(inventoryv1alpha1.DefaultWindows()) {
		out = append(out, horizon{name: b.Window, fromDay: int(b.FromDay), toDay: int(b.ToDay), every: b.Every})
	}
	return out
}

// periodMisses counts the (pair, period) whose pair was not synced in the period,
// for the period starting at from.
func periodMisses(hist *syncHistory, products int, hz horizon, from time.Time) (missed, checked int) {
	today := syncer.Today(from, time.UTC)
	for d := hz.fromDay; d <= hz.toDay; d++ {
		day := today.AddDate(0, 0, d).Format(time.DateOnly)
		for p := 1; p <= products; p++ {
			checked++
			if !hist.fetchedIn(pairKey{int64(p), day}, from, from.Add(hz.every)) {
				missed++
			}
		}
	}
	return missed, checked
}

// capRun is one candidate product count over (up to) one scaled day.
type capRun struct {
	products int
	fresh    bool
	// verdict is the scaled time from the start to the first missed period, or
	// the whole span when none was missed.
	verdict  time.Duration
	missed   map[string]int
	checked  map[string]int
	maxAge   map[string]time.Duration // scaled; data age of the stalest pair
	runs     map[string]int
	late     map[string]int // runs started more than a scaled minute after due
	accepted int64
	limited  int64
	share    float64
	failed   int
	firstErr string
	unseen   int // writes no poll saw (overwritten within a poll interval)
	realTime time.Duration
	// todayLags are the scaled minutes from each today run's due time to its
	// first snapshot.
	todayLags []float64
	// firstHourShare is the used share of the budget in the whole windows of
	// the first scaled hour.
	firstHourShare float64
	// latency is the change-detection latency per band, up to the scaled time
	// the run stopped.
	latency map[string]bandLatency
}

type capacityConfig struct {
	factor float64       // time compression
	span   time.Duration // scaled time measured
	budget time.Duration // wall time the search may use
}

func runCapacity(ctx context.Context, h *harness, r *Report) error {
	r.Title = "Capacity per partner key"
	cfg := capacityConfig{factor: 360, span: 24 * time.Hour, budget: min(14*time.Minute, h.timeLeft())}
	if h.opts.Quick {
		cfg = capacityConfig{factor: 360, span: 2 * time.Hour, budget: 90 * time.Second}
	}
	bands := defaultModelBands()
	theory := theoryCapacity(bands, capacityLimit)
	window := time.Duration(float64(time.Minute) / cfg.factor)
	margin := ratelimit.DefaultMargin
	modelSlot := time.Duration(float64(time.Minute) / capacityLimit * (1 + margin))
	model := modelCapacity(bands, capacityShards, ratelimit.YieldSlots, modelSlot, theory)

	dayWall := time.Duration(float64(24*time.Hour) / cfg.factor)
	r.Intro = prose("capacity.intro", map[string]any{
		"Limit":   capacityLimit,
		"Factor":  cfg.factor,
		"DayWall": dayWall.Round(time.Second),
		"Window":  window.Round(time.Microsecond),
		"Shards":  capacityShards,
		"Span":    cfg.span,
		"Theory":  theory,
		"Model":   model,
	})
	r.Repeats = "1 per candidate count (a scaled day is long); the search's bounds are the repeat"

	log := logr.FromContextOrDiscard(ctx)
	deadline := time.Now().Add(cfg.budget)
	var runs []capRun
	lo, hi := 0, math.MaxInt // fresh, stale
	try := func(n int) error {
		res, err := capacityOnce(ctx, h, n, cfg)
		if err != nil {
			return fmt.Errorf("%d products: %w", n, err)
		}
		log.Info("capacity candidate", "products", n, "fresh", res.fresh, "verdictAfter", res.verdict.String(), "wall", res.realTime.Round(time.Second).String())
		runs = append(runs, res)
		if res.fresh {
			lo = max(lo, n)
		} else {
			hi = min(hi, n)
		}
		return nil
	}
	candidates := []int{theory, model}
	if h.opts.Quick {
		candidates = []int{theory, 20}
	}
	for _, n := range candidates {
		if n > lo && n < hi {
			if err := try(n); err != nil {
				return err
			}
		}
	}
	// A stale count usually shows in the first periods and costs seconds; a
	// fresh one costs a whole scaled day. So walk down from the model in small
	// steps to the first fresh count, then bisect what is left.
	spanWall := time.Duration(float64(cfg.span) / cfg.factor)
	step := max(1, model/50)
	for !h.opts.Quick && hi != math.MaxInt && hi-lo > 1 && time.Until(deadline) > spanWall+30*time.Second {
		n := (lo + hi) / 2
		if lo == 0 {
			n = max(1, hi-step)
		}
		if err := try(n); err != nil {
			return err
		}
	}

	flip, err := budgetFlip(ctx)
	if err != nil {
		return fmt.Errorf("BudgetExceeded on envtest: %w", err)
	}

	s := r.section("Products one key keeps fresh", "")
	s.add("budget theory: requests a day ÷ requests per product a day", "products", []float64{float64(theory)}, nil)
	s.add("model of the controller's scheme (priority to the most often refreshed band, Forbid)", "products", []float64{float64(model)}, nil)
	measured := []float64{float64(lo)}
	s.add("largest count measured fresh over the scaled span", "products", measured, AtLeast(capacityGoal))
	if hi != math.MaxInt {
		s.add("smallest count measured stale", "products", []float64{float64(hi)}, nil)
	}
	s.add("largest count the controller calls within budget (BudgetExceeded=False)", "products", []float64{float64(flip)}, nil)
	tol := 0.0
	if hi != math.MaxInt {
		tol = float64(hi - lo - 1)
	}
	s.add("controller's count − measured limit", "products", []float64{float64(flip - lo)}, Within(0, tol))

	c := r.section("Candidates", prose("capacity.candidates", nil))
	sort.SliceStable(runs, func(i, j int) bool { return runs[i].products < runs[j].products })
	for _, run := range runs {
		verdict := "fresh"
		if !run.fresh {
			verdict = "stale"
		}
		p := fmt.Sprintf("%d products (%s)", run.products, verdict)
		c.add(p+": scaled hours until the verdict", "h", []float64{run.verdict.Hours()}, nil)
		for _, hz := range defaultHorizons() {
			c.add(fmt.Sprintf("%s: %s periods missed of %d checked", p, hz.name, run.checked[hz.name]), "count", []float64{float64(run.missed[hz.name])}, nil)
			c.add(fmt.Sprintf("%s: %s stalest data age (target %s)", p, hz.name, hz.every), "scaled min", []float64{run.maxAge[hz.name].Minutes()}, nil)
		}
		c.add(p+": today runs, due time to first snapshot", "scaled min", run.todayLags, nil)
		c.add(p+": used share of the key's budget, first scaled hour (every band running)", "share", []float64{run.firstHourShare}, nil)
		c.add(p+": used share of the key's budget, whole run", "share", []float64{run.share}, nil)
		c.add(p+": 429 answers", "count", []float64{float64(run.limited)}, nil)
		c.add(p+": runs started late (today/week/month)", "count", []float64{float64(run.late["today"] + run.late["week"] + run.late["month"])}, nil)
	}
	addLatencyRows(r.section("Change-detection latency (uniform polling)", prose("capacity.latency", nil)), runs)

	r.proseNote("capacity.theory", map[string]any{
		"Theory":     theory,
		"WithMargin": int(float64(capacityLimit*24*60) / (1 + ratelimit.DefaultMargin) / float64(perProductPerDay(bands))),
		"Margin":     ratelimit.DefaultMargin,
		"YieldSlots": ratelimit.YieldSlots,
		"Model":      model,
	})
	r.proseNote("capacity.compression", map[string]any{
		"Factor":  cfg.factor,
		"DayWall": dayWall.Round(time.Second),
		"Ceiling": 1 / (1 + margin),
	})
	r.proseNote("capacity.jitter", map[string]any{"Jitter": time.Duration(float64(window) * margin).Round(time.Microsecond), "Factor": cfg.factor})
	r.proseNote("capacity.budget-exceeded", map[string]any{"Flip": flip})
	for _, run := range runs {
		if run.firstErr != "" {
			r.note("%d products: %d pairs failed; the first: %s", run.products, run.failed, run.firstErr)
		}
		if run.unseen > 0 {
			r.note("%d products: %d syncs were overwritten before a poll saw them (the freshness check may count a period missed that was not)", run.products, run.unseen)
		}
	}
	if hi == math.MaxInt || hi-lo > 1 {
		r.note("The search ended before the fresh and stale counts met (time budget %s): the limit lies between %d and %v.", cfg.budget, lo, hiText(hi))
	}
	return nil
}

// addLatencyRows reports each run's change-detection latency per band.
func addLatencyRows(s *Section, runs []capRun) {
	for _, run := range runs {
		p := fmt.Sprintf("%d products", run.products)
		for _, hz := range defaultHorizons() {
			b := run.latency[hz.name]
			s.add(fmt.Sprintf("%s: %s changes", p, hz.name), "count", []float64{float64(b.changes)}, nil)
			// No change caught has no latency, not a latency of zero (and the
			// JSON report cannot hold the NaN of an empty figure): no rows.
			if len(b.detected) > 0 {
				s.add(fmt.Sprintf("%s: %s latency p50", p, hz.name), "scaled min", []float64{b.p50().Minutes()}, nil)
				s.add(fmt.Sprintf("%s: %s latency p99", p, hz.name), "scaled min", []float64{b.p99().Minutes()}, nil)
				s.add(fmt.Sprintf("%s: %s latency max", p, hz.name), "scaled min", []float64{b.max().Minutes()}, nil)
			}
			s.add(fmt.Sprintf("%s: %s changes missed (no snapshot before the end)", p, hz.name), "count", []float64{float64(b.missed)}, nil)
		}
	}
}

// changeLog is the simulator's change log of every pair a band covered while
// the runs went, over (from, to): the dates from from's day to the last band's
// last day after to's day.
func changeLog(sim *partnersim.Server, products int, from, to time.Time) map[pairKey][]time.Time {
	last := 0
	for _, hz := range defaultHorizons() {
		last = max(last, hz.toDay)
	}
	out := map[pairKey][]time.Time{}
	lastDay := syncer.Today(to, time.UTC).AddDate(0, 0, last)
	for p := 1; p <= products; p++ {
		for day := syncer.Today(from, time.UTC); !day.After(lastDay); day = day.AddDate(0, 0, 1) {
			for _, c := range sim.Changes(int64(p), day, from, to.Add(-time.Nanosecond)) {
				k := pairKey{int64(p), day.Format(time.DateOnly)}
				out[k] = append(out[k], c.At)
			}
		}
	}
	return out
}

func hiText(hi int) string {
	if hi == math.MaxInt {
		return "untested"
	}
	return fmt.Sprint(hi)
}

// capacityOnce runs the controller's scheme for n products over one scaled span.
func capacityOnce(ctx context.Context, h *harness, n int, cfg capacityConfig) (capRun, error) {
	res := capRun{products: n, missed: map[string]int{}, checked: map[string]int{}, maxAge: map[string]time.Duration{},
		runs: map[string]int{}, late: map[string]int{}}
	window := time.Duration(float64(time.Minute) / cfg.factor)
	// The inventory runs on the scaled clock, set below just before the runs
	// start, so that synced_at is in inventory time: a snapshot stamped t shows
	// the market at t, and the simulator's change log can be replayed against it.
	var clk scaledClock
	sim, err := startSim(partnersim.Config{Count: n, Limit: capacityLimit, Window: window, InventoryNow: func() time.Time { return clk.Now() }})
	if err != nil {
		return res, err
	}
	defer sim.close()
	dbURL, err := h.newDatabase(ctx, "capacity")
	if err != nil {
		return res, err
	}
	defer func() { _ = h.dropDatabase(context.WithoutCancel(ctx), dbURL) }()
	pool, err := pgxpool.New(ctx, dbURL)
	if err != nil {
		return res, fmt.Errorf("connect: %w", err)
	}
	defer pool.Close()

	// Scaled midnight two days ahead: the simulator answers dates from its
	// (real) today on.
	start := syncer.Today(time.Now(), time.UTC).AddDate(0, 0, 2)
	clk = scaledClock{realStart: time.Now(), start: start, factor: cfg.factor}
	end := start.Add(cfg.span)
	recorded := newSyncHistory()
	var recordedCount int
	var recMu sync.Mutex
	ws := &workerSet{dbURL: dbURL, simURL: sim.URL, limit: capacityLimit, window: window, now: clk.Now, wall: clk.wall,
		wrote: func(p syncer.Pair, at time.Time) {
			recorded.add(pairKey{p.ProductID, p.Date.Format(time.DateOnly)}, at.Truncate(time.Microsecond))
			recMu.Lock()
			recordedCount++
			recMu.Unlock()
		}}
	ws.warm = newWarmPools(dbURL)
	defer ws.warm.close()
	products := productIDs(n)

	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	var mu sync.Mutex
	record := func(band string, late bool, lag time.Duration, rr runResult, err error) {
		mu.Lock()
		defer mu.Unlock()
		res.runs[band]++
		if band == "today" && lag >= 0 {
			res.todayLags = append(res.todayLags, lag.Minutes())
		}
		if late {
			res.late[band]++
		}
		t := rr.total()
		res.failed += t.PairsFailed
		if err != nil && runCtx.Err() == nil && res.firstErr == "" {
			res.firstErr = err.Error()
			for _, s := range rr.summaries {
				if len(s.Failures) > 0 {
					res.firstErr = s.Failures[0].Error
					break
				}
			}
		}
	}
	for _, hz := range defaultHorizons() {
		wg.Go(func() { bandLoop(runCtx, clk, hz, products, ws, end, record) })
	}

	polled := newSyncHistory()
	began := time.Now()
	next := map[string]time.Time{}
	for _, hz := range defaultHorizons() {
		next[hz.name] = start
	}
	res.fresh = true
	pollEvery := clk.real(time.Minute)
	check := func(until time.Time) {
		for _, hz := range defaultHorizons() {
			for p := next[hz.name]; !p.Add(hz.every).After(until); p = p.Add(hz.every) {
				missed, checked := periodMisses(polled, n, hz, p)
				res.missed[hz.name] += missed
				res.checked[hz.name] += checked
				next[hz.name] = p.Add(hz.every)
				if missed > 0 && res.fresh {
					res.fresh = false
					res.verdict = p.Add(hz.every).Sub(start)
				}
			}
		}
	}
	var pollErr error
	sampled := false
	for {
		now := clk.Now()
		if err := poll(ctx, pool, polled); err != nil {
			pollErr = err
			break
		}
		if now.Before(end) {
			trackAges(polled, n, now, start, res.maxAge)
		}
		// The simulator keeps only its latest windows: take the first hour's now.
		if !sampled && !now.Before(start.Add(time.Hour)) {
			res.firstHourShare, sampled = firstHourShare(sim.Stats(), clk, window), true
		}
		// A sync stamped before a period's end commits within milliseconds: one
		// poll interval of slack covers it, so the last periods are checked one
		// scaled minute after the end.
		check(minTime(now.Add(-time.Minute), end))
		if !res.fresh || !now.Before(end.Add(time.Minute)) || ctx.Err() != nil {
			break
		}
		time.Sleep(pollEvery)
	}
	// Runs stop here: later changes are outside the measurement.
	stopped := minTime(clk.Now(), end)
	cancel()
	wg.Wait()
	res.realTime = time.Since(began)
	if pollErr != nil {
		return res, pollErr
	}
	if err := ctx.Err(); err != nil {
		return res, err
	}
	if res.fresh {
		res.verdict = cfg.span
	}

	// The polled history must agree with what the workers wrote.
	var final = map[pairKey]time.Time{}
	rows, err := pool.Query(ctx, `SELECT product_id, to_char(date, 'YYYY-MM-DD'), synced_at FROM inventory_syncs`)
	if err != nil {
		return res, fmt.Errorf("read sync times: %w", err)
	}
	for rows.Next() {
		var k pairKey
		var t time.Time
		if err := rows.Scan(&k.product, &k.day, &t); err != nil {
			return res, fmt.Errorf("read sync times: %w", err)
		}
		final[k] = t
	}
	if err := rows.Err(); err != nil {
		return res, fmt.Errorf("read sync times: %w", err)
	}
	recorded.mu.Lock()
	for k, ts := range recorded.times {
		if got := final[k]; !got.Equal(ts[len(ts)-1]) {
			recorded.mu.Unlock()
			return res, fmt.Errorf("product %d on %s: inventory_syncs says synced at %s, the worker last wrote it at %s",
				k.product, k.day, got.UTC().Format(time.RFC3339Nano), ts[len(ts)-1].UTC().Format(time.RFC3339Nano))
		}
		for _, t := range ts {
			if !polled.fetchedIn(k, t, t.Add(time.Microsecond)) && t.Before(end) {
				res.unseen++
			}
		}
	}
	recorded.mu.Unlock()
	if len(final) != len(recorded.times) {
		return res, fmt.Errorf("%d pairs in inventory_syncs, the workers wrote %d", len(final), len(recorded.times))
	}
	// inventory_syncs keeps only each pair's latest synced_at; the workers'
	// record holds every one, and its latest agrees with the table (checked above).
	res.latency = changeLatency(changeLog(sim.Server, n, start, stopped), recorded.times, defaultHorizons(), stopped)

	st := sim.Stats()
	if !sampled {
		res.firstHourShare = firstHourShare(st, clk, window)
	}
	res.accepted = st.Requests - st.RateLimited - st.Unauthorized
	res.limited = st.RateLimited
	elapsed := res.realTime.Seconds()
	res.share = float64(res.accepted) / (capacityLimit * elapsed / window.Seconds())
	return res, nil
}

// firstHourShare is the used share of the key's budget in the whole windows of
// the first scaled hour (or of the run so far, if shorter). While every band
// runs, at the start, the budget should be all used: this tells whether the
// limiter, workers and simulator keep up at the compression.
func firstHourShare(st partnersim.Stats, clk scaledClock, window time.Duration) float64 {
	spanEnd := minTime(clk.realStart.Add(clk.real(time.Hour)), time.Now())
	var accepted int64
	for _, w := range st.PerWindow {
		if !w.Start.Before(clk.realStart) && !w.Start.Add(window).After(spanEnd) {
			accepted += w.Accepted
		}
	}
	// Windows with no request are not in the stats: count the windows by time;
	// the simulator's windows are aligned to multiples of window since the epoch.
	first := (clk.realStart.UnixNano() + int64(window) - 1) / int64(window)
	windows := spanEnd.UnixNano()/int64(window) - first
	if windows <= 0 {
		return 0
	}
	return float64(accepted) / float64(capacityLimit*windows)
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// poll reads every pair's sync time into hist.
func poll(ctx context.Context, pool *pgxpool.Pool, hist *syncHistory) error {
	rows, err := pool.Query(ctx, `SELECT product_id, to_char(date, 'YYYY-MM-DD'), synced_at FROM inventory_syncs`)
	if err != nil {
		return fmt.Errorf("poll sync times: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var k pairKey
		var t time.Time
		if err := rows.Scan(&k.product, &k.day, &t); err != nil {
			return fmt.Errorf("poll sync times: %w", err)
		}
		hist.add(k, t)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("poll sync times: %w", err)
	}
	return nil
}

// trackAges raises maxAge to the data age of each horizon's stalest pair at now;
// a pair never synced counts from the start of the run.
func trackAges(hist *syncHistory, products int, now, start time.Time, maxAge map[string]time.Duration) {
	today := syncer.Today(now, time.UTC)
	for _, hz := range defaultHorizons() {
		for d := hz.fromDay; d <= hz.toDay; d++ {
			day := today.AddDate(0, 0, d).Format(time.DateOnly)
			for p := 1; p <= products; p++ {
				last := hist.lastAt(pairKey{int64(p), day}, now)
				if last.Before(start) {
					last = start
				}
				maxAge[hz.name] = max(maxAge[hz.name], now.Sub(last))
			}
		}
	}
}

// bandLoop starts the band's runs as the controller would until end: at each due
// time, or when the previous run ends if a due time passed meanwhile (Forbid).
func bandLoop(ctx context.Context, clk scaledClock, hz horizon, products []int64, ws *workerSet, end time.Time,
	record func(band string, late bool, lag time.Duration, rr runResult, err error)) {
	var last time.Time
	ran := false
	for ctx.Err() == nil {
		now := clk.Now()
		if !now.Before(end) {
			return
		}
		due := now.Truncate(hz.every) // multiples of the interval since the epoch, as dueTime
		if !ran || last.Before(due) {
			// The lag from the due time to the run's first snapshot is the run's
			// start-up (connections, the skip query per product), scaled up.
			run := *ws
			var once sync.Once
			var first time.Time
			run.wrote = func(p syncer.Pair, at time.Time) {
				once.Do(func() { first = at })
				ws.wrote(p, at)
			}
			rr, err := run.run(ctx, []job{{name: hz.name, products: products, fromDay: hz.fromDay, toDay: hz.toDay, shards: capacityShards, every: hz.every}}, due)
			lag := time.Duration(-1)
			if !first.IsZero() {
				lag = first.Sub(due)
			}
			record(hz.name, now.Sub(due) > time.Minute, lag, rr, err)
			last, ran = due, true
			continue
		}
		wait := clk.real(due.Add(hz.every).Sub(now))
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// budgetFlip bisects the product count at which the controller sets
// BudgetExceeded on a SyncSchedule of the default windows and 30 requests per
// minute: the largest count it calls within budget.
func budgetFlip(ctx context.Context) (int, error) {
	api, err := startAPIServer()
	if err != nil {
		return 0, err
	}
	defer api.stop()
	mgr, err := controllers.NewManager(api.cfg, controllers.ManagerOptions{
		Manager: ctrl.Options{
			Scheme:                 api.scheme,
			Metrics:                metricsserver.Options{BindAddress: "0"},
			HealthProbeBindAddress: "0",
			Controller:             config.Controller{SkipNameValidation: ptr.To(true)},
		},
		WorkerImage: "x", EventSource: "slotsync-bench", Concurrency: 2,
	})
	if err != nil {
		return 0, fmt.Errorf("create manager: %w", err)
	}
	mctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- mgr.Start(mctx) }()
	defer func() {
		stop()
		<-done
	}()

	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "capacity"}}
	if err := api.c.Create(ctx, ns); err != nil {
		return 0, fmt.Errorf("create namespace: %w", err)
	}
	key := client.ObjectKey{Namespace: ns.Name, Name: "budget"}
	exceeded := func(n int) (bool, error) {
		var ss inventoryv1alpha1.SyncSchedule
		err := api.c.Get(ctx, key, &ss)
		switch {
		case err == nil:
			ss.Spec.Products = productIDs(n)
			if err := api.c.Update(ctx, &ss); err != nil {
				return false, fmt.Errorf("update schedule: %w", err)
			}
		case client.IgnoreNotFound(err) == nil:
			ss = *fixture.SyncSchedule(key.Name, key.Namespace, fixture.WithProducts(productIDs(n)...), fixture.WithRequestsPerMinute(capacityLimit))
			if err := api.c.Create(ctx, &ss); err != nil {
				return false, fmt.Errorf("create schedule: %w", err)
			}
		default:
			return false, err
		}
		gen := ss.Generation
		var exceeded bool
		err = wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
			if err := api.c.Get(ctx, key, &ss); err != nil {
				return false, err
			}
			c := apimeta.FindStatusCondition(ss.Status.Conditions, inventoryv1alpha1.ConditionBudgetExceeded)
			if c != nil && c.ObservedGeneration >= gen && ss.Status.ObservedGeneration >= gen {
				exceeded = c.Status == metav1.ConditionTrue
				return true, nil
			}
			return false, nil
		})
		if wait.Interrupted(err) && ctx.Err() == nil {
			return false, errors.New("no BudgetExceeded condition for the schedule's generation after 30s")
		}
		return exceeded, err
	}
	// Over budget: the most products the schema accepts (spec.products has at
	// most 1000 items), far above the 278 the budget's theory allows.
	lo, hi := 1, 1000 // within budget, over it
	for _, probe := range []struct {
		n    int
		want bool
	}{{lo, false}, {hi, true}} {
		got, err := exceeded(probe.n)
		if err != nil {
			return 0, err
		}
		if got != probe.want {
			return 0, fmt.Errorf("%d products: BudgetExceeded=%t, want %t", probe.n, got, probe.want)
		}
	}
	for hi-lo > 1 {
		mid := (lo + hi) / 2
		over, err := exceeded(mid)
		if err != nil {
			return 0, err
		}
		if over {
			hi = mid
		} else {
			lo = mid
		}
	}
	return lo, nil
}
