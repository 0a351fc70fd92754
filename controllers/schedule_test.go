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
			if got := productsThatFit(tt.bands, 30, 0); got != tt.wantFit {
				t.Errorf("productsThatFit = %d, want %d", got, tt.wantFit)
			}
		})
	}
	// The limiter hands out 30/1.005 a minute, less a slot at each of the 96 + 6
	// hand-overs a day from a band to the ones below: 29.78, 276 products.
	if got := productsThatFit(defaults, usableBudget(defaults, 30), 0); got != 276 {
		t.Errorf("productsThatFit within the usable budget = %d, want 276", got)
	}
	if got := usableBudget(defaults[:1], 30); math.Abs(got-30/1.005) > 1e-9 {
		t.Errorf("usable budget of one band = %v, want %v: no hand-overs", got, 30/1.005)
	}
	if got := productsThatFit(defaults, 30, 30); got != 0 {
		t.Errorf("productsThatFit with the budget used by others = %d, want 0", got)
	}
}
