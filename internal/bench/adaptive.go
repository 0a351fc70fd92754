package bench

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/slotsync/slotsync/internal/partnersim"
	"github.com/slotsync/slotsync/internal/store"
	"github.com/slotsync/slotsync/internal/syncer"
)

// The demand-aware (adaptive) part of the capacity benchmark.
const (
	// adaptiveGoal is the product count the issue asks demand-aware polling
	// to keep fresh on one key; uniform polling is shown at it too.
	adaptiveGoal = 450
	// capacitySeed is the simulator's seed: it decides the catalogue's mix of
	// weekday patterns, which the report describes.
	capacitySeed = 0
	// seedHorizon is how many days from the day's start the learning pass
	// fetches: every band's days (0–29 with the default windows).
	seedHorizon = 30
	// allOpenTolerance is how much worse than uniform polling demand-aware
	// polling's p99 may be on the all-open catalogue, as a ratio: the two
	// fetch the same pairs there, so what differs is the plan's query per
	// shard and run and the noise of a shared machine.
	allOpenTolerance = 1.05
	// openingsPerMille is the share of dates on closed weekdays that open
	// anyway in the special-openings candidates: enough first slots in a
	// scaled day to measure their latency.
	openingsPerMille = 200
)

// capCase is one candidate of the capacity benchmark.
type capCase struct {
	products int
	adaptive bool // demand-aware polling, after a learning pass
	allOpen  bool // the simulator's all-open catalogue instead of the mixed one
	// openings: the mixed catalogue with special openings (openingsPerMille),
	// dates on closed weekdays that gain their first slots.
	openings bool
	// wholeSpan keeps the runs going after the first missed period, so that a
	// stale count still shows its latencies over the whole span.
	wholeSpan bool
}

// plainMixed tells whether the case runs the plain mixed catalogue, the one
// the searches and the plots are about: neither all-open nor with openings.
func (c capCase) plainMixed() bool { return !c.allOpen && !c.openings }

// label names the case in the report's rows; rows of demand-aware polling
// begin with "demand-aware", as the issue asks.
func (c capCase) label() string {
	s := "uniform"
	if c.adaptive {
		s = "demand-aware"
	}
	s += fmt.Sprintf(" %d products", c.products)
	if c.allOpen {
		s += ", all-open catalogue"
	}
	if c.openings {
		s += ", special openings"
	}
	return s
}

// parseCapCase reads a case as the --capacity-candidates flag names it:
// adaptive-450, uniform-276, uniform-open-276, adaptive-open-276,
// adaptive-openings-276.
func parseCapCase(s string) (capCase, error) {
	parts := strings.Split(s, "-")
	n, err := strconv.Atoi(parts[len(parts)-1])
	if err != nil || n <= 0 || len(parts) < 2 || len(parts) > 3 {
		return capCase{}, fmt.Errorf("capacity candidate %q: want adaptive-N, uniform-N, adaptive-open-N, uniform-open-N, adaptive-openings-N or uniform-openings-N", s)
	}
	c := capCase{products: n, wholeSpan: true}
	switch parts[0] {
	case "adaptive":
		c.adaptive = true
	case "uniform":
	default:
		return capCase{}, fmt.Errorf("capacity candidate %q: polling %q is neither adaptive nor uniform", s, parts[0])
	}
	if len(parts) == 3 {
		switch parts[1] {
		case "open":
			c.allOpen = true
		case "openings":
			c.openings = true
		default:
			return capCase{}, fmt.Errorf("capacity candidate %q: %q is neither open nor openings", s, parts[1])
		}
	}
	return c, nil
}

// seedPlan is the learning pass of a demand-aware candidate: one answer for
// every pair of the horizon, as the previous day's runs would have left
// inventory_syncs, written before the measured day starts. The plan learns
// only from what is stored, and without it the first day fetches everything;
// the answers come straight from the simulator, outside the key's budget, so
// the pass costs the measured day nothing. Each pair's check is stamped at an
// instant of the 24h before start spread by seedOffset, so that the closed
// dates come due again spread over the day, as in a steady state, rather than
// all in the same run. It returns how many pairs it wrote, each also recorded
// as a snapshot in hist.
func seedPlan(ctx context.Context, dbURL string, sim *partnersim.Server, products int, start time.Time, hist *syncHistory) (int, error) {
	db, err := store.Open(ctx, dbURL)
	if err != nil {
		return 0, err
	}
	defer db.Close()
	var batch []store.SnapshotWrite
	flush := func() error {
		if _, err := db.WriteSnapshots(ctx, batch); err != nil {
			return fmt.Errorf("learning pass: %w", err)
		}
		for _, w := range batch {
			hist.add(pairKey{w.ProductID, w.Date.Format(time.DateOnly)}, w.SyncedAt)
		}
		batch = batch[:0]
		return nil
	}
	written := 0
	for _, p := range syncer.Pairs(productIDs(products), start, 0, seedHorizon-1) {
		at := start.Add(-seedOffset(p))
		batch = append(batch, store.SnapshotWrite{ProductID: p.ProductID, Date: p.Date, Slots: sim.Inventory(p.ProductID, p.Date, at), SyncedAt: at})
		written++
		if len(batch) == syncer.MaxBatch {
			if err := flush(); err != nil {
				return 0, err
			}
		}
	}
	if len(batch) > 0 {
		if err := flush(); err != nil {
			return 0, err
		}
	}
	return written, nil
}

// seedOffset is how long before the day a pair's learning-pass check is
// stamped: a deterministic spread over (0, 24h], in whole seconds.
func seedOffset(p syncer.Pair) time.Duration {
	h := uint64(p.ProductID)*0x9e3779b97f4a7c15 ^ uint64(p.Date.Unix()/86400)*0xc2b2ae3d27d4eb4f
	h ^= h >> 31
	return time.Duration(h%86400+1) * time.Second
}

// catalogueMix describes the mixed catalogue of products 1..n: how many
// products open how many weekdays, and what share of their dates have slots.
func catalogueMix(n int) string {
	sim := partnersim.New(partnersim.Config{Seed: capacitySeed, Count: n})
	var byDays [8]int
	open := 0
	for id := int64(1); id <= int64(n); id++ {
		d := sim.OpenWeekdays(id)
		byDays[d]++
		open += d
	}
	var parts []string
	for d := 1; d <= 7; d++ {
		parts = append(parts, fmt.Sprintf("%d open %d weekday%s", byDays[d], d, plural(d)))
	}
	return fmt.Sprintf("of products 1–%d (seed %d), %s; %.1f%% of their dates have slots",
		n, capacitySeed, strings.Join(parts, ", "), 100*float64(open)/float64(7*n))
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// plannedShares is per band the share of pairs the run's plans left out.
func (r capRun) plannedShares() map[string]float64 {
	out := map[string]float64{}
	for band, total := range r.pairs {
		if total > 0 {
			out[band] = float64(r.planned[band]) / float64(total)
		}
	}
	return out
}

// bandTarget is each default band's refresh interval in scaled minutes: the
// p99 latency guarantee of changes on dates with inventory.
func bandTarget(hz horizon) float64 { return hz.every.Minutes() }

// addGuaranteeRows checks a demand-aware run against the guarantees: per band,
// the p99 latency of changes on dates with inventory within the band's
// interval; first slots within MaxPlannedInterval, where any occurred.
func addGuaranteeRows(s *Section, run capRun) {
	p := run.label()
	for _, hz := range defaultHorizons() {
		if b := run.latency[hz.name]; len(b.detected) > 0 {
			s.add(fmt.Sprintf("%s: %s p99 latency, changes on dates with inventory", p, hz.name), "scaled min", []float64{b.p99().Minutes()}, AtMost(bandTarget(hz)))
		}
		if b := run.firstSlots[hz.name]; len(b.detected) > 0 {
			s.add(fmt.Sprintf("%s: %s max latency of first slots", p, hz.name), "scaled min", []float64{b.max().Minutes()}, AtMost(syncer.MaxPlannedInterval.Minutes()))
		}
	}
}

// addFirstSlotRows reports, for a uniform run with special openings, per band
// the latency of first slots: the comparison for demand-aware polling's 24h.
func addFirstSlotRows(s *Section, run capRun) {
	for _, hz := range defaultHorizons() {
		if b := run.firstSlots[hz.name]; len(b.detected) > 0 {
			s.add(fmt.Sprintf("%s: %s max latency of first slots (its band's interval is %s)", run.label(), hz.name, hz.every), "scaled min", []float64{b.max().Minutes()}, nil)
		}
	}
}

// addAllOpenRows compares demand-aware with uniform polling on the all-open
// catalogue, band by band: p99 latency of demand-aware ÷ uniform.
func addAllOpenRows(s *Section, uniform, adaptive capRun) {
	for _, hz := range defaultHorizons() {
		u, a := uniform.latency[hz.name], adaptive.latency[hz.name]
		if len(u.detected) == 0 || len(a.detected) == 0 || u.p99() <= 0 {
			continue
		}
		s.add(fmt.Sprintf("all-open catalogue, %d products: %s p99 latency, demand-aware ÷ uniform", uniform.products, hz.name), "×",
			[]float64{float64(a.p99()) / float64(u.p99())}, AtMost(allOpenTolerance))
	}
}

// addPlannedRows reports per band the share of pairs a run's plans left out.
func addPlannedRows(s *Section, run capRun) {
	shares := run.plannedShares()
	for _, hz := range defaultHorizons() {
		s.add(fmt.Sprintf("%s: %s pairs planned out (pairsPlanned ÷ pairsTotal)", run.label(), hz.name), "share", []float64{shares[hz.name]}, nil)
	}
}

// latencyCDFs plots, per band, the latency CDF of changes on dates with
// inventory for each run of the mixed catalogue: uniform against demand-aware.
func latencyCDFs(r *Report, runs []capRun) {
	colors := []string{"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd"}
	dashes := []string{"", "6 3", "2 2", "8 2 2 2", "4 4"}
	for _, hz := range defaultHorizons() {
		chart := Chart{
			Title:  fmt.Sprintf("Change-detection latency, %s band (days %d–%d, every %s)", hz.name, hz.fromDay, hz.toDay, hz.every),
			XLabel: "scaled minutes from a change to the first snapshot after it", YLabel: "share of changes caught",
			Refs: []Ref{{Label: "p99", Y: 0.99}},
		}
		for i, run := range runs {
			b := run.latency[hz.name]
			if len(b.detected) == 0 {
				continue
			}
			chart.Series = append(chart.Series, Series{Name: run.label(), Color: colors[i%len(colors)], Dash: dashes[i%len(dashes)], Points: cdfPoints(b.detected, 200)})
		}
		if len(chart.Series) == 0 {
			continue
		}
		r.plot("capacity-latency-"+hz.name+".svg",
			fmt.Sprintf("Latency CDF of the %s band's changes on dates with inventory, uniform against demand-aware polling on the mixed catalogue.", hz.name), chart.SVG())
	}
}

// cdfPoints is the empirical CDF of sorted latencies in scaled minutes, at
// most n points (every k-th rank, and the last).
func cdfPoints(sorted []time.Duration, n int) []Point {
	step := max(1, len(sorted)/n)
	var out []Point
	for i := 0; i < len(sorted); i += step {
		out = append(out, Point{X: sorted[i].Minutes(), Y: float64(i+1) / float64(len(sorted))})
	}
	if last := len(sorted) - 1; len(out) == 0 || out[len(out)-1].Y < 1 {
		out = append(out, Point{X: sorted[last].Minutes(), Y: 1})
	}
	return out
}

// findRun is the run of case c, if it ran.
func findRun(runs []capRun, c capCase) (capRun, bool) {
	i := slices.IndexFunc(runs, func(r capRun) bool {
		return r.products == c.products && r.adaptive == c.adaptive && r.allOpen == c.allOpen && r.openings == c.openings
	})
	if i < 0 {
		return capRun{}, false
	}
	return runs[i], true
}
