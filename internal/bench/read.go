package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/sync/errgroup"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/slotsync/slotsync/internal/api"
	"github.com/slotsync/slotsync/internal/partner"
	"github.com/slotsync/slotsync/internal/store"
)

// readSlotsSQL is the one statement the API runs for an answer that is not
// cached (store.ReadSlotsDocument): it builds the whole JSON answer.
const readSlotsSQL = store.ReadSlotsDocumentSQL

// readSizes are the sizes of the read benchmark.
type readSizes struct {
	products, days, slots int
	conns                 int
	seconds               int
	repeats               int
}

func readSizesFor(quick bool) readSizes {
	if quick {
		return readSizes{products: 500, days: 10, slots: 20, conns: 8, seconds: 3, repeats: 1}
	}
	return readSizes{products: 500, days: 100, slots: 20, conns: 8, seconds: 15, repeats: 3}
}

// pgbenchScript is the store's statement for a random pair, in pgbench's
// script language. pgbench cannot make date strings, so the date parameter is
// written as the first day plus a random number of days.
func pgbenchScript(sz readSizes, first time.Time) string {
	date := fmt.Sprintf("(date '%s' + :d::integer)", first.Format(time.DateOnly))
	sql := strings.ReplaceAll(strings.ReplaceAll(strings.TrimSpace(readSlotsSQL), "$1", ":p"), "$2", date)
	return fmt.Sprintf(`\set p random(1, %d)
\set d random(0, %d)
%s;
`, sz.products, sz.days-1, sql)
}

// loadResult is one closed-loop load run.
type loadResult struct {
	perSecond float64
	p50, p99  float64 // ms
	requests  int
}

func runRead(ctx context.Context, h *harness, r *Report) error {
	r.Title = "Read throughput"
	sz := readSizesFor(h.opts.Quick)
	pairs := sz.products * sz.days
	total := pairs * sz.slots
	pgbench, err := findPgbench()
	if err != nil {
		return err
	}
	r.Intro = prose("read.intro", map[string]any{
		"Slots":            formatNumber(float64(total)),
		"Products":         sz.products,
		"Days":             sz.days,
		"SlotsPerDay":      sz.slots,
		"Conns":            sz.conns,
		"Seconds":          sz.seconds,
		"CacheEntries":     pairs + 1000,
		"DefaultCacheSize": api.DefaultCacheSize,
	})
	r.Repeats = fmt.Sprintf("%d with the cache off, then %d with it on; pgbench and the API one after the other in each repeat", sz.repeats, sz.repeats)

	dbURL, err := h.newDatabase(ctx, "read")
	if err != nil {
		return err
	}
	defer func() { _ = h.dropDatabase(context.WithoutCancel(ctx), dbURL) }()
	first := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	loadBegan := time.Now()
	if err := loadReadData(ctx, dbURL, sz, first); err != nil {
		return err
	}
	loadSecs := time.Since(loadBegan).Seconds()

	quiet := logr.NewContext(ctx, logr.Discard())
	script := filepath.Join(os.TempDir(), fmt.Sprintf("slotsync-bench-read-%d.sql", os.Getpid()))
	if err := os.WriteFile(script, []byte(pgbenchScript(sz, first)), 0o644); err != nil {
		return fmt.Errorf("write pgbench script: %w", err)
	}
	defer os.Remove(script)
	// Every pair's path: the i-th is product 1+i/days on the (i%days)-th day.
	paths := make([]string, 0, pairs)
	for p := 1; p <= sz.products; p++ {
		for d := range sz.days {
			paths = append(paths, fmt.Sprintf("/api/v1/experience/%d/slots?date=%s", p, first.AddDate(0, 0, d).Format(time.DateOnly)))
		}
	}
	// check holds a sampled answer of the load to the slots loaded for its pair.
	check := func(i int, body []byte) error {
		p, d := int64(1+i/sz.days), first.AddDate(0, 0, i%sz.days)
		var got api.SlotsResponse
		if err := json.Unmarshal(body, &got); err != nil {
			return fmt.Errorf("decode: %w", err)
		}
		if got.ProductID != p || got.Date != d.Format(time.DateOnly) || !sameSlots(got.Slots, makeSlots(p, d, sz.slots, 0)) {
			return errors.New("the answer is not the slots loaded for the pair")
		}
		return nil
	}
	// measure runs pgbench and then the load generator against one server, per
	// repeat, so that each ratio compares runs a few seconds apart.
	measure := func(srv *apiProc, what string) (pg, load []loadResult, err error) {
		for rep := range sz.repeats {
			p, err := runPgbench(ctx, pgbench, dbURL, script, sz)
			if err != nil {
				return nil, nil, fmt.Errorf("repeat %d, pgbench beside the API with the %s: %w", rep+1, what, err)
			}
			a, err := loadHTTP(ctx, srv.url, sz.conns, time.Duration(sz.seconds)*time.Second, paths, check)
			if err != nil {
				return nil, nil, fmt.Errorf("repeat %d, API with the %s: %w", rep+1, what, err)
			}
			pg, load = append(pg, p), append(load, a)
		}
		return pg, load, nil
	}

	// The cache off first, with no cached answers in the process: the server
	// holding every answer has a heap of hundreds of MiB whose garbage
	// collection would slow whatever shares the process.
	off, err := startAPI(quiet, dbURL, 0)
	if err != nil {
		return err
	}
	pgOff, apiOff, err := measure(off, "cache off")
	if err != nil {
		off.stop()
		return err
	}
	on, err := startAPI(quiet, dbURL, pairs+1000)
	if err != nil {
		off.stop()
		return err
	}
	defer on.stop()
	err = checkReads(ctx, dbURL, off.url, on.url, pgbenchScript(sz, first), sz, first)
	off.stop()
	if err != nil {
		return err
	}
	// Fill the cache: every pair once, in a shuffled order.
	all := slices.Clone(paths)
	rand.Shuffle(len(all), func(i, j int) { all[i], all[j] = all[j], all[i] })
	warmBegan := time.Now()
	if err := fetchAll(ctx, on.url, all, sz.conns); err != nil {
		return fmt.Errorf("fill the cache: %w", err)
	}
	warmSecs := time.Since(warmBegan).Seconds()
	hits0, miss0, err := on.cacheCounts(ctx)
	if err != nil {
		return err
	}
	pgOn, apiOn, err := measure(on, "cache on")
	if err != nil {
		return err
	}
	hits, miss, err := on.cacheCounts(ctx)
	if err != nil {
		return err
	}

	col := func(list []loadResult, f func(loadResult) float64) []float64 {
		out := make([]float64, len(list))
		for i, l := range list {
			out[i] = f(l)
		}
		return out
	}
	rate := func(l loadResult) float64 { return l.perSecond }
	p50 := func(l loadResult) float64 { return l.p50 }
	p99 := func(l loadResult) float64 { return l.p99 }
	s := r.section(fmt.Sprintf("Cache off: %d connections, random pairs", sz.conns), "Each repeat runs pgbench, then the API; ratios are taken within each repeat.")
	s.add("pgbench, same SQL: transactions per second", "1/s", col(pgOff, rate), nil)
	s.add("pgbench: p50 latency", "ms", col(pgOff, p50), nil)
	s.add("pgbench: p99 latency", "ms", col(pgOff, p99), nil)
	s.add("API, cache off: requests per second", "1/s", col(apiOff, rate), nil)
	s.add("API, cache off: p50 latency", "ms", col(apiOff, p50), nil)
	s.add("API, cache off: p99 latency", "ms", col(apiOff, p99), AtMost(10))
	s.add("API, cache off ÷ pgbench", "×", Ratios(col(apiOff, rate), col(pgOff, rate)), AtLeast(0.8))
	o := r.section(fmt.Sprintf("Cache on: %d connections, random pairs", sz.conns), "Measured after the cache-off runs, on a server whose cache holds every pair; each repeat runs pgbench, then the API.")
	o.add("pgbench, same SQL: transactions per second", "1/s", col(pgOn, rate), nil)
	o.add("pgbench: p99 latency", "ms", col(pgOn, p99), nil)
	o.add("API, cache on: requests per second", "1/s", col(apiOn, rate), nil)
	o.add("API, cache on: p50 latency", "ms", col(apiOn, p50), nil)
	o.add("API, cache on: p99 latency", "ms", col(apiOn, p99), AtMost(10))
	o.add("API, cache on ÷ pgbench", "×", Ratios(col(apiOn, rate), col(pgOn, rate)), AtLeast(2))
	l := r.section("Set-up", "")
	l.add("load of the data with COPY", "s", []float64{loadSecs}, nil)
	l.add("filling the cache: one request per pair", "s", []float64{warmSecs}, nil)
	l.add("cache hit ratio while measuring", "share", []float64{(hits - hits0) / (hits - hits0 + miss - miss0)}, nil)

	r.proseNote("read.shared-cores", map[string]any{"CPUs": h.machine.CPUs})
	r.proseNote("read.checks", map[string]any{"CheckEvery": checkEvery})
	return nil
}

// loadReadData COPYs sz's pairs into the database and analyses it.
func loadReadData(ctx context.Context, dbURL string, sz readSizes, first time.Time) error {
	// Two loaders, each on its half of the products: the machine has two cores,
	// and each half satisfies its own foreign keys.
	var wg sync.WaitGroup
	errs := make([]error, 2)
	half := sz.products / 2
	for i, r := range [][2]int{{0, half}, {half, sz.products}} {
		wg.Go(func() { errs[i] = loadProducts(ctx, dbURL, sz, first, r[0], r[1]) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "VACUUM ANALYZE"); err != nil {
		return fmt.Errorf("vacuum: %w", err)
	}
	var slots, pax int
	if err := conn.QueryRow(ctx, `SELECT (SELECT count(*) FROM slots), (SELECT count(*) FROM slot_pax)`).Scan(&slots, &pax); err != nil {
		return fmt.Errorf("count rows: %w", err)
	}
	if want := sz.products * sz.days * sz.slots; slots != want || pax != want*len(paxTypes) {
		return fmt.Errorf("loaded %d slots and %d pax rows, want %d and %d", slots, pax, want, want*len(paxTypes))
	}
	return nil
}

// loadProducts COPYs the pairs of products from+1 through to.
func loadProducts(ctx context.Context, dbURL string, sz readSizes, first time.Time, from, to int) error {
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	at := time.Now()
	type pairPos struct{ p, d int }
	next := func(pos *pairPos) (int64, time.Time, bool) {
		if pos.p < from {
			pos.p = from
		}
		if pos.p >= to {
			return 0, time.Time{}, false
		}
		p, d := pos.p, pos.d
		pos.d++
		if pos.d == sz.days {
			pos.p, pos.d = pos.p+1, 0
		}
		return int64(p + 1), first.AddDate(0, 0, d), true
	}
	var pos pairPos
	syncs := pgx.CopyFromFunc(func() ([]any, error) {
		p, date, ok := next(&pos)
		if !ok {
			return nil, nil
		}
		return []any{p, date.Format(time.DateOnly), at, at, sz.slots, answerHash(nil)}, nil
	})
	if _, err := conn.CopyFrom(ctx, pgx.Identifier{"inventory_syncs"},
		[]string{"product_id", "date", "synced_at", "changed_at", "slot_count", "content_hash"}, syncs); err != nil {
		return fmt.Errorf("copy syncs: %w", err)
	}
	// Rows of one pair at a time, generated as they stream.
	rowsOf := func(f func(product int64, day string, s partner.Slot, rows *[][]any)) pgx.CopyFromSource {
		var pos pairPos
		var buf [][]any
		return pgx.CopyFromFunc(func() ([]any, error) {
			for len(buf) == 0 {
				p, date, ok := next(&pos)
				if !ok {
					return nil, nil
				}
				day := date.Format(time.DateOnly)
				for _, s := range makeSlots(p, date, sz.slots, 0) {
					f(p, day, s, &buf)
				}
			}
			row := buf[0]
			buf = buf[1:]
			return row, nil
		})
	}
	if _, err := conn.CopyFrom(ctx, pgx.Identifier{"slots"},
		[]string{"product_id", "date", "provider_slot_id", "start_date", "start_time", "end_time", "remaining", "currency_code", "variant_id"},
		rowsOf(func(p int64, day string, s partner.Slot, rows *[][]any) {
			*rows = append(*rows, []any{p, day, s.ProviderSlotID, s.StartDate, s.StartTime, s.EndTime, s.Remaining, s.CurrencyCode, s.VariantID})
		})); err != nil {
		return fmt.Errorf("copy slots: %w", err)
	}
	if _, err := conn.CopyFrom(ctx, pgx.Identifier{"slot_pax"},
		[]string{"product_id", "date", "provider_slot_id", "pax_type", "name", "description", "min_count", "max_count",
			"remaining", "is_primary", "final_price", "original_price", "discount", "currency_code"},
		rowsOf(func(p int64, day string, s partner.Slot, rows *[][]any) {
			for _, x := range s.PaxAvailability {
				*rows = append(*rows, []any{p, day, s.ProviderSlotID, x.Type, x.Name, x.Description, x.Min, x.Max,
					x.Remaining, x.IsPrimary, string(x.Price.FinalPrice), string(x.Price.OriginalPrice),
					string(x.Price.Discount), x.Price.CurrencyCode})
			}
		})); err != nil {
		return fmt.Errorf("copy pax: %w", err)
	}
	return nil
}

// apiServer is an internal/api server on a loopback port.
type apiProc struct {
	url string
	// metrics is read in process: the API's metrics port takes a token.
	metrics http.Handler
	db      *store.Store
	cancel  context.CancelFunc
	done    chan error
}

func startAPI(ctx context.Context, dbURL string, cacheSize int) (*apiProc, error) {
	db, err := store.Open(ctx, dbURL)
	if err != nil {
		return nil, err
	}
	srv, err := api.New(api.Config{Store: db, CacheSize: cacheSize})
	if err != nil {
		db.Close()
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("listen for the API: %w", err)
	}
	sctx, cancel := context.WithCancel(ctx)
	p := &apiProc{url: "http://" + ln.Addr().String(), metrics: srv.MetricsHandler(), db: db, cancel: cancel, done: make(chan error, 1)}
	go func() { p.done <- srv.Serve(sctx, ln, nil) }()
	// Ready, and with the cache on, live: a hit needs the snapshot listener.
	var last error
	err = wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
		resp, err := http.Get(p.url + "/readyz")
		last = err
		if err != nil {
			return false, nil
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, nil
	})
	if err != nil {
		p.stop()
		return nil, fmt.Errorf("API not ready after 30s: %v", last)
	}
	if cacheSize > 0 {
		if err := p.waitCacheLive(ctx); err != nil {
			p.stop()
			return nil, err
		}
	}
	return p, nil
}

// waitCacheLive asks for one answer twice until the second is a cache hit.
func (p *apiProc) waitCacheLive(ctx context.Context) error {
	err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		for range 2 {
			resp, err := http.Get(p.url + "/api/v1/experience/1/slots?date=2000-01-01")
			if err != nil {
				return false, fmt.Errorf("probe the cache: %w", err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		hits, _, err := p.cacheCounts(ctx)
		return hits > 0, err
	})
	if wait.Interrupted(err) && ctx.Err() == nil {
		return errors.New("the API's cache did not come live within 30s")
	}
	return err
}

func (p *apiProc) cacheCounts(ctx context.Context) (hits, misses float64, err error) {
	rec := httptest.NewRecorder()
	p.metrics.ServeHTTP(rec, httptest.NewRequestWithContext(ctx, http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		return 0, 0, fmt.Errorf("scrape API metrics: %d", rec.Code)
	}
	vals, err := parseMetrics(rec.Body)
	if err != nil {
		return 0, 0, err
	}
	return vals["slotsync_api_cache_hits_total"], vals["slotsync_api_cache_misses_total"], nil
}

func (p *apiProc) stop() {
	p.cancel()
	<-p.done
	p.db.Close()
}

// checkReads compares a sample of answers of both servers with the slots that
// were loaded, and with the answers of the statement in pgbench's script.
func checkReads(ctx context.Context, dbURL, offURL, onURL, script string, sz readSizes, first time.Time) error {
	pool, err := pgxpool.New(ctx, dbURL)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer pool.Close()
	rng := rand.New(rand.NewPCG(1, 2))
	for range 50 {
		p, days := int64(1+rng.IntN(sz.products)), rng.IntN(sz.days)
		d := first.AddDate(0, 0, days)
		path := fmt.Sprintf("/api/v1/experience/%d/slots?date=%s", p, d.Format(time.DateOnly))
		want := makeSlots(p, d, sz.slots, 0)
		var bodies [][]byte
		for _, base := range []string{offURL, onURL, onURL} { // the second read of "on" is the cached one
			b, err := getOK(ctx, base+path)
			if err != nil {
				return err
			}
			var got api.SlotsResponse
			if err := json.Unmarshal(b, &got); err != nil {
				return fmt.Errorf("GET %s: decode: %w", path, err)
			}
			if !sameSlots(got.Slots, want) {
				return fmt.Errorf("GET %s answers other slots than were loaded", path)
			}
			bodies = append(bodies, b)
		}
		if !bytes.Equal(bodies[0], bodies[1]) || !bytes.Equal(bodies[1], bodies[2]) {
			return fmt.Errorf("GET %s: the cached answer differs from the uncached one", path)
		}
		doc, err := readWithCopiedSQL(ctx, pool, script, p, days)
		if err != nil {
			return err
		}
		if !bytes.Equal(doc, bodies[0]) {
			return fmt.Errorf("pgbench's statement answers otherwise than GET %s:\n%s\nwant\n%s", path, doc, bodies[0])
		}
	}
	return nil
}

// readWithCopiedSQL runs the statement of pgbench's script for product on the
// day days after first, with the variables written in, and returns the answer
// it builds.
func readWithCopiedSQL(ctx context.Context, pool *pgxpool.Pool, script string, product int64, days int) ([]byte, error) {
	var sql []string
	for _, line := range strings.Split(script, "\n") {
		if !strings.HasPrefix(line, `\`) {
			sql = append(sql, line)
		}
	}
	stmt := strings.TrimSuffix(strings.TrimSpace(strings.Join(sql, "\n")), ";")
	stmt = scriptVariable.ReplaceAllStringFunc(stmt, func(v string) string {
		if strings.HasSuffix(v, ":p") {
			return strings.TrimSuffix(v, ":p") + strconv.FormatInt(product, 10)
		}
		return strings.TrimSuffix(v, ":d") + strconv.Itoa(days)
	})
	var doc []byte
	if err := pool.QueryRow(ctx, stmt).Scan(&doc); err != nil {
		return nil, fmt.Errorf("pgbench's statement for product %d, day %d: %w", product, days, err)
	}
	return doc, nil
}

// scriptVariable is a use of the variables p or d in pgbench's script, with
// the character before it (not a colon: '::' is a cast).
var scriptVariable = regexp.MustCompile(`(^|[^:]):[pd]\b`)

func getOK(ctx context.Context, u string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", u, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("GET %s: read: %w", u, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: status %d: %s", u, resp.StatusCode, b)
	}
	return b, nil
}

func newLoadClient(conns int) *http.Client {
	return &http.Client{Transport: &http.Transport{
		MaxIdleConns: conns, MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns,
		DisableCompression: true, IdleConnTimeout: time.Minute,
	}, Timeout: 30 * time.Second}
}

// fetchAll requests every path once over conns connections.
func fetchAll(ctx context.Context, base string, paths []string, conns int) error {
	hc := newLoadClient(conns)
	defer hc.CloseIdleConnections()
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(conns)
	for _, p := range paths {
		if ctx.Err() != nil {
			break // a request failed: the group returns its error
		}
		g.Go(func() error { return fetchDiscard(ctx, hc, base+p) })
	}
	return g.Wait()
}

func fetchDiscard(ctx context.Context, hc *http.Client, u string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("GET %s: %w", u, err)
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil {
		return fmt.Errorf("GET %s: read: %w", u, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: status %d", u, resp.StatusCode)
	}
	return nil
}

// loadHTTP is the closed-loop load generator: conns workers, each with its own
// keep-alive connection (loadConn), each sending its next request for a
// uniformly random one of paths as soon as it has read the answer. Every
// answer must be a 200 with its whole body; one in checkEvery is handed to
// check with the index of its path.
func loadHTTP(ctx context.Context, base string, conns int, d time.Duration, paths []string, check func(i int, body []byte) error) (loadResult, error) {
	u, err := url.Parse(base)
	if err != nil {
		return loadResult{}, fmt.Errorf("parse %s: %w", base, err)
	}
	lats := make([]Latencies, conns)
	errs := make([]error, conns)
	began := time.Now()
	stop := began.Add(d)
	var wg sync.WaitGroup
	for i := range conns {
		wg.Go(func() {
			lc, err := dialLoad(ctx, u.Host)
			if err != nil {
				errs[i] = err
				return
			}
			defer lc.close()
			rng := rand.New(rand.NewPCG(uint64(i), uint64(began.UnixNano())))
			lats[i] = make(Latencies, 0, 1<<14)
			for n := 0; ; n++ {
				t := time.Now()
				if !t.Before(stop) {
					return
				}
				k := rng.IntN(len(paths))
				body, err := lc.get(paths[k])
				if err == nil && n%checkEvery == 0 {
					err = check(k, body)
				}
				if err != nil {
					errs[i] = fmt.Errorf("GET %s: %w", paths[k], err)
					return
				}
				lats[i] = append(lats[i], time.Since(t))
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(began)
	if err := errors.Join(errs...); err != nil {
		return loadResult{}, err
	}
	var all Latencies
	for _, l := range lats {
		all = append(all, l...)
	}
	ms := all.Millis()
	return loadResult{perSecond: float64(len(ms)) / elapsed.Seconds(), p50: Percentile(ms, 50), p99: Percentile(ms, 99), requests: len(ms)}, nil
}

// checkEvery: the load generator checks the content of one answer in this many.
const checkEvery = 64

// loadConn is one keep-alive HTTP/1.1 connection of the load generator, a
// client of the kind wrk is: it writes a GET, reads the status line and the
// headers, and reads the body of the length Content-Length gives into a buffer
// it reuses. net/http's client costs several times the CPU per request
// (allocations, a goroutine hand-off per answer), which on a shared machine
// would be counted against the server; pgbench's client is lean C too.
type loadConn struct {
	conn net.Conn
	r    *bufio.Reader
	host string
	req  []byte
	body []byte
}

func dialLoad(ctx context.Context, host string) (*loadConn, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", host)
	if err != nil {
		return nil, fmt.Errorf("connect to the API: %w", err)
	}
	return &loadConn{conn: c, r: bufio.NewReaderSize(c, 32<<10), host: host}, nil
}

func (lc *loadConn) close() { _ = lc.conn.Close() }

// get sends GET path and returns the body of a 200 answer, valid until the
// next call. Any other status, a body not framed by Content-Length, or a
// connection the server closes is an error.
func (lc *loadConn) get(path string) ([]byte, error) {
	lc.req = append(lc.req[:0], "GET "...)
	lc.req = append(lc.req, path...)
	lc.req = append(lc.req, " HTTP/1.1\r\nHost: "...)
	lc.req = append(lc.req, lc.host...)
	lc.req = append(lc.req, "\r\nUser-Agent: slotsync-bench\r\n\r\n"...)
	if _, err := lc.conn.Write(lc.req); err != nil {
		return nil, err
	}
	line, err := lc.r.ReadSlice('\n')
	if err != nil {
		return nil, fmt.Errorf("read status: %w", err)
	}
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.1 ")) {
		return nil, fmt.Errorf("malformed status line %q", line)
	}
	status := string(line[9:12])
	length, closing := -1, false
	for {
		line, err := lc.r.ReadSlice('\n')
		if err != nil {
			return nil, fmt.Errorf("read headers: %w", err)
		}
		if len(line) <= 2 { // the empty line
			break
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			return nil, fmt.Errorf("malformed header %q", line)
		}
		value = bytes.TrimSpace(value)
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			if length, err = strconv.Atoi(string(value)); err != nil || length < 0 {
				return nil, fmt.Errorf("malformed Content-Length %q", value)
			}
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			return nil, fmt.Errorf("Transfer-Encoding %q: want a Content-Length", value)
		case bytes.EqualFold(name, []byte("Connection")) && bytes.EqualFold(value, []byte("close")):
			closing = true
		}
	}
	if length < 0 {
		return nil, errors.New("answer without Content-Length")
	}
	if cap(lc.body) < length {
		lc.body = make([]byte, length)
	}
	body := lc.body[:length]
	if _, err := io.ReadFull(lc.r, body); err != nil {
		return nil, fmt.Errorf("read body: %w", err)
	}
	if status != "200" {
		return nil, fmt.Errorf("status %s: %s", status, body)
	}
	if closing {
		return nil, errors.New("the server closed the connection")
	}
	return body, nil
}

func findPgbench() (string, error) {
	if p, err := exec.LookPath("pgbench"); err == nil {
		return p, nil
	}
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pgbench")
	if len(matches) > 0 {
		slices.Sort(matches)
		return matches[len(matches)-1], nil
	}
	return "", errors.New("pgbench not found on PATH or under /usr/lib/postgresql/*/bin: install PostgreSQL (make deps)")
}

var tpsLine = regexp.MustCompile(`tps = ([0-9.]+) \(without initial connection time\)`)

// runPgbench runs the script and reads the rate from its report and the
// latencies from its per-transaction log.
func runPgbench(ctx context.Context, bin, dbURL, script string, sz readSizes) (loadResult, error) {
	u, err := url.Parse(dbURL)
	if err != nil {
		return loadResult{}, fmt.Errorf("parse database URL: %w", err)
	}
	dir, err := os.MkdirTemp("", "slotsync-bench-pgbench-")
	if err != nil {
		return loadResult{}, fmt.Errorf("create temporary directory: %w", err)
	}
	defer os.RemoveAll(dir)
	args := []string{"-n", "-M", "prepared", "-c", strconv.Itoa(sz.conns), "-j", "2", "-T", strconv.Itoa(sz.seconds),
		"-f", script, "-l", "--log-prefix", filepath.Join(dir, "log"),
		"-h", u.Hostname(), "-p", u.Port(), "-U", u.User.Username(), strings.TrimPrefix(u.Path, "/")}
	cmd := exec.CommandContext(ctx, bin, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return loadResult{}, fmt.Errorf("pgbench: %w\n%s", err, out.String())
	}
	m := tpsLine.FindStringSubmatch(out.String())
	if m == nil {
		return loadResult{}, fmt.Errorf("pgbench reported no tps:\n%s", out.String())
	}
	if strings.Contains(out.String(), "number of failed transactions: ") && !strings.Contains(out.String(), "number of failed transactions: 0 ") {
		return loadResult{}, fmt.Errorf("pgbench had failed transactions:\n%s", out.String())
	}
	tps, _ := strconv.ParseFloat(m[1], 64)
	files, _ := filepath.Glob(filepath.Join(dir, "log*"))
	var ms []float64
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			return loadResult{}, fmt.Errorf("read pgbench log: %w", err)
		}
		sc := bufio.NewScanner(fh)
		for sc.Scan() {
			// client_id transaction_no time script_no time_epoch time_us: time in µs.
			fields := strings.Fields(sc.Text())
			if len(fields) < 3 {
				continue
			}
			us, err := strconv.ParseFloat(fields[2], 64)
			if err == nil {
				ms = append(ms, us/1000)
			}
		}
		fh.Close()
	}
	if len(ms) == 0 {
		return loadResult{}, fmt.Errorf("pgbench logged no transactions:\n%s", out.String())
	}
	slices.Sort(ms)
	return loadResult{perSecond: tps, p50: Percentile(ms, 50), p99: Percentile(ms, 99), requests: len(ms)}, nil
}
