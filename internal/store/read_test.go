package store_test

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/slotsync/slotsync/internal/partner"
	"github.com/slotsync/slotsync/internal/store"
)

func TestReadNeverSynced(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	s, _ := newStore(t)

	if _, err := s.ReadSnapshot(ctx, product, day); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("reading a product never synced: %v, want ErrNotFound", err)
	}
	if known, err := s.ProductKnown(ctx, product); err != nil || known {
		t.Errorf("ProductKnown = %v, %v before any sync", known, err)
	}

	write(t, s, nil, instant(0)) // a day without slots still makes the product known
	if known, err := s.ProductKnown(ctx, product); err != nil || !known {
		t.Errorf("ProductKnown = %v, %v after a sync", known, err)
	}
	snap := read(t, s)
	if snap.SyncedAt == nil || snap.Slots == nil || len(snap.Slots) != 0 {
		t.Errorf("a synced day without slots reads as %+v", snap)
	}
	other, err := s.ReadSnapshot(ctx, product, day.AddDate(0, 0, 1))
	if err != nil || other.SyncedAt != nil || len(other.Slots) != 0 {
		t.Errorf("a day never synced of a known product reads as %+v, %v", other, err)
	}
}

func TestSyncedByRun(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	s, _ := newStore(t)
	d1, d2, d3, d4 := day, day.AddDate(0, 0, 1), day.AddDate(0, 0, 2), day.AddDate(0, 0, 3)
	for _, w := range []struct {
		date time.Time
		run  string
	}{{d1, "run-a"}, {d2, "run-b"}, {d3, ""}, {d4, "run-b"}, {d4, "run-a"}} {
		if _, err := s.WriteSnapshot(store.WithRunID(ctx, w.run), product, w.date, answerA(), instant(0)); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.SyncedByRun(ctx, product, []time.Time{d1, d2, d3, d4}, "run-a")
	if err != nil {
		t.Fatal(err)
	}
	// d4 was last written, unchanged, by run-a: the run of the last write counts.
	if want := map[string]bool{"2026-12-01": true, "2026-12-04": true}; !reflect.DeepEqual(got, want) {
		t.Errorf("SyncedByRun = %v, want %v", got, want)
	}
	if got, _ := s.SyncedByRun(ctx, product+1, []time.Time{d1}, "run-a"); len(got) != 0 {
		t.Errorf("another product's pairs count as synced: %v", got)
	}
}

func TestInvalidAnswerWritesNothing(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	tests := []struct {
		name   string
		mangle func(a []partner.Slot) []partner.Slot
	}{
		{"duplicated providerSlotId", func(a []partner.Slot) []partner.Slot { return append(a, a[0]) }},
		{"duplicated pax type", func(a []partner.Slot) []partner.Slot {
			a[0].PaxAvailability = append(a[0].PaxAvailability, a[0].PaxAvailability[0])
			return a
		}},
		{"empty providerSlotId", func(a []partner.Slot) []partner.Slot { a[1].ProviderSlotID = ""; return a }},
		{"negative remaining", func(a []partner.Slot) []partner.Slot { a[1].Remaining = -1; return a }},
		{"missing final price", func(a []partner.Slot) []partner.Slot {
			a[0].PaxAvailability[0].Price.FinalPrice = ""
			return a
		}},
		{"exponent in a price", func(a []partner.Slot) []partner.Slot {
			a[0].PaxAvailability[0].Price.OriginalPrice = "1e3"
			return a
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.WriteSnapshot(testContext(t), product, day, tt.mangle(answerA()), instant(0))
			if !errors.Is(err, store.ErrInvalidSnapshot) {
				t.Errorf("err = %v, want ErrInvalidSnapshot", err)
			}
		})
	}
	if known, err := s.ProductKnown(testContext(t), product); err != nil || known {
		t.Errorf("invalid answers left a trace: known = %v, %v", known, err)
	}
}

func TestRedactURL(t *testing.T) {
	tests := []struct {
		name, url, want string
	}{
		{"user and password", "postgres://slotsync:hunter2@db.example:5432/slotsync?sslmode=require", "postgres://db.example:5432/slotsync"},
		{"no credentials", "postgresql://db/inventory", "postgresql://db/inventory"},
		{"keyword form", "host=db password=hunter2", "(database URL not shown)"},
		{"unparsable", "postgres://u:hunter2@db:5432/%zz", "(database URL not shown)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := store.RedactURL(tt.url); got != tt.want {
				t.Errorf("RedactURL = %q, want %q", got, tt.want)
			}
		})
	}
}
