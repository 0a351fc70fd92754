package partnersim

import (
	"fmt"
	"time"

	"github.com/slotsync/slotsync/internal/partner"
)

// The reference products of the partner's documentation keep their day patterns
// whatever the seed.
const (
	// ProductMonToWed has slots Monday to Wednesday.
	ProductMonToWed int64 = 14
	// ProductSundays has slots on Sundays.
	ProductSundays int64 = 15
)

const (
	// salesOpen is how long before a slot starts it goes on sale.
	salesOpen = 7 * 24 * time.Hour
	// salesStep is the granularity of sales: remaining counts change at most this often.
	salesStep = 15 * time.Minute
	// priceStep is how often prices move; steps are aligned to the Unix epoch.
	priceStep = 6 * time.Hour
	currency  = "EUR"
)

// product is what the seed decides about a product once, independent of dates.
type product struct {
	id         int64
	weekdays   [7]bool // indexed by time.Weekday
	firstStart int     // minutes after midnight of the first slot
	gap        int     // minutes between slot starts
	duration   int     // minutes
	child      bool
	infant     bool
	adultCents int64 // base price of an adult
}

func newProduct(seed, id int64) product {
	p := product{id: id}
	switch id {
	case ProductMonToWed:
		p.weekdays[time.Monday], p.weekdays[time.Tuesday], p.weekdays[time.Wednesday] = true, true, true
	case ProductSundays:
		p.weekdays[time.Sunday] = true
	default:
		mask := mix(tagWeekdays, uint64(seed), uint64(id))%127 + 1 // at least one day
		for d := range p.weekdays {
			p.weekdays[d] = mask&(1<<d) != 0
		}
	}
	h := mix(tagSchedule, uint64(seed), uint64(id))
	p.firstStart = 8*60 + int(h%5)*30 // 08:00 .. 10:00
	p.gap = []int{60, 90, 120}[h/5%3]
	p.duration = []int{45, 60}[h/15%2]
	if p.gap >= 90 && h/30%2 == 0 {
		p.duration = 90
	}
	hp := mix(tagPax, uint64(seed), uint64(id))
	isReference := id == ProductMonToWed || id == ProductSundays
	p.child = isReference || hp%5 != 0
	p.infant = isReference || hp/5%2 == 0
	p.adultCents = 2000 + int64(mix(tagPrice, uint64(seed), uint64(id))%201)*50 // 20.00 .. 120.00
	return p
}

// Inventory is the partner's answer for productID on date (its calendar date as
// given, in the product's local time) when asked at the instant at. It is a pure
// function of the seed, the arguments and the set of products:
//
//   - A product has 3 to 6 slots on each day of its weekday pattern, and on the
//     dates of its special openings (Config.OpeningsPerMille) from the opening
//     on; dates before the UTC date of at and unknown products have none.
//   - A slot goes on sale 7 days before it starts and sells along a curve that
//     steepens towards the start; about a third of the slots sell out, most of
//     them in their last days. Remaining counts change every 15 minutes; a slot
//     with nothing left is not in the answer.
//   - Prices move by up to ±5% every 6 hours (steps aligned to the Unix epoch),
//     and some steps carry a 10% discount. Amounts are computed in integer cents.
func (s *Server) Inventory(productID int64, date time.Time, at time.Time) []partner.Slot {
	slots := []partner.Slot{}
	p, ok := s.products[productID]
	if !ok {
		return slots
	}
	y, m, d := date.Date()
	day := time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
	if day.Before(at.UTC().Truncate(24*time.Hour)) || !s.openOn(p, day, at) {
		return slots
	}
	dayKey := uint64(day.Unix() / 86400)
	seed := uint64(s.seed)
	n := 3 + int(mix(tagSlots, seed, uint64(p.id), dayKey)%4)
	for i := range n {
		hash := func(tag, step uint64) uint64 { return mix(tag, step, seed, uint64(p.id), dayKey, uint64(i)) }
		startMin := p.firstStart + i*p.gap
		start := day.Add(time.Duration(startMin) * time.Minute)
		capacity := 8 + int64(hash(tagCapacity, 0)%33)
		popularity := 400 + int64(hash(tagPopularity, 0)%1601) // per mille
		remaining := capacity - sold(capacity, popularity, start, at)
		if remaining <= 0 {
			continue
		}
		step := uint64(floorDiv(at.UnixNano(), int64(priceStep)))
		adult := p.adultCents * (1000 + int64(hash(tagPriceStep, step)%101) - 50) / 1000
		discounted := hash(tagDiscount, step)%5 == 0
		slot := partner.Slot{
			StartDate:      day.Format(partner.DateLayout),
			StartTime:      clock(startMin),
			EndTime:        clock(startMin + p.duration),
			ProviderSlotID: fmt.Sprintf("P%d-%s-%s", p.id, day.Format("20060102"), start.Format("1504")),
			Remaining:      int(remaining),
			CurrencyCode:   currency,
			VariantID:      p.id*100 + int64(i%2) + 1,
		}
		slot.PaxAvailability = append(slot.PaxAvailability, partner.PaxAvailability{
			Type: "ADULT", Name: "Adult", Description: "Ages 13 and over",
			Min: 1, Max: 10, Remaining: int(remaining), IsPrimary: true,
			Price: price(roundTo(adult, 10), discounted),
		})
		if p.child {
			slot.PaxAvailability = append(slot.PaxAvailability, partner.PaxAvailability{
				Type: "CHILD", Name: "Child", Description: "Ages 3 to 12",
				Min: 0, Max: 8, Remaining: int(remaining),
				Price: price(roundTo(adult*60/100, 10), discounted),
			})
		}
		if p.infant {
			// Infants sit on laps: at most 4 per slot, selling with the slot.
			slot.PaxAvailability = append(slot.PaxAvailability, partner.PaxAvailability{
				Type: "INFANT", Name: "Infant", Description: "Ages 0 to 2",
				Min: 0, Max: 2, Remaining: int(4 * remaining / capacity),
				Price: price(roundTo(adult*10/100, 10), discounted),
			})
		}
		slots = append(slots, slot)
	}
	return slots
}

// openOn tells whether product p has slots on day when asked at at: on the
// weekdays of its pattern always, on the others from its special opening on.
func (s *Server) openOn(p product, day, at time.Time) bool {
	if p.weekdays[day.Weekday()] {
		return true
	}
	opens, ok := s.openingAt(p, day)
	return ok && !at.Before(opens)
}

// openingAt is the instant a date on a closed weekday of p gains its slots,
// if it is one of the Config.OpeningsPerMille that do: a 15-minute step
// within the 7 days before the date, chosen by the seed.
func (s *Server) openingAt(p product, day time.Time) (time.Time, bool) {
	if s.openings == 0 || p.weekdays[day.Weekday()] {
		return time.Time{}, false
	}
	h := mix(tagOpening, uint64(s.seed), uint64(p.id), uint64(day.Unix()/86400))
	if int(h%1000) >= s.openings {
		return time.Time{}, false
	}
	steps := uint64(salesOpen / salesStep)
	return day.Add(-time.Duration(h/1000%steps+1) * salesStep), true
}

// sold is how many of capacity places are sold at the instant at: popularity/1000
// times capacity times the cube of the share of the sales period gone by. Integer
// arithmetic keeps it identical on every platform; with popularity above 1000 the
// slot sells out before it starts.
func sold(capacity, popularity int64, start, at time.Time) int64 {
	total := int64(salesOpen / salesStep)
	e := floorDiv(at.Sub(start.Add(-salesOpen)).Nanoseconds(), int64(salesStep))
	e = min(max(e, 0), total)
	return min(capacity*popularity*e*e*e/(1000*total*total*total), capacity)
}

func price(originalCents int64, discounted bool) partner.Price {
	var discount int64
	if discounted {
		discount = roundTo(originalCents/10, 10)
	}
	return partner.Price{
		Discount:      cents(discount),
		FinalPrice:    cents(originalCents - discount),
		OriginalPrice: cents(originalCents),
		CurrencyCode:  currency,
	}
}

// cents formats a non-negative amount of cents as an exact decimal, e.g. "12.50".
func cents(c int64) partner.Decimal {
	return partner.Decimal(fmt.Sprintf("%d.%02d", c/100, c%100))
}

func roundTo(c, unit int64) int64 { return (c + unit/2) / unit * unit }

func clock(minutes int) string { return fmt.Sprintf("%02d:%02d", minutes/60%24, minutes%60) }

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}
