package bench

import (
	"context"
	"fmt"
	"time"

	"github.com/slotsync/slotsync/internal/partnersim"
	"github.com/slotsync/slotsync/internal/ratelimit"
	"github.com/slotsync/slotsync/internal/syncer"
)

// The budget benchmark compresses the partner's 30 requests per minute to 30 per
// second: the limiter and the simulator take the window as a parameter, and a
// second-long window shows the same per-window behaviour 60 times faster.
const (
	budgetLimit  = 30
	budgetWindow = time.Second
)

// budgetJobs are the two Jobs that share the key: a week band in 4 shards and a
// month band in one, sized so that both end at about the same time when each
// worker gets an equal share of the budget.
func budgetJobs(quick bool) []job {
	week, month := 80, 5 // 480 + 115 pairs: about 20 s at 30/s
	if quick {
		week, month = 12, 1
	}
	return []job{
		{name: "week", products: productIDs(week), fromDay: 1, toDay: 6, shards: 4, every: 4 * time.Hour},
		{name: "month", products: productIDs(month), fromDay: 7, toDay: 29, shards: 1, every: 24 * time.Hour},
	}
}

func productIDs(n int) []int64 {
	ids := make([]int64, n)
	for i := range ids {
		ids[i] = int64(i + 1)
	}
	return ids
}

// budgetOutcome is one run of one client.
type budgetOutcome struct {
	share        float64 // accepted / (limit × windows elapsed)
	fullShare    float64 // the same over the windows wholly inside the run
	accepted     int64
	rateLimited  int64
	seconds      float64
	perWindow    []partnersim.WindowCounts
	began        time.Time
	pairsWritten int
}

func runBudget(ctx context.Context, h *harness, r *Report) error {
	r.Title = "Partner budget utilisation"
	jobs := budgetJobs(h.opts.Quick)
	pairs := 0
	for _, j := range jobs {
		pairs += j.pairs()
	}
	r.Intro = prose("budget.intro", map[string]any{
		"Limit":         budgetLimit,
		"Window":        budgetWindow,
		"WeekProducts":  len(jobs[0].products),
		"MonthProducts": len(jobs[1].products),
		"Pairs":         pairs,
		"Margin":        ratelimit.DefaultMargin,
	})
	repeats := 3
	if h.opts.Quick {
		repeats = 1
	}
	r.Repeats = fmt.Sprintf("%d, slotsync and the baseline one after the other in each repeat, each with a fresh simulator and database", repeats)

	var ours, seed []budgetOutcome
	for i := range repeats {
		o, err := budgetOnce(ctx, h, jobs, false)
		if err != nil {
			return fmt.Errorf("repeat %d, slotsync: %w", i+1, err)
		}
		s, err := budgetOnce(ctx, h, jobs, true)
		if err != nil {
			return fmt.Errorf("repeat %d, seed-style baseline: %w", i+1, err)
		}
		ours, seed = append(ours, o), append(seed, s)
	}

	col := func(list []budgetOutcome, f func(budgetOutcome) float64) []float64 {
		out := make([]float64, len(list))
		for i, o := range list {
			out[i] = f(o)
		}
		return out
	}
	s := r.section("slotsync: shared GCRA limiter", "")
	s.add("used share of the allowance", "share", col(ours, func(o budgetOutcome) float64 { return o.share }), AtLeast(0.99))
	s.add("429 answers", "count", col(ours, func(o budgetOutcome) float64 { return float64(o.rateLimited) }), AtMost(0))
	s.add("used share in windows wholly inside the run", "share", col(ours, func(o budgetOutcome) float64 { return o.fullShare }), nil)
	s.add("run time", "s", col(ours, func(o budgetOutcome) float64 { return o.seconds }), nil)
	s.add("requests accepted", "count", col(ours, func(o budgetOutcome) float64 { return float64(o.accepted) }), nil)

	b := r.section("Baseline: seed-style client (fire until 429, sleep to the reset)", "")
	b.add("used share of the allowance", "share", col(seed, func(o budgetOutcome) float64 { return o.share }), nil)
	b.add("429 answers", "count", col(seed, func(o budgetOutcome) float64 { return float64(o.rateLimited) }), nil)
	b.add("used share in windows wholly inside the run", "share", col(seed, func(o budgetOutcome) float64 { return o.fullShare }), nil)
	b.add("run time", "s", col(seed, func(o budgetOutcome) float64 { return o.seconds }), nil)

	r.proseNote("budget.ceiling", map[string]any{
		"Ceiling":       1 / (1 + ratelimit.DefaultMargin),
		"Spacing":       spacingOf(budgetLimit, budgetWindow),
		"Jitter":        time.Duration(float64(budgetWindow) * ratelimit.DefaultMargin),
		"Pairs":         pairs,
		"FiniteCeiling": float64(pairs) / float64(pairs-1) / (1 + ratelimit.DefaultMargin),
	})
	r.proseNote("budget.baseline-share", nil)
	r.proseNote("budget.checks", nil)

	chart := Chart{
		Title:  fmt.Sprintf("Requests per %s window, repeat 1", budgetWindow),
		XLabel: "seconds since the workers started", YLabel: "requests in the window",
		Steps: true,
		Refs:  []Ref{{Label: fmt.Sprintf("limit %d", budgetLimit), Y: budgetLimit}},
		Series: []Series{
			windowSeries("slotsync: accepted", "#1f77b4", ours[0], func(w partnersim.WindowCounts) int64 { return w.Accepted }),
			dashed(windowSeries("seed-style: accepted", "#ff7f0e", seed[0], func(w partnersim.WindowCounts) int64 { return w.Accepted })),
			windowSeries("seed-style: 429", "#d62728", seed[0], func(w partnersim.WindowCounts) int64 { return w.RateLimited }),
			windowSeries("slotsync: 429", "#2ca02c", ours[0], func(w partnersim.WindowCounts) int64 { return w.RateLimited }),
		},
	}
	r.plot("budget.svg", "Requests per rate-limit window over time, slotsync and the seed-style baseline (simulator counts).", chart.SVG())
	return nil
}

func dashed(s Series) Series {
	s.Dash = "5 3"
	return s
}

func spacingOf(limit int, window time.Duration) time.Duration {
	return time.Duration(float64(window) / float64(limit) * (1 + ratelimit.DefaultMargin)).Round(10 * time.Microsecond)
}

func windowSeries(name, color string, o budgetOutcome, f func(partnersim.WindowCounts) int64) Series {
	s := Series{Name: name, Color: color}
	for _, w := range o.perWindow {
		s.Points = append(s.Points, Point{X: w.Start.Sub(o.began).Seconds(), Y: float64(f(w))})
	}
	// Close the last window so that its step is drawn.
	if n := len(o.perWindow); n > 0 {
		last := o.perWindow[n-1]
		s.Points = append(s.Points, Point{X: last.Start.Add(budgetWindow).Sub(o.began).Seconds(), Y: float64(f(last))})
	}
	return s
}

func budgetOnce(ctx context.Context, h *harness, jobs []job, seed bool) (budgetOutcome, error) {
	var out budgetOutcome
	maxProduct := 0
	pairs := 0
	for _, j := range jobs {
		maxProduct = max(maxProduct, len(j.products))
		pairs += j.pairs()
	}
	sim, err := startSim(partnersim.Config{Count: maxProduct, Limit: budgetLimit, Window: budgetWindow})
	if err != nil {
		return out, err
	}
	defer sim.close()
	dbURL, err := h.newDatabase(ctx, "budget")
	if err != nil {
		return out, err
	}
	defer func() { _ = h.dropDatabase(context.WithoutCancel(ctx), dbURL) }()

	ws := &workerSet{dbURL: dbURL, simURL: sim.URL, limit: budgetLimit, window: budgetWindow, seed: seed}
	today := syncer.Today(time.Now(), time.UTC)
	res, err := ws.run(ctx, jobs, time.Time{})
	if err != nil {
		return out, err
	}
	if syncer.Today(time.Now(), time.UTC) != today {
		return out, fmt.Errorf("the run crossed midnight UTC, so its pairs moved by a day: run it again")
	}
	sum := res.total()
	if sum.PairsOK != pairs || sum.PairsFailed != 0 {
		return out, fmt.Errorf("%d of %d pairs written, %d failed", sum.PairsOK, pairs, sum.PairsFailed)
	}
	if err := checkSynced(ctx, dbURL, sim.Server, jobs, today, 20); err != nil {
		return out, err
	}

	st := sim.Stats()
	out.began = res.began
	out.seconds = res.ended.Sub(res.began).Seconds()
	out.perWindow = st.PerWindow
	out.rateLimited = st.RateLimited
	out.pairsWritten = sum.PairsOK
	for _, w := range st.PerWindow {
		out.accepted += w.Accepted
	}
	if out.accepted != int64(pairs) {
		return out, fmt.Errorf("the partner accepted %d requests for %d pairs", out.accepted, pairs)
	}
	out.share = float64(out.accepted) / (budgetLimit * out.seconds / budgetWindow.Seconds())
	// Windows wholly inside the run: all but the first and the last that saw requests.
	if n := len(st.PerWindow); n > 2 {
		var inner int64
		for _, w := range st.PerWindow[1 : n-1] {
			inner += w.Accepted
		}
		// Windows with no request at all do not appear: count them by time.
		span := st.PerWindow[n-1].Start.Sub(st.PerWindow[1].Start) / budgetWindow
		out.fullShare = float64(inner) / float64(budgetLimit*int64(span))
	}
	return out, nil
}
