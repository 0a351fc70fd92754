package bench

import (
	"context"
	"testing"
	"time"
)

// TestCapacityShortDay is the capacity benchmark's short version, for CI: 450
// products on one 30/min key over the first 4h15m of a scaled day (one whole
// period of the week band and the start of the next), at a compression that a
// busy machine keeps up with. Demand-aware polling keeps every band's periods
// and today's changes within 15 minutes; uniform polling at the same count
// misses today's periods. The full day, the searches and the all-open
// catalogue are `make bench`'s.
func TestCapacityShortDay(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	h, err := newHarness(ctx, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer h.close()
	cfg := capacityConfig{factor: 180, span: 4*time.Hour + 15*time.Minute}

	adaptive, err := capacityOnce(ctx, h, capCase{products: adaptiveGoal, adaptive: true}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s: fresh %v, missed %v of %v, planned out %s, today p99 %s", adaptive.label(),
		adaptive.fresh, adaptive.missed, adaptive.checked, sharesText(adaptive.plannedShares()), adaptive.latency["today"].p99())
	if !adaptive.fresh {
		t.Errorf("%s: stale after %s: periods missed %v", adaptive.label(), adaptive.verdict, adaptive.missed)
	}
	if adaptive.checked["week"] == 0 {
		t.Errorf("%s: no week period was checked in %s", adaptive.label(), cfg.span)
	}
	today := adaptive.latency["today"]
	if len(today.detected) == 0 {
		t.Errorf("%s: no change of today's inventory was caught", adaptive.label())
	} else if p99 := today.p99(); p99 > 15*time.Minute {
		t.Errorf("%s: today's p99 change-detection latency %s, want at most its band's 15m", adaptive.label(), p99)
	}
	for band, atLeast := range map[string]float64{"today": 0.3, "week": 0.15} {
		if got := adaptive.plannedShares()[band]; got < atLeast {
			t.Errorf("%s: %s band planned out %.3f of its pairs, want at least %.1f: the plan learned nothing", adaptive.label(), band, got, atLeast)
		}
	}

	uniform, err := capacityOnce(ctx, h, capCase{products: adaptiveGoal}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s: fresh %v after %s, missed %v", uniform.label(), uniform.fresh, uniform.verdict, uniform.missed)
	if uniform.fresh || uniform.missed["today"] == 0 {
		t.Errorf("%s: fresh %v, today periods missed %d; the key's budget cannot fetch every pair at every interval, so it must miss today's", uniform.label(), uniform.fresh, uniform.missed["today"])
	}
}
