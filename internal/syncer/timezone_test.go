package syncer_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/slotsync/slotsync/internal/partnersim"
	"github.com/slotsync/slotsync/internal/store"
)

// TestSyncRecordsItsTimeZone: every worker of a run records, for every product
// of the run, the zone it counts days in (the API counts "today" by it); a
// worker without one counts in UTC and says so.
func TestSyncRecordsItsTimeZone(t *testing.T) {
	t.Parallel()
	start := time.Date(2026, 11, 30, 8, 0, 0, 0, time.UTC)
	e := newEnv(t, partnersim.Config{Seed: 3, Limit: -1}, start)
	ctx := context.Background()
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatalf("time zone data: %v", err)
	}
	zoneOf := func(p int64) string {
		t.Helper()
		tz, err := e.db.ProductTimeZone(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		return tz
	}

	cfg := e.config([]int64{14, 15}, 0, 0) // one pair per shard
	cfg.Location, cfg.ShardCount, cfg.ShardIndex = berlin, 2, 1
	if _, err := e.worker(t).Run(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	if z14, z15 := zoneOf(14), zoneOf(15); z14 != "Europe/Berlin" || z15 != "Europe/Berlin" {
		t.Errorf("zones %q and %q after a run in Europe/Berlin", z14, z15)
	}
	if _, err := e.worker(t).Run(ctx, e.config([]int64{14}, 0, 0)); err != nil {
		t.Fatal(err)
	}
	if z14, z15 := zoneOf(14), zoneOf(15); z14 != "UTC" || z15 != "Europe/Berlin" {
		t.Errorf("zones %q and %q after a run of 14 without a zone, want UTC and Europe/Berlin", z14, z15)
	}

	// The zone only helps the API count days: failing to record it fails no pair.
	w := e.worker(t)
	w.Writer = failingZones{e.db}
	if sum, err := w.Run(ctx, e.config([]int64{14}, 0, 2)); err != nil || sum.PairsOK != 3 {
		t.Fatalf("a run that cannot record its zone: %v (%s)", err, sum.Line())
	}
	e.requireTruth(t, []int64{14}, 0, 2)
}

// failingZones is the store, except that it cannot record time zones.
type failingZones struct{ *store.Store }

func (failingZones) RecordTimeZone(context.Context, []int64, string) error {
	return errors.New("no such table")
}
