package bench

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"github.com/jackc/pgx/v5/pgxpool"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
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
	// adaptiveSearchBudget is the wall time the demand-aware search above the
	// goal may take, on top of the fixed candidates.
	adaptiveSearchBudget = 18 * time.Minute
	// defaultCompression is how much faster than real time a scaled day runs:
	// a day in 4 minutes.
	defaultCompression = 360
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

// closedFunc tells whether a pair's date falls on a weekday its product has no
// slots on; nil when every pair must be fetched every period.
type closedFunc func(product int64, day time.Time) bool

// periodMisses counts the (pair, period) whose pair was not synced in the period,
// for the period starting at from. A pair closed says may go unfetched for up to
// syncer.MaxPlannedInterval instead, as demand-aware polling promises: it is
// missed only without a sync in the MaxPlannedInterval before the period's end.
func periodMisses(hist *syncHistory, products int, hz horizon, from time.Time, closed closedFunc) (missed, checked int) {
	today := syncer.Today(from, time.UTC)
	end := from.Add(hz.every)
	for d := hz.fromDay; d <= hz.toDay; d++ {
		date := today.AddDate(0, 0, d)
		day := date.Format(time.DateOnly)
		for p := 1; p <= products; p++ {
			checked++
			since := from
			if closed != nil && closed(int64(p), date) {
				since = minTime(from, end.Add(-syncer.MaxPlannedInterval))
			}
			if !hist.fetchedIn(pairKey{int64(p), day}, since, end) {
				missed++
			}
		}
	}
	return missed, checked
}

// capRun is one candidate product count over (up to) one scaled day.
type capRun struct {
	capCase
	fresh bool
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
	// the run stopped, of the changes on dates that had inventory; firstSlots,
	// of the changes that gave a date its first slots.
	latency    map[string]bandLatency
	firstSlots map[string]bandLatency
	// planned and pairs are per band the pairs the runs' plans left out and
	// the pairs they covered (pairsPlanned, pairsTotal), summed over the runs.
	planned, pairs map[string]int
	// seeded is how many pairs the learning pass wrote before the day.
	seeded int
}

type capacityConfig struct {
	factor float64       // time compression
	span   time.Duration // scaled time measured
	budget time.Duration // wall time the search may use
}

func runCapacity(ctx context.Context, h *harness, r *Report) error {
	r.Title = "Capacity per partner key"
	factor := float64(defaultCompression)
	if h.opts.CapacityCompression > 0 {
		factor = h.opts.CapacityCompression
	}
	cfg := capacityConfig{factor: factor, span: 24 * time.Hour, budget: min(14*time.Minute, h.timeLeft())}
	if h.opts.Quick {
		cfg = capacityConfig{factor: factor, span: 2 * time.Hour, budget: 90 * time.Second}
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

	s := capSearch{h: h, cfg: cfg}
	var err error
	if len(h.opts.CapacityCandidates) > 0 {
		err = s.only(ctx, h.opts.CapacityCandidates)
	} else {
		err = s.full(ctx, theory, model)
	}
	if err != nil {
		return err
	}

	flip, err := budgetFlip(ctx, nil)
	if err != nil {
		return fmt.Errorf("BudgetExceeded on envtest: %w", err)
	}
	adaptiveRef, haveAdaptive := s.adaptiveReference()
	adaptiveFlip := 0
	if haveAdaptive {
		if adaptiveFlip, err = budgetFlip(ctx, adaptiveRef.plannedShares()); err != nil {
			return fmt.Errorf("BudgetExceeded of an Adaptive schedule on envtest: %w", err)
		}
	}

	sec := r.section("Products one key keeps fresh", "")
	lo, hi := s.uniform.lo, s.uniform.hi
	if s.searched {
		sec.add("budget theory: requests a day ÷ requests per product a day", "products", []float64{float64(theory)}, nil)
		sec.add("model of the controller's scheme (priority to the most often refreshed band, Forbid)", "products", []float64{float64(model)}, nil)
		sec.add("largest count measured fresh over the scaled span", "products", []float64{float64(lo)}, AtLeast(capacityGoal))
		if hi != math.MaxInt {
			sec.add("smallest count measured stale", "products", []float64{float64(hi)}, nil)
		}
		sec.add("largest count the controller calls within budget (BudgetExceeded=False)", "products", []float64{float64(flip)}, nil)
		tol := 0.0
		if hi != math.MaxInt {
			tol = float64(hi - lo - 1)
		}
		sec.add("controller's count − measured limit", "products", []float64{float64(flip - lo)}, Within(0, tol))
	}
	if s.adaptive.lo > 0 || s.adaptive.hi != math.MaxInt {
		addAdaptiveLimitRows(sec, s.adaptive, adaptiveFlip, haveAdaptive)
	}

	c := r.section("Candidates", prose("capacity.candidates", nil))
	sort.SliceStable(s.runs, func(i, j int) bool { return s.runs[i].label() < s.runs[j].label() })
	for _, run := range s.runs {
		addCandidateRows(c, run)
	}
	addLatencyRows(r.section("Change-detection latency", prose("capacity.latency", nil)), s.runs)
	addComparison(r, s.runs)

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
	if haveAdaptive {
		r.proseNote("capacity.budget-exceeded-adaptive", map[string]any{"Flip": adaptiveFlip, "Reference": adaptiveRef.label(), "Shares": sharesText(adaptiveRef.plannedShares())})
	}
	for _, run := range s.runs {
		if run.firstErr != "" {
			r.note("%s: %d pairs failed; the first: %s", run.label(), run.failed, run.firstErr)
		}
		if run.unseen > 0 {
			r.note("%s: %d syncs were overwritten before a poll saw them (the freshness check may count a period missed that was not)", run.label(), run.unseen)
		}
	}
	if s.searched && (hi == math.MaxInt || hi-lo > 1) {
		r.note("The search ended before the fresh and stale counts met (time budget %s): the limit lies between %d and %v.", cfg.budget, lo, hiText(hi))
	}
	if len(h.opts.CapacityCandidates) > 0 {
		r.note("Only the candidates %s were run (--capacity-candidates): no search.", strings.Join(h.opts.CapacityCandidates, ", "))
	}
	return nil
}

// bracket is what a search knows: the largest count found fresh and the
// smallest found stale (math.MaxInt: none).
type bracket struct{ lo, hi int }

func newBracket() bracket { return bracket{lo: 0, hi: math.MaxInt} }

func (b *bracket) add(run capRun) {
	if run.fresh {
		b.lo = max(b.lo, run.products)
	} else {
		b.hi = min(b.hi, run.products)
	}
}

// capSearch runs the candidates and keeps what they showed.
type capSearch struct {
	h                 *harness
	cfg               capacityConfig
	runs              []capRun
	uniform, adaptive bracket
	searched          bool // the uniform search ran
}

func (s *capSearch) try(ctx context.Context, c capCase) (capRun, error) {
	res, err := capacityOnce(ctx, s.h, c, s.cfg)
	if err != nil {
		return res, fmt.Errorf("%s: %w", c.label(), err)
	}
	logr.FromContextOrDiscard(ctx).Info("capacity candidate", "case", c.label(), "fresh", res.fresh,
		"verdictAfter", res.verdict.String(), "wall", res.realTime.Round(time.Second).String())
	s.runs = append(s.runs, res)
	switch {
	case !c.plainMixed():
	case c.adaptive:
		s.adaptive.add(res)
	default:
		s.uniform.add(res)
	}
	return res, nil
}

// only runs the named candidates and nothing else.
func (s *capSearch) only(ctx context.Context, names []string) error {
	s.uniform, s.adaptive = newBracket(), newBracket()
	for _, name := range names {
		c, err := parseCapCase(name)
		if err != nil {
			return err
		}
		if _, err := s.try(ctx, c); err != nil {
			return err
		}
	}
	return nil
}

// full is the whole benchmark: the uniform search, then demand-aware polling
// at the goal and upward, uniform polling beside it, and both on the all-open
// catalogue.
func (s *capSearch) full(ctx context.Context, theory, model int) error {
	s.uniform, s.adaptive, s.searched = newBracket(), newBracket(), true
	quick := s.h.opts.Quick
	deadline := time.Now().Add(s.cfg.budget)
	candidates := []int{theory, model}
	if quick {
		candidates = []int{theory, 20}
	}
	for _, n := range candidates {
		if n > s.uniform.lo && n < s.uniform.hi {
			if _, err := s.try(ctx, capCase{products: n}); err != nil {
				return err
			}
		}
	}
	// A stale count usually shows in the first periods and costs seconds; a
	// fresh one costs a whole scaled day. So walk down from the model in small
	// steps to the first fresh count, then bisect what is left.
	spanWall := time.Duration(float64(s.cfg.span) / s.cfg.factor)
	step := max(1, model/50)
	for !quick && s.uniform.hi != math.MaxInt && s.uniform.hi-s.uniform.lo > 1 && time.Until(deadline) > spanWall+30*time.Second {
		n := (s.uniform.lo + s.uniform.hi) / 2
		if s.uniform.lo == 0 {
			n = max(1, s.uniform.hi-step)
		}
		if _, err := s.try(ctx, capCase{products: n}); err != nil {
			return err
		}
	}
	return s.compare(ctx, model, spanWall)
}

// compare runs the side-by-side cases: uniform polling at the goal over the
// whole span (its misses and latencies, not only its verdict); demand-aware
// polling at the goal, then in steps of 2% away from it (upward when it was
// fresh, downward when not) and bisecting while its own budget lasts; and both
// at the model's count on the all-open catalogue.
func (s *capSearch) compare(ctx context.Context, model int, spanWall time.Duration) error {
	fixed := []capCase{
		{products: adaptiveGoal, wholeSpan: true},
		{products: adaptiveGoal, adaptive: true},
		{products: model, allOpen: true},
		{products: model, allOpen: true, adaptive: true},
		{products: model, openings: true, wholeSpan: true},
		{products: model, openings: true, adaptive: true, wholeSpan: true},
	}
	for _, c := range fixed {
		if _, err := s.try(ctx, c); err != nil {
			return err
		}
	}
	if s.h.opts.Quick {
		return nil
	}
	deadline := time.Now().Add(adaptiveSearchBudget)
	step := max(1, adaptiveGoal/50)
	for s.adaptive.hi-s.adaptive.lo > 1 && time.Until(deadline) > spanWall+30*time.Second {
		var n int
		switch lo, hi := s.adaptive.lo, s.adaptive.hi; {
		case hi == math.MaxInt:
			n = lo + step // fresh at the goal: look above it
		case lo == 0:
			n = max(1, hi-step) // stale at the goal: walk down to the limit
		default:
			n = (lo + hi) / 2
		}
		if _, err := s.try(ctx, capCase{products: n, adaptive: true}); err != nil {
			return err
		}
	}
	return nil
}

// adaptiveReference is the demand-aware run whose observed plan the
// controller's figure is computed from: the largest fresh one, else the
// smallest stale one, on the mixed catalogue.
func (s *capSearch) adaptiveReference() (capRun, bool) {
	var best capRun
	found := false
	for _, run := range s.runs {
		if !run.adaptive || !run.plainMixed() {
			continue
		}
		better := !found || (run.fresh && (!best.fresh || run.products > best.products)) || (!run.fresh && !best.fresh && run.products < best.products)
		if better {
			best, found = run, true
		}
	}
	return best, found
}

// addAdaptiveLimitRows reports the demand-aware search and the controller's
// figure for an Adaptive schedule beside it.
func addAdaptiveLimitRows(sec *Section, b bracket, flip int, haveFlip bool) {
	sec.add("demand-aware (adaptive) polling: largest count measured fresh over the scaled span", "products", []float64{float64(b.lo)}, AtLeast(adaptiveGoal))
	if b.hi != math.MaxInt {
		sec.add("demand-aware (adaptive) polling: smallest count measured stale", "products", []float64{float64(b.hi)}, nil)
	}
	if !haveFlip {
		return
	}
	sec.add("largest count the controller calls within budget for an Adaptive schedule, from the observed plan", "products", []float64{float64(flip)}, nil)
	if b.lo > 0 {
		// The measured limit is the largest count found fresh; without a stale
		// count above it, it is only a lower bound, and the row says so.
		name := "controller's Adaptive count ÷ measured demand-aware limit − 1"
		if b.hi == math.MaxInt {
			name += " (no stale count found: the measured figure is a lower bound)"
		}
		sec.add(name, "%", []float64{100 * (float64(flip)/float64(b.lo) - 1)}, Within(0, 2))
	}
}

// addCandidateRows reports one candidate's freshness.
func addCandidateRows(c *Section, run capRun) {
	verdict := "fresh"
	if !run.fresh {
		verdict = "stale"
	}
	p := fmt.Sprintf("%s (%s)", run.label(), verdict)
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
	if run.adaptive {
		addPlannedRows(c, run)
		c.add(p+": pairs written by the learning pass before the day", "count", []float64{float64(run.seeded)}, nil)
	}
}

// addComparison is the side-by-side of uniform and demand-aware polling: the
// guarantees, the all-open check and the latency CDFs.
func addComparison(r *Report, runs []capRun) {
	// The plots compare uniform with demand-aware polling on the mixed
	// catalogue: every demand-aware run, uniform at the goal and at the
	// largest fresh count (all of them when none was fresh), not each step
	// of the uniform search.
	uniformLo := 0
	for _, run := range runs {
		if run.plainMixed() && !run.adaptive && run.fresh {
			uniformLo = max(uniformLo, run.products)
		}
	}
	var mixed []capRun
	for _, run := range runs {
		if run.plainMixed() && (run.adaptive || run.products == adaptiveGoal || uniformLo == 0 || run.products == uniformLo) {
			mixed = append(mixed, run)
		}
	}
	g := r.section("Demand-aware polling against uniform", prose("capacity.adaptive", map[string]any{
		"Mix": catalogueMix(adaptiveGoal), "Goal": adaptiveGoal, "Tolerance": allOpenTolerance, "Horizon": seedHorizon, "LastDay": seedHorizon - 1,
		"Openings": openingsPerMille, "OpeningsProducts": openingsProducts(runs),
	}))
	for _, run := range runs {
		if run.adaptive && !run.allOpen {
			addGuaranteeRows(g, run)
		}
	}
	for _, run := range runs {
		if run.openings && !run.adaptive {
			addFirstSlotRows(g, run)
		}
	}
	for _, run := range runs {
		if run.allOpen && !run.adaptive {
			if a, ok := findRun(runs, capCase{products: run.products, allOpen: true, adaptive: true}); ok {
				g.add(fmt.Sprintf("all-open catalogue, %d products: uniform fresh, demand-aware fresh", run.products), "count of 2",
					[]float64{float64(boolInt(run.fresh) + boolInt(a.fresh))}, AtLeast(2))
				addAllOpenRows(g, run, a)
			}
		}
	}
	latencyCDFs(r, mixed)
}

// openingsProducts is the product count of the special-openings candidates.
func openingsProducts(runs []capRun) string {
	for _, run := range runs {
		if run.openings {
			return strconv.Itoa(run.products)
		}
	}
	return "(not run)"
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// sharesText prints per band the planned-out shares the controller was given.
func sharesText(shares map[string]float64) string {
	var parts []string
	for _, hz := range defaultHorizons() {
		parts = append(parts, fmt.Sprintf("%s %.1f%%", hz.name, 100*shares[hz.name]))
	}
	return strings.Join(parts, ", ")
}

// addLatencyRows reports each run's change-detection latency per band: the
// changes on dates with inventory, and apart from them the first slots.
func addLatencyRows(s *Section, runs []capRun) {
	for _, run := range runs {
		for _, hz := range defaultHorizons() {
			addBandLatency(s, run.label()+": "+hz.name, run.latency[hz.name])
			if b := run.firstSlots[hz.name]; b.changes > 0 {
				addBandLatency(s, run.label()+": "+hz.name+" first slots", b)
			}
		}
	}
}

func addBandLatency(s *Section, p string, b bandLatency) {
	s.add(p+" changes", "count", []float64{float64(b.changes)}, nil)
	// No change caught has no latency, not a latency of zero (and the JSON
	// report cannot hold the NaN of an empty figure): no rows.
	if len(b.detected) > 0 {
		s.add(p+" latency p50", "scaled min", []float64{b.p50().Minutes()}, nil)
		s.add(p+" latency p99", "scaled min", []float64{b.p99().Minutes()}, nil)
		s.add(p+" latency max", "scaled min", []float64{b.max().Minutes()}, nil)
	}
	s.add(p+" changes missed (no snapshot before the end)", "count", []float64{float64(b.missed)}, nil)
}

// changeLog is the simulator's change log of every pair a band covered while
// the runs went, over (from, to): the dates from from's day to the last band's
// last day after to's day. It is split by the guarantee that covers a change:
// changes of a date that had inventory just before (its band's interval), and
// changes that gave a date its first slots (24h under demand-aware polling).
func changeLog(sim *partnersim.Server, products int, from, to time.Time) (withInventory, firstSlots map[pairKey][]time.Time) {
	last := 0
	for _, hz := range defaultHorizons() {
		last = max(last, hz.toDay)
	}
	withInventory, firstSlots = map[pairKey][]time.Time{}, map[pairKey][]time.Time{}
	lastDay := syncer.Today(to, time.UTC).AddDate(0, 0, last)
	for p := 1; p <= products; p++ {
		for day := syncer.Today(from, time.UTC); !day.After(lastDay); day = day.AddDate(0, 0, 1) {
			k := pairKey{int64(p), day.Format(time.DateOnly)}
			for _, c := range sim.Changes(int64(p), day, from, to.Add(-time.Nanosecond)) {
				if c.Kind&partnersim.ChangeFirstSlots != 0 {
					firstSlots[k] = append(firstSlots[k], c.At)
				} else {
					withInventory[k] = append(withInventory[k], c.At)
				}
			}
		}
	}
	return withInventory, firstSlots
}

func hiText(hi int) string {
	if hi == math.MaxInt {
		return "untested"
	}
	return fmt.Sprint(hi)
}

// capacityOnce runs the controller's scheme for c's products over one scaled span.
func capacityOnce(ctx context.Context, h *harness, c capCase, cfg capacityConfig) (capRun, error) {
	n := c.products
	res := capRun{capCase: c, missed: map[string]int{}, checked: map[string]int{}, maxAge: map[string]time.Duration{},
		runs: map[string]int{}, late: map[string]int{}, planned: map[string]int{}, pairs: map[string]int{}}
	window := time.Duration(float64(time.Minute) / cfg.factor)
	// The inventory runs on the scaled clock, set below just before the runs
	// start, so that synced_at is in inventory time: a snapshot stamped t shows
	// the market at t, and the simulator's change log can be replayed against it.
	var clk scaledClock
	openings := 0
	if c.openings {
		openings = openingsPerMille
	}
	sim, err := startSim(partnersim.Config{Seed: capacitySeed, Count: n, Limit: capacityLimit, Window: window, AllOpen: c.allOpen, OpeningsPerMille: openings,
		InventoryNow: func() time.Time { return clk.Now() }})
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
	recorded := newSyncHistory()
	if c.adaptive {
		// Before the clock starts: the learning pass is not part of the day.
		if res.seeded, err = seedPlan(ctx, dbURL, sim.Server, n, start, recorded); err != nil {
			return res, err
		}
	}
	clk = scaledClock{realStart: time.Now(), start: start, factor: cfg.factor}
	end := start.Add(cfg.span)
	var recordedCount int
	var recMu sync.Mutex
	ws := &workerSet{dbURL: dbURL, simURL: sim.URL, limit: capacityLimit, window: window, now: clk.Now, wall: clk.wall, adaptive: c.adaptive,
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
		res.planned[band] += t.PairsPlanned
		res.pairs[band] += t.PairsTotal
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
	var closed closedFunc
	if c.adaptive {
		closed = func(product int64, day time.Time) bool { return !sim.OpenOn(product, day.Weekday()) }
	}
	pollEvery := clk.real(time.Minute)
	check := func(until time.Time) {
		for _, hz := range defaultHorizons() {
			for p := next[hz.name]; !p.Add(hz.every).After(until); p = p.Add(hz.every) {
				missed, checked := periodMisses(polled, n, hz, p, closed)
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
			trackAges(polled, n, now, start, res.maxAge, closed)
		}
		// The simulator keeps only its latest windows: take the first hour's now.
		if !sampled && !now.Before(start.Add(time.Hour)) {
			res.firstHourShare, sampled = firstHourShare(sim.Stats(), clk, window), true
		}
		// A sync stamped before a period's end commits within milliseconds: one
		// poll interval of slack covers it, so the last periods are checked one
		// scaled minute after the end.
		check(minTime(now.Add(-time.Minute), end))
		if (!res.fresh && !c.wholeSpan) || !now.Before(end.Add(time.Minute)) || ctx.Err() != nil {
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
	withInventory, first := changeLog(sim.Server, n, start, stopped)
	res.latency = changeLatency(withInventory, recorded.times, defaultHorizons(), stopped)
	res.firstSlots = changeLatency(first, recorded.times, defaultHorizons(), stopped)

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
// a pair never synced counts from the start of the run. Pairs closed says are
// left out: their promise is MaxPlannedInterval, not the band's interval.
func trackAges(hist *syncHistory, products int, now, start time.Time, maxAge map[string]time.Duration, closed closedFunc) {
	today := syncer.Today(now, time.UTC)
	for _, hz := range defaultHorizons() {
		for d := hz.fromDay; d <= hz.toDay; d++ {
			date := today.AddDate(0, 0, d)
			day := date.Format(time.DateOnly)
			for p := 1; p <= products; p++ {
				if closed != nil && closed(int64(p), date) {
					continue
				}
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

// reportRuns writes into the schedule's status, per window, a last run whose
// pairs were planned out in the given share, and pokes the controller with an
// annotation to reconcile it.
func reportRuns(ctx context.Context, c client.Client, key client.ObjectKey, planned map[string]float64) error {
	var ss inventoryv1alpha1.SyncSchedule
	if err := c.Get(ctx, key, &ss); err != nil {
		return err
	}
	const total = 1_000_000 // the share is what counts; a large total keeps it exact to 1e-6
	ss.Status.Windows = nil
	for _, b := range ss.Bands() {
		ss.Status.Windows = append(ss.Status.Windows, inventoryv1alpha1.WindowStatus{Name: b.Window, LastRun: &inventoryv1alpha1.RunCounts{
			Job: "capacity-bench", Result: inventoryv1alpha1.RunSucceeded, PairsTotal: total,
			PairsPlanned: int64(math.Round(planned[b.Window] * total)),
		}})
	}
	if err := c.Status().Update(ctx, &ss); err != nil {
		return client.IgnoreNotFound(ignoreConflict(err))
	}
	if ss.Annotations == nil {
		ss.Annotations = map[string]string{}
	}
	ss.Annotations["bench.slotsync.io/poke"] = strconv.FormatInt(time.Now().UnixNano(), 10)
	return ignoreConflict(c.Update(ctx, &ss))
}

// ignoreConflict drops a write conflict: the caller tries again on its next poll.
func ignoreConflict(err error) error {
	if apierrors.IsConflict(err) {
		return nil
	}
	return err
}

// budgetFlip bisects the product count at which the controller sets
// BudgetExceeded on a SyncSchedule of the default windows and 30 requests per
// minute: the largest count it calls within budget. With planned shares (by
// window) the schedule is Adaptive, and each window's last run in its status
// reports that share of its pairs planned out, as the workers' summaries
// would; nil leaves it Uniform.
func budgetFlip(ctx context.Context, planned map[string]float64) (int, error) {
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
			if planned != nil {
				ss.Spec.Polling = inventoryv1alpha1.AdaptivePolling
			}
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
			if planned != nil && c != nil && !strings.Contains(c.Message, "Adaptive polling") {
				return false, errors.New("an Adaptive schedule's BudgetExceeded does not say what its demand was counted from")
			}
			if planned != nil && (c == nil || strings.Contains(c.Message, "not yet run")) {
				// The status the controller reconciled had no runs (or a
				// reconcile's patch replaced them): give them again, and poke
				// it, as status changes alone do not reconcile.
				return false, reportRuns(ctx, api.c, key, planned)
			}
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
