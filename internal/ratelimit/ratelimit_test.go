package ratelimit_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/slotsync/slotsync/internal/pgtest"
	"github.com/slotsync/slotsync/internal/ratelimit"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// newPool opens a pool on a fresh database; each simulated pod gets its own.
func newPool(t *testing.T, url string) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

func newLimiter(t *testing.T, pool *pgxpool.Pool, key string, limit int, window time.Duration, opts ...ratelimit.Option) *ratelimit.Limiter {
	t.Helper()
	l, err := ratelimit.New(pool, key, limit, window, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestNewValidates(t *testing.T) {
	t.Parallel()
	pool := newPool(t, pgtest.NewDatabase(t))
	tests := []struct {
		name    string
		pool    *pgxpool.Pool
		key     string
		limit   int
		window  time.Duration
		opts    []ratelimit.Option
		wantErr bool
	}{
		{name: "valid", pool: pool, key: "k", limit: 30, window: time.Minute},
		{name: "no margin", pool: pool, key: "k", limit: 30, window: time.Minute, opts: []ratelimit.Option{ratelimit.WithMargin(0)}},
		{name: "no pool", key: "k", limit: 30, window: time.Minute, wantErr: true},
		{name: "empty key", pool: pool, limit: 30, window: time.Minute, wantErr: true},
		{name: "zero limit", pool: pool, key: "k", window: time.Minute, wantErr: true},
		{name: "negative limit", pool: pool, key: "k", limit: -1, window: time.Minute, wantErr: true},
		{name: "zero window", pool: pool, key: "k", limit: 30, wantErr: true},
		{name: "negative margin", pool: pool, key: "k", limit: 30, window: time.Minute, opts: []ratelimit.Option{ratelimit.WithMargin(-0.1)}, wantErr: true},
		{name: "margin of one", pool: pool, key: "k", limit: 30, window: time.Minute, opts: []ratelimit.Option{ratelimit.WithMargin(1)}, wantErr: true},
		{name: "priority", pool: pool, key: "k", limit: 30, window: time.Minute, opts: []ratelimit.Option{ratelimit.WithPriority(15 * time.Minute)}},
		{name: "negative priority", pool: pool, key: "k", limit: 30, window: time.Minute, opts: []ratelimit.Option{ratelimit.WithPriority(-time.Minute)}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ratelimit.New(tt.pool, tt.key, tt.limit, tt.window, tt.opts...)
			if (err != nil) != tt.wantErr {
				t.Errorf("New() error = %v, wantErr %v", err, tt.wantErr)
			}
		})
	}
}

func TestInterval(t *testing.T) {
	t.Parallel()
	pool := newPool(t, pgtest.NewDatabase(t))
	tests := []struct {
		name   string
		limit  int
		window time.Duration
		opts   []ratelimit.Option
		want   time.Duration
	}{
		{"partner default", 30, time.Minute, nil, 2010 * time.Millisecond},
		{"no margin", 30, time.Minute, []ratelimit.Option{ratelimit.WithMargin(0)}, 2 * time.Second},
		{"rounded up to the microsecond", 3, time.Microsecond * 10, []ratelimit.Option{ratelimit.WithMargin(0)}, 4 * time.Microsecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := newLimiter(t, pool, "k", tt.limit, tt.window, tt.opts...).Interval(); got != tt.want {
				t.Errorf("Interval() = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestPodsShareTheBudget runs four pods, each with its own pool and Limiter, on one
// key for two windows of compressed time, and counts what a fixed-window partner
// would have seen.
func TestPodsShareTheBudget(t *testing.T) {
	t.Parallel()
	const (
		limit  = 30
		window = 3 * time.Second
		run    = 2 * window
		pods   = 4
	)
	url := pgtest.NewDatabase(t)
	// Compressing a minute into 3 s compresses the jitter the margin absorbs
	// (window×margin) too: 0.5% would leave 15 ms, less than a loaded test machine's
	// timer lag. 5% gives 150 ms, the order of production's 300 ms.
	const margin = 0.05

	start := time.Now()
	ctx, cancel := context.WithDeadline(context.Background(), start.Add(run))
	defer cancel()
	var (
		mu    sync.Mutex
		sent  []time.Time
		wg    sync.WaitGroup
		stats = make([]ratelimit.Stats, pods)
		errs  = make([]error, pods)
	)
	for pod := range pods {
		l := newLimiter(t, newPool(t, url), "shared-key", limit, window, ratelimit.WithMargin(margin))
		wg.Go(func() {
			defer func() { stats[pod] = l.Stats() }()
			for {
				if err := l.Wait(ctx); err != nil {
					if !errors.Is(err, context.DeadlineExceeded) {
						errs[pod] = err
					}
					return
				}
				mu.Lock()
				sent = append(sent, time.Now())
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}

	perWindow := map[int64]int{}
	inRun := 0
	for _, at := range sent {
		perWindow[at.UnixNano()/int64(window)]++
		if at.Before(start.Add(run)) {
			inRun++
		}
	}
	for w, n := range perWindow {
		if n > limit {
			t.Errorf("the window starting %v received %d requests, over the limit of %d",
				time.Unix(0, w*int64(window)).UTC().Format(time.TimeOnly), n, limit)
		}
	}
	allowance := float64(limit) * float64(run) / float64(window)
	utilisation := float64(inRun) / allowance
	t.Logf("%d requests in %v over %d pods (stats %+v): %.2f of the allowance; per window %v",
		inRun, run, pods, stats, utilisation, perWindow)
	if utilisation < 0.9 {
		t.Errorf("utilisation %.2f of the allowance, want at least 0.9", utilisation)
	}
	for pod, s := range stats {
		if s.Reservations == 0 {
			t.Errorf("pod %d never got a slot", pod)
		}
	}
}

// TestMoreUrgentBandsGoFirst runs the workers of a band refreshed every 15 minutes
// and of one refreshed daily on one key, as today's and the month's Jobs do: the
// daily band must stand back while the 15-minute band has work, take the whole
// budget once that work is done, and together they stay within the limit.
func TestMoreUrgentBandsGoFirst(t *testing.T) {
	t.Parallel()
	const (
		limit   = 30
		window  = time.Second
		margin  = 0.05 // see TestPodsShareTheBudget
		urgent  = 45   // requests of the 15-minute band's run
		run     = 4 * time.Second
		workers = 2
		work    = 3 * time.Millisecond // fetching and storing an answer
	)
	url := pgtest.NewDatabase(t)
	start := time.Now()
	ctx, cancel := context.WithDeadline(context.Background(), start.Add(run))
	defer cancel()
	type send struct {
		at    time.Time
		daily bool
	}
	var (
		mu     sync.Mutex
		sent   []send
		left   = urgent
		wg     sync.WaitGroup
		errs   = make([]error, 2*workers)
		yields = make([]int64, 2*workers)
	)
	for i := range 2 * workers {
		daily := i >= workers
		every := 15 * time.Minute
		if daily {
			every = 24 * time.Hour
		}
		l := newLimiter(t, newPool(t, url), "shared-key", limit, window,
			ratelimit.WithMargin(margin), ratelimit.WithPriority(every))
		wg.Go(func() {
			defer func() { yields[i] = l.Stats().Yields }()
			for {
				mu.Lock()
				done := !daily && left == 0
				if !daily && !done {
					left--
				}
				mu.Unlock()
				if done {
					return
				}
				if err := l.Wait(ctx); err != nil {
					if !errors.Is(err, context.DeadlineExceeded) {
						errs[i] = err
					}
					return
				}
				mu.Lock()
				sent = append(sent, send{at: time.Now(), daily: daily})
				mu.Unlock()
				time.Sleep(work)
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}

	var urgentFirst, urgentLast time.Time
	perWindow := map[int64]int{}
	urgentSent := 0
	for _, s := range sent {
		perWindow[s.at.UnixNano()/int64(window)]++
		if s.daily {
			continue
		}
		urgentSent++
		if urgentFirst.IsZero() {
			urgentFirst = s.at
		}
		urgentLast = s.at
	}
	if urgentSent != urgent {
		t.Fatalf("the 15-minute band sent %d requests, want %d", urgentSent, urgent)
	}
	// The daily workers may take the slots reserved before the first 15-minute
	// claim existed; after that, at most one that raced a reservation.
	interval := time.Duration(float64(window) / limit * (1 + margin))
	dailyDuring, dailyAfter := 0, 0
	for _, s := range sent {
		switch {
		case !s.daily:
		case s.at.After(urgentFirst.Add(workers*interval)) && s.at.Before(urgentLast):
			dailyDuring++
		case s.at.After(urgentLast):
			dailyAfter++
		}
	}
	t.Logf("15-minute band: %d requests from %v to %v; daily band: %d during, %d after; yields %v; per window %v",
		urgentSent, urgentFirst.Sub(start), urgentLast.Sub(start), dailyDuring, dailyAfter, yields, perWindow)
	if dailyDuring > 1 {
		t.Errorf("the daily band sent %d requests while the 15-minute band had work, want at most 1", dailyDuring)
	}
	// The 15-minute band had the budget to itself: its run took about urgent slots.
	if took, want := urgentLast.Sub(urgentFirst), time.Duration(urgent+workers+2)*interval; took > want {
		t.Errorf("the 15-minute band's %d requests took %v, want at most %v", urgent, took, want)
	}
	// Then the daily band has it all, bar the claim's lapse of a few slots.
	rest := start.Add(run).Sub(urgentLast)
	if want := int(0.8 * float64(rest) / float64(interval)); dailyAfter < want {
		t.Errorf("the daily band sent %d requests in the %v after the 15-minute band's run, want at least %d", dailyAfter, rest, want)
	}
	for w, n := range perWindow {
		if n > limit {
			t.Errorf("the window starting %v received %d requests, over the limit of %d",
				time.Unix(0, w*int64(window)).UTC().Format(time.TimeOnly), n, limit)
		}
	}
}

// TestOverdueRunsYieldNoMore: a daily band's run that is past its deadline takes
// its turn beside a 15-minute band that always has work, instead of waiting for
// a lull that never comes.
func TestOverdueRunsYieldNoMore(t *testing.T) {
	t.Parallel()
	const (
		limit  = 30
		window = time.Second
		run    = 2 * time.Second
	)
	url := pgtest.NewDatabase(t)
	ctx, cancel := context.WithTimeout(context.Background(), run)
	defer cancel()
	opts := [][]ratelimit.Option{
		{ratelimit.WithMargin(0.05), ratelimit.WithPriority(15 * time.Minute)},
		{ratelimit.WithMargin(0.05), ratelimit.WithPriority(15 * time.Minute)},
		{ratelimit.WithMargin(0.05), ratelimit.WithPriority(24 * time.Hour), ratelimit.WithDeadline(time.Now().Add(-time.Minute))},
		{ratelimit.WithMargin(0.05), ratelimit.WithPriority(24 * time.Hour), ratelimit.WithDeadline(time.Now().Add(time.Hour))},
	}
	limiters := make([]*ratelimit.Limiter, len(opts))
	for i, o := range opts {
		pool := newPool(t, url)
		// Connected before the race starts: a pool's first connection takes longer
		// than a slot, and would let the daily worker in before any claim exists.
		if err := pool.Ping(ctx); err != nil {
			t.Fatal(err)
		}
		limiters[i] = newLimiter(t, pool, "shared-key", limit, window, o...)
	}
	stats := make([]ratelimit.Stats, len(opts))
	var wg sync.WaitGroup
	start := func(i int) {
		wg.Go(func() {
			for limiters[i].Wait(ctx) == nil {
				time.Sleep(2 * time.Millisecond)
			}
			stats[i] = limiters[i].Stats()
		})
	}
	// The 15-minute band has work first, as a due run has before the others'.
	start(0)
	start(1)
	for (limiters[0].Stats().Reservations == 0 || limiters[1].Stats().Reservations == 0) && ctx.Err() == nil {
		time.Sleep(time.Millisecond)
	}
	start(2)
	start(3)
	wg.Wait()
	urgent := stats[0].Reservations + stats[1].Reservations
	overdue, onTime := stats[2].Reservations, stats[3].Reservations
	t.Logf("15-minute workers %d slots, overdue daily worker %d, daily worker within its deadline %d (yields %d)",
		urgent, overdue, onTime, stats[3].Yields)
	// Three workers take turns: the overdue one gets about a third.
	if total := urgent + overdue; overdue*5 < total {
		t.Errorf("the overdue daily worker got %d of %d slots, want about a third", overdue, total)
	}
	if onTime > 1 {
		t.Errorf("the daily worker within its deadline got %d slots while the 15-minute band had work, want at most 1", onTime)
	}
}

func TestBlockHoldsEveryInstance(t *testing.T) {
	t.Parallel()
	url := pgtest.NewDatabase(t)
	a := newLimiter(t, newPool(t, url), "key", 30, time.Minute)
	b := newLimiter(t, newPool(t, url), "key", 30, time.Minute)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	if err := b.Wait(ctx); err != nil { // b has state in the database already
		t.Fatal(err)
	}
	reset := time.Now().Add(1500 * time.Millisecond)
	if _, err := a.Block(ctx, time.Until(reset)); err != nil {
		t.Fatal(err)
	}
	// An earlier reset never shortens the block.
	if _, err := a.Block(ctx, 0); err != nil {
		t.Fatal(err)
	}
	if err := b.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	if now := time.Now(); now.Before(reset) {
		t.Errorf("another instance's Wait returned %v before the reset", reset.Sub(now))
	}
	if s := a.Stats(); s.Blocks != 2 {
		t.Errorf("stats = %+v, want 2 blocks", s)
	}
}

func TestBlockReachesSleepingWaiters(t *testing.T) {
	t.Parallel()
	url := pgtest.NewDatabase(t)
	// 3 per second: the third Wait sleeps about 0.7 s for its slot.
	a := newLimiter(t, newPool(t, url), "key", 3, 2*time.Second)
	b := newLimiter(t, newPool(t, url), "key", 3, 2*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for range 2 {
		if err := a.Wait(ctx); err != nil {
			t.Fatal(err)
		}
	}
	done := make(chan error, 1)
	go func() { done <- a.Wait(ctx) }()
	for a.Stats().Reservations < 3 {
		select {
		case err := <-done:
			t.Fatalf("the third Wait returned at once: %v", err)
		case <-time.After(time.Millisecond):
		}
	}
	// The 429 arrives while a sleeps for a slot that lies before the reset.
	reset := time.Now().Add(2 * time.Second)
	if _, err := b.Block(ctx, time.Until(reset)); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if now := time.Now(); now.Before(reset) {
		t.Errorf("a sleeping Wait returned %v before the reset", reset.Sub(now))
	}
}

func TestWaitIsCancellable(t *testing.T) {
	t.Parallel()
	l := newLimiter(t, newPool(t, pgtest.NewDatabase(t)), "key", 30, time.Minute)
	bg := context.Background()
	if _, err := l.Block(bg, time.Hour); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(bg)
	time.AfterFunc(100*time.Millisecond, cancel)
	begin := time.Now()
	if err := l.Wait(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled Wait returned %v", err)
	}
	if took := time.Since(begin); took > 5*time.Second {
		t.Errorf("cancelled Wait took %v to return", took)
	}

	ctx, cancel = context.WithTimeout(bg, time.Minute)
	defer cancel()
	begin = time.Now()
	if err := l.Wait(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Wait for a slot past the deadline returned %v", err)
	}
	if took := time.Since(begin); took > 5*time.Second {
		t.Errorf("Wait for a slot past the deadline took %v to say so", took)
	}
}

func TestKeysDoNotShare(t *testing.T) {
	t.Parallel()
	url := pgtest.NewDatabase(t)
	pool := newPool(t, url)
	blocked := newLimiter(t, pool, "key-one", 30, time.Minute)
	free := newLimiter(t, pool, "key-two", 30, time.Minute)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := blocked.Block(ctx, time.Hour); err != nil {
		t.Fatal(err)
	}
	for range 2 { // the second waits one interval: its own key's spacing
		if err := free.Wait(ctx); err != nil {
			t.Fatalf("a key blocked another: %v", err)
		}
	}
	if s := free.Stats(); s.Reservations != 2 || s.Waited > 10*time.Second {
		t.Errorf("stats of the free key = %+v", s)
	}

	// Only hashes of the keys are stored.
	var keys []string
	rows, err := pool.Query(ctx, `SELECT key_hash FROM partner_budgets ORDER BY key_hash`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k)
	}
	for _, raw := range []string{"key-one", "key-two"} {
		sum := sha256.Sum256([]byte(raw))
		found := false
		for _, k := range keys {
			found = found || k == hex.EncodeToString(sum[:])
			if k == raw {
				t.Errorf("the key %q is stored in clear", raw)
			}
		}
		if !found {
			t.Errorf("no budget row for the hash of %q among %v", raw, keys)
		}
	}
}

// TestBlockIsBounded: a 429 whose reset is absurdly far away (a partner with a
// wrong clock) holds the key for at most two windows, and a block that lies
// further ahead in the database (written by an older version) holds nobody.
func TestBlockIsBounded(t *testing.T) {
	t.Parallel()
	const window = time.Second
	url := pgtest.NewDatabase(t)
	pool := newPool(t, url)
	a := newLimiter(t, pool, "key", 30, window)
	b := newLimiter(t, newPool(t, url), "key", 30, window)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	began := time.Now()
	blocked, err := a.Block(ctx, time.Until(time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)))
	if err != nil {
		t.Fatal(err)
	}
	if blocked > ratelimit.MaxBlockWindows*window || blocked < window {
		t.Errorf("a reset in 2100 blocks the key for %v, want up to %v", blocked, ratelimit.MaxBlockWindows*window)
	}
	if err := b.Wait(ctx); err != nil {
		t.Fatalf("Wait after a reset in 2100: %v", err)
	}
	if took := time.Since(began); took < window || took > ratelimit.MaxBlockWindows*window+5*time.Second {
		t.Errorf("Wait after a reset in 2100 returned after %v, want after the bounded block of %v", took, ratelimit.MaxBlockWindows*window)
	}

	if _, err := pool.Exec(ctx, `UPDATE partner_budgets SET blocked_until = '2100-01-01T00:00:00Z'`); err != nil {
		t.Fatal(err)
	}
	began = time.Now()
	if err := b.Wait(ctx); err != nil {
		t.Fatalf("Wait with a block until 2100 in the database: %v", err)
	}
	if took := time.Since(began); took > 5*time.Second {
		t.Errorf("a block until 2100 in the database held Wait for %v", took)
	}
	if blocked, err := a.Block(ctx, 10*time.Millisecond); err != nil || blocked > window {
		t.Errorf("a short block after one until 2100 holds the key for %v (%v), want the short one", blocked, err)
	}
}
