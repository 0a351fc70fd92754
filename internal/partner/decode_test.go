package partner

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

var day = time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)

const validAnswer = `[
 {"startDate":"2026-12-01","startTime":"09:00","endTime":"10:30","providerSlotId":"a","remaining":7,
  "currencyCode":"EUR","variantId":1401,"paxAvailability":[
   {"type":"ADULT","name":"Adult","description":"13+","min":1,"max":10,"remaining":7,"isPrimary":true,
    "price":{"discount":0.00,"finalPrice":12.50,"originalPrice":12.50,"currencyCode":"EUR"}},
   {"type":"CHILD","name":"Child","description":"3-12","min":0,"max":8,"remaining":7,"isPrimary":false,
    "price":{"discount":1.25,"finalPrice":6.25,"originalPrice":7.50,"currencyCode":"EUR"}}]},
 {"startDate":"2026-12-01","startTime":"10:30:00","endTime":"12:00:00","providerSlotId":"b","remaining":0,
  "currencyCode":"EUR","paxAvailability":[]}
]`

// mutate returns validAnswer changed by f, which sees it as generic JSON with
// numbers kept as their text.
func mutate(t *testing.T, f func(slots []any)) []byte {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(validAnswer))
	dec.UseNumber()
	var slots []any
	if err := dec.Decode(&slots); err != nil {
		t.Fatal(err)
	}
	f(slots)
	b, err := json.Marshal(slots)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func slotOf(s []any, i int) map[string]any { return s[i].(map[string]any) }

func paxOf(s []any, i, j int) map[string]any {
	return slotOf(s, i)["paxAvailability"].([]any)[j].(map[string]any)
}

func priceOf(s []any, i, j int) map[string]any { return paxOf(s, i, j)["price"].(map[string]any) }

func TestDecodeValid(t *testing.T) {
	got, err := Decode([]byte(validAnswer), 14, day)
	if err != nil {
		t.Fatal(err)
	}
	want := []Slot{
		{StartDate: "2026-12-01", StartTime: "09:00", EndTime: "10:30", ProviderSlotID: "a", Remaining: 7,
			CurrencyCode: "EUR", VariantID: 1401, PaxAvailability: []PaxAvailability{
				{Type: "ADULT", Name: "Adult", Description: "13+", Min: 1, Max: 10, Remaining: 7, IsPrimary: true,
					Price: Price{Discount: "0.00", FinalPrice: "12.50", OriginalPrice: "12.50", CurrencyCode: "EUR"}},
				{Type: "CHILD", Name: "Child", Description: "3-12", Min: 0, Max: 8, Remaining: 7,
					Price: Price{Discount: "1.25", FinalPrice: "6.25", OriginalPrice: "7.50", CurrencyCode: "EUR"}},
			}},
		{StartDate: "2026-12-01", StartTime: "10:30:00", EndTime: "12:00:00", ProviderSlotID: "b",
			CurrencyCode: "EUR", PaxAvailability: []PaxAvailability{}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Decode =\n%+v\nwant\n%+v", got, want)
	}
	out, err := json.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(out, []byte(`"finalPrice":12.50`)) || !bytes.Contains(out, []byte(`"originalPrice":7.50`)) {
		t.Errorf("re-encoded amounts lost their scale: %s", out)
	}
}

func TestDecodeAccepts(t *testing.T) {
	tests := []struct {
		name  string
		body  []byte
		check func(t *testing.T, s []Slot)
	}{
		{"empty day", []byte(" [] "), func(t *testing.T, s []Slot) {
			if s == nil || len(s) != 0 {
				t.Errorf("got %#v, want an empty non-nil slice", s)
			}
		}},
		{"unknown fields", mutate(t, func(s []any) {
			slotOf(s, 0)["bookingCutoff"] = 30
			paxOf(s, 0, 0)["ageBand"] = map[string]any{"from": 13}
		}), nil},
		{"optional fields absent", mutate(t, func(s []any) {
			delete(slotOf(s, 0), "variantId")
			for _, k := range []string{"name", "description", "min", "max", "isPrimary"} {
				delete(paxOf(s, 0, 0), k)
			}
			delete(priceOf(s, 0, 0), "discount")
		}), func(t *testing.T, s []Slot) {
			p := s[0].PaxAvailability[0]
			if s[0].VariantID != 0 || p.Min != 0 || p.Max != 0 || p.IsPrimary || p.Name != "" || p.Price.Discount != "" {
				t.Errorf("absent optional fields are not zero: %+v", s[0])
			}
		}},
		{"nulls in optional fields", mutate(t, func(s []any) {
			slotOf(s, 0)["variantId"] = nil
			paxOf(s, 0, 0)["name"] = nil
			priceOf(s, 0, 0)["discount"] = nil
		}), nil},
		{"min only", mutate(t, func(s []any) {
			paxOf(s, 0, 0)["min"] = 3
			delete(paxOf(s, 0, 0), "max")
		}), nil},
		{"negative discount", mutate(t, func(s []any) { priceOf(s, 0, 1)["discount"] = json.Number("-1.25") }), func(t *testing.T, s []Slot) {
			if got := s[0].PaxAvailability[1].Price.Discount; got != "-1.25" {
				t.Errorf("discount %q", got)
			}
		}},
		{"slot past midnight", mutate(t, func(s []any) {
			slotOf(s, 0)["startTime"], slotOf(s, 0)["endTime"] = "23:30", "00:30"
		}), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Decode(tt.body, 14, day)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if tt.check != nil {
				tt.check(t, got)
			}
		})
	}
}

func TestDecodeMalformed(t *testing.T) {
	tests := []struct {
		name      string
		body      []byte
		wantSlot  int
		wantField string
		wantText  string
	}{
		{"object", []byte(`{"slots":[]}`), -1, "", "want a JSON array, got object"},
		{"null", []byte(`null`), -1, "", "got null"},
		{"empty body", nil, -1, "", "got nothing"},
		{"truncated", []byte(validAnswer[:len(validAnswer)/2]), -1, "", "unexpected end"},
		{"trailing garbage", []byte(`[] []`), -1, "", "invalid"},
		{"too large", append([]byte(`[`), bytes.Repeat([]byte(" "), MaxBodySize)...), -1, "", "larger than"},
		{"slot not an object", []byte(`[1]`), 0, "", "want an object, got number"},
		{"slot null", []byte(`[null]`), 0, "", "want an object, got null"},
		{"missing startDate", mutate(t, func(s []any) { delete(slotOf(s, 0), "startDate") }), 0, "startDate", "missing"},
		{"key case differs", mutate(t, func(s []any) {
			slotOf(s, 1)["StartDate"] = slotOf(s, 1)["startDate"]
			delete(slotOf(s, 1), "startDate")
		}), 1, "startDate", "missing"},
		{"other date", mutate(t, func(s []any) { slotOf(s, 1)["startDate"] = "2026-12-02" }), 1, "startDate", "not the requested date 2026-12-01"},
		{"startDate number", mutate(t, func(s []any) { slotOf(s, 0)["startDate"] = 20261201 }), 0, "startDate", "want a string, got number"},
		{"startTime null", mutate(t, func(s []any) { slotOf(s, 0)["startTime"] = nil }), 0, "startTime", "missing"},
		{"startTime one digit hour", mutate(t, func(s []any) { slotOf(s, 0)["startTime"] = "9:00" }), 0, "startTime", "not a clock time"},
		{"startTime 24:00", mutate(t, func(s []any) { slotOf(s, 0)["startTime"] = "24:00" }), 0, "startTime", "not a clock time"},
		{"endTime seconds 60", mutate(t, func(s []any) { slotOf(s, 1)["endTime"] = "12:00:60" }), 1, "endTime", "not a clock time"},
		{"missing endTime", mutate(t, func(s []any) { delete(slotOf(s, 1), "endTime") }), 1, "endTime", "missing"},
		{"missing providerSlotId", mutate(t, func(s []any) { delete(slotOf(s, 1), "providerSlotId") }), 1, "providerSlotId", "missing"},
		{"empty providerSlotId", mutate(t, func(s []any) { slotOf(s, 0)["providerSlotId"] = "" }), 0, "providerSlotId", "empty"},
		{"numeric providerSlotId", mutate(t, func(s []any) { slotOf(s, 0)["providerSlotId"] = 5 }), 0, "providerSlotId", "want a string"},
		{"duplicated providerSlotId", mutate(t, func(s []any) { slotOf(s, 1)["providerSlotId"] = "a" }), 1, "providerSlotId", `duplicated "a" (also slot 0)`},
		{"missing remaining", mutate(t, func(s []any) { delete(slotOf(s, 0), "remaining") }), 0, "remaining", "missing"},
		{"negative remaining", mutate(t, func(s []any) { slotOf(s, 0)["remaining"] = -1 }), 0, "remaining", "negative"},
		{"fractional remaining", mutate(t, func(s []any) { slotOf(s, 0)["remaining"] = json.Number("1.5") }), 0, "remaining", "want an integer, got 1.5"},
		{"quoted remaining", mutate(t, func(s []any) { slotOf(s, 0)["remaining"] = "3" }), 0, "remaining", "want an integer"},
		{"missing currencyCode", mutate(t, func(s []any) { delete(slotOf(s, 0), "currencyCode") }), 0, "currencyCode", "missing"},
		{"lower-case currencyCode", mutate(t, func(s []any) { slotOf(s, 0)["currencyCode"] = "eur" }), 0, "currencyCode", "3 upper-case letters"},
		{"long currencyCode", mutate(t, func(s []any) { slotOf(s, 1)["currencyCode"] = "EURO" }), 1, "currencyCode", "3 upper-case letters"},
		{"fractional variantId", mutate(t, func(s []any) { slotOf(s, 0)["variantId"] = json.Number("1.5") }), 0, "variantId", "want an integer"},
		{"missing paxAvailability", mutate(t, func(s []any) { delete(slotOf(s, 1), "paxAvailability") }), 1, "paxAvailability", "missing"},
		{"null paxAvailability", mutate(t, func(s []any) { slotOf(s, 1)["paxAvailability"] = nil }), 1, "paxAvailability", "missing"},
		{"object paxAvailability", mutate(t, func(s []any) { slotOf(s, 1)["paxAvailability"] = map[string]any{} }), 1, "paxAvailability", "want an array"},
		{"pax not an object", mutate(t, func(s []any) { slotOf(s, 1)["paxAvailability"] = []any{"ADULT"} }), 1, "paxAvailability[0]", "want an object"},
		{"duplicated pax type", mutate(t, func(s []any) { paxOf(s, 0, 1)["type"] = "ADULT" }), 0, "paxAvailability[1].type", `duplicated "ADULT"`},
		{"missing pax type", mutate(t, func(s []any) { delete(paxOf(s, 0, 1), "type") }), 0, "paxAvailability[1].type", "missing"},
		{"empty pax type", mutate(t, func(s []any) { paxOf(s, 0, 0)["type"] = "" }), 0, "paxAvailability[0].type", "empty"},
		{"missing pax remaining", mutate(t, func(s []any) { delete(paxOf(s, 0, 1), "remaining") }), 0, "paxAvailability[1].remaining", "missing"},
		{"negative pax min", mutate(t, func(s []any) { paxOf(s, 0, 0)["min"] = -1 }), 0, "paxAvailability[0].min", "negative"},
		{"negative pax max", mutate(t, func(s []any) { paxOf(s, 0, 0)["max"] = -2 }), 0, "paxAvailability[0].max", "negative"},
		{"min above max", mutate(t, func(s []any) { paxOf(s, 0, 1)["min"] = 9 }), 0, "paxAvailability[1].min", "greater than max 8"},
		{"name number", mutate(t, func(s []any) { paxOf(s, 0, 0)["name"] = 1 }), 0, "paxAvailability[0].name", "want a string"},
		{"isPrimary string", mutate(t, func(s []any) { paxOf(s, 0, 0)["isPrimary"] = "yes" }), 0, "paxAvailability[0].isPrimary", "want a boolean"},
		{"missing price", mutate(t, func(s []any) { delete(paxOf(s, 0, 1), "price") }), 0, "paxAvailability[1].price", "missing"},
		{"price not an object", mutate(t, func(s []any) { paxOf(s, 0, 1)["price"] = json.Number("12.50") }), 0, "paxAvailability[1].price", "want an object"},
		{"missing finalPrice", mutate(t, func(s []any) { delete(priceOf(s, 0, 1), "finalPrice") }), 0, "paxAvailability[1].price.finalPrice", "missing"},
		{"quoted finalPrice", mutate(t, func(s []any) { priceOf(s, 0, 0)["finalPrice"] = "12.50" }), 0, "paxAvailability[0].price.finalPrice", "want a decimal number, got string"},
		{"finalPrice with exponent", mutate(t, func(s []any) { priceOf(s, 0, 0)["finalPrice"] = json.Number("1.25e1") }), 0, "paxAvailability[0].price.finalPrice", "not a decimal"},
		{"negative finalPrice", mutate(t, func(s []any) { priceOf(s, 0, 0)["finalPrice"] = json.Number("-1.00") }), 0, "paxAvailability[0].price.finalPrice", "negative"},
		{"missing originalPrice", mutate(t, func(s []any) { delete(priceOf(s, 0, 0), "originalPrice") }), 0, "paxAvailability[0].price.originalPrice", "missing"},
		{"quoted discount", mutate(t, func(s []any) { priceOf(s, 0, 1)["discount"] = "1.25" }), 0, "paxAvailability[1].price.discount", "want a decimal"},
		{"missing price currency", mutate(t, func(s []any) { delete(priceOf(s, 0, 1), "currencyCode") }), 0, "paxAvailability[1].price.currencyCode", "missing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Decode(tt.body, 14, day)
			if err == nil {
				t.Fatalf("Decode succeeded with %+v", got)
			}
			if !errors.Is(err, ErrMalformed) {
				t.Errorf("errors.Is(%v, ErrMalformed) = false", err)
			}
			var me *MalformedError
			if !errors.As(err, &me) {
				t.Fatalf("error %T is not a *MalformedError", err)
			}
			if me.Slot != tt.wantSlot || me.Field != tt.wantField {
				t.Errorf("slot %d field %q, want slot %d field %q (%v)", me.Slot, me.Field, tt.wantSlot, tt.wantField, err)
			}
			if !strings.Contains(err.Error(), tt.wantText) {
				t.Errorf("error %q does not say %q", err, tt.wantText)
			}
		})
	}
}

func TestMalformedErrorText(t *testing.T) {
	_, err := Decode(mutate(t, func(s []any) { paxOf(s, 0, 1)["type"] = "ADULT" }), 14, day)
	want := `decode slot 0: paxAvailability[1].type: duplicated "ADULT"`
	if err == nil || err.Error() != want {
		t.Errorf("error = %v, want %s", err, want)
	}
}
