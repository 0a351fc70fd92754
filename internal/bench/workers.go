package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"

	"github.com/slotsync/slotsync/internal/partner"
	"github.com/slotsync/slotsync/internal/partnersim"
	"github.com/slotsync/slotsync/internal/ratelimit"
	"github.com/slotsync/slotsync/internal/store"
	"github.com/slotsync/slotsync/internal/syncer"
)

// benchKey is the partner key of every benchmark; each run has a simulator and a
// database of its own, so runs never share a budget.
const benchKey = "bench-key"

// simServer is the partner simulator on a loopback port.
type simServer struct {
	*partnersim.Server
	URL string
	hs  *http.Server
}

func startSim(cfg partnersim.Config) (*simServer, error) {
	cfg.Keys = []string{benchKey}
	sim := partnersim.New(cfg)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen for the partner simulator: %w", err)
	}
	hs := &http.Server{Handler: sim.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = hs.Serve(ln) }()
	return &simServer{Server: sim, URL: "http://" + ln.Addr().String(), hs: hs}, nil
}

func (s *simServer) close() {
	s.Server.Close()
	_ = s.hs.Close()
}

// job is one Indexed Job of a run: a band of days and its shards.
type job struct {
	name     string
	products []int64
	fromDay  int
	toDay    int
	shards   int
	// every is the band's refresh interval, the limiter's priority (--every).
	every time.Duration
}

func (j job) pairs() int { return len(j.products) * (j.toDay - j.fromDay + 1) }

// workerSet runs the shards of jobs the way their pods would: each shard a
// syncer.Worker with its own database pool, its own ratelimit.Limiter on the
// shared budget table (or the seed-style client instead) and its own client.
type workerSet struct {
	dbURL   string
	simURL  string
	limit   int
	window  time.Duration
	seed    bool // the seed-style client instead of slotsync's limited one
	now     func() time.Time
	timeout time.Duration
	// adaptive runs the workers with demand-aware polling (--polling=adaptive,
	// --every the band's interval).
	adaptive bool

	// wrote, if set, sees every snapshot written.
	wrote func(p syncer.Pair, syncedAt time.Time)
	// warm, if set, keeps each shard's database pool from one run to the next.
	warm *warmPools
	// wall, if set, turns a time of now's clock into wall time: the limiter's
	// deadline (scheduled time + interval, as the sync command sets it) is on
	// the wall clock.
	wall func(time.Time) time.Time
}

// warmPools keeps each shard's database pool open across runs, as if its pod
// stayed warm. Under time compression a run's start-up (new connections) is
// stretched by the compression factor: 50 ms of connecting is 18 scaled seconds
// at 360×, a fifth of a percent of a 15-minute period at real time but 2% here.
type warmPools struct {
	mu    sync.Mutex
	dbURL string
	pools map[string]*store.Store
}

func newWarmPools(dbURL string) *warmPools {
	return &warmPools{dbURL: dbURL, pools: map[string]*store.Store{}}
}

func (w *warmPools) get(ctx context.Context, shard string) (*store.Store, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if db, ok := w.pools[shard]; ok {
		return db, nil
	}
	db, err := store.Open(ctx, withParam(w.dbURL, "pool_max_conns", "2"))
	if err != nil {
		return nil, err
	}
	w.pools[shard] = db
	return db, nil
}

func (w *warmPools) close() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, db := range w.pools {
		db.Close()
	}
	clear(w.pools)
}

// runResult is what the shards of one run did.
type runResult struct {
	summaries []syncer.Summary
	began     time.Time
	ended     time.Time
}

func (r runResult) total() (sum syncer.Summary) {
	for _, s := range r.summaries {
		sum.PairsTotal += s.PairsTotal
		sum.PairsOK += s.PairsOK
		sum.PairsSkipped += s.PairsSkipped
		sum.PairsPlanned += s.PairsPlanned
		sum.PairsFailed += s.PairsFailed
		sum.SnapshotsChanged += s.SnapshotsChanged
		sum.SlotsWritten += s.SlotsWritten
		sum.Requests += s.Requests
		sum.RateLimited += s.RateLimited
	}
	return sum
}

// run starts every shard of jobs at once and waits for all. scheduledAt is passed
// to each worker as a Job passes --scheduled-at.
func (ws *workerSet) run(ctx context.Context, jobs []job, scheduledAt time.Time) (runResult, error) {
	type shard struct {
		j     job
		index int
	}
	var shards []shard
	for _, j := range jobs {
		for i := range j.shards {
			shards = append(shards, shard{j, i})
		}
	}
	res := runResult{summaries: make([]syncer.Summary, len(shards))}
	errs := make([]error, len(shards))
	workers := make([]*syncer.Worker, len(shards))
	var closers []func()
	defer func() {
		for _, c := range closers {
			c()
		}
	}()
	for i, sh := range shards {
		var db *store.Store
		var err error
		if ws.warm != nil {
			db, err = ws.warm.get(ctx, fmt.Sprintf("%s/%d", sh.j.name, sh.index))
		} else {
			// Small pools: a pod's worker writes one snapshot at a time.
			db, err = store.Open(ctx, withParam(ws.dbURL, "pool_max_conns", "2"))
			if err == nil {
				closers = append(closers, db.Close)
			}
		}
		if err != nil {
			return res, err
		}
		var fetcher syncer.Fetcher
		if ws.seed {
			fetcher = newSeedClient(ws.simURL)
		} else {
			limits := []ratelimit.Option{ratelimit.WithPriority(sh.j.every)}
			if ws.wall != nil && !scheduledAt.IsZero() && sh.j.every > 0 {
				limits = append(limits, ratelimit.WithDeadline(ws.wall(scheduledAt.Add(sh.j.every))))
			}
			l, err := ratelimit.New(db.Pool(), benchKey, ws.limit, ws.window, limits...)
			if err != nil {
				return res, err
			}
			timeout := ws.timeout
			if timeout == 0 {
				timeout = 5 * time.Second
			}
			c, err := partner.New(ws.simURL, benchKey, partner.WithLimiter(l), partner.WithTimeout(timeout))
			if err != nil {
				return res, err
			}
			fetcher = c
		}
		var w syncer.SnapshotWriter = db
		if ws.wrote != nil {
			w = &recordingWriter{SnapshotWriter: db, wrote: ws.wrote}
		}
		workers[i] = &syncer.Worker{Fetcher: fetcher, Writer: w}
	}
	// The workers log each failed pair; a benchmark that cancels them at its end
	// would drown its own output in those.
	ctx = logr.NewContext(ctx, logr.Discard())
	var wg sync.WaitGroup
	res.began = time.Now()
	for i, sh := range shards {
		wg.Go(func() {
			res.summaries[i], errs[i] = workers[i].Run(ctx, syncer.Config{
				Products: sh.j.products, FromDay: sh.j.fromDay, ToDay: sh.j.toDay,
				ShardIndex: sh.index, ShardCount: sh.j.shards, ScheduledAt: scheduledAt, Now: ws.now,
				Adaptive: ws.adaptive, Every: sh.j.every,
			})
		})
	}
	wg.Wait()
	res.ended = time.Now()
	if err := errors.Join(errs...); err != nil {
		return res, fmt.Errorf("run %d shards: %w", len(shards), err)
	}
	return res, nil
}

// recordingWriter tells about each snapshot written.
type recordingWriter struct {
	syncer.SnapshotWriter
	wrote func(p syncer.Pair, syncedAt time.Time)
}

func (w *recordingWriter) WriteSnapshot(ctx context.Context, productID int64, date time.Time, slots []partner.Slot, syncedAt time.Time) (store.SnapshotResult, error) {
	res, err := w.SnapshotWriter.WriteSnapshot(ctx, productID, date, slots, syncedAt)
	if err == nil {
		w.wrote(syncer.Pair{ProductID: productID, Date: date}, syncedAt)
	}
	return res, err
}

// ClosedWeekdayChecks passes the adaptive plan's query on: embedding the
// SnapshotWriter interface hides the store's other methods, and a worker whose
// writer is no Planner fetches every pair.
func (w *recordingWriter) ClosedWeekdayChecks(ctx context.Context, productIDs []int64, dates []time.Time, now time.Time) (map[int64]map[string]time.Time, error) {
	p, ok := w.SnapshotWriter.(syncer.Planner)
	if !ok {
		return nil, errors.New("the writer keeps no polling plan")
	}
	return p.ClosedWeekdayChecks(ctx, productIDs, dates, now)
}

// seedClient is the baseline: the seed's client fired requests as fast as it could
// and, on a 429, slept until the reset the partner announced, then tried again.
// It has no shared budget: every worker finds the limit by hitting it.
type seedClient struct {
	base string
	hc   *http.Client

	requests, limited atomic.Int64
}

func newSeedClient(base string) *seedClient {
	return &seedClient{base: base, hc: &http.Client{Timeout: 10 * time.Second}}
}

func (c *seedClient) Stats() partner.Stats {
	return partner.Stats{Requests: c.requests.Load(), RateLimited: c.limited.Load()}
}

func (c *seedClient) FetchInventory(ctx context.Context, productID int64, date time.Time) ([]partner.Slot, error) {
	u := c.base + "/api/v1/inventory/" + strconv.FormatInt(productID, 10) + "?" +
		url.Values{"date": {date.Format(partner.DateLayout)}}.Encode()
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return nil, err
		}
		req.Header.Set("x-api-key", benchKey)
		c.requests.Add(1)
		resp, err := c.hc.Do(req)
		if err != nil {
			return nil, fmt.Errorf("fetch product %d: %w", productID, err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("fetch product %d: read: %w", productID, err)
		}
		switch resp.StatusCode {
		case http.StatusOK:
			slots, err := partner.Decode(body, productID, date)
			if err != nil {
				return nil, fmt.Errorf("fetch product %d: %w", productID, err)
			}
			return slots, nil
		case http.StatusTooManyRequests:
			c.limited.Add(1)
			var rl struct {
				State struct {
					Reset int64 `json:"reset"`
				} `json:"rateLimitState"`
			}
			if err := json.Unmarshal(body, &rl); err != nil || rl.State.Reset == 0 {
				return nil, fmt.Errorf("fetch product %d: 429 without a reset: %s", productID, body)
			}
			t := time.NewTimer(time.Until(time.UnixMilli(rl.State.Reset)))
			select {
			case <-ctx.Done():
				t.Stop()
				return nil, ctx.Err()
			case <-t.C:
			}
		default:
			return nil, fmt.Errorf("fetch product %d: status %d", productID, resp.StatusCode)
		}
	}
}

// checkSynced verifies a run's work in its database: every pair of jobs has a
// sync record, and a sample of pairs reads back as the simulator's answer at the
// time it was synced.
func checkSynced(ctx context.Context, dbURL string, sim *partnersim.Server, jobs []job, today time.Time, sample int) error {
	db, err := store.Open(ctx, dbURL)
	if err != nil {
		return err
	}
	defer db.Close()
	want := 0
	var pairs []syncer.Pair
	for _, j := range jobs {
		want += j.pairs()
		pairs = append(pairs, syncer.Pairs(j.products, today, j.fromDay, j.toDay)...)
	}
	var got int
	if err := db.Pool().QueryRow(ctx, `SELECT count(*) FROM inventory_syncs`).Scan(&got); err != nil {
		return fmt.Errorf("count synced pairs: %w", err)
	}
	if got != want {
		return fmt.Errorf("%d pairs synced, want %d", got, want)
	}
	step := max(1, len(pairs)/max(sample, 1))
	for i := 0; i < len(pairs); i += step {
		p := pairs[i]
		snap, err := db.ReadSnapshot(ctx, p.ProductID, p.Date)
		if err != nil {
			return err
		}
		if snap.SyncedAt == nil {
			return fmt.Errorf("%s was never synced", p)
		}
		// The answer was fetched just before syncedAt; inventory moves in
		// 15-minute steps, so one of the two instants gives the same answer.
		ok := false
		for _, at := range []time.Time{*snap.SyncedAt, snap.SyncedAt.Add(-10 * time.Second)} {
			if sameSlots(snap.Slots, sim.Inventory(p.ProductID, p.Date, at)) {
				ok = true
				break
			}
		}
		if !ok {
			return fmt.Errorf("%s reads back different from the simulator's answer", p)
		}
	}
	return nil
}

// sameSlots compares two answers in the store's read order, ignoring nil versus
// empty pax lists.
func sameSlots(a, b []partner.Slot) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		if len(x.PaxAvailability) == 0 && len(y.PaxAvailability) == 0 {
			x.PaxAvailability, y.PaxAvailability = nil, nil
		}
		if !reflect.DeepEqual(x, y) {
			return false
		}
	}
	return true
}

// withParam sets a query parameter of a database URL.
func withParam(dbURL, key, value string) string {
	u, err := url.Parse(dbURL)
	if err != nil {
		return dbURL
	}
	q := u.Query()
	q.Set(key, value)
	u.RawQuery = q.Encode()
	return u.String()
}
