package bench

import (
	"bytes"
	"context"
	"encoding/xml"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/slotsync/slotsync/internal/ratelimit"
)

func TestSummarize(t *testing.T) {
	tests := []struct {
		name   string
		values []float64
		want   Summary
	}{
		{"one", []float64{3}, Summary{N: 1, Min: 3, Median: 3, Max: 3}},
		{"odd, unsorted", []float64{5, 1, 3}, Summary{N: 3, Min: 1, Median: 3, Max: 5}},
		{"even takes the mean of the middle two", []float64{4, 1, 3, 2}, Summary{N: 4, Min: 1, Median: 2.5, Max: 4}},
		{"NaN left out", []float64{math.NaN(), 2, 4}, Summary{N: 2, Min: 2, Median: 3, Max: 4}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Summarize(tt.values); got != tt.want {
				t.Errorf("Summarize(%v) = %+v, want %+v", tt.values, got, tt.want)
			}
		})
	}
	if got := Summarize(nil); got.N != 0 || !math.IsNaN(got.Median) {
		t.Errorf("Summarize(nil) = %+v, want N 0 and NaN", got)
	}
}

func TestPercentile(t *testing.T) {
	sorted := make([]float64, 100)
	for i := range sorted {
		sorted[i] = float64(i + 1) // 1..100
	}
	tests := []struct {
		name   string
		values []float64
		p      float64
		want   float64
	}{
		{"p50 of 1..100", sorted, 50, 50},
		{"p99 of 1..100", sorted, 99, 99},
		{"p100 is the max", sorted, 100, 100},
		{"tiny p is the min", sorted, 0.001, 1},
		{"p99 of three is the max", []float64{1, 2, 3}, 99, 3},
		{"p50 of two is the lower", []float64{1, 2}, 50, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Percentile(tt.values, tt.p); got != tt.want {
				t.Errorf("Percentile(p%v) = %v, want %v", tt.p, got, tt.want)
			}
		})
	}
	if !math.IsNaN(Percentile(nil, 50)) {
		t.Error("Percentile of nothing is not NaN")
	}
}

func TestLatenciesMillisSorted(t *testing.T) {
	got := Latencies{3 * time.Millisecond, 500 * time.Microsecond, time.Millisecond}.Millis()
	want := []float64{0.5, 1, 3}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("Millis = %v, want %v", got, want)
		}
	}
}

func TestGoal(t *testing.T) {
	tests := []struct {
		goal *Goal
		x    float64
		want bool
		text string
	}{
		{AtLeast(0.99), 0.995, true, "≥ 0.990"},
		{AtLeast(0.99), 0.98, false, "≥ 0.990"},
		{AtMost(10), 10, true, "≤ 10.0"},
		{AtMost(10), math.NaN(), false, "≤ 10.0"},
		{Within(0, 2), -2, true, "0 ± 2.00"},
		{Within(0, 2), 3, false, "0 ± 2.00"},
	}
	for _, tt := range tests {
		if got := tt.goal.Met(tt.x); got != tt.want {
			t.Errorf("%s met by %v = %v, want %v", tt.goal, tt.x, got, tt.want)
		}
		if got := tt.goal.String(); got != tt.text {
			t.Errorf("goal text %q, want %q", got, tt.text)
		}
	}
}

func TestFormatNumber(t *testing.T) {
	tests := map[float64]string{
		0: "0", 0.99456: "0.995", 1.5: "1.50", 12.345: "12.3", 150.4: "150",
		1234567: "1 234 567", -4321: "-4 321", math.NaN(): "–",
	}
	for v, want := range tests {
		if got := formatNumber(v); got != want {
			t.Errorf("formatNumber(%v) = %q, want %q", v, got, want)
		}
	}
}

func TestReportMarkdown(t *testing.T) {
	r := &Report{Topic: "x", Title: "A title", Repeats: "3", Machine: Machine{CPUs: 2, CPUModel: "cpu", MemoryGiB: 4}}
	s := r.section("Table", "")
	s.add("fast enough", "×", []float64{25, 21, 30}, AtLeast(20))
	s.add("too slow", "ms", []float64{12, 11, 13}, AtMost(10))
	s.add("plain", "count", []float64{1}, nil)
	md := r.Markdown()
	for _, want := range []string{
		"| fast enough | 21.0 | 25.0 | 30.0 | × | 3 | ≥ 20.0 | ✓ |",
		"| too slow | 11.0 | 12.0 | 13.0 | ms | 3 | ≤ 10.0 | ✗ |",
		"| plain | 1.00 | 1.00 | 1.00 | count | 1 |  |  |",
		"| machine | 2 × cpu, 4.0 GiB memory |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
}

func TestChartSVGIsWellFormed(t *testing.T) {
	charts := []Chart{
		{Title: "a <b> & c", Series: []Series{{Name: "s", Color: "#000", Points: []Point{{0, 1}, {1, 3}, {2, 2}}}},
			Refs: []Ref{{Label: "limit", Y: 2.5}}, Steps: true},
		{Title: "empty"},
		{Title: "one point", Series: []Series{{Name: "s", Color: "#000", Points: []Point{{5, 5}}}}},
	}
	for _, c := range charts {
		svg := c.SVG()
		dec := xml.NewDecoder(bytes.NewReader(svg))
		for {
			_, err := dec.Token()
			if err != nil {
				if err.Error() != "EOF" {
					t.Fatalf("%s: not well-formed XML: %v\n%s", c.Title, err, svg)
				}
				break
			}
		}
		if want := len(c.Series); bytes.Count(svg, []byte("<polyline")) != want && len(c.Series) > 0 {
			t.Errorf("%s: %d polylines, want %d", c.Title, bytes.Count(svg, []byte("<polyline")), want)
		}
		if bytes.Contains(svg, []byte("NaN")) || bytes.Contains(svg, []byte("Inf")) {
			t.Errorf("%s: SVG holds NaN or Inf:\n%s", c.Title, svg)
		}
	}
}

func TestNiceStep(t *testing.T) {
	for raw, want := range map[float64]float64{0.7: 1, 1.2: 2, 3: 5, 7: 10, 42: 50, 0: 1} {
		if got := niceStep(raw); got != want {
			t.Errorf("niceStep(%v) = %v, want %v", raw, got, want)
		}
	}
}

func TestMakeSlotsChangesATenthOfRows(t *testing.T) {
	date := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, n := range []int{5, 500} {
		a, b := makeSlots(7, date, n, 0), makeSlots(7, date, n, 1)
		changed := 0
		for i := range a {
			if a[i].Remaining != b[i].Remaining {
				changed++
			}
			for k := range a[i].PaxAvailability {
				if a[i].PaxAvailability[k] != b[i].PaxAvailability[k] {
					changed++
				}
			}
		}
		if want := n * rowsPerSlot / 10; changed != want {
			t.Errorf("%d slots: %d rows changed, want %d", n, changed, want)
		}
	}
}

// TestModelCapacity pins the model's two ends: with one band that a single
// worker keeps fresh, capacity is the slots in a period; and the default windows,
// with the budget going to the most often refreshed band first, keep as many
// products fresh as the budget holds: 278, less one for rounding at the edges.
func TestModelCapacity(t *testing.T) {
	slot := 2 * time.Second // 30 per minute
	if got := modelCapacity([]modelBand{{0, 0, 15 * time.Minute}}, 1, ratelimit.YieldSlots, slot, 1000); got != 450 {
		t.Errorf("one band of one day every 15m: capacity %d, want 450 (the slots in 15 minutes)", got)
	}
	got := modelCapacity(defaultModelBands(), 4, ratelimit.YieldSlots, slot, 300)
	t.Logf("default windows: model capacity %d", got)
	if got < 270 || got > 278 {
		t.Errorf("default windows, priority by interval: capacity %d, want 270 to 278 (the budget's theory)", got)
	}
}

func TestTheoryCapacity(t *testing.T) {
	bands := defaultModelBands()
	if got := perProductPerDay(bands); got != 155 {
		t.Errorf("requests per product a day = %d, want 96 + 6·6 + 23 = 155", got)
	}
	if got := theoryCapacity(bands, 30); got != 278 {
		t.Errorf("theory = %d, want 278", got)
	}
}

func TestPeriodMisses(t *testing.T) {
	start := time.Date(2027, 3, 1, 0, 0, 0, 0, time.UTC)
	today := horizon{name: "today", fromDay: 0, toDay: 0, every: 15 * time.Minute}
	week := horizon{name: "week", fromDay: 1, toDay: 6, every: 4 * time.Hour}
	h := newSyncHistory()
	day := func(d int) string { return start.AddDate(0, 0, d).Format(time.DateOnly) }
	// Product 1 today: synced in the first period and at the very start of the third.
	h.add(pairKey{1, day(0)}, start.Add(5*time.Minute))
	h.add(pairKey{1, day(0)}, start.Add(30*time.Minute))
	// Product 2 today: synced at the end of the first period, exclusive.
	h.add(pairKey{2, day(0)}, start.Add(15*time.Minute))
	tests := []struct {
		name                 string
		hz                   horizon
		from                 time.Time
		wantMissed, wantSeen int
	}{
		{"first period: product 2's sync belongs to the next", today, start, 1, 2},
		{"second period: product 1 missed it", today, start.Add(15 * time.Minute), 1, 2},
		{"third period: product 2 missed it", today, start.Add(30 * time.Minute), 1, 2},
		{"week: nothing synced", week, start, 12, 12},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			missed, checked := periodMisses(h, 2, tt.hz, tt.from, nil)
			if missed != tt.wantMissed || checked != tt.wantSeen {
				t.Errorf("missed %d of %d, want %d of %d", missed, checked, tt.wantMissed, tt.wantSeen)
			}
		})
	}
	// Product 2's date closed: a sync in the 24h before the period's end is
	// enough. At 00:15–00:30 its 00:15 sync is in the period anyway; at
	// 23:45 the 00:15 sync is under 24h old, and only the closed rule keeps
	// it from being missed (product 1, open, is missed at 23:45 either way).
	closed := func(p int64, _ time.Time) bool { return p == 2 }
	late := start.Add(23*time.Hour + 45*time.Minute)
	for _, tt := range []struct {
		from       time.Time
		closed     closedFunc
		wantMissed int
	}{{start.Add(15 * time.Minute), closed, 1}, {late, closed, 1}, {late, nil, 2}} {
		if missed, _ := periodMisses(h, 2, today, tt.from, tt.closed); missed != tt.wantMissed {
			t.Errorf("closed product 2, period from %s: missed %d, want %d", tt.from.Format("Jan 2 15:04"), missed, tt.wantMissed)
		}
	}
	if got := h.lastAt(pairKey{1, day(0)}, start.Add(20*time.Minute)); !got.Equal(start.Add(5 * time.Minute)) {
		t.Errorf("lastAt = %v, want the 00:05 sync", got)
	}
	h.add(pairKey{1, day(0)}, start.Add(30*time.Minute)) // a poll seeing the same value again
	if n := len(h.times[pairKey{1, day(0)}]); n != 2 {
		t.Errorf("%d syncs kept after a repeated value, want 2", n)
	}
}

func TestScaledClock(t *testing.T) {
	c := scaledClock{realStart: time.Now().Add(-time.Second), start: time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC), factor: 360}
	if got := c.Now().Sub(c.start); got < 6*time.Minute || got > 7*time.Minute {
		t.Errorf("a real second is %v scaled, want about 6 minutes", got)
	}
	if got := c.real(24 * time.Hour); got != 4*time.Minute {
		t.Errorf("a scaled day is %v real, want 4m", got)
	}
}

func TestRunRefusesCompressionBelowRealTime(t *testing.T) {
	err := Run(context.Background(), Options{Topics: []string{"capacity"}, OutDir: t.TempDir(), CapacityCompression: 0.5})
	if err == nil || !strings.Contains(err.Error(), "capacity compression 0.5") {
		t.Fatalf("Run with compression 0.5: %v, want an error naming it", err)
	}
}
