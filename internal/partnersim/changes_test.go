package partnersim

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/slotsync/slotsync/internal/partner"
)

// TestChangesMatchBruteForce samples Inventory every minute over two simulated
// days and requires the instants where the answer changes to be exactly those
// Changes reports. Every step of the model falls on a whole minute, so sampling
// by the minute sees every change at its instant.
func TestChangesMatchBruteForce(t *testing.T) {
	sim := New(Config{Seed: 3, Count: 6})
	// Not on any step: a Saturday morning, two days before monday.
	from := time.Date(2026, 11, 28, 5, 7, 0, 0, time.UTC)
	to := from.Add(48 * time.Hour)
	products := []int64{1, 2, 3, 4, 5, 6, ProductMonToWed, ProductSundays, 99 /* unknown */}
	dates := []time.Time{
		monday.AddDate(0, 0, -2), // Saturday: becomes past within the span
		monday.AddDate(0, 0, -1), // Sunday: product 15's day, past within the span
		monday,                   // product 14's day, on sale during the span
		monday.AddDate(0, 0, 3),  // Thursday: product 14 and 15 closed
		monday.AddDate(0, 0, 6),  // Sunday: sales open during the span
		monday.AddDate(0, 0, 14), // far ahead: prices only
	}
	seen := ChangeKind(0)
	for _, id := range products {
		for _, date := range dates {
			name := fmt.Sprintf("product %d on %s", id, date.Format(partner.DateLayout))
			got := sim.Changes(id, date, from, to)
			want := bruteForceChanges(sim, id, date, from, to, time.Minute)
			if !slices.Equal(instants(got), want) {
				t.Errorf("%s: Changes at %v,\nbrute force at %v", name, instants(got), want)
			}
			for _, c := range got {
				if c.Kind == 0 {
					t.Errorf("%s: change at %s without a kind", name, c.At)
				}
				seen |= c.Kind
			}
		}
	}
	// The span must exercise what the model does, or the comparison proves little.
	for _, k := range []ChangeKind{ChangeRemaining, ChangePrice, ChangeSlotVanished} {
		if seen&k == 0 {
			t.Errorf("no change of kind %s in the span: choose other dates", k)
		}
	}
}

// bruteForceChanges samples the answer every step in (from, to].
func bruteForceChanges(sim *Server, id int64, date, from, to time.Time, step time.Duration) []time.Time {
	var out []time.Time
	prev := sim.Inventory(id, date, from)
	for at := from.Add(step); !at.After(to); at = at.Add(step) {
		cur := sim.Inventory(id, date, at)
		if !reflect.DeepEqual(prev, cur) {
			out = append(out, at)
		}
		prev = cur
	}
	return out
}

func instants(cs []Change) []time.Time {
	out := make([]time.Time, len(cs))
	for i, c := range cs {
		out[i] = c.At
	}
	return out
}

// TestChangesAreExactInstants checks the instants are the model's steps to the
// nanosecond: the answer differs from the one a nanosecond before.
func TestChangesAreExactInstants(t *testing.T) {
	sim := New(Config{Seed: 3})
	from := monday.AddDate(0, 0, -1)
	changes := sim.Changes(ProductMonToWed, monday, from, monday.Add(30*time.Hour))
	if len(changes) == 0 {
		t.Fatal("no changes on product 14's Monday around it")
	}
	for _, c := range changes {
		before := sim.Inventory(ProductMonToWed, monday, c.At.Add(-time.Nanosecond))
		if reflect.DeepEqual(before, sim.Inventory(ProductMonToWed, monday, c.At)) {
			t.Errorf("change at %s: the answer equals the one a nanosecond before", c.At)
		}
	}
	if last := changes[len(changes)-1]; !last.At.Equal(monday.AddDate(0, 0, 1)) || last.Kind != ChangeSlotVanished {
		t.Errorf("last change %s (%s), want the slots vanishing at the next UTC midnight", last.At, last.Kind)
	}
}

// TestChangesOnCompressedClock checks that Changes speaks inventory time: a
// server whose inventory clock is injected answers over HTTP a nanosecond
// before a change as Inventory did, and at the change with the new answer.
func TestChangesOnCompressedClock(t *testing.T) {
	clk := &fakeClock{}
	sim := New(Config{Seed: 3, InventoryNow: clk.Now, Limit: -1})
	ts := start(t, sim)
	changes := sim.Changes(ProductMonToWed, monday, monday.AddDate(0, 0, -2), monday)
	if len(changes) == 0 {
		t.Fatal("no changes before product 14's Monday")
	}
	c := changes[len(changes)/2]
	served := func(at time.Time) []partner.Slot {
		clk.Set(at)
		a := get(t, ts, "/api/v1/inventory/14?date="+monday.Format(partner.DateLayout), "dev-key")
		var slots []partner.Slot
		if err := json.Unmarshal([]byte(a.body), &slots); err != nil {
			t.Fatalf("status %d: %v", a.status, err)
		}
		return slots
	}
	before, after := served(c.At.Add(-time.Nanosecond)), served(c.At)
	if reflect.DeepEqual(before, after) {
		t.Fatalf("served the same answer a nanosecond before and at the change at %s", c.At)
	}
	if !reflect.DeepEqual(after, sim.Inventory(ProductMonToWed, monday, c.At)) {
		t.Errorf("served answer at the change differs from Inventory at %s", c.At)
	}
}

func TestDiffKinds(t *testing.T) {
	slot := func(id string, remaining int, price string) partner.Slot {
		return partner.Slot{ProviderSlotID: id, Remaining: remaining, PaxAvailability: []partner.PaxAvailability{
			{Type: "ADULT", Remaining: remaining, Price: partner.Price{FinalPrice: partner.Decimal(price)}},
		}}
	}
	a, b := slot("a", 5, "10.00"), slot("b", 3, "12.00")
	for _, tc := range []struct {
		name          string
		before, after []partner.Slot
		want          ChangeKind
	}{
		{"same", []partner.Slot{a, b}, []partner.Slot{a, b}, 0},
		{"remaining", []partner.Slot{a}, []partner.Slot{slot("a", 4, "10.00")}, ChangeRemaining},
		{"price", []partner.Slot{a}, []partner.Slot{slot("a", 5, "11.00")}, ChangePrice},
		{"both", []partner.Slot{a}, []partner.Slot{slot("a", 4, "11.00")}, ChangeRemaining | ChangePrice},
		{"vanished", []partner.Slot{a, b}, []partner.Slot{a}, ChangeSlotVanished},
		{"appeared", []partner.Slot{a}, []partner.Slot{a, b}, ChangeSlotAppeared},
		{"first", nil, []partner.Slot{a}, ChangeFirstSlots | ChangeSlotAppeared},
		{"all gone", []partner.Slot{a, b}, []partner.Slot{}, ChangeSlotVanished},
	} {
		if got := diff(tc.before, tc.after); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.name, got, tc.want)
		}
	}
}

// TestOpeningsGiveFirstSlots: with special openings, a share of the dates on a
// product's closed weekdays gain their slots at one instant within the week
// before them, which Changes reports as first slots where brute force sees
// the answer change; without them, closed dates stay empty.
func TestOpeningsGiveFirstSlots(t *testing.T) {
	const perMille = 200
	with := New(Config{Seed: 3, Count: 40, OpeningsPerMille: perMille})
	without := New(Config{Seed: 3, Count: 40})
	closed, opened := 0, 0
	for id := int64(1); id <= 40; id++ {
		for d := range 28 {
			date := monday.AddDate(0, 0, 7+d)
			if with.OpenOn(id, date.Weekday()) {
				continue
			}
			closed++
			// From before any opening to the date itself, on the minute.
			from, to := date.AddDate(0, 0, -8).Add(7*time.Minute), date.Add(-time.Minute)
			if got := without.Changes(id, date, from, to); len(got) != 0 || len(without.Inventory(id, date, to)) != 0 {
				t.Fatalf("product %d on %s without openings: changes %v, slots %d; want none", id, date.Format(time.DateOnly), got, len(without.Inventory(id, date, to)))
			}
			if len(with.Inventory(id, date, to)) == 0 {
				continue
			}
			opened++
			if len(with.Inventory(id, date, from)) != 0 {
				t.Errorf("product %d on %s: slots more than 7 days before the date", id, date.Format(time.DateOnly))
			}
			got := with.Changes(id, date, from, to)
			if len(got) == 0 || got[0].Kind&ChangeFirstSlots == 0 {
				t.Fatalf("product %d on %s opened, but its first change is %v", id, date.Format(time.DateOnly), got)
			}
			if opened <= 5 { // brute force costs a minute-by-minute scan
				if want := bruteForceChanges(with, id, date, from, to, time.Minute); !slices.Equal(instants(got), want) {
					t.Errorf("product %d on %s: Changes at %v,\nbrute force at %v", id, date.Format(time.DateOnly), instants(got), want)
				}
			}
		}
	}
	share := float64(opened) / float64(closed)
	t.Logf("%d of %d closed dates opened (%.1f%%)", opened, closed, 100*share)
	if closed < 200 || share < 0.1 || share > 0.3 {
		t.Errorf("%d of %d closed dates opened; want about %d per mille of several hundred", opened, closed, perMille)
	}
}
