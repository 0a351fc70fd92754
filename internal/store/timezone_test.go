package store_test

import (
	"slices"
	"strings"
	"testing"
	"time"
)

// TestRecordTimeZone: a product never recorded has no zone, the latest record
// wins, and a record that changes a product's zone notifies the product as a
// snapshot does (API caches drop its dates answer); one that changes nothing
// notifies nothing.
func TestRecordTimeZone(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	s, url := newStore(t)
	notes := listen(t, url)
	// next returns the product of the next notification; its date is moot.
	next := func() string {
		t.Helper()
		payload := notes.next()
		product, date, _ := strings.Cut(payload, ":")
		if _, err := time.Parse(time.DateOnly, date); err != nil {
			t.Errorf("notification %q: want <productID>:<YYYY-MM-DD>", payload)
		}
		return product
	}
	zoneOf := func(p int64) string {
		t.Helper()
		tz, err := s.ProductTimeZone(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		return tz
	}

	if tz := zoneOf(14); tz != "" {
		t.Errorf("a product never recorded has zone %q", tz)
	}
	if err := s.RecordTimeZone(ctx, []int64{14, 15, 14}, "Europe/Berlin"); err != nil {
		t.Fatal(err)
	}
	if got := []string{next(), next()}; !slices.Contains(got, "14") || !slices.Contains(got, "15") {
		t.Errorf("notified %v, want 14 and 15", got)
	}
	if err := s.RecordTimeZone(ctx, []int64{14, 15}, "Europe/Berlin"); err != nil {
		t.Fatal(err)
	}
	if err := s.RecordTimeZone(ctx, []int64{15}, "Pacific/Kiritimati"); err != nil {
		t.Fatal(err)
	}
	// The unchanged record sent nothing: the next notification is the change's.
	if got := next(); got != "15" {
		t.Errorf("notified %s, want 15 (the unchanged record notifies nothing)", got)
	}
	if z14, z15 := zoneOf(14), zoneOf(15); z14 != "Europe/Berlin" || z15 != "Pacific/Kiritimati" {
		t.Errorf("zones %q and %q, want Europe/Berlin and Pacific/Kiritimati", z14, z15)
	}
}
