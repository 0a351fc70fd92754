package partner_test

import (
	"context"
	"errors"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/slotsync/slotsync/internal/partner"
	"github.com/slotsync/slotsync/internal/partnersim"
	"github.com/slotsync/slotsync/internal/syncertest"
)

const key = "k3y-that-must-never-leak"

var (
	// simNow is the simulator's clock in most tests: before the dates asked for.
	simNow  = time.Date(2026, 11, 20, 8, 0, 0, 0, time.UTC)
	tuesday = time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC) // product 14 has slots
)

func newSim(cfg partnersim.Config) *partnersim.Server {
	if cfg.Now == nil {
		cfg.Now = func() time.Time { return simNow }
	}
	if cfg.Keys == nil {
		cfg.Keys = []string{key}
	}
	if cfg.Limit == 0 {
		cfg.Limit = 1000
	}
	return partnersim.New(cfg)
}

func newClient(t *testing.T, url string, opts ...partner.Option) *partner.Client {
	t.Helper()
	opts = append([]partner.Option{partner.WithRetry(4, time.Millisecond, 5*time.Millisecond)}, opts...)
	c, err := partner.New(url, key, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// fakeLimiter records calls; onBlock lets a test move the simulator's clock.
type fakeLimiter struct {
	mu      sync.Mutex
	waits   int
	blocks  []time.Duration
	onBlock func(wait time.Duration)
}

func (l *fakeLimiter) Wait(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.waits++
	return ctx.Err()
}

func (l *fakeLimiter) Block(_ context.Context, wait time.Duration) (time.Duration, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.blocks = append(l.blocks, wait)
	if l.onBlock != nil {
		l.onBlock(wait)
	}
	return wait, nil
}

func checkNoLeak(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		return
	}
	for _, secret := range []string{key, "date=", "pa55word"} {
		if strings.Contains(err.Error(), secret) {
			t.Errorf("error %q contains %q", err, secret)
		}
	}
}

func TestFetchInventory(t *testing.T) {
	sim := newSim(partnersim.Config{Seed: 5})
	lim := &fakeLimiter{}
	c := newClient(t, syncertest.Serve(t, sim, nil), partner.WithLimiter(lim))
	got, err := c.FetchInventory(t.Context(), partnersim.ProductMonToWed, tuesday)
	if err != nil {
		t.Fatal(err)
	}
	want := sim.Inventory(partnersim.ProductMonToWed, tuesday, simNow)
	if len(want) == 0 || !reflect.DeepEqual(got, want) {
		t.Errorf("FetchInventory =\n%+v\nwant\n%+v", got, want)
	}
	if st := c.Stats(); st != (partner.Stats{Requests: 1}) {
		t.Errorf("stats = %+v, want 1 request", st)
	}
	if lim.waits != 1 {
		t.Errorf("limiter waited %d times, want 1", lim.waits)
	}
	// A day without slots is an empty answer, not an error.
	got, err = c.FetchInventory(t.Context(), partnersim.ProductMonToWed, tuesday.AddDate(0, 0, 3))
	if err != nil || len(got) != 0 {
		t.Errorf("Friday: %v, %v; want no slots", got, err)
	}
}

func TestFetchInventoryBasePath(t *testing.T) {
	sim := newSim(partnersim.Config{})
	url := syncertest.Serve(t, sim, func(h http.Handler) http.Handler { return http.StripPrefix("/partner", h) })
	c := newClient(t, url+"/partner/")
	if _, err := c.FetchInventory(t.Context(), 14, tuesday); err != nil {
		t.Fatal(err)
	}
}

func TestFetchInventoryUnauthorized(t *testing.T) {
	sim := newSim(partnersim.Config{Keys: []string{"another-key"}})
	c := newClient(t, syncertest.Serve(t, sim, nil))
	_, err := c.FetchInventory(t.Context(), 14, tuesday)
	if !errors.Is(err, partner.ErrUnauthorized) {
		t.Fatalf("err = %v, want ErrUnauthorized", err)
	}
	checkNoLeak(t, err)
	if got := c.Stats().Requests; got != 1 {
		t.Errorf("%d requests sent, want exactly 1", got)
	}
	if got := sim.Stats().Requests; got != 1 {
		t.Errorf("simulator saw %d requests, want 1", got)
	}
}

func TestFetchInventoryRevokedKey(t *testing.T) {
	sim := newSim(partnersim.Config{Faults: partnersim.Faults{RevokedKeys: []string{key}}})
	c := newClient(t, syncertest.Serve(t, sim, nil))
	if _, err := c.FetchInventory(t.Context(), 14, tuesday); !errors.Is(err, partner.ErrUnauthorized) {
		t.Fatalf("err = %v, want ErrUnauthorized", err)
	}
}

func TestFetchInventoryRateLimitedGivesUp(t *testing.T) {
	// The storm's end is an hour away, beyond what the client waits for.
	storm := time.Now().Add(time.Hour).Truncate(time.Millisecond)
	sim := newSim(partnersim.Config{Faults: partnersim.Faults{Storm429Until: storm}, Now: time.Now})
	lim := &fakeLimiter{}
	c := newClient(t, syncertest.Serve(t, sim, nil), partner.WithLimiter(lim))
	_, err := c.FetchInventory(t.Context(), 14, tuesday)
	var rl *partner.RateLimitedError
	if !errors.As(err, &rl) {
		t.Fatalf("err = %v, want *RateLimitedError", err)
	}
	checkNoLeak(t, err)
	if !rl.Reset.Equal(storm) || rl.Limit != 1000 || rl.Remaining != 0 {
		t.Errorf("RateLimitedError = %+v, want reset %s, limit 1000", rl, storm)
	}
	if len(lim.blocks) != 1 || lim.blocks[0] > time.Hour || lim.blocks[0] < 59*time.Minute {
		t.Errorf("Block calls = %v, want one for the hour until %s", lim.blocks, storm)
	}
	if st := c.Stats(); st.Requests != 1 || st.RateLimited != 1 {
		t.Errorf("stats = %+v, want 1 request, 1 rate limited", st)
	}
}

func TestFetchInventoryRateLimitedBlocksAndRetries(t *testing.T) {
	clock := atomic.Pointer[time.Time]{}
	clock.Store(&simNow)
	sim := newSim(partnersim.Config{Limit: 1, Window: time.Minute, Now: func() time.Time { return *clock.Load() }})
	// The shared limiter would hold Wait until the reset; here the simulated time
	// simply jumps there.
	wantReset := simNow.Truncate(time.Minute).Add(time.Minute)
	lim := &fakeLimiter{onBlock: func(time.Duration) { clock.Store(&wantReset) }}
	c := newClient(t, syncertest.Serve(t, sim, nil), partner.WithLimiter(lim))
	for i := range 2 {
		if _, err := c.FetchInventory(t.Context(), 14, tuesday); err != nil {
			t.Fatalf("fetch %d: %v", i+1, err)
		}
	}
	if len(lim.blocks) != 1 {
		t.Errorf("Block calls = %v, want one", lim.blocks)
	}
	if st := c.Stats(); st.Requests != 3 || st.RateLimited != 1 || lim.waits != 3 {
		t.Errorf("stats = %+v, waits %d; want 3 requests and waits, 1 rate limited", st, lim.waits)
	}
}

func TestFetchInventoryRateLimitBounded(t *testing.T) {
	sim := newSim(partnersim.Config{Limit: 1}) // the clock stands still: every retry is refused
	c := newClient(t, syncertest.Serve(t, sim, nil), partner.WithRateLimitRetry(2, time.Minute))
	if _, err := c.FetchInventory(t.Context(), 14, tuesday); err != nil {
		t.Fatal(err)
	}
	_, err := c.FetchInventory(t.Context(), 14, tuesday)
	if _, ok := errors.AsType[*partner.RateLimitedError](err); !ok {
		t.Fatalf("err = %v, want *RateLimitedError", err)
	}
	if st := c.Stats(); st.Requests != 4 || st.RateLimited != 3 {
		t.Errorf("stats = %+v, want 1 + 3 requests (a 429 and 2 retries)", st)
	}
}

func TestFetchInventoryWaitsForResetWithoutLimiter(t *testing.T) {
	storm := time.Now().Add(time.Second)
	sim := newSim(partnersim.Config{Faults: partnersim.Faults{Storm429Until: storm}, Now: time.Now})
	c := newClient(t, syncertest.Serve(t, sim, nil))
	if _, err := c.FetchInventory(t.Context(), 14, time.Now().AddDate(0, 0, 7)); err != nil {
		t.Fatal(err)
	}
	if time.Now().Before(storm) {
		t.Error("succeeded before the storm ended")
	}
	if st := c.Stats(); st.RateLimited != 1 || st.Requests != 2 {
		t.Errorf("stats = %+v, want a 429 then a success", st)
	}
}

func TestFetchInventoryServerErrors(t *testing.T) {
	sim := newSim(partnersim.Config{Faults: partnersim.Faults{ErrorRate: 1}})
	var n atomic.Int64
	url := syncertest.Serve(t, sim, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if n.Add(1) == 3 { // the partner recovers after two failures
				_ = sim.SetFaults(partnersim.Faults{})
			}
			h.ServeHTTP(w, r)
		})
	})
	c := newClient(t, url)
	if _, err := c.FetchInventory(t.Context(), 14, tuesday); err != nil {
		t.Fatal(err)
	}
	if st := c.Stats(); st.Requests != 3 || st.ServerErrors != 2 {
		t.Errorf("stats = %+v, want 3 requests, 2 server errors", st)
	}
}

func TestFetchInventoryServerErrorsExhausted(t *testing.T) {
	sim := newSim(partnersim.Config{Faults: partnersim.Faults{ErrorRate: 1}})
	c := newClient(t, syncertest.Serve(t, sim, nil), partner.WithRetry(3, time.Millisecond, 2*time.Millisecond))
	_, err := c.FetchInventory(t.Context(), 14, tuesday)
	se, ok := errors.AsType[*partner.ServerError](err)
	if !ok || se.Status < 500 {
		t.Fatalf("err = %v, want a 5xx *ServerError", err)
	}
	checkNoLeak(t, err)
	if !strings.HasPrefix(err.Error(), "fetch product 14 on 2026-12-01: give up after 3 attempts: partner answered 5") {
		t.Errorf("error text %q", err)
	}
	if got := c.Stats().Requests; got != 3 {
		t.Errorf("%d requests, want 3", got)
	}
}

func TestFetchInventoryNotFound(t *testing.T) {
	c := newClient(t, syncertest.Serve(t, newSim(partnersim.Config{}), nil))
	_, err := c.FetchInventory(t.Context(), 999, tuesday)
	if se, ok := errors.AsType[*partner.ServerError](err); !ok || se.Status != http.StatusNotFound {
		t.Fatalf("err = %v, want a 404 *ServerError", err)
	}
	if got := c.Stats().Requests; got != 1 {
		t.Errorf("%d requests, want 1: a 404 is not retried", got)
	}
}

func TestFetchInventoryTimeouts(t *testing.T) {
	sim := newSim(partnersim.Config{Faults: partnersim.Faults{TimeoutRate: 1}})
	url := syncertest.Serve(t, sim, nil)
	c := newClient(t, url, partner.WithTimeout(100*time.Millisecond), partner.WithRetry(2, time.Millisecond, time.Millisecond))
	_, err := c.FetchInventory(t.Context(), 14, tuesday)
	if !errors.Is(err, partner.ErrTimeout) {
		t.Fatalf("err = %v, want ErrTimeout", err)
	}
	checkNoLeak(t, err)
	if st := c.Stats(); st.Requests != 2 || st.Timeouts != 2 {
		t.Errorf("stats = %+v, want 2 requests, 2 timeouts", st)
	}

	// The caller's own deadline is not the partner's fault and is not retried.
	c = newClient(t, url, partner.WithTimeout(time.Minute))
	ctx, cancel := context.WithTimeout(t.Context(), 150*time.Millisecond)
	defer cancel()
	_, err = c.FetchInventory(ctx, 14, tuesday)
	if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, partner.ErrTimeout) {
		t.Errorf("err = %v, want the caller's context.DeadlineExceeded", err)
	}
	ctx, cancel = context.WithCancel(t.Context())
	time.AfterFunc(100*time.Millisecond, cancel)
	_, err = c.FetchInventory(ctx, 14, tuesday)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
	if st := c.Stats(); st.Requests != 2 || st.Timeouts != 0 {
		t.Errorf("stats = %+v, want 2 requests, no timeouts", st)
	}
}

func TestFetchInventorySlowWithinTimeout(t *testing.T) {
	sim := newSim(partnersim.Config{Faults: partnersim.Faults{SlowRate: 1, SlowDelay: 50 * time.Millisecond}})
	c := newClient(t, syncertest.Serve(t, sim, nil), partner.WithTimeout(5*time.Second))
	if _, err := c.FetchInventory(t.Context(), 14, tuesday); err != nil {
		t.Fatal(err)
	}
}

func TestFetchInventoryMalformed(t *testing.T) {
	tests := []struct {
		name      string
		faults    partnersim.Faults
		wantField string
		wantText  string
	}{
		{"truncated JSON", partnersim.Faults{MalformedRate: 1}, "", "decode answer: unexpected end of JSON input"},
		{"missing field", partnersim.Faults{MissingFieldRate: 1}, "providerSlotId", "providerSlotId: missing"},
		{"duplicated providerSlotId", partnersim.Faults{DuplicateRate: 1}, "providerSlotId", "providerSlotId: duplicated"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newClient(t, syncertest.Serve(t, newSim(partnersim.Config{Faults: tt.faults}), nil))
			_, err := c.FetchInventory(t.Context(), 14, tuesday)
			if !errors.Is(err, partner.ErrMalformed) {
				t.Fatalf("err = %v, want ErrMalformed", err)
			}
			checkNoLeak(t, err)
			me, _ := errors.AsType[*partner.MalformedError](err)
			if me.Field != tt.wantField || !strings.Contains(err.Error(), tt.wantText) {
				t.Errorf("err = %v (field %q), want field %q and %q", err, me.Field, tt.wantField, tt.wantText)
			}
			if !strings.HasPrefix(err.Error(), "fetch product 14 on 2026-12-01: decode ") {
				t.Errorf("error text %q does not read like a path", err)
			}
			if st := c.Stats(); st.Requests != 1 || st.Malformed != 1 {
				t.Errorf("stats = %+v, want 1 request, 1 malformed: no retry", st)
			}
		})
	}
}

func TestFetchInventoryNetworkErrorHidesCredentials(t *testing.T) {
	// Nothing listens on port 1 of loopback: the connection is refused.
	c, err := partner.New("http://user:pa55word@127.0.0.1:1/", key, partner.WithRetry(2, time.Millisecond, time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.FetchInventory(t.Context(), 14, tuesday)
	if err == nil {
		t.Fatal("fetch from a closed port succeeded")
	}
	checkNoLeak(t, err)
	if !strings.Contains(err.Error(), "127.0.0.1:1/api/v1/inventory/14") {
		t.Errorf("error %q does not say where it went", err)
	}
}

func TestNew(t *testing.T) {
	tests := []struct {
		name, url, key string
		opts           []partner.Option
		wantErr        bool
	}{
		{"ok", "https://partner.example/base", "k", nil, false},
		{"empty key", "https://partner.example", "", nil, true},
		{"no scheme", "partner.example", "k", nil, true},
		{"ftp", "ftp://partner.example", "k", nil, true},
		{"no host", "http:///api", "k", nil, true},
		{"query", "https://partner.example/?token=pa55word", "k", nil, true},
		{"unparsable with credentials", "http://user:pa55word@host:port:x/", "k", nil, true},
		{"zero timeout", "https://partner.example", "k", []partner.Option{partner.WithTimeout(0)}, true},
		{"zero attempts", "https://partner.example", "k", []partner.Option{partner.WithRetry(0, time.Second, time.Second)}, true},
		{"backoff inverted", "https://partner.example", "k", []partner.Option{partner.WithRetry(3, time.Second, time.Millisecond)}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := partner.New(tt.url, tt.key, tt.opts...)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			checkNoLeak(t, err)
		})
	}
}
