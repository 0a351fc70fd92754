package partnersim

import (
	"slices"
	"strings"
	"time"

	"github.com/slotsync/slotsync/internal/partner"
)

// ChangeKind says what changed in an answer; a change may carry several kinds.
type ChangeKind uint8

const (
	// ChangeRemaining: a slot's remaining count (or a passenger type's) moved.
	ChangeRemaining ChangeKind = 1 << iota
	// ChangePrice: a passenger type's price or discount moved.
	ChangePrice
	// ChangeSlotAppeared: a slot is in the answer that was not before.
	ChangeSlotAppeared
	// ChangeSlotVanished: a slot sold out, or the date became past.
	ChangeSlotVanished
	// ChangeFirstSlots: the date had no slots and now has some.
	ChangeFirstSlots
)

var kindNames = []string{"remaining", "price", "slot appeared", "slot vanished", "first slots"}

func (k ChangeKind) String() string {
	var names []string
	for i, name := range kindNames {
		if k&(1<<i) != 0 {
			names = append(names, name)
		}
	}
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

// Change is an instant at which a (product, date)'s answer differs from the
// answer just before it.
type Change struct {
	// At is in inventory time, the clock Inventory is asked at.
	At   time.Time
	Kind ChangeKind
}

// Changes lists every instant in (from, to] at which Inventory(productID, date, ·)
// differs from its value just before, in order, with what changed. Instants are
// in inventory time (the InventoryNow clock, compressed or not), like Inventory's.
//
// It is exact, not sampled: the answer is constant between the model's steps
// (each slot's 15-minute sales steps, the 6-hour price steps, the instant the
// date becomes past), so it is evaluated at those instants only and compared
// with the answer at the previous one.
func (s *Server) Changes(productID int64, date time.Time, from, to time.Time) []Change {
	var out []Change
	prev := s.Inventory(productID, date, from)
	for _, at := range s.steps(productID, date, from, to) {
		cur := s.Inventory(productID, date, at)
		if k := diff(prev, cur); k != 0 {
			out = append(out, Change{At: at, Kind: k})
		}
		prev = cur
	}
	return out
}

// steps are the instants in (from, to] at which the model may change the answer
// for productID on date, sorted and without duplicates.
func (s *Server) steps(productID int64, date time.Time, from, to time.Time) []time.Time {
	p, ok := s.products[productID]
	if !ok || !to.After(from) {
		return nil
	}
	y, m, d := date.Date()
	day := time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
	var ns []int64
	// Prices step on multiples of priceStep since the epoch, for every slot.
	ns = appendGrid(ns, 0, int64(priceStep), from, to)
	// The date answers empty from the UTC midnight that ends it.
	if past := day.AddDate(0, 0, 1); past.After(from) && !past.After(to) {
		ns = append(ns, past.UnixNano())
	}
	// A special opening gives the date its slots.
	if opens, ok := s.openingAt(p, day); ok && opens.After(from) && !opens.After(to) {
		ns = append(ns, opens.UnixNano())
	}
	// Each slot's sales step every salesStep from its opening to its start;
	// outside that span sold() is clamped and constant. The slot count is at
	// most 6: listing steps for slots a day lacks costs only evaluations.
	for i := range 6 {
		start := day.Add(time.Duration(p.firstStart+i*p.gap) * time.Minute)
		open := start.Add(-salesOpen)
		ns = appendGrid(ns, open.UnixNano(), int64(salesStep), maxTime(from, open.Add(-time.Nanosecond)), minTime(to, start))
	}
	slices.Sort(ns)
	ns = slices.Compact(ns)
	out := make([]time.Time, len(ns))
	for i, n := range ns {
		out[i] = time.Unix(0, n).UTC()
	}
	return out
}

// appendGrid appends the instants origin + k·step in (from, to].
func appendGrid(ns []int64, origin, step int64, from, to time.Time) []int64 {
	if !to.After(from) {
		return ns
	}
	k := floorDiv(from.UnixNano()-origin, step) + 1
	for t := origin + k*step; t <= to.UnixNano(); t += step {
		ns = append(ns, t)
	}
	return ns
}

// diff says what differs between two answers for one (product, date).
func diff(before, after []partner.Slot) ChangeKind {
	var k ChangeKind
	if len(before) == 0 && len(after) > 0 {
		k |= ChangeFirstSlots
	}
	old := make(map[string]partner.Slot, len(before))
	for _, s := range before {
		old[s.ProviderSlotID] = s
	}
	for _, s := range after {
		o, ok := old[s.ProviderSlotID]
		if !ok {
			k |= ChangeSlotAppeared
			continue
		}
		delete(old, s.ProviderSlotID)
		k |= diffSlot(o, s)
	}
	if len(old) > 0 {
		k |= ChangeSlotVanished
	}
	return k
}

// diffSlot compares two answers for one slot. Fields that the model derives
// from the slot's identity alone (times, names, limits) are compared too, as
// remaining or price by where they sit, so that no difference goes unreported.
func diffSlot(a, b partner.Slot) ChangeKind {
	var k ChangeKind
	if a.Remaining != b.Remaining || len(a.PaxAvailability) != len(b.PaxAvailability) {
		k |= ChangeRemaining
	}
	if a.StartDate != b.StartDate || a.StartTime != b.StartTime || a.EndTime != b.EndTime ||
		a.CurrencyCode != b.CurrencyCode || a.VariantID != b.VariantID {
		k |= ChangeRemaining
	}
	for i := range min(len(a.PaxAvailability), len(b.PaxAvailability)) {
		pa, pb := a.PaxAvailability[i], b.PaxAvailability[i]
		if pa.Price != pb.Price {
			k |= ChangePrice
		}
		pa.Price, pb.Price = partner.Price{}, partner.Price{}
		if pa != pb {
			k |= ChangeRemaining
		}
	}
	return k
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
