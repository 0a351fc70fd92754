package syncer_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/slotsync/slotsync/internal/partner"
	"github.com/slotsync/slotsync/internal/partnersim"
	"github.com/slotsync/slotsync/internal/pgtest"
	"github.com/slotsync/slotsync/internal/syncer"
)

// adaptiveStart is a Monday: days 0 to 20 hold each weekday three times, so
// one run over them shows product 14's pattern (slots Monday to Wednesday).
var adaptiveStart = time.Date(2026, 11, 30, 8, 0, 0, 0, time.UTC)

// recordingFetcher records the dates it is asked for and can answer some with
// slots where the partner has none: a weekday that turns open.
type recordingFetcher struct {
	syncer.Fetcher
	sim *partnersim.Server

	mu     sync.Mutex
	dates  []time.Time
	opened map[string]bool // YYYY-MM-DD answered with slots
}

func (f *recordingFetcher) FetchInventory(ctx context.Context, productID int64, date time.Time) ([]partner.Slot, error) {
	f.mu.Lock()
	f.dates = append(f.dates, date)
	open := f.opened[date.Format(time.DateOnly)]
	f.mu.Unlock()
	slots, err := f.Fetcher.FetchInventory(ctx, productID, date)
	if err != nil || !open {
		return slots, err
	}
	// The slots of the Monday before, moved to this date.
	monday := date.AddDate(0, 0, -int((date.Weekday()+6)%7))
	opened := f.sim.Inventory(productID, monday, monday)
	for i := range opened {
		opened[i].StartDate = date.Format(partner.DateLayout)
		opened[i].ProviderSlotID += "-moved"
	}
	return opened, nil
}

func (f *recordingFetcher) fetched() []time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.dates)
}

// adaptiveRun runs one adaptive worker of the today band (every 15m) over
// product 14, days 0 to 20, at the instant at, on the env's store.
func (e *env) adaptiveRun(t *testing.T, at time.Time, adaptive bool, opened ...string) (syncer.Summary, *recordingFetcher) {
	t.Helper()
	e.clock.set(at)
	e.sim.ResetStats()
	w := e.worker(t)
	f := &recordingFetcher{Fetcher: w.Fetcher, sim: e.sim, opened: map[string]bool{}}
	for _, d := range opened {
		f.opened[d] = true
	}
	w.Fetcher = f
	cfg := e.config([]int64{14}, 0, 20)
	cfg.Adaptive, cfg.Every = adaptive, 15*time.Minute
	sum, err := w.Run(context.Background(), cfg)
	if err != nil {
		t.Fatalf("run at %s: %v (%s)", at.Format(time.RFC3339), err, sum.Line())
	}
	if sum.PairsTotal != 21 || sum.PairsOK+sum.PairsPlanned != 21 || sum.PairsFailed != 0 {
		t.Fatalf("run at %s: %s; want 21 pairs, each OK or planned out", at.Format(time.RFC3339), sum.Line())
	}
	if got := e.sim.Stats().Requests; got != int64(sum.PairsOK) || len(f.fetched()) != sum.PairsOK {
		t.Fatalf("run at %s: %s, but the simulator saw %d requests and the worker fetched %d dates", at.Format(time.RFC3339), sum.Line(), got, len(f.fetched()))
	}
	return sum, f
}

// requirePlanned checks that a run left out want pairs, and fetched only
// dates on the weekdays open.
func requirePlanned(t *testing.T, what string, sum syncer.Summary, f *recordingFetcher, want int, open ...time.Weekday) {
	t.Helper()
	if sum.PairsPlanned != want || sum.PairsOK != 21-want {
		t.Errorf("%s: %s; want %d planned out and %d fetched", what, sum.Line(), want, 21-want)
	}
	if open == nil {
		return
	}
	for _, d := range f.fetched() {
		if !slices.Contains(open, d.Weekday()) {
			t.Errorf("%s: fetched %s, a %s, though product 14 has had no slots on %ss", what, d.Format(time.DateOnly), d.Weekday(), d.Weekday())
		}
	}
}

var monToWed = []time.Weekday{time.Monday, time.Tuesday, time.Wednesday}

// TestAdaptiveSkipsLearnedClosedWeekdaysFor24h: one run over three weeks of
// product 14 shows it has no slots Thursday to Sunday; runs within 24h of that
// check fetch only Monday to Wednesday (the simulator sees 9 requests in place
// of 21); once the band's next run, fetching them last, could end past 24h
// since the check, the closed dates are fetched again, after every open one.
func TestAdaptiveSkipsLearnedClosedWeekdaysFor24h(t *testing.T) {
	e := newEnv(t, partnersim.Config{Seed: 5, Limit: -1}, adaptiveStart)

	sum, _ := e.adaptiveRun(t, adaptiveStart, true)
	requirePlanned(t, "first run, nothing learned", sum, nil, 0)

	sum, f := e.adaptiveRun(t, adaptiveStart.Add(time.Hour), true)
	requirePlanned(t, "an hour later", sum, f, 12, monToWed...)
	t.Logf("an hour later: %s", sum.Line())

	// 23h15m after the check the next run (15m on) ends within 24h of it.
	sum, f = e.adaptiveRun(t, adaptiveStart.Add(23*time.Hour+15*time.Minute), true)
	requirePlanned(t, "23h15m later", sum, f, 12, monToWed...)

	// 23h30m after it the next run could end past 24h: the closed dates are
	// due, and fetched after the open ones, whose order stays as it was.
	sum, f = e.adaptiveRun(t, adaptiveStart.Add(23*time.Hour+30*time.Minute), true)
	requirePlanned(t, "23h30m later", sum, nil, 0)
	got := f.fetched()
	for i, d := range got {
		if open := slices.Contains(monToWed, d.Weekday()); open != (i < 9) {
			t.Errorf("23h30m later: fetch %d of 21 was %s, a %s; want the 9 Monday-to-Wednesday dates first, in date order, then the closed ones", i+1, d.Format(time.DateOnly), d.Weekday())
		}
	}
	if !slices.IsSortedFunc(got[:9], time.Time.Compare) {
		t.Errorf("23h30m later: open dates fetched out of order: %v", got[:9])
	}

	// And left out again for the next 24h.
	sum, f = e.adaptiveRun(t, adaptiveStart.Add(24*time.Hour+30*time.Minute), true)
	requirePlanned(t, "24h30m later", sum, f, 12, monToWed...)

	// The database holds what the partner says for every date, planned or not.
	e.requireTruth(t, []int64{14}, 0, 20)
}

// TestAdaptiveReopensAWeekdayAtOnce: one Thursday that gains slots makes every
// Thursday of product 14 be fetched again on each run, not only that date.
func TestAdaptiveReopensAWeekdayAtOnce(t *testing.T) {
	e := newEnv(t, partnersim.Config{Seed: 5, Limit: -1}, adaptiveStart)
	e.adaptiveRun(t, adaptiveStart, true)

	// The run 24h later fetches every date; the Thursday of 2026-12-10 has slots now.
	sum, _ := e.adaptiveRun(t, adaptiveStart.Add(24*time.Hour), true, "2026-12-10")
	requirePlanned(t, "24h later", sum, nil, 0)

	sum, f := e.adaptiveRun(t, adaptiveStart.Add(25*time.Hour), true, "2026-12-10")
	requirePlanned(t, "after a Thursday gained slots", sum, f, 9, time.Monday, time.Tuesday, time.Wednesday, time.Thursday)
	var thursdays int
	for _, d := range f.fetched() {
		if d.Weekday() == time.Thursday {
			thursdays++
		}
	}
	if thursdays != 3 {
		t.Errorf("fetched %d Thursdays, want all 3 of days 0 to 20", thursdays)
	}
}

// TestAdaptivePlanSurvivesRestarts: the plan lives in Postgres, so a new
// worker with a new pool (a new Job, a restarted manager) and a restarted
// Postgres server leave out the same dates.
func TestAdaptivePlanSurvivesRestarts(t *testing.T) {
	srv := pgtest.NewServer(t)
	dbURL := srv.NewDatabase(t)
	e := newEnvOn(t, partnersim.Config{Seed: 5, Limit: -1}, adaptiveStart, dbURL)
	e.adaptiveRun(t, adaptiveStart, true)

	e.db = pgtest.OpenStore(t, dbURL)
	sum, f := e.adaptiveRun(t, adaptiveStart.Add(time.Hour), true)
	requirePlanned(t, "a new worker and pool", sum, f, 12, monToWed...)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := srv.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	e.db = pgtest.OpenStore(t, dbURL)
	waitDatabase(t, e.db)
	sum, f = e.adaptiveRun(t, adaptiveStart.Add(2*time.Hour), true)
	requirePlanned(t, "after Postgres restarted", sum, f, 12, monToWed...)
}

// TestUniformIgnoresThePlan: with the history that makes an adaptive run leave
// out 12 dates, a uniform run fetches all 21, and so does an adaptive run of
// a band refreshed daily, whose next run would come 24h or more after the check.
func TestUniformIgnoresThePlan(t *testing.T) {
	e := newEnv(t, partnersim.Config{Seed: 5, Limit: -1}, adaptiveStart)
	e.adaptiveRun(t, adaptiveStart, true)
	sum, f := e.adaptiveRun(t, adaptiveStart.Add(time.Hour), true)
	requirePlanned(t, "adaptive", sum, f, 12, monToWed...)

	sum, _ = e.adaptiveRun(t, adaptiveStart.Add(2*time.Hour), false)
	requirePlanned(t, "uniform", sum, nil, 0)

	e.clock.set(adaptiveStart.Add(3 * time.Hour))
	e.sim.ResetStats()
	cfg := e.config([]int64{14}, 0, 20)
	cfg.Adaptive, cfg.Every = true, 24*time.Hour
	sum, err := e.worker(t).Run(context.Background(), cfg)
	if err != nil || sum.PairsPlanned != 0 || sum.Requests != 21 {
		t.Errorf("adaptive run of a daily band: err %v, %s; want every date fetched", err, sum.Line())
	}
}
