package partnersim

import (
	"encoding/json"
	"net/http"
	"sync"
	"testing"
	"time"
)

const inventoryPath = "/api/v1/inventory/14?date=2026-11-30"

func TestRateLimitWindow(t *testing.T) {
	// 10s into a window: windows are whole minutes since the Unix epoch.
	windowStart := time.Date(2026, 11, 26, 9, 41, 0, 0, time.UTC)
	clock := &fakeClock{t: windowStart.Add(10*time.Second + 300*time.Millisecond)}
	sim := New(Config{Limit: 3, Window: time.Minute, Keys: []string{"k1", "k2"}, Now: clock.Now})
	ts := start(t, sim)

	for i := range 3 {
		if a := get(t, ts, inventoryPath, "k1"); a.status != http.StatusOK {
			t.Fatalf("request %d within the limit: status %d %s", i+1, a.status, a.body)
		}
	}
	for i := range 2 { // a 429 spends nothing, and so does not move the reset
		a := get(t, ts, inventoryPath, "k1")
		if a.status != http.StatusTooManyRequests {
			t.Fatalf("request over the limit: status %d, want 429", a.status)
		}
		var body struct {
			State struct{ Limit, Remaining, Reset int64 } `json:"rateLimitState"`
		}
		if err := json.Unmarshal([]byte(a.body), &body); err != nil {
			t.Fatalf("429 body %q: %v", a.body, err)
		}
		wantReset := windowStart.Add(time.Minute).UnixMilli()
		if body.State.Limit != 3 || body.State.Remaining != 0 || body.State.Reset != wantReset {
			t.Errorf("429 #%d rateLimitState = %+v, want limit 3, remaining 0, reset %d", i+1, body.State, wantReset)
		}
		if got := a.header.Get("Retry-After"); got != "50" { // 49.7s rounded up
			t.Errorf("Retry-After = %q, want 50", got)
		}
	}
	if a := get(t, ts, inventoryPath, "k2"); a.status != http.StatusOK {
		t.Errorf("another key shares the budget: status %d", a.status)
	}

	clock.Set(windowStart.Add(time.Minute - time.Millisecond))
	if a := get(t, ts, inventoryPath, "k1"); a.status != http.StatusTooManyRequests {
		t.Errorf("last millisecond of the window: status %d, want 429", a.status)
	}
	clock.Set(windowStart.Add(time.Minute))
	for i := range 3 {
		if a := get(t, ts, inventoryPath, "k1"); a.status != http.StatusOK {
			t.Fatalf("next window, request %d: status %d", i+1, a.status)
		}
	}

	st := sim.Stats()
	k1 := st.ByKey[KeyHash("k1")]
	if k1.Requests != 9 || k1.OK != 6 || k1.RateLimited != 3 {
		t.Errorf("stats of k1 = %+v, want 9 requests, 6 ok, 3 rate limited", k1)
	}
	if len(st.PerWindow) != 2 {
		t.Fatalf("perWindow = %+v, want 2 windows", st.PerWindow)
	}
	first, second := st.PerWindow[0], st.PerWindow[1]
	if !first.Start.Equal(windowStart) || first.Accepted != 4 || first.RateLimited != 3 {
		t.Errorf("first window = %+v, want start %s, 4 accepted (3 of k1, 1 of k2), 3 rate limited", first, windowStart)
	}
	if second.Accepted != 3 || second.RateLimited != 0 {
		t.Errorf("second window = %+v, want 3 accepted", second)
	}
}

func TestRateLimitWindowsAlignToEpoch(t *testing.T) {
	// 7s does not divide a minute: windows still start at multiples of 7s since 1970.
	at := time.Unix(7*300_000_000+5, 0)
	clock := &fakeClock{t: at}
	sim := New(Config{Limit: 1, Window: 7 * time.Second, Now: clock.Now})
	ts := start(t, sim)
	get(t, ts, inventoryPath, "dev-key")
	a := get(t, ts, inventoryPath, "dev-key")
	if a.status != http.StatusTooManyRequests {
		t.Fatalf("status %d, want 429", a.status)
	}
	if got := a.header.Get("Retry-After"); got != "2" {
		t.Errorf("Retry-After = %q, want 2", got)
	}
	if got := sim.Stats().PerWindow[0].Start; !got.Equal(time.Unix(7*300_000_000, 0)) {
		t.Errorf("window start %s, want a multiple of 7s since the epoch", got)
	}
}

func TestUnlimited(t *testing.T) {
	sim := New(Config{Limit: -1})
	ts := start(t, sim)
	for i := range 50 {
		if a := get(t, ts, inventoryPath, "dev-key"); a.status != http.StatusOK {
			t.Fatalf("request %d: status %d", i+1, a.status)
		}
	}
}

func TestRateLimitConcurrent(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 11, 26, 9, 41, 5, 0, time.UTC)}
	sim := New(Config{Limit: 50, Now: clock.Now})
	ts := start(t, sim)
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			for range 10 {
				get(t, ts, inventoryPath, "dev-key")
			}
		})
	}
	wg.Wait()
	st := sim.Stats()
	if len(st.PerWindow) != 1 || st.PerWindow[0].Accepted != 50 || st.PerWindow[0].RateLimited != 150 {
		t.Errorf("perWindow = %+v, want exactly 50 accepted and 150 rate limited", st.PerWindow)
	}
	if st.OK != 50 || st.RateLimited != 150 {
		t.Errorf("stats = %+v", st.Counts)
	}
}
