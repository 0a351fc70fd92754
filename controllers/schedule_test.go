package controllers

import (
	"math"
	"testing"
	"time"

	inventoryv1alpha1 "github.com/slotsync/slotsync/api/v1alpha1"
)

func TestDueTime(t *testing.T) {
	base := time.Date(2026, 12, 1, 10, 7, 31, 0, time.UTC)
	tests := []struct {
		name  string
		now   time.Time
		every time.Duration
		want  time.Time
	}{
		{"quarter hour", base, 15 * time.Minute, time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)},
		{"exactly on a tick", time.Date(2026, 12, 1, 10, 15, 0, 0, time.UTC), 15 * time.Minute, time.Date(2026, 12, 1, 10, 15, 0, 0, time.UTC)},
		{"four hours", base, 4 * time.Hour, time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)},
		{"daily is UTC midnight", base, 24 * time.Hour, time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)},
		{"seconds", base, 10 * time.Second, time.Date(2026, 12, 1, 10, 7, 30, 0, time.UTC)},
		{"zone of now does not matter", base.In(time.FixedZone("x", 3600)), 15 * time.Minute, time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := dueTime(tt.now, tt.every); !got.Equal(tt.want) {
				t.Errorf("dueTime(%v, %v) = %v, want %v", tt.now, tt.every, got, tt.want)
			}
			if got := nextDue(tt.now, tt.every); !got.Equal(tt.want.Add(tt.every)) || !got.After(tt.now) {
				t.Errorf("nextDue(%v, %v) = %v, want %v after now", tt.now, tt.every, got, tt.want.Add(tt.every))
			}
		})
	}
}

func TestDemand(t *testing.T) {
	defaults := inventoryv1alpha1.Bands(inventoryv1alpha1.DefaultWindows())
	overlapping := []inventoryv1alpha1.Band{ // the naive plan: every window refetches all of its days
		{Window: "today", FromDay: 0, ToDay: 0, Every: 15 * time.Minute},
		{Window: "week", FromDay: 0, ToDay: 6, Every: 4 * time.Hour},
		{Window: "month", FromDay: 0, ToDay: 29, Every: 24 * time.Hour},
	}
	tests := []struct {
		name     string
		bands    []inventoryv1alpha1.Band
		products int
		wantDay  float64
		wantFit  int
	}{
		{"design's non-overlapping bands", defaults, 1, 96 + 6*6 + 23, 278},
		{"design's naive overlapping windows", overlapping, 1, 96 + 6*7 + 30, 257},
		{"scales with products", defaults, 278, 278 * 155, 278},
		{"no bands", nil, 10, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := requestsPerDay(tt.bands, tt.products); got != tt.wantDay {
				t.Errorf("requestsPerDay = %v, want %v", got, tt.wantDay)
			}
			if got := productsThatFit(demandPerMinute(tt.bands, 1), 30, 0); got != tt.wantFit {
				t.Errorf("productsThatFit = %d, want %d", got, tt.wantFit)
			}
		})
	}
	// The limiter hands out 30/1.005 a minute, less a slot at each of the 96 + 6
	// hand-overs a day from a band to the ones below: 29.78, 276 products.
	if got := productsThatFit(demandPerMinute(defaults, 1), usableBudget(defaults, 30), 0); got != 276 {
		t.Errorf("productsThatFit within the usable budget = %d, want 276", got)
	}
	if got := usableBudget(defaults[:1], 30); math.Abs(got-30/1.005) > 1e-9 {
		t.Errorf("usable budget of one band = %v, want %v: no hand-overs", got, 30/1.005)
	}
	if got := productsThatFit(demandPerMinute(defaults, 1), 30, 30); got != 0 {
		t.Errorf("productsThatFit with the budget used by others = %d, want 0", got)
	}
}

// TestPlannedDemand: an Adaptive schedule's demand leaves out, per band, the
// share of pairs its window's last run planned out; a Uniform schedule's is
// the full demand whatever its runs reported, and so is a window of an
// Adaptive one that has not finished a run.
func TestPlannedDemand(t *testing.T) {
	windows := func(today, week *inventoryv1alpha1.RunCounts) []inventoryv1alpha1.WindowStatus {
		return []inventoryv1alpha1.WindowStatus{{Name: "today", LastRun: today}, {Name: "week", LastRun: week}}
	}
	half := &inventoryv1alpha1.RunCounts{PairsTotal: 100, PairsPlanned: 50}
	schedule := func(p inventoryv1alpha1.Polling, ws []inventoryv1alpha1.WindowStatus) *inventoryv1alpha1.SyncSchedule {
		ss := &inventoryv1alpha1.SyncSchedule{}
		ss.Spec.Windows = inventoryv1alpha1.DefaultWindows()
		ss.Spec.Polling = p
		ss.Status.Windows = ws
		return ss
	}
	// Default bands: today 96, week 36, month 23 requests a product a day.
	tests := []struct {
		name   string
		ss     *inventoryv1alpha1.SyncSchedule
		perDay float64
	}{
		{"uniform ignores planned pairs", schedule(inventoryv1alpha1.UniformPolling, windows(half, half)), 155},
		{"default polling is uniform", schedule("", windows(half, half)), 155},
		{"adaptive, half of today and week planned out", schedule(inventoryv1alpha1.AdaptivePolling, windows(half, half)), 48 + 18 + 23},
		{"adaptive, week not run yet", schedule(inventoryv1alpha1.AdaptivePolling, windows(half, nil)), 48 + 36 + 23},
		{"adaptive, a run of no pairs", schedule(inventoryv1alpha1.AdaptivePolling, windows(&inventoryv1alpha1.RunCounts{}, half)), 96 + 18 + 23},
		{"adaptive, no status", schedule(inventoryv1alpha1.AdaptivePolling, nil), 155},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := scheduleDemand(tt.ss, 10) * 24 * 60; math.Abs(got-10*tt.perDay) > 1e-6 {
				t.Errorf("demand = %v requests a day, want %v", got, 10*tt.perDay)
			}
		})
	}
	// 29.78 requests a minute usable: 276 products uniform, 481 at 89 a day.
	defaults := inventoryv1alpha1.Bands(inventoryv1alpha1.DefaultWindows())
	usable := usableBudget(defaults, 30)
	if got := productsThatFit(scheduleDemand(tests[0].ss, 1), usable, 0); got != 276 {
		t.Errorf("uniform fit = %d, want 276", got)
	}
	if got := productsThatFit(scheduleDemand(tests[2].ss, 1), usable, 0); got != 481 {
		t.Errorf("adaptive fit = %d, want 481", got)
	}
}
