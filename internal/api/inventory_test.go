package api_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/slotsync/slotsync/internal/api"
	"github.com/slotsync/slotsync/internal/partner"
	"github.com/slotsync/slotsync/internal/pgtest"
	"github.com/slotsync/slotsync/internal/version"
)

var products = []int64{14, 15}

// TestAnswersEqualThePartner syncs two months of products 14 and 15 with the
// real worker and checks that the API answers what the simulator says: the
// slots of every date of a month, exactly, and the available dates with their
// lowest prices.
func TestAnswersEqualThePartner(t *testing.T) {
	t.Parallel()
	e := newAPIEnv(t, options{})
	e.sync(products, 0, 62)
	now := e.clock.now()
	today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)

	withSlots := 0
	for _, p := range products {
		for day := range 31 {
			date := today.AddDate(0, 0, day)
			r := e.get(fmt.Sprintf("/api/v1/experience/%d/slots?date=%s", p, date.Format(time.DateOnly)))
			if r.status != http.StatusOK {
				t.Fatalf("product %d on %s: %d %s", p, date.Format(time.DateOnly), r.status, r.body)
			}
			var got api.SlotsResponse
			r.decode(t, &got)
			want := e.sim.Inventory(p, date, now)
			if got.ProductID != p || got.Date != date.Format(time.DateOnly) {
				t.Errorf("answer for product %d on %s names product %d on %s", p, date.Format(time.DateOnly), got.ProductID, got.Date)
			}
			if got.SyncedAt == nil || !got.SyncedAt.Equal(now) {
				t.Errorf("product %d on %s: syncedAt %v, want %v", p, date.Format(time.DateOnly), got.SyncedAt, now)
			}
			if !reflect.DeepEqual(got.Slots, want) {
				t.Fatalf("product %d on %s: the API differs from the partner\n got: %+v\nwant: %+v", p, date.Format(time.DateOnly), got.Slots, want)
			}
			withSlots += min(len(want), 1)
		}
	}
	// Products 14 (Monday to Wednesday) and 15 (Sundays) over 31 days from
	// Monday 2026-11-30: 5 weeks of 3 days, and 4 Sundays.
	if withSlots != 5*3+4 {
		t.Errorf("%d dates had slots, want 19", withSlots)
	}

	for _, p := range products {
		r := e.get(fmt.Sprintf("/api/v1/experience/%d/dates", p))
		if r.status != http.StatusOK {
			t.Fatalf("dates of product %d: %d %s", p, r.status, r.body)
		}
		var got api.DatesResponse
		r.decode(t, &got)
		want := expectedDates(e.sim, p, now, nil)
		if got.ProductID != p || !reflect.DeepEqual(got.Dates, want) {
			t.Errorf("dates of product %d:\n got: %+v\nwant: %+v", p, got, want)
		}
		if len(want) < 8 { // product 15 has 8 Sundays in two months

			t.Errorf("product %d has only %d available dates in two months: the comparison is weak", p, len(want))
		}
		// Prices are the partner's text, trailing zeros included.
		for _, d := range got.Dates {
			if !strings.Contains(string(r.body), `"finalPrice":`+string(d.Price.FinalPrice)+`,`) {
				t.Errorf("dates answer does not carry %s verbatim: %s", d.Price.FinalPrice, truncate(r.body))
				break
			}
		}
	}
}

// TestDatesFollowTheTimezone: "today" of the dates route is the configured
// zone's for a product whose sync recorded no zone (written here without the
// worker). At 12:00 UTC on Monday 2026-11-30 it is already Tuesday in
// Pacific/Kiritimati (UTC+14).
func TestDatesFollowTheTimezone(t *testing.T) {
	t.Parallel()
	loc, err := time.LoadLocation("Pacific/Kiritimati")
	if err != nil {
		t.Fatalf("time zone data: %v", err)
	}
	e := newAPIEnv(t, options{location: loc, cacheSize: -1})
	e.clock.set(start.Add(4 * time.Hour))
	now := e.clock.now()
	for day := range 71 {
		date := time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC).AddDate(0, 0, day)
		if _, err := e.db.WriteSnapshot(context.Background(), 14, date, e.sim.Inventory(14, date, now), now); err != nil {
			t.Fatal(err)
		}
	}
	var got api.DatesResponse
	e.get("/api/v1/experience/14/dates").decode(t, &got)
	if len(got.Dates) == 0 {
		t.Fatal("no dates")
	}
	if first, last := got.Dates[0].Date, got.Dates[len(got.Dates)-1].Date; first != "2026-12-01" || last != "2027-02-01" {
		t.Errorf("dates run from %s to %s, want 2026-12-01 (today in Kiritimati) to 2027-02-01 (two months on)", first, last)
	}
}

// TestDatesTodayIsEachProductsZone: "today" of the dates route is, per
// product, that of the time zone its sync counted days in, whatever the
// API's own. At 12:00 UTC on Monday 2026-11-30, product 14 synced in
// Pacific/Kiritimati (UTC+14) is on Tuesday: its dates run from 2026-12-01
// through Monday 2027-02-01. Product 15 synced in UTC is on Monday: its dates
// end on 2027-01-30, so its last is Sunday 2027-01-24, not 2027-01-31.
func TestDatesTodayIsEachProductsZone(t *testing.T) {
	t.Parallel()
	kiritimati, err := time.LoadLocation("Pacific/Kiritimati")
	if err != nil {
		t.Fatalf("time zone data: %v", err)
	}
	zones := map[int64]*time.Location{14: kiritimati, 15: time.UTC}
	for _, apiZone := range []*time.Location{time.UTC, kiritimati} {
		for _, cacheSize := range []int{-1, 0} {
			t.Run(fmt.Sprintf("api in %s, cache size %d", apiZone, cacheSize), func(t *testing.T) {
				e := newAPIEnv(t, options{location: apiZone, cacheSize: cacheSize})
				e.clock.set(start.Add(4 * time.Hour))
				now := e.clock.now()
				for p, loc := range zones {
					e.syncIn(loc, []int64{p}, 0, 63)
				}
				for p, loc := range zones {
					want := expectedDates(e.sim, p, now, loc)
					otherZone := zones[14]
					if p == 14 {
						otherZone = zones[15]
					}
					if other := expectedDates(e.sim, p, now, otherZone); reflect.DeepEqual(want, other) {
						t.Fatalf("product %d has the same dates in both zones: the test proves nothing", p)
					}
					for range 2 { // with the cache on, the second is a hit
						var got api.DatesResponse
						e.get(fmt.Sprintf("/api/v1/experience/%d/dates", p)).decode(t, &got)
						if !reflect.DeepEqual(got.Dates, want) {
							t.Fatalf("dates of product %d synced in %s:\n got: %+v\nwant: %+v", p, loc, got.Dates, want)
						}
					}
				}
				first, last := expectedDates(e.sim, 14, now, kiritimati), expectedDates(e.sim, 15, now, time.UTC)
				if first[0].Date != "2026-12-01" || last[len(last)-1].Date != "2027-01-24" {
					t.Errorf("product 14 starts on %s and 15 ends on %s, want 2026-12-01 and 2027-01-24", first[0].Date, last[len(last)-1].Date)
				}
			})
		}
	}
}

// TestDatesFollowAZoneChange: a cached dates answer is dropped when the
// product's recorded zone changes, without any new snapshot.
func TestDatesFollowAZoneChange(t *testing.T) {
	t.Parallel()
	e := newAPIEnv(t, options{})
	e.clock.set(start.Add(4 * time.Hour))
	now := e.clock.now()
	e.sync([]int64{14}, 0, 63)
	const path = "/api/v1/experience/14/dates"
	eventually(t, 20*time.Second, func() error {
		e.get(path)
		hits := e.metric("slotsync_api_cache_hits_total")
		e.get(path)
		if e.metric("slotsync_api_cache_hits_total") != hits+1 {
			return errors.New("the dates answer is not cached yet")
		}
		return nil
	})
	kiritimati, err := time.LoadLocation("Pacific/Kiritimati")
	if err != nil {
		t.Fatalf("time zone data: %v", err)
	}
	want := expectedDates(e.sim, 14, now, kiritimati)
	if reflect.DeepEqual(want, expectedDates(e.sim, 14, now, time.UTC)) {
		t.Fatal("the same dates in both zones: the test proves nothing")
	}
	if err := e.db.RecordTimeZone(context.Background(), []int64{14}, kiritimati.String()); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, func() error {
		var got api.DatesResponse
		e.get(path).decode(t, &got)
		if !reflect.DeepEqual(got.Dates, want) {
			return fmt.Errorf("dates still counted in UTC:\n got: %+v\nwant: %+v", got.Dates, want)
		}
		return nil
	})
}

func TestEmptyAndUnknown(t *testing.T) {
	t.Parallel()
	e := newAPIEnv(t, options{})
	e.sync([]int64{14}, 0, 6)

	// A synced Thursday: product 14 sells Monday to Wednesday.
	r := e.get("/api/v1/experience/14/slots?date=2026-12-03")
	var got api.SlotsResponse
	r.decode(t, &got)
	if r.status != http.StatusOK || got.SyncedAt == nil || got.Slots == nil || len(got.Slots) != 0 {
		t.Errorf("a synced date without slots: %d %s; want 200, syncedAt set and slots []", r.status, r.body)
	}
	if !strings.Contains(string(r.body), `"slots":[]`) {
		t.Errorf("empty slots are not []: %s", r.body)
	}

	// A date never synced of a known product.
	r = e.get("/api/v1/experience/14/slots?date=2027-06-01")
	got = api.SlotsResponse{}
	r.decode(t, &got)
	if r.status != http.StatusOK || got.SyncedAt != nil || len(got.Slots) != 0 || !strings.Contains(string(r.body), `"syncedAt":null`) {
		t.Errorf("a never-synced date of a known product: %d %s; want 200, syncedAt null and slots []", r.status, r.body)
	}

	// A product never synced.
	for _, path := range []string{"/api/v1/experience/15/slots?date=2026-12-06", "/api/v1/experience/15/dates"} {
		r := e.get(path)
		if r.status != http.StatusNotFound {
			t.Errorf("%s: %d %s, want 404", path, r.status, r.body)
			continue
		}
		if msg := r.errorMessage(t); !strings.Contains(msg, "never synced") {
			t.Errorf("%s: message %q does not say the product was never synced", path, msg)
		}
	}
}

func TestBadInput(t *testing.T) {
	t.Parallel()
	e := newAPIEnv(t, options{})
	e.sync([]int64{14}, 0, 0)
	const slots = "/api/v1/experience/14/slots"
	tests := []struct {
		name   string
		path   string
		status int
		want   string // in the message
	}{
		{"non-numeric id", "/api/v1/experience/abc/slots?date=2026-12-01", 400, "not a number"},
		{"zero id", "/api/v1/experience/0/slots?date=2026-12-01", 400, "is zero"},
		{"negative id", "/api/v1/experience/-14/slots?date=2026-12-01", 400, "not a number"},
		{"signed id", "/api/v1/experience/+14/slots?date=2026-12-01", 400, "not a number"},
		{"leading zero", "/api/v1/experience/014/slots?date=2026-12-01", 400, "leading zero"},
		{"fraction", "/api/v1/experience/14.0/slots?date=2026-12-01", 400, "not a number"},
		{"escaped space", "/api/v1/experience/%2014/slots?date=2026-12-01", 400, "not a number"},
		{"id beyond int64", "/api/v1/experience/9223372036854775808/slots?date=2026-12-01", 400, "too large"},
		{"oversized id", "/api/v1/experience/" + strings.Repeat("9", 40) + "/slots?date=2026-12-01", 400, "too long"},
		{"missing date", slots, 400, "date is missing"},
		{"empty date", slots + "?date=", 400, "date is missing"},
		{"impossible date", slots + "?date=2026-02-30", 400, "not a calendar date"},
		{"month 13", slots + "?date=2026-13-01", 400, "not a calendar date"},
		{"year zero", slots + "?date=0000-01-01", 400, "out of range"},
		{"compact date", slots + "?date=20261201", 400, "YYYY-MM-DD"},
		{"short day", slots + "?date=2026-12-1", 400, "YYYY-MM-DD"},
		{"date and time", slots + "?date=2026-12-01T00:00:00Z", 400, "YYYY-MM-DD"},
		{"date as a number", slots + "?date=1764547200", 400, "YYYY-MM-DD"},
		{"repeated date", slots + "?date=2026-12-01&date=2026-12-02", 400, "given 2 times"},
		{"unknown parameter", slots + "?date=2026-12-01&limit=5", 400, `unknown query parameter "limit"`},
		{"semicolon", slots + "?date=2026-12-01;x=1", 400, "';'"},
		{"bad escape", slots + "?date=%zz", 400, "bad escape"},
		{"dates takes no parameters", "/api/v1/experience/14/dates?date=2026-12-01", 400, "takes no query parameters"},
		{"dates with a bad id", "/api/v1/experience/x/dates", 400, "not a number"},
		{"oversized URL", slots + "?date=2026-12-01&pad=" + strings.Repeat("x", 3000), 414, "at most 2048"},
		{"unknown route", "/api/v2/experience/14/slots", 404, "no such route"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.get(tt.path)
			if r.status != tt.status {
				t.Fatalf("GET %s: %d %s, want %d", tt.path, r.status, r.body, tt.status)
			}
			if msg := r.errorMessage(t); !strings.Contains(msg, tt.want) {
				t.Errorf("GET %s: message %q does not contain %q", tt.path, msg, tt.want)
			}
		})
	}

	r := e.do(http.MethodPost, slots+"?date=2026-12-01", "")
	if r.status != http.StatusMethodNotAllowed || r.header.Get("Allow") != "GET, HEAD" {
		t.Errorf("POST to slots: %d Allow %q, want 405 with Allow: GET, HEAD", r.status, r.header.Get("Allow"))
	}
	if msg := r.errorMessage(t); !strings.Contains(msg, "use GET") {
		t.Errorf("405 message %q does not say which method to use", msg)
	}
	// Still serving after all of that.
	if r := e.get(slots + "?date=2026-11-30"); r.status != http.StatusOK {
		t.Errorf("a good request after bad ones: %d %s", r.status, r.body)
	}
}

// TestCacheInvalidatedBySnapshot: a repeated request is a cache hit; a new
// snapshot written by the worker drops it, and the next answer is the new one.
func TestCacheInvalidatedBySnapshot(t *testing.T) {
	t.Parallel()
	e := newAPIEnv(t, options{})
	e.sync(products, 0, 62)
	const date = "2026-12-01" // a Tuesday: product 14 has slots, on sale since the 24th
	slotsPath := "/api/v1/experience/14/slots?date=" + date
	datesPath := "/api/v1/experience/14/dates"

	// The listener may not be up yet: the cache serves only once it is.
	eventually(t, 20*time.Second, func() error {
		e.get(slotsPath)
		e.get(datesPath)
		hits := e.metric("slotsync_api_cache_hits_total")
		e.get(slotsPath)
		e.get(datesPath)
		if got := e.metric("slotsync_api_cache_hits_total"); got != hits+2 {
			return fmt.Errorf("repeated requests made %v cache hits, want 2", got-hits)
		}
		return nil
	})
	if e.metric("slotsync_api_cache_misses_total") == 0 {
		t.Error("no cache miss counted")
	}
	before := e.get(slotsPath).body
	beforeDates := e.get(datesPath).body

	// Half a day later places have sold and prices have moved.
	e.clock.set(start.Add(12 * time.Hour))
	now := e.clock.now()
	wantSlots := e.sim.Inventory(14, time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC), now)
	wantJSON, _ := json.Marshal(wantSlots)
	if string(wantJSON) == string(mustSlots(t, before)) {
		t.Fatal("the partner's answer did not change in 12 hours: the test proves nothing")
	}
	e.sync([]int64{14}, 0, 62)

	eventually(t, 10*time.Second, func() error {
		var got api.SlotsResponse
		e.get(slotsPath).decode(t, &got)
		if !reflect.DeepEqual(got.Slots, wantSlots) || got.SyncedAt == nil || !got.SyncedAt.Equal(now) {
			return fmt.Errorf("slots still answer the old snapshot (synced %v)", got.SyncedAt)
		}
		var dates api.DatesResponse
		e.get(datesPath).decode(t, &dates)
		if want := expectedDates(e.sim, 14, now, nil); !reflect.DeepEqual(dates.Dates, want) {
			return fmt.Errorf("dates still answer the old snapshots:\n got %+v\nwant %+v", dates.Dates, want)
		}
		return nil
	})
	if after := e.get(datesPath).body; string(after) == string(beforeDates) {
		t.Error("the dates answer did not change with the prices")
	}
	// And the new answers are cached again.
	hits := e.metric("slotsync_api_cache_hits_total")
	e.get(slotsPath)
	if got := e.metric("slotsync_api_cache_hits_total"); got != hits+1 {
		t.Errorf("the new answer is not served from the cache (%v hits)", got-hits)
	}
}

func mustSlots(t *testing.T, body []byte) []byte {
	t.Helper()
	var r struct {
		Slots json.RawMessage `json:"slots"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		t.Fatal(err)
	}
	return r.Slots
}

func TestCacheOff(t *testing.T) {
	t.Parallel()
	e := newAPIEnv(t, options{cacheSize: -1})
	e.sync([]int64{14}, 0, 1)
	for range 3 {
		if r := e.get("/api/v1/experience/14/slots?date=2026-11-30"); r.status != http.StatusOK {
			t.Fatalf("%d %s", r.status, r.body)
		}
	}
	if hits, misses := e.metric("slotsync_api_cache_hits_total"), e.metric("slotsync_api_cache_misses_total"); hits != 0 || misses != 0 {
		t.Errorf("with the cache off: %v hits, %v misses; want none", hits, misses)
	}
}

// TestDatabaseOutage stops Postgres under the API: reads answer 503 with a
// JSON error (never a cached answer, since the listener is down too), the
// process stays alive, and everything recovers by itself once it is back.
func TestDatabaseOutage(t *testing.T) {
	t.Parallel()
	pg := pgtest.NewServer(t)
	e := newAPIEnv(t, options{dbURL: pg.NewDatabase(t)})
	e.sync([]int64{14}, 0, 6)
	const slotsPath = "/api/v1/experience/14/slots?date=2026-12-01"
	eventually(t, 20*time.Second, func() error {
		e.get(slotsPath)
		hits := e.metric("slotsync_api_cache_hits_total")
		if e.get(slotsPath); e.metric("slotsync_api_cache_hits_total") == hits {
			return fmt.Errorf("no cache hit")
		}
		return nil
	})

	if err := pg.StopServer(); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, func() error {
		if r := e.get(slotsPath); r.status != http.StatusServiceUnavailable {
			return fmt.Errorf("slots with the database down: %d %s", r.status, r.body)
		}
		return nil
	})
	for _, path := range []string{slotsPath, "/api/v1/experience/14/dates", "/readyz"} {
		r := e.get(path)
		if r.status != http.StatusServiceUnavailable {
			t.Errorf("%s with the database down: %d %s, want 503", path, r.status, r.body)
			continue
		}
		if msg := r.errorMessage(t); !strings.Contains(msg, "database") {
			t.Errorf("%s: message %q does not name the database", path, msg)
		}
		if r.header.Get("Retry-After") == "" {
			t.Errorf("%s: 503 without Retry-After", path)
		}
	}
	if r := e.get("/healthz"); r.status != http.StatusOK {
		t.Errorf("/healthz with the database down: %d, want 200", r.status)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := pg.StartServer(ctx); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, func() error {
		for _, path := range []string{slotsPath, "/api/v1/experience/14/dates", "/readyz"} {
			if r := e.get(path); r.status != http.StatusOK {
				return fmt.Errorf("%s after the database came back: %d %s", path, r.status, r.body)
			}
		}
		return nil
	})
	// The listener reconnects and the cache serves again.
	eventually(t, 30*time.Second, func() error {
		hits := e.metric("slotsync_api_cache_hits_total")
		e.get(slotsPath)
		if e.get(slotsPath); e.metric("slotsync_api_cache_hits_total") == hits {
			return fmt.Errorf("the cache does not serve after the database came back")
		}
		return nil
	})
}

// TestQueryTimeout: a query blocked by a lock answers 503 within the query
// timeout, and the same request succeeds once the lock is gone.
func TestQueryTimeout(t *testing.T) {
	t.Parallel()
	url := newDatabase(t)
	e := newAPIEnv(t, options{dbURL: url, cacheSize: -1, queryTimeout: 300 * time.Millisecond})
	e.sync([]int64{14}, 0, 1)
	ctx := context.Background()
	locker, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer locker.Close(ctx)
	tx, err := locker.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `LOCK TABLE inventory_syncs IN ACCESS EXCLUSIVE MODE`); err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	r := e.get("/api/v1/experience/14/slots?date=2026-11-30")
	if r.status != http.StatusServiceUnavailable || !strings.Contains(r.errorMessage(t), "in time") {
		t.Errorf("a query blocked past the timeout: %d %s, want 503 saying it did not answer in time", r.status, r.body)
	}
	if took := time.Since(began); took > 5*time.Second {
		t.Errorf("the blocked request took %v with a query timeout of 300ms", took)
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	if r := e.get("/api/v1/experience/14/slots?date=2026-11-30"); r.status != http.StatusOK {
		t.Errorf("after the lock is released: %d %s", r.status, r.body)
	}
}

// TestMetricsAndLogs: metrics are labelled by route pattern, never by raw
// path; request logs name method, route, status and duration, and never the
// bearer token.
func TestMetricsAndLogs(t *testing.T) {
	t.Parallel()
	e := newAPIEnv(t, options{})
	e.sync([]int64{14}, 0, 1)
	const secret = "s3cr3t-t0ken-value"
	for _, path := range []string{"/api/v1/experience/14/slots?date=2026-11-30", "/api/v1/experience/14/slots?date=2026-12-01",
		"/api/v1/experience/99/dates", "/api/v1/experience/x/slots", "/nowhere", "/api/v1/sync/status"} {
		e.do(http.MethodGet, path, secret)
	}
	text := e.metrics()
	for _, want := range []string{
		`slotsync_api_requests_total{code="200",route="GET /api/v1/experience/{id}/slots"} 2`,
		`slotsync_api_requests_total{code="404",route="GET /api/v1/experience/{id}/dates"} 1`,
		`slotsync_api_requests_total{code="400",route="GET /api/v1/experience/{id}/slots"} 1`,
		`slotsync_api_requests_total{code="404",route="unmatched"} 1`,
		`slotsync_api_request_duration_seconds_count{route="GET /api/v1/experience/{id}/slots"} 3`,
		`slotsync_api_cache_misses_total`,
		`slotsync_build_info{goversion="` + runtime.Version() + `",revision="` + version.Revision() + `",version="` + version.Version + `"} 1`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	for _, raw := range []string{"/api/v1/experience/14", "/nowhere", "date="} {
		if strings.Contains(text, raw) {
			t.Errorf("/metrics has a raw path %q in a label", raw)
		}
	}

	eventually(t, 5*time.Second, func() error {
		logs := e.logs.all()
		for _, want := range []string{`"method"="GET"`, `"route"="GET /api/v1/experience/{id}/slots"`, `"status"=200`, `"duration"=`, `"status"=400`} {
			if !strings.Contains(logs, want) {
				return fmt.Errorf("request logs lack %s:\n%s", want, logs)
			}
		}
		return nil
	})
	if logs := e.logs.all(); strings.Contains(logs, secret) {
		t.Errorf("the logs carry the bearer token:\n%s", logs)
	}
}

func TestHealthAndDocument(t *testing.T) {
	t.Parallel()
	e := newAPIEnv(t, options{})
	for _, path := range []string{"/healthz", "/readyz"} {
		r := e.get(path)
		if r.status != http.StatusOK || string(r.body) != `{"status":"ok"}` {
			t.Errorf("%s: %d %s", path, r.status, r.body)
		}
	}
	r := e.get("/openapi.yaml")
	if r.status != http.StatusOK || string(r.body) != string(api.OpenAPIDocument()) {
		t.Errorf("/openapi.yaml: %d, %d bytes; want the embedded document", r.status, len(r.body))
	}
	// The sync routes of a server without a Kubernetes client.
	r = e.do(http.MethodPost, "/api/v1/sync/pause", "token")
	if r.status != http.StatusServiceUnavailable {
		t.Errorf("pause without a Kubernetes client: %d %s, want 503", r.status, r.body)
	}
}

// TestSlotsJSONIsThePartners checks the wire form of a slot: the partner's
// field names, and prices as exact decimal numbers.
func TestSlotsJSONIsThePartners(t *testing.T) {
	t.Parallel()
	e := newAPIEnv(t, options{})
	e.sync([]int64{14}, 0, 1)
	r := e.get("/api/v1/experience/14/slots?date=2026-11-30")
	var raw struct {
		Slots []map[string]json.RawMessage `json:"slots"`
	}
	r.decode(t, &raw)
	if len(raw.Slots) == 0 {
		t.Fatalf("no slots: %s", r.body)
	}
	for _, f := range []string{"startDate", "startTime", "endTime", "providerSlotId", "remaining", "currencyCode", "variantId", "paxAvailability"} {
		if _, ok := raw.Slots[0][f]; !ok {
			t.Errorf("slot lacks %s: %s", f, truncate(r.body))
		}
	}
	var pax []struct {
		Price map[string]json.RawMessage `json:"price"`
	}
	if err := json.Unmarshal(raw.Slots[0]["paxAvailability"], &pax); err != nil || len(pax) == 0 {
		t.Fatalf("paxAvailability: %v", err)
	}
	for _, f := range []string{"finalPrice", "originalPrice", "discount"} {
		v := string(pax[0].Price[f])
		if _, err := partner.ParseDecimal(v); err != nil || !strings.Contains(v, ".") {
			t.Errorf("%s is %s, want an exact decimal number such as 12.50", f, v)
		}
	}
}
