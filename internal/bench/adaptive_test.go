package bench

import (
	"strings"
	"testing"
	"time"

	"github.com/slotsync/slotsync/internal/syncer"
)

func TestParseCapCase(t *testing.T) {
	good := map[string]capCase{
		"adaptive-450":         {products: 450, adaptive: true, wholeSpan: true},
		"uniform-276":          {products: 276, wholeSpan: true},
		"uniform-open-276":     {products: 276, allOpen: true, wholeSpan: true},
		"adaptive-open-276":    {products: 276, adaptive: true, allOpen: true, wholeSpan: true},
		"uniform-openings-276": {products: 276, openings: true, wholeSpan: true},
	}
	for in, want := range good {
		if got, err := parseCapCase(in); err != nil || got != want {
			t.Errorf("parseCapCase(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	for _, in := range []string{"450", "adaptive", "adaptive-0", "fast-450", "adaptive-shut-450", "adaptive-open-x", "a-b-c-450"} {
		if c, err := parseCapCase(in); err == nil {
			t.Errorf("parseCapCase(%q) = %+v, want an error", in, c)
		}
	}
}

// TestCapCaseLabel: rows of demand-aware polling begin with "demand-aware"
// and carry the product count, as the issue asks of the report.
func TestCapCaseLabel(t *testing.T) {
	for c, want := range map[capCase]string{
		{products: 450, adaptive: true}:                 "demand-aware 450 products",
		{products: 276}:                                 "uniform 276 products",
		{products: 276, allOpen: true, adaptive: true}:  "demand-aware 276 products, all-open catalogue",
		{products: 276, openings: true, adaptive: true}: "demand-aware 276 products, special openings",
	} {
		if got := c.label(); got != want {
			t.Errorf("label of %+v = %q, want %q", c, got, want)
		}
	}
}

func TestCDFPoints(t *testing.T) {
	var lat []time.Duration
	for i := 1; i <= 1000; i++ {
		lat = append(lat, time.Duration(i)*time.Minute)
	}
	pts := cdfPoints(lat, 100)
	if len(pts) > 101 || len(pts) < 100 {
		t.Errorf("%d points, want about 100", len(pts))
	}
	if first := pts[0]; first.X != 1 || first.Y != 0.001 {
		t.Errorf("first point %+v, want {1 0.001}", first)
	}
	if last := pts[len(pts)-1]; last.X != 1000 || last.Y != 1 {
		t.Errorf("last point %+v, want {1000 1}", last)
	}
	for i := 1; i < len(pts); i++ {
		if pts[i].X < pts[i-1].X || pts[i].Y <= pts[i-1].Y {
			t.Fatalf("points %d and %d not increasing: %+v %+v", i-1, i, pts[i-1], pts[i])
		}
	}
	if got := cdfPoints(lat[:1], 100); len(got) != 1 || got[0].Y != 1 {
		t.Errorf("one latency: %+v, want one point at 1", got)
	}
}

// TestCatalogueMix: the description counts every product once.
func TestCatalogueMix(t *testing.T) {
	mix := catalogueMix(450)
	if !strings.Contains(mix, "products 1–450 (seed 0)") || !strings.Contains(mix, "open 7 weekdays") {
		t.Fatalf("mix %q", mix)
	}
	t.Log(mix)
}

// TestPlannedShares: per band, planned out ÷ covered; a band without pairs
// has no share.
func TestPlannedShares(t *testing.T) {
	r := capRun{planned: map[string]int{"today": 30, "week": 0}, pairs: map[string]int{"today": 120, "week": 50, "month": 0}}
	got := r.plannedShares()
	if got["today"] != 0.25 || got["week"] != 0 || len(got) != 2 {
		t.Errorf("shares %v, want today 0.25, week 0, no month", got)
	}
}

// TestSeedOffset: the learning pass's checks fall in the day before, spread
// over it (each hour of it holds some).
func TestSeedOffset(t *testing.T) {
	hours := map[int]int{}
	day := time.Date(2027, 1, 4, 0, 0, 0, 0, time.UTC)
	for _, p := range syncer.Pairs(productIDs(450), day, 0, seedHorizon-1) {
		off := seedOffset(p)
		if off <= 0 || off > 24*time.Hour {
			t.Fatalf("%s: offset %s outside (0, 24h]", p, off)
		}
		hours[int((off-time.Nanosecond)/time.Hour)]++
	}
	for h := range 24 {
		if n := hours[h]; n < 13500/24/2 {
			t.Errorf("hour %d before the day holds %d of 13500 checks, want about %d", h, n, 13500/24)
		}
	}
}
