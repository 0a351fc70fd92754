package partnersim

import (
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"regexp"
	"testing"
	"time"

	"github.com/slotsync/slotsync/internal/partner"
)

var (
	monday = time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)
	// before is an instant well before the dates the tests ask for.
	before = time.Date(2026, 11, 20, 8, 0, 0, 0, time.UTC)
)

func TestInventoryDeterministic(t *testing.T) {
	a, b := New(Config{Seed: 7, Count: 30}), New(Config{Seed: 7, Count: 30})
	for id := int64(1); id <= 30; id++ {
		for d := range 14 {
			date := monday.AddDate(0, 0, d)
			x, y := a.Inventory(id, date, before), b.Inventory(id, date, before)
			if !reflect.DeepEqual(x, y) {
				t.Fatalf("product %d on %s: two servers with the same seed differ", id, date.Format(partner.DateLayout))
			}
			if z := a.Inventory(id, date, before); !reflect.DeepEqual(x, z) {
				t.Fatalf("product %d on %s: repeated call differs", id, date.Format(partner.DateLayout))
			}
		}
	}
	other := New(Config{Seed: 8, Count: 30})
	same := true
	for id := int64(1); id <= 30 && same; id++ {
		same = reflect.DeepEqual(a.Inventory(id, monday, before), other.Inventory(id, monday, before))
	}
	if same {
		t.Error("seeds 7 and 8 give the same inventory for every product")
	}
}

func TestInventoryDayPatterns(t *testing.T) {
	for _, seed := range []int64{0, 1, 42} {
		sim := New(Config{Seed: seed})
		for d := range 8 * 7 {
			date := monday.AddDate(0, 0, d)
			wd := date.Weekday()
			want14 := wd == time.Monday || wd == time.Tuesday || wd == time.Wednesday
			if got := len(sim.Inventory(ProductMonToWed, date, before)) > 0; got != want14 {
				t.Errorf("seed %d: product 14 on %s %s has slots = %v, want %v", seed, wd, date.Format(partner.DateLayout), got, want14)
			}
			if got := len(sim.Inventory(ProductSundays, date, before)) > 0; got != (wd == time.Sunday) {
				t.Errorf("seed %d: product 15 on %s %s has slots = %v", seed, wd, date.Format(partner.DateLayout), got)
			}
		}
	}
}

func TestInventoryProducts(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want []int64
	}{
		{"default", Config{}, []int64{14, 15}},
		{"count below 14", Config{Count: 3}, []int64{1, 2, 3, 14, 15}},
		{"count 16", Config{Count: 16}, []int64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}},
		{"explicit", Config{Products: []int64{99, 7}, Count: 50}, []int64{7, 14, 15, 99}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := New(tt.cfg).Products(); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Products() = %v, want %v", got, tt.want)
			}
		})
	}
	if got := New(Config{}).Inventory(99, monday, before); got == nil || len(got) != 0 {
		t.Errorf("unknown product: got %v, want an empty non-nil answer", got)
	}
}

func TestInventoryShape(t *testing.T) {
	sim := New(Config{Seed: 3, Count: 40})
	decimal := regexp.MustCompile(`^[0-9]+\.[0-9]{2}$`)
	days := 0
	for id := int64(1); id <= 40; id++ {
		for d := range 7 {
			date := monday.AddDate(0, 0, d)
			slots := sim.Inventory(id, date, before)
			if len(slots) == 0 {
				continue
			}
			days++
			if len(slots) > 6 {
				t.Errorf("product %d on %s: %d slots, want at most 6", id, date.Format(partner.DateLayout), len(slots))
			}
			body, err := json.Marshal(slots)
			if err != nil {
				t.Fatal(err)
			}
			decoded, err := partner.Decode(body, id, date)
			if err != nil {
				t.Fatalf("product %d on %s: the simulator's answer does not decode: %v", id, date.Format(partner.DateLayout), err)
			}
			if !reflect.DeepEqual(decoded, slots) {
				t.Errorf("product %d on %s: decoded answer differs from the simulator's", id, date.Format(partner.DateLayout))
			}
			for _, s := range slots {
				for _, p := range s.PaxAvailability {
					for _, amount := range []partner.Decimal{p.Price.FinalPrice, p.Price.OriginalPrice, p.Price.Discount} {
						if !decimal.MatchString(string(amount)) {
							t.Errorf("slot %s %s: amount %q is not a decimal with 2 fraction digits", s.ProviderSlotID, p.Type, amount)
						}
					}
				}
				if p := s.PaxAvailability[0]; p.Type != "ADULT" || !p.IsPrimary {
					t.Errorf("slot %s: first pax %q primary=%v, want the primary ADULT", s.ProviderSlotID, p.Type, p.IsPrimary)
				}
			}
		}
	}
	if days == 0 {
		t.Fatal("no product has slots in the week")
	}
}

func TestInventoryPast(t *testing.T) {
	sim := New(Config{Seed: 1})
	at := monday.Add(36 * time.Hour) // Tuesday noon
	if got := sim.Inventory(ProductMonToWed, monday, at); len(got) != 0 {
		t.Errorf("yesterday: %d slots, want none", len(got))
	}
	if got := sim.Inventory(ProductMonToWed, monday.AddDate(0, 0, 1), at); len(got) == 0 {
		t.Error("today: no slots")
	}
}

// TestInventoryChangesOverTime checks that within one simulated day slots sell out
// and leave the answer, counts fall and prices move, while slot ids stay stable.
func TestInventoryChangesOverTime(t *testing.T) {
	sim := New(Config{Seed: 1, Count: 20})
	from := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	to := from.Add(24 * time.Hour)
	var gone, fell, repriced int
	for id := int64(1); id <= 20; id++ {
		for d := range 10 {
			date := from.AddDate(0, 0, d)
			later := map[string]partner.Slot{}
			for _, s := range sim.Inventory(id, date, to) {
				later[s.ProviderSlotID] = s
			}
			for _, s := range sim.Inventory(id, date, from) {
				l, ok := later[s.ProviderSlotID]
				switch {
				case !ok:
					gone++
				case l.Remaining > s.Remaining:
					t.Errorf("slot %s: remaining rose from %d to %d", s.ProviderSlotID, s.Remaining, l.Remaining)
				case l.Remaining < s.Remaining:
					fell++
				}
				if ok && l.PaxAvailability[0].Price != s.PaxAvailability[0].Price {
					repriced++
				}
			}
			if len(later) > 0 && len(sim.Inventory(id, date, from)) == 0 {
				t.Errorf("product %d on %s: slots appeared", id, date.Format(partner.DateLayout))
			}
		}
	}
	if gone == 0 || fell == 0 || repriced == 0 {
		t.Errorf("within a day: %d slots sold out, %d fell, %d repriced; want some of each", gone, fell, repriced)
	}
}

func TestInventoryPriceSteps(t *testing.T) {
	sim := New(Config{Seed: 1})
	date := monday.AddDate(0, 0, 7)
	step := time.Date(2026, 11, 26, 6, 0, 0, 0, time.UTC) // a 6h boundary
	later := map[string]partner.Slot{}
	for _, s := range sim.Inventory(ProductMonToWed, date, step.Add(6*time.Hour-time.Nanosecond)) {
		later[s.ProviderSlotID] = s
	}
	for _, s := range sim.Inventory(ProductMonToWed, date, step) {
		if l, ok := later[s.ProviderSlotID]; ok && !reflect.DeepEqual(l.PaxAvailability[0].Price, s.PaxAvailability[0].Price) {
			t.Errorf("slot %s: price moved within one 6h step", s.ProviderSlotID)
		}
	}
}

// TestServedInventoryDecodes checks what goes over the wire, not just the Go value.
func TestServedInventoryDecodes(t *testing.T) {
	sim := New(Config{Seed: 11, Count: 25, Limit: -1, Now: func() time.Time { return before }})
	ts := start(t, sim)
	for _, id := range sim.Products() {
		for d := range 7 {
			date := monday.AddDate(0, 0, d)
			a := get(t, ts, fmt.Sprintf("/api/v1/inventory/%d?date=%s", id, date.Format(partner.DateLayout)), "dev-key")
			if a.status != http.StatusOK {
				t.Fatalf("product %d on %s: status %d", id, date.Format(partner.DateLayout), a.status)
			}
			got, err := partner.Decode([]byte(a.body), id, date)
			if err != nil {
				t.Fatalf("product %d on %s: %v", id, date.Format(partner.DateLayout), err)
			}
			if want := sim.Inventory(id, date, before); !reflect.DeepEqual(got, want) {
				t.Errorf("product %d on %s: served answer differs from Inventory", id, date.Format(partner.DateLayout))
			}
		}
	}
}

// TestInventoryAllOpen checks that AllOpen opens every weekday of every
// product, the reference ones too, and that the default catalogue is mixed.
func TestInventoryAllOpen(t *testing.T) {
	open := New(Config{Seed: 3, Count: 40, AllOpen: true})
	mixed := New(Config{Seed: 3, Count: 40})
	closedDays := 0
	for id := int64(1); id <= 40; id++ {
		if got := open.OpenWeekdays(id); got != 7 {
			t.Errorf("AllOpen: product %d opens %d weekdays, want 7", id, got)
		}
		closedDays += 7 - mixed.OpenWeekdays(id)
		for d := range 7 {
			date := monday.AddDate(0, 0, d)
			if len(open.Inventory(id, date, before)) == 0 {
				t.Errorf("AllOpen: product %d has no slots on %s", id, date.Weekday())
			}
			if got, want := len(mixed.Inventory(id, date, before)) > 0, mixed.OpenOn(id, date.Weekday()); got != want {
				t.Errorf("mixed: product %d on %s has slots = %v, its pattern says %v", id, date.Weekday(), got, want)
			}
		}
	}
	if closedDays == 0 {
		t.Error("the default catalogue has no closed weekday")
	}
	if got := mixed.OpenWeekdays(ProductMonToWed); got != 3 {
		t.Errorf("product 14 opens %d weekdays, want 3", got)
	}
	if got := mixed.OpenWeekdays(999); got != 0 {
		t.Errorf("unknown product opens %d weekdays, want 0", got)
	}
}
