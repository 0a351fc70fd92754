package api

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"k8s.io/apimachinery/pkg/types"
)

func TestParseSlotsRequest(t *testing.T) {
	tests := []struct {
		name    string
		id      string
		query   string
		want    slotsRequest
		wantErr string
	}{
		{"valid", "14", "date=2026-12-01", slotsRequest{14, time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)}, ""},
		{"largest id", "9223372036854775807", "date=2026-12-01", slotsRequest{1<<63 - 1, time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)}, ""},
		{"leap day", "1", "date=2028-02-29", slotsRequest{1, time.Date(2028, 2, 29, 0, 0, 0, 0, time.UTC)}, ""},
		{"escaped date", "1", "date=2026%2D12%2D01", slotsRequest{1, time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)}, ""},
		{"empty id", "", "date=2026-12-01", slotsRequest{}, "experience id is missing"},
		{"zero", "0", "date=2026-12-01", slotsRequest{}, "is zero"},
		{"zeros", "000", "date=2026-12-01", slotsRequest{}, "is zero"},
		{"negative", "-1", "date=2026-12-01", slotsRequest{}, "not a number"},
		{"leading zero", "07", "date=2026-12-01", slotsRequest{}, "leading zero"},
		{"overflow", "9223372036854775808", "date=2026-12-01", slotsRequest{}, "too large"},
		{"20 digits", "10000000000000000000", "date=2026-12-01", slotsRequest{}, "too long"},
		{"hex", "0x14", "date=2026-12-01", slotsRequest{}, "not a number"},
		{"unicode digits", "١٤", "date=2026-12-01", slotsRequest{}, "not a number"},
		{"no date", "14", "", slotsRequest{}, "date is missing"},
		{"not a leap year", "14", "date=2026-02-29", slotsRequest{}, "not a calendar date"},
		{"February 30", "14", "date=2026-02-30", slotsRequest{}, "not a calendar date"},
		{"day 00", "14", "date=2026-12-00", slotsRequest{}, "not a calendar date"},
		{"year 0", "14", "date=0000-12-01", slotsRequest{}, "out of range"},
		{"slashes", "14", "date=2026/12/01", slotsRequest{}, "YYYY-MM-DD"},
		{"unicode digits in date", "14", "date=٢٠٢٦-12-01", slotsRequest{}, "YYYY-MM-DD"},
		{"trailing newline", "14", "date=2026-12-01%0A", slotsRequest{}, "YYYY-MM-DD"},
		{"twice", "14", "date=2026-12-01&date=2026-12-01", slotsRequest{}, "given 2 times"},
		{"unknown", "14", "date=2026-12-01&Date=2026-12-01", slotsRequest{}, `unknown query parameter "Date"`},
		{"semicolon", "14", "date=2026-12-01;", slotsRequest{}, "';'"},
		{"bad escape", "14", "date=%2", slotsRequest{}, "bad escape"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseSlotsRequest(tt.id, tt.query)
			if tt.wantErr != "" {
				var e *apiError
				if !errors.As(err, &e) || e.status != http.StatusBadRequest || !strings.Contains(e.msg, tt.wantErr) {
					t.Fatalf("parseSlotsRequest(%q, %q) = %v, want a 400 containing %q", tt.id, tt.query, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("parseSlotsRequest(%q, %q) = %+v, %v; want %+v", tt.id, tt.query, got, err, tt.want)
			}
		})
	}
}

func TestParseScheduleRequest(t *testing.T) {
	def := types.NamespacedName{Namespace: "shop", Name: "nightly"}
	tests := []struct {
		name    string
		query   string
		want    types.NamespacedName
		wantErr string
	}{
		{"default", "", def, ""},
		{"named", "schedule=hourly", types.NamespacedName{Namespace: "shop", Name: "hourly"}, ""},
		{"dotted", "schedule=a.b-c", types.NamespacedName{Namespace: "shop", Name: "a.b-c"}, ""},
		{"empty", "schedule=", types.NamespacedName{}, "schedule is empty"},
		{"upper case", "schedule=Nightly", types.NamespacedName{}, "not a SyncSchedule name"},
		{"namespace smuggled", "schedule=kube-system/x", types.NamespacedName{}, "not a SyncSchedule name"},
		{"too long", "schedule=" + strings.Repeat("a", 64), types.NamespacedName{}, "at most 63"},
		{"twice", "schedule=a&schedule=b", types.NamespacedName{}, "given 2 times"},
		{"unknown", "namespace=kube-system", types.NamespacedName{}, `unknown query parameter "namespace"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseScheduleRequest(tt.query, def)
			if tt.wantErr != "" {
				var e *apiError
				if !errors.As(err, &e) || e.status != http.StatusBadRequest || !strings.Contains(e.msg, tt.wantErr) {
					t.Fatalf("parseScheduleRequest(%q) = %v, want a 400 containing %q", tt.query, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("parseScheduleRequest(%q) = %v, %v; want %v", tt.query, got, err, tt.want)
			}
		})
	}
}

func TestQuoteCutsLongInput(t *testing.T) {
	long := strings.Repeat("é", 100)
	q := quote(long)
	if len(q) > 60 || !utf8.ValidString(q) || !strings.HasSuffix(q, "...") {
		t.Errorf("quote of 200 bytes = %q (%d bytes), want at most 60 valid bytes ending in ...", q, len(q))
	}
}

// FuzzParseSlotsRequest: any id and query either parse to a canonical request
// or give a 400 with a printable message; never a panic, never a value that
// differs from its input.
func FuzzParseSlotsRequest(f *testing.F) {
	// More seeds are in testdata/fuzz/FuzzParseSlotsRequest.
	f.Add("14", "date=2026-12-01")
	f.Add("0", "date=2026-02-30")
	f.Fuzz(func(t *testing.T, id, query string) {
		req, err := parseSlotsRequest(id, query)
		if err != nil {
			var e *apiError
			if !errors.As(err, &e) || e.status != http.StatusBadRequest || e.msg == "" {
				t.Fatalf("parseSlotsRequest(%q, %q) failed with %v, not a 400 with a message", id, query, err)
			}
			if b, err := json.Marshal(e.body()); err != nil || !json.Valid(b) {
				t.Fatalf("message %q does not encode as JSON", e.msg)
			}
			if len(e.msg) > 400 {
				t.Fatalf("message of %d bytes echoes too much input: %q", len(e.msg), e.msg)
			}
			return
		}
		if req.productID <= 0 || strconv.FormatInt(req.productID, 10) != id {
			t.Fatalf("id %q parsed as %d", id, req.productID)
		}
		if req.date.Year() < 1 || req.date.Year() > 9999 || req.date.Location() != time.UTC || req.date.Hour() != 0 {
			t.Fatalf("query %q parsed to date %v", query, req.date)
		}
		again, err := parseSlotsRequest(strconv.FormatInt(req.productID, 10), "date="+req.day())
		if err != nil || again != req {
			t.Fatalf("the canonical form of %+v parses as %+v, %v", req, again, err)
		}
	})
}
