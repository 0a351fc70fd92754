package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/slotsync/slotsync/internal/api"
	"github.com/slotsync/slotsync/internal/partner"
)

// TestSlotsDocumentIsEncodingJSONs: the slots answer, which Postgres builds as
// JSON text, is byte for byte what encoding/json writes for the SlotsResponse
// of store.ReadSnapshot, with the cache off and on, for text that each escapes
// in its own way, odd numbers and times, and orders that collations disagree on.
func TestSlotsDocumentIsEncodingJSONs(t *testing.T) {
	t.Parallel()
	pax := func(typ string, min, max int, discount partner.Decimal) partner.PaxAvailability {
		return partner.PaxAvailability{Type: typ, Name: typ + " <name> & \"co\"", Description: "line\nbreak\ttab\r\b\f\x01\x1f\x7f \\ / é 東京 😀 \u2028\u2029 \u00a0",
			Min: min, Max: max, Remaining: 3, IsPrimary: typ == "ADULT",
			Price: partner.Price{FinalPrice: "12.50", OriginalPrice: "100", Discount: discount, CurrencyCode: "EUR"}}
	}
	slots := []partner.Slot{
		{StartDate: "2026-12-01", StartTime: "b", EndTime: "11:00", ProviderSlotID: "slot-<1>&", Remaining: 9, CurrencyCode: "EUR", VariantID: 9007199254740993,
			PaxAvailability: []partner.PaxAvailability{pax("CHILD", 0, 4, ""), pax("ADULT", 1, 0, "87.5"), pax("adult", -2, 9, "0.000"), pax("Ärger", 0, 0, "-3.25")}},
		{StartDate: "2026-12-01", StartTime: "B", EndTime: "\u2028", ProviderSlotID: "no pax", Remaining: 0, CurrencyCode: "", VariantID: 0},
		{StartDate: "2026-12-01", StartTime: "B", EndTime: "x", ProviderSlotID: "Z", Remaining: 1, CurrencyCode: "USD", VariantID: -7,
			PaxAvailability: []partner.PaxAvailability{pax("INFANT", 0, 0, "")}},
		{StartDate: "2026-12-01", StartTime: "B", EndTime: "x", ProviderSlotID: "a", Remaining: 2, CurrencyCode: "USD", VariantID: 1,
			PaxAvailability: []partner.PaxAvailability{pax("ADULT", 2, 2, "1")}},
		{StartDate: "2026-12-01", StartTime: "10:00", EndTime: "11:00", ProviderSlotID: "é", Remaining: 1, CurrencyCode: "EUR",
			PaxAvailability: []partner.PaxAvailability{pax("ADULT", 0, 0, "")}},
	}
	ctx := context.Background()
	for _, cacheSize := range []int{-1, 0} {
		e := newAPIEnv(t, options{cacheSize: cacheSize})
		days := []struct {
			date  time.Time
			at    time.Time
			slots []partner.Slot
		}{
			{time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 11, 30, 8, 0, 0, 120_000_000, time.UTC), slots},
			{time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC), time.Date(2026, 11, 30, 8, 0, 0, 0, time.UTC), nil},
			{time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC), time.Date(2026, 11, 30, 7, 59, 59, 999_999_000, time.FixedZone("X", 3600)), slots[1:3]},
			{time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(1999, 1, 1, 0, 0, 0, 1000, time.UTC), slots[:1]},
		}
		for _, d := range days {
			if _, err := e.db.WriteSnapshot(ctx, 14, d.date, d.slots, d.at); err != nil {
				t.Fatal(err)
			}
		}
		never := time.Date(2027, 6, 1, 0, 0, 0, 0, time.UTC)
		for _, date := range []time.Time{days[0].date, days[1].date, days[2].date, days[3].date, never} {
			snap, err := e.db.ReadSnapshot(ctx, 14, date)
			if err != nil {
				t.Fatal(err)
			}
			want := api.SlotsResponse{ProductID: 14, Date: date.Format(time.DateOnly), Slots: snap.Slots}
			if snap.SyncedAt != nil {
				at := snap.SyncedAt.UTC()
				want.SyncedAt = &at
			}
			wantBody, err := json.Marshal(want)
			if err != nil {
				t.Fatal(err)
			}
			path := fmt.Sprintf("/api/v1/experience/14/slots?date=%s", date.Format(time.DateOnly))
			for range 2 { // with the cache on, the second is a hit
				r := e.get(path)
				if r.status != 200 || string(r.body) != string(wantBody) {
					t.Errorf("cache size %d, GET %s: %d\n%s\nwant encoding/json's\n%s", cacheSize, path, r.status, r.body, wantBody)
				}
			}
		}
	}
}

// TestPaxMinAndMaxAreAlwaysSent: min and max are values a shop reads, 0
// included; neither the database's document nor encoding/json's leaves them out.
func TestPaxMinAndMaxAreAlwaysSent(t *testing.T) {
	t.Parallel()
	date := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	limits := [][2]int{{0, 0}, {0, 4}, {2, 0}, {1, 10}}
	var pax []partner.PaxAvailability
	for i, l := range limits {
		pax = append(pax, partner.PaxAvailability{Type: fmt.Sprintf("T%d", i), Min: l[0], Max: l[1], Remaining: 1,
			Price: partner.Price{FinalPrice: "1.00", OriginalPrice: "1.00", CurrencyCode: "EUR"}})
	}
	slots := []partner.Slot{{StartDate: "2026-12-01", StartTime: "09:00", EndTime: "10:00", ProviderSlotID: "a",
		Remaining: 1, CurrencyCode: "EUR", PaxAvailability: pax}}

	check := func(t *testing.T, body []byte) {
		t.Helper()
		var got struct {
			Slots []struct {
				PaxAvailability []map[string]json.RawMessage `json:"paxAvailability"`
			} `json:"slots"`
		}
		if err := json.Unmarshal(body, &got); err != nil || len(got.Slots) != 1 || len(got.Slots[0].PaxAvailability) != len(limits) {
			t.Fatalf("answer %s: %v", body, err)
		}
		for i, p := range got.Slots[0].PaxAvailability {
			want := limits[i]
			if string(p["min"]) != fmt.Sprint(want[0]) || string(p["max"]) != fmt.Sprint(want[1]) {
				t.Errorf("pax %d has min %s and max %s, want %d and %d", i, p["min"], p["max"], want[0], want[1])
			}
		}
	}
	for _, cacheSize := range []int{-1, 0} {
		e := newAPIEnv(t, options{cacheSize: cacheSize})
		if _, err := e.db.WriteSnapshot(context.Background(), 14, date, slots, start); err != nil {
			t.Fatal(err)
		}
		for range 2 { // with the cache on, the second is a hit
			check(t, e.get("/api/v1/experience/14/slots?date=2026-12-01").body)
		}
	}
	body, err := json.Marshal(api.SlotsResponse{ProductID: 14, Date: "2026-12-01", Slots: slots})
	if err != nil {
		t.Fatal(err)
	}
	check(t, body)
}
