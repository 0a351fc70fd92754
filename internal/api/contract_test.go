package api_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/slotsync/slotsync/internal/api"
	"github.com/slotsync/slotsync/internal/partner"
)

// getWith is a GET with request headers, checked against the OpenAPI document.
func (e *apiEnv) getWith(path string, header map[string]string) response {
	e.t.Helper()
	req, err := http.NewRequest(http.MethodGet, e.url+path, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	return e.send(req)
}

// TestProblemDetails: every kind of error this server answers without a
// Kubernetes API (401 and 403: the sync tests) is an RFC 9457 problem detail
// of its own type, with the message as detail.
func TestProblemDetails(t *testing.T) {
	t.Parallel()
	e := newAPIEnv(t, options{})
	if _, err := e.db.WriteSnapshot(context.Background(), 14, time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC), nil, start); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		method, path string
		status       int
		typ, detail  string
		param        string
	}{
		{"GET", "/api/v1/experience/x/slots?date=2026-12-01", 400, "invalid-request", "not a number", "id"},
		{"GET", "/api/v1/experience/14/slots?date=2026-02-30", 400, "invalid-request", "not a calendar date", "date"},
		{"GET", "/api/v1/experience/14/slots?date=2026-12-01&limit=5", 400, "invalid-request", "unknown query parameter", "limit"},
		{"GET", "/api/v1/experience/14/slots?date=%zz", 400, "invalid-request", "bad escape", "query"},
		{"GET", "/api/v1/sync/status?schedule=Not_A_Name", 400, "invalid-request", "not a SyncSchedule name", "schedule"},
		{"GET", "/api/v1/experience/15/slots?date=2026-12-01", 404, "experience-not-synced", "never synced", ""},
		{"GET", "/api/v1/experience/15/dates", 404, "experience-not-synced", "never synced", ""},
		{"GET", "/nowhere", 404, "no-such-route", "no such route", ""},
		{"DELETE", "/api/v1/experience/14/dates", 405, "method-not-allowed", "use GET", ""},
		{"GET", "/api/v1/experience/14/slots?date=" + strings.Repeat("9", 3000), 414, "uri-too-long", "at most 2048", ""},
		{"GET", "/api/v1/sync/status", 503, "unavailable", "not configured", ""},
	}
	for _, tt := range tests {
		r := e.do(tt.method, tt.path, "")
		if r.status != tt.status {
			t.Errorf("%s %.60s: %d %s, want %d", tt.method, tt.path, r.status, r.body, tt.status)
			continue
		}
		p := r.problem(t)
		if p.Type != api.ProblemTypeBase+tt.typ || !strings.Contains(p.Detail, tt.detail) {
			t.Errorf("%s %.60s: %s, want type %s and a detail saying %q", tt.method, tt.path, r.body, tt.typ, tt.detail)
		}
		if tt.param != "" && (len(p.InvalidParams) != 1 || p.InvalidParams[0].Name != tt.param || p.InvalidParams[0].Reason != p.Detail) {
			t.Errorf("%s %.60s: invalid-params %+v, want %s with the detail as reason", tt.method, tt.path, p.InvalidParams, tt.param)
		}
		if r.header.Get("ETag") != "" || r.header.Get("Last-Modified") != "" {
			t.Errorf("%s %.60s: an error with validators", tt.method, tt.path)
		}
	}
}

// TestCacheControl: the inventory reads may be kept and revalidated; nothing
// else may be kept.
func TestCacheControl(t *testing.T) {
	t.Parallel()
	e := newAPIEnv(t, options{})
	if _, err := e.db.WriteSnapshot(context.Background(), 14, time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC), nil, start); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{
		"/api/v1/experience/14/slots?date=2026-12-01": "no-cache",
		"/api/v1/experience/14/dates":                 "no-cache",
		"/healthz":                                    "no-store",
		"/readyz":                                     "no-store",
		"/openapi.yaml":                               "no-store",
		"/api/v1/experience/14/slots":                 "no-store", // 400
	} {
		if got := e.get(path).header.Get("Cache-Control"); got != want {
			t.Errorf("GET %s: Cache-Control %q, want %q", path, got, want)
		}
	}
}

// TestConditionalSlots: the slots answer's ETag and Last-Modified follow the
// pair's sync time; If-None-Match (which takes precedence) and
// If-Modified-Since answer 304 while it holds, with the cache on and off.
func TestConditionalSlots(t *testing.T) {
	t.Parallel()
	date := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	const path = "/api/v1/experience/14/slots?date=2026-12-01"
	for _, cacheSize := range []int{0, -1} {
		t.Run(fmt.Sprintf("cache size %d", cacheSize), func(t *testing.T) {
			t.Parallel()
			e := newAPIEnv(t, options{cacheSize: cacheSize})
			synced := start.Add(123456 * time.Microsecond)
			if _, err := e.db.WriteSnapshot(context.Background(), 14, date, offer(1), synced); err != nil {
				t.Fatal(err)
			}
			if cacheSize == 0 {
				waitForCache(t, e, path)
			}
			r := e.get(path)
			etag, modified := r.header.Get("ETag"), r.header.Get("Last-Modified")
			if r.status != http.StatusOK || !strings.HasPrefix(etag, `"`) || modified != synced.Format(http.TimeFormat) {
				t.Fatalf("GET: %d, ETag %s, Last-Modified %s; want 200, a strong ETag and %s", r.status, etag, modified, synced.Format(http.TimeFormat))
			}
			checkConditional(t, e, path, etag, synced)

			// A never-synced date has an ETag of its own and no date.
			never := e.get("/api/v1/experience/14/slots?date=2027-01-01")
			if ne := never.header.Get("ETag"); ne == "" || ne == etag || never.header.Get("Last-Modified") != "" {
				t.Errorf("a never-synced date: ETag %q, Last-Modified %q; want an ETag of its own and no Last-Modified", ne, never.header.Get("Last-Modified"))
			}
			if r := e.getWith("/api/v1/experience/14/slots?date=2027-01-01", map[string]string{"If-None-Match": never.header.Get("ETag")}); r.status != http.StatusNotModified {
				t.Errorf("a never-synced date revalidated with its ETag: %d", r.status)
			}

			// A new snapshot, even an unchanged one, moves the ETag.
			resynced := synced.Add(time.Minute)
			if _, err := e.db.WriteSnapshot(context.Background(), 14, date, offer(1), resynced); err != nil {
				t.Fatal(err)
			}
			eventually(t, 10*time.Second, func() error {
				r := e.getWith(path, map[string]string{"If-None-Match": etag})
				if r.status != http.StatusOK || r.header.Get("ETag") == etag || r.header.Get("Last-Modified") != resynced.Format(http.TimeFormat) {
					return fmt.Errorf("after a new snapshot: %d, ETag %s, Last-Modified %s", r.status, r.header.Get("ETag"), r.header.Get("Last-Modified"))
				}
				return nil
			})
		})
	}
}

// TestConditionalDates: the dates answer's validators move with a snapshot
// of one of its dates, even one fetched before the latest, and with the day.
func TestConditionalDates(t *testing.T) {
	t.Parallel()
	const path = "/api/v1/experience/14/dates"
	day := func(d int) time.Time { return time.Date(2026, 12, d, 0, 0, 0, 0, time.UTC) }
	for _, cacheSize := range []int{0, -1} {
		t.Run(fmt.Sprintf("cache size %d", cacheSize), func(t *testing.T) {
			t.Parallel()
			e := newAPIEnv(t, options{cacheSize: cacheSize})
			ctx := context.Background()
			if _, err := e.db.WriteSnapshot(ctx, 14, day(1), offer(1), start); err != nil {
				t.Fatal(err)
			}
			latest := start.Add(time.Second)
			if _, err := e.db.WriteSnapshot(ctx, 14, day(2), offer(2), latest); err != nil {
				t.Fatal(err)
			}
			if cacheSize == 0 {
				waitForCache(t, e, path)
			}
			r := e.get(path)
			etag := r.header.Get("ETag")
			if r.status != http.StatusOK || etag == "" || r.header.Get("Last-Modified") != latest.Format(http.TimeFormat) {
				t.Fatalf("GET: %d, ETag %q, Last-Modified %q; want 200, an ETag and %s", r.status, etag, r.header.Get("Last-Modified"), latest.Format(http.TimeFormat))
			}
			checkConditional(t, e, path, etag, latest)

			// A slow worker's snapshot of the 1st, fetched before the 2nd's,
			// changes the answer but not the latest sync time.
			if _, err := e.db.WriteSnapshot(ctx, 14, day(1), offer(3), start.Add(time.Millisecond)); err != nil {
				t.Fatal(err)
			}
			var moved string
			eventually(t, 10*time.Second, func() error {
				r := e.getWith(path, map[string]string{"If-None-Match": etag})
				if moved = r.header.Get("ETag"); r.status != http.StatusOK || moved == etag {
					return fmt.Errorf("after a snapshot of the 1st: %d, ETag %s", r.status, moved)
				}
				return nil
			})

			// The next day drops the 30th from the answer: new ETag, and the
			// day's start is when it changed.
			e.clock.set(start.Add(24 * time.Hour))
			r = e.getWith(path, map[string]string{"If-None-Match": moved})
			if r.status != http.StatusOK || r.header.Get("ETag") == moved || r.header.Get("Last-Modified") != day(1).Format(http.TimeFormat) {
				t.Errorf("the next day: %d, ETag %s, Last-Modified %s; want 200, another ETag and %s",
					r.status, r.header.Get("ETag"), r.header.Get("Last-Modified"), day(1).Format(http.TimeFormat))
			}
		})
	}
}

// checkConditional sends the preconditions of a client holding the answer
// of path with etag, last modified at modified.
func checkConditional(t *testing.T, e *apiEnv, path, etag string, modified time.Time) {
	t.Helper()
	ims := func(d time.Duration) string { return modified.Add(d).UTC().Format(http.TimeFormat) }
	tests := []struct {
		name   string
		header map[string]string
		want   int
	}{
		{"the same ETag", map[string]string{"If-None-Match": etag}, 304},
		{"the same ETag, weak", map[string]string{"If-None-Match": "W/" + etag}, 304},
		{"a list holding it", map[string]string{"If-None-Match": `"other", ` + etag}, 304},
		{"*", map[string]string{"If-None-Match": "*"}, 304},
		{"another ETag", map[string]string{"If-None-Match": `"other"`}, 200},
		{"a malformed list", map[string]string{"If-None-Match": "nonsense"}, 200},
		{"since Last-Modified", map[string]string{"If-Modified-Since": ims(0)}, 304},
		{"since after it", map[string]string{"If-Modified-Since": ims(time.Hour)}, 304},
		{"since before it", map[string]string{"If-Modified-Since": ims(-time.Second)}, 200},
		{"since an invalid date", map[string]string{"If-Modified-Since": "yesterday"}, 200},
		{"If-None-Match first", map[string]string{"If-None-Match": `"other"`, "If-Modified-Since": ims(time.Hour)}, 200},
		{"If-None-Match first, matching", map[string]string{"If-None-Match": etag, "If-Modified-Since": ims(-time.Hour)}, 304},
	}
	for _, tt := range tests {
		r := e.getWith(path, tt.header)
		if r.status != tt.want {
			t.Errorf("%s (%v): %d, want %d", tt.name, tt.header, r.status, tt.want)
			continue
		}
		if r.header.Get("ETag") != etag || r.header.Get("Cache-Control") != "no-cache" {
			t.Errorf("%s: ETag %q, Cache-Control %q; want %s and no-cache", tt.name, r.header.Get("ETag"), r.header.Get("Cache-Control"), etag)
		}
		if tt.want == http.StatusNotModified && len(r.body) != 0 {
			t.Errorf("%s: 304 with a body %s", tt.name, r.body)
		}
	}
}

// waitForCache returns once the listener is up and path's answer cached.
func waitForCache(t *testing.T, e *apiEnv, path string) {
	t.Helper()
	eventually(t, 20*time.Second, func() error {
		e.get(path)
		hits := e.metric("slotsync_api_cache_hits_total")
		e.get(path)
		if e.metric("slotsync_api_cache_hits_total") != hits+1 {
			return fmt.Errorf("the cache does not serve %s yet", path)
		}
		return nil
	})
}

// offer is a slot with places left whose price is n euros.
func offer(n int) []partner.Slot {
	price := partner.Decimal(fmt.Sprintf("%d.00", n))
	return []partner.Slot{{StartDate: "2026-12-01", StartTime: "09:00", EndTime: "10:00", ProviderSlotID: "a", Remaining: 5, CurrencyCode: "EUR",
		PaxAvailability: []partner.PaxAvailability{{Type: "ADULT", Remaining: 5, IsPrimary: true,
			Price: partner.Price{FinalPrice: price, OriginalPrice: price, CurrencyCode: "EUR"}}}}}
}
