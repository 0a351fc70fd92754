package store_test

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/slotsync/slotsync/internal/partner"
	"github.com/slotsync/slotsync/internal/store"
)

// writeDays writes each answer of productID on day+n for its n, dated as the
// partner would date it.
func writeDays(t *testing.T, s *store.Store, productID int64, answers map[int][]partner.Slot) {
	t.Helper()
	for n, slots := range answers {
		date := day.AddDate(0, 0, n)
		for i := range slots {
			slots[i].StartDate = date.Format(time.DateOnly)
		}
		if _, err := s.WriteSnapshot(testContext(t), productID, date, slots, instant(0)); err != nil {
			t.Fatal(err)
		}
	}
}

// requireDates writes the answers of product as writeDays does and checks that
// AvailableDates lists want for the 31 days from day.
func requireDates(t *testing.T, s *store.Store, answers map[int][]partner.Slot, want []store.DatePrice) {
	t.Helper()
	writeDays(t, s, product, answers)
	got, err := s.AvailableDates(testContext(t), product, day, day.AddDate(0, 0, 30))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("AvailableDates =\n%+v\nwant\n%+v", got, want)
	}
}

func TestAvailableDates(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	s, _ := newStore(t)
	d := func(n int) time.Time { return day.AddDate(0, 0, n) }

	if _, err := s.AvailableDates(ctx, product, d(0), d(30)); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a product never synced: %v, want ErrNotFound", err)
	}

	answers := map[int][]partner.Slot{
		// The primary type's price, not the child's lower one.
		0: {slot("a", "09:00", 4,
			pax("ADULT", 4, "30.00", "30.00", ""),
			pax("CHILD", 4, "18.50", "20.00", "1.50"),
			pax("INFANT", 0, "0", "0", ""))},
		// The cheaper slot is sold out as a whole, though its pax rows say otherwise.
		1: {slot("a", "09:00", 0, pax("ADULT", 2, "5.00", "5.00", "")),
			slot("b", "10:00", 1, pax("ADULT", 1, "12.50", "12.50", ""))},
		// Synced, without slots.
		2: {},
		// Every slot sold out.
		3: {slot("a", "09:00", 0, pax("ADULT", 0, "9.00", "9.00", ""))},
		// Numerically lowest, not textually: "100.00" < "9.90" as text.
		4: {slot("a", "09:00", 3, pax("ADULT", 3, "100.00", "100.00", "")),
			slot("b", "11:00", 3, pax("ADULT", 3, "9.90", "11.00", "1.10"))},
		// Equal final prices: the lower original price wins, whatever the slot order.
		5: {slot("z", "08:00", 3, pax("ADULT", 3, "7.00", "9.00", "2.00")),
			slot("a", "09:00", 3, pax("ADULT", 3, "7.00", "8.00", "1.00"))},
		// Outside the asked range.
		40: {slot("a", "09:00", 3, pax("ADULT", 3, "1.00", "1.00", ""))},
	}
	// Another product's cheaper offers do not count.
	writeDays(t, s, product+1, map[int][]partner.Slot{0: {slot("a", "09:00", 3, pax("ADULT", 3, "0.50", "0.50", ""))}})
	requireDates(t, s, answers, []store.DatePrice{
		{Date: "2026-12-01", FinalPrice: "30.00", OriginalPrice: "30.00", CurrencyCode: "EUR", PaxType: "ADULT"},
		{Date: "2026-12-02", FinalPrice: "12.50", OriginalPrice: "12.50", CurrencyCode: "EUR", PaxType: "ADULT"},
		{Date: "2026-12-05", FinalPrice: "9.90", OriginalPrice: "11.00", CurrencyCode: "EUR", PaxType: "ADULT"},
		{Date: "2026-12-06", FinalPrice: "7.00", OriginalPrice: "8.00", CurrencyCode: "EUR", PaxType: "ADULT"},
	})

	// Both ends are inclusive.
	got, err := s.AvailableDates(ctx, product, d(1), d(1))
	if err != nil || len(got) != 1 || got[0].Date != "2026-12-02" {
		t.Errorf("AvailableDates of one day = %+v, %v", got, err)
	}
	// A known product without availability in the range has no dates, not nil.
	got, err = s.AvailableDates(ctx, product, d(2), d(3))
	if err != nil || got == nil || len(got) != 0 {
		t.Errorf("AvailableDates without availability = %#v, %v; want an empty list", got, err)
	}
}

// TestAvailableDatesQuoteWhatAShopQuotes: a date's price is the primary
// passenger type's (the partner's isPrimary, whatever its name); without one
// with places left, the lowest adult-like type's (type or name containing
// "adult"); else the lowest of any type, named by PaxType. Each currency of a
// date has its own price: amounts in different currencies are never compared.
func TestAvailableDatesQuoteWhatAShopQuotes(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	with := func(p partner.PaxAvailability, f func(*partner.PaxAvailability)) partner.PaxAvailability {
		f(&p)
		return p
	}
	primary := func(p *partner.PaxAvailability) { p.IsPrimary = true }
	notPrimary := func(p *partner.PaxAvailability) { p.IsPrimary = false }
	usd := func(sl partner.Slot) partner.Slot {
		sl.CurrencyCode = "USD"
		for i := range sl.PaxAvailability {
			sl.PaxAvailability[i].Price.CurrencyCode = "USD"
		}
		return sl
	}

	answers := map[int][]partner.Slot{
		// An infant's price beside an adult's, in another slot: the adult's.
		0: {slot("a", "09:00", 4, pax("ADULT", 4, "62.70", "62.70", "")),
			slot("b", "10:00", 4, pax("ADULT", 0, "50.00", "50.00", ""), pax("INFANT", 2, "6.30", "6.30", ""))},
		// The flag decides, not the name.
		1: {slot("a", "09:00", 4,
			with(pax("STANDARD", 4, "50.00", "50.00", ""), primary),
			pax("CHILD", 4, "20.00", "20.00", ""))},
		// No primary type with places left: the lowest adult-like one, by type...
		2: {slot("a", "09:00", 4,
			pax("ADULT", 0, "40.00", "40.00", ""),
			pax("YOUNG_ADULT", 4, "35.00", "35.00", ""),
			pax("SENIOR_ADULT", 4, "32.00", "32.00", ""),
			pax("CHILD", 4, "20.00", "20.00", ""))},
		// ... or by name.
		3: {slot("a", "09:00", 4,
			with(pax("P1", 4, "44.00", "44.00", ""), func(p *partner.PaxAvailability) { p.Name = "Adults (EU)" }),
			pax("P2", 4, "11.00", "11.00", ""))},
		// Neither: the lowest of any type, and the answer says which.
		4: {slot("a", "09:00", 4,
			pax("ADULT", 0, "40.00", "40.00", ""),
			pax("CHILD", 4, "20.00", "20.00", ""),
			pax("INFANT", 1, "4.00", "4.00", ""))},
		// Two currencies: one price each, never the lower number across them.
		5: {slot("a", "09:00", 4, pax("ADULT", 4, "40.00", "40.00", "")),
			usd(slot("b", "10:00", 4, pax("ADULT", 4, "35.00", "35.00", ""), pax("CHILD", 4, "9.00", "9.00", "")))},
		// A primary type in one currency does not decide for the other.
		6: {slot("a", "09:00", 4, pax("ADULT", 4, "40.00", "40.00", "")),
			usd(slot("b", "10:00", 4, with(pax("ADULT", 4, "38.00", "38.00", ""), notPrimary), pax("CHILD", 4, "9.00", "9.00", "")))},
	}
	requireDates(t, s, answers, []store.DatePrice{
		{Date: "2026-12-01", FinalPrice: "62.70", OriginalPrice: "62.70", CurrencyCode: "EUR", PaxType: "ADULT"},
		{Date: "2026-12-02", FinalPrice: "50.00", OriginalPrice: "50.00", CurrencyCode: "EUR", PaxType: "STANDARD"},
		{Date: "2026-12-03", FinalPrice: "32.00", OriginalPrice: "32.00", CurrencyCode: "EUR", PaxType: "SENIOR_ADULT"},
		{Date: "2026-12-04", FinalPrice: "44.00", OriginalPrice: "44.00", CurrencyCode: "EUR", PaxType: "P1"},
		{Date: "2026-12-05", FinalPrice: "4.00", OriginalPrice: "4.00", CurrencyCode: "EUR", PaxType: "INFANT"},
		{Date: "2026-12-06", FinalPrice: "40.00", OriginalPrice: "40.00", CurrencyCode: "EUR", PaxType: "ADULT"},
		{Date: "2026-12-06", FinalPrice: "35.00", OriginalPrice: "35.00", CurrencyCode: "USD", PaxType: "ADULT"},
		{Date: "2026-12-07", FinalPrice: "40.00", OriginalPrice: "40.00", CurrencyCode: "EUR", PaxType: "ADULT"},
		{Date: "2026-12-07", FinalPrice: "38.00", OriginalPrice: "38.00", CurrencyCode: "USD", PaxType: "ADULT"},
	})
}

// TestAvailableDatesUsesItsIndex checks that the query is answered from
// slot_pax_available_price_idx. The tables of a test are too small for the
// planner to prefer any index, so the database switches sequential scans off,
// and the index's scan count must move.
func TestAvailableDatesUsesItsIndex(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	s, url := newStore(t)
	if _, err := s.WriteSnapshot(ctx, product, day, nil, instant(0)); err != nil {
		t.Fatal(err)
	}
	admin := connect(t, url)
	var db string
	if err := admin.QueryRow(ctx, `SELECT current_database()`).Scan(&db); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Exec(ctx, "ALTER DATABASE "+pgx.Identifier{db}.Sanitize()+" SET enable_seqscan = off"); err != nil {
		t.Fatal(err)
	}
	scans := func() int64 {
		t.Helper()
		var n int64
		err := admin.QueryRow(ctx, `SELECT coalesce(sum(idx_scan), 0)::bigint FROM pg_stat_user_indexes
WHERE indexrelname = 'slot_pax_available_price_idx'`).Scan(&n)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	before := scans()

	// A new pool: its sessions start with the database's new setting.
	s2, err := store.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s2.AvailableDates(ctx, product, day, day.AddDate(0, 2, 0)); err != nil {
		t.Fatal(err)
	}
	// A session flushes its statistics when it ends, an idle one only every 10 s.
	s2.Close()
	err = wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 15*time.Second, true, func(context.Context) (bool, error) {
		return scans() != before, nil
	})
	if err != nil {
		t.Fatal("AvailableDates did not scan slot_pax_available_price_idx")
	}
}
