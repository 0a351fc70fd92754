package bench

import (
	"testing"
	"time"
)

// TestChangeLatency replays hand-made change logs and snapshots over the
// default bands (today day 0, week days 1–6, month days 7–29); the expected
// figures are worked out by hand in the comments.
func TestChangeLatency(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	at := func(day int, hhmm string) time.Time {
		c, err := time.Parse("15:04", hhmm)
		if err != nil {
			t.Fatal(err)
		}
		return t0.AddDate(0, 0, day).Add(time.Duration(c.Hour())*time.Hour + time.Duration(c.Minute())*time.Minute)
	}
	end := at(1, "01:30")
	changes := map[pairKey][]time.Time{
		// today: 5m, 25m, 5m (both caught by 00:45), then missed; 02:00 next day is after end.
		{1, "2026-12-01"}: {at(0, "00:10"), at(0, "00:20"), at(0, "00:40"), at(0, "01:05"), at(1, "02:00")},
		// today: a snapshot at the very instant of the change shows it: 0.
		{2, "2026-12-01"}: {at(0, "00:30")},
		// week (2 days out): 55m.
		{1, "2026-12-03"}: {at(0, "00:05")},
		// week (6 days out): 29m.
		{3, "2026-12-07"}: {at(0, "01:00")},
		// month (7 days out): its snapshot comes after the end: missed.
		{1, "2026-12-08"}: {at(0, "00:01")},
		// The same date is week the evening before (30m) and today after midnight (10m).
		{4, "2026-12-02"}: {at(0, "23:50"), at(1, "00:10")},
		// Past, and beyond the month: no band, not counted.
		{1, "2026-11-30"}: {at(0, "00:10")},
		{1, "2026-12-31"}: {at(0, "00:10")},
	}
	snapshots := map[pairKey][]time.Time{
		{1, "2026-12-01"}: {at(0, "01:00"), at(0, "00:15"), at(0, "00:45")}, // unsorted on purpose
		{2, "2026-12-01"}: {at(0, "00:30")},
		{1, "2026-12-03"}: {at(0, "01:00")},
		{3, "2026-12-07"}: {at(0, "01:29")},
		{1, "2026-12-08"}: {at(1, "01:45")},
		{4, "2026-12-02"}: {at(1, "00:20")},
		{1, "2026-11-30"}: {at(0, "00:15")},
		{1, "2026-12-31"}: {at(0, "00:15")},
	}
	got := changeLatency(changes, snapshots, defaultHorizons(), end)
	m := time.Minute
	for _, want := range []struct {
		band            string
		changes, missed int
		p50, p99, max   time.Duration
	}{
		// Latencies 0, 5, 5, 10, 25: p50 is rank ⌈2.5⌉ = 3, p99 rank ⌈4.95⌉ = 5.
		{"today", 6, 1, 5 * m, 25 * m, 25 * m},
		// Latencies 29, 30, 55: p50 rank ⌈1.5⌉ = 2, p99 rank ⌈2.97⌉ = 3.
		{"week", 3, 0, 30 * m, 55 * m, 55 * m},
		// Nothing caught: no latency, not zero.
		{"month", 1, 1, -1, -1, -1},
	} {
		b := got[want.band]
		if b.changes != want.changes || b.missed != want.missed {
			t.Errorf("%s: %d changes, %d missed; want %d, %d", want.band, b.changes, b.missed, want.changes, want.missed)
		}
		if b.p50() != want.p50 || b.p99() != want.p99 || b.max() != want.max {
			t.Errorf("%s: p50 %s p99 %s max %s; want %s %s %s (latencies %v)", want.band, b.p50(), b.p99(), b.max(), want.p50, want.p99, want.max, b.detected)
		}
	}
}

// TestChangeLatencyPercentiles checks the percentiles on a hundred changes
// caught 1 to 100 minutes late: the nearest ranks are the 50th and the 99th.
func TestChangeLatencyPercentiles(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	changes, snapshots := map[pairKey][]time.Time{}, map[pairKey][]time.Time{}
	for i := 1; i <= 100; i++ {
		k := pairKey{int64(i), "2026-12-05"}
		change := t0.Add(time.Duration(i) * time.Second)
		changes[k] = []time.Time{change}
		snapshots[k] = []time.Time{change.Add(-time.Second), change.Add(time.Duration(i) * time.Minute)}
	}
	b := changeLatency(changes, snapshots, defaultHorizons(), t0.Add(24*time.Hour))["week"]
	if b.changes != 100 || b.missed != 0 {
		t.Fatalf("%d changes, %d missed; want 100, 0", b.changes, b.missed)
	}
	if b.p50() != 50*time.Minute || b.p99() != 99*time.Minute || b.max() != 100*time.Minute {
		t.Errorf("p50 %s p99 %s max %s; want 50m 1h39m 1h40m", b.p50(), b.p99(), b.max())
	}
}
