package api_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"github.com/slotsync/slotsync/internal/kubetest"
	"io"
	"maps"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/slotsync/slotsync/internal/api"
	"github.com/slotsync/slotsync/internal/partner"
	"github.com/slotsync/slotsync/internal/partnersim"
	"github.com/slotsync/slotsync/internal/store"
	"github.com/slotsync/slotsync/internal/syncer"
)

const simKey = "test-key"

// start is a Monday; the simulator sells nothing before the UTC date of its clock.
var start = time.Date(2026, 11, 30, 8, 0, 0, 0, time.UTC)

// simClock is the simulator's, the worker's and the API's clock, moved by the test.
type simClock struct{ ns atomic.Int64 }

func newClock(t time.Time) *simClock { c := &simClock{}; c.set(t); return c }
func (c *simClock) now() time.Time   { return time.Unix(0, c.ns.Load()).UTC() }
func (c *simClock) set(t time.Time)  { c.ns.Store(t.UnixNano()) }

// options of an apiEnv; zero values take test defaults.
type options struct {
	dbURL        string // default: a fresh database on the shared server
	cacheSize    int    // default 100; negative: 0 (off)
	queryTimeout time.Duration
	location     *time.Location
	kube         client.Client
	reviews      kubernetes.Interface
	schedule     types.NamespacedName
	// shutdownDelay is the API's; metricsPort serves /metrics on a port of
	// its own (metricsURL) as well.
	shutdownDelay time.Duration
	metricsPort   bool
}

// apiEnv is the API served over real HTTP on a real database that the real
// worker fills from the simulator.
type apiEnv struct {
	t      *testing.T
	sim    *partnersim.Server
	simURL string
	clock  *simClock
	db     *store.Store // the worker's pool; the API has its own
	url    string
	// metricsURL is the metrics port's, when asked for.
	metricsURL string
	srv        *api.Server
	// stop ends Serve's context, as SIGTERM does; serveDone is closed once
	// Serve has returned, serveErr.
	stop      context.CancelFunc
	serveDone chan struct{}
	serveErr  error
	client    *http.Client
	logs      *logSink
}

func newAPIEnv(t *testing.T, o options) *apiEnv {
	t.Helper()
	e := &apiEnv{t: t, clock: newClock(start), client: &http.Client{Timeout: 30 * time.Second}, logs: &logSink{}}
	e.sim = partnersim.New(partnersim.Config{Seed: 7, Limit: -1, Keys: []string{simKey}, Now: e.clock.now})
	t.Cleanup(e.sim.Close)
	simLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	simSrv := &http.Server{Handler: e.sim.Handler(), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = simSrv.Serve(simLn) }()
	t.Cleanup(func() { _ = simSrv.Close() })
	e.simURL = "http://" + simLn.Addr().String()

	if o.dbURL == "" {
		o.dbURL = newDatabase(t)
	}
	ctx := context.Background()
	if e.db, err = store.Open(ctx, o.dbURL); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.db.Close)
	apiDB, err := store.Open(ctx, o.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(apiDB.Close)

	switch {
	case o.cacheSize == 0:
		o.cacheSize = 100
	case o.cacheSize < 0:
		o.cacheSize = 0
	}
	srv, err := api.New(api.Config{
		Store: apiDB, Kube: o.kube, Reviews: o.reviews, Schedule: o.schedule,
		CacheSize: o.cacheSize, QueryTimeout: o.queryTimeout, Location: o.location, Now: e.clock.now,
		ShutdownDelay: o.shutdownDelay,
	})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e.url = "http://" + ln.Addr().String()
	var metricsLn net.Listener
	if o.metricsPort {
		if metricsLn, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
		e.metricsURL = "http://" + metricsLn.Addr().String()
	}
	e.srv = srv
	sctx, stop := context.WithCancel(logr.NewContext(ctx, e.logs.logger()))
	e.stop, e.serveDone = stop, make(chan struct{})
	go func() {
		defer close(e.serveDone)
		e.serveErr = srv.Serve(sctx, ln, metricsLn)
	}()
	t.Cleanup(func() {
		stop()
		<-e.serveDone
		if e.serveErr != nil {
			t.Errorf("Serve returned %v after its context ended, want nil", e.serveErr)
		}
	})
	return e
}

// sync runs the real worker over days from..to of products, at the clock's
// time, counting days in UTC.
func (e *apiEnv) sync(products []int64, from, to int) {
	e.t.Helper()
	e.syncIn(time.UTC, products, from, to)
}

// syncIn is sync counting days in loc, as a schedule's spec.timezone does.
func (e *apiEnv) syncIn(loc *time.Location, products []int64, from, to int) {
	e.t.Helper()
	c, err := partner.New(e.simURL, simKey, partner.WithRetry(3, time.Millisecond, 5*time.Millisecond), partner.WithTimeout(5*time.Second))
	if err != nil {
		e.t.Fatal(err)
	}
	w := &syncer.Worker{Fetcher: c, Writer: e.db}
	sum, err := w.Run(context.Background(), syncer.Config{Products: products, FromDay: from, ToDay: to, Location: loc, ShardCount: 1, Now: e.clock.now})
	if err != nil {
		e.t.Fatalf("sync %v days %d..%d: %v (%s)", products, from, to, err, sum.Line())
	}
}

// response is an answer of the API, already checked against the OpenAPI document.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
}

// errorMessage is the detail of a problem+json error answer, which it checks
// for the shape of RFC 9457 and the answer's status; it fails the test on
// anything else.
func (r response) errorMessage(t *testing.T) string {
	t.Helper()
	return r.problem(t).Detail
}

// problem decodes and checks a problem+json error answer.
func (r response) problem(t *testing.T) api.Problem {
	t.Helper()
	if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
		t.Errorf("error answer has Content-Type %q, want application/problem+json", ct)
	}
	if cc := r.header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("error answer has Cache-Control %q, want no-store", cc)
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(r.body, &fields); err != nil {
		t.Fatalf("error answer %s is not a JSON object: %v", r.body, err)
	}
	for k := range fields {
		if !slices.Contains([]string{"type", "title", "status", "detail", "invalid-params"}, k) {
			t.Errorf("error answer %s has the member %q", r.body, k)
		}
	}
	var p api.Problem
	r.decode(t, &p)
	if !strings.HasPrefix(p.Type, api.ProblemTypeBase) || len(p.Type) == len(api.ProblemTypeBase) || p.Title == "" || p.Detail == "" {
		t.Fatalf("error answer %s lacks a problem type, title or detail", r.body)
	}
	if p.Status != r.status {
		t.Errorf("error answer %s has status %d, the response %d", r.body, p.Status, r.status)
	}
	if (r.status == http.StatusBadRequest) != (len(p.InvalidParams) > 0) {
		t.Errorf("error answer %d %s: invalid-params are for 400s, and every 400 has them", r.status, r.body)
	}
	for _, ip := range p.InvalidParams {
		if ip.Name == "" || ip.Reason == "" {
			t.Errorf("error answer %s has an invalid param without name or reason", r.body)
		}
	}
	return p
}

func (e *apiEnv) get(path string) response { return e.do(http.MethodGet, path, "") }

// do sends a request with an optional bearer token and checks the answer
// against the OpenAPI document.
func (e *apiEnv) do(method, path, token string) response {
	e.t.Helper()
	req, err := http.NewRequest(method, e.url+path, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return e.send(req)
}

func (e *apiEnv) send(req *http.Request) response {
	e.t.Helper()
	resp, err := e.client.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	r := response{status: resp.StatusCode, header: resp.Header, body: body}
	checkOpenAPI(e.t, req, r)
	return r
}

var openAPI struct {
	once   sync.Once
	router routers.Router
	err    error
}

// checkOpenAPI validates an answer (status, headers, body) against the
// embedded OpenAPI 3.1 document. Answers of paths or methods the document does
// not have must be the JSON 404 and 405 of unknown routes.
func checkOpenAPI(t *testing.T, req *http.Request, r response) {
	t.Helper()
	openAPI.once.Do(func() {
		ctx := context.Background()
		loader := openapi3.NewLoader()
		doc, err := loader.LoadFromData(api.OpenAPIDocument())
		if err != nil {
			openAPI.err = err
			return
		}
		if openAPI.err = doc.Validate(ctx); openAPI.err != nil {
			return
		}
		// The document's server is the in-cluster Service; match any host.
		doc.Servers = nil
		openAPI.router, openAPI.err = gorillamux.NewRouter(doc)
	})
	if openAPI.err != nil {
		t.Fatalf("OpenAPI document: %v", openAPI.err)
	}
	route, params, err := openAPI.router.FindRoute(req)
	if err != nil {
		if r.status != http.StatusNotFound && r.status != http.StatusMethodNotAllowed {
			t.Errorf("%s %s answered %d but the OpenAPI document has no such operation: %v", req.Method, req.URL.Path, r.status, err)
		}
		return
	}
	opts := &openapi3filter.Options{IncludeResponseStatus: true, AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route, Options: opts},
		Status:                 r.status,
		Header:                 r.header,
		Options:                opts,
	}
	in.SetBodyBytes(r.body)
	if err := openapi3filter.ValidateResponse(context.Background(), in); err != nil {
		t.Errorf("%s %s answered %d %s\nwhich the OpenAPI document does not allow: %v", req.Method, req.URL.RequestURI(), r.status, truncate(r.body), err)
	}
}

func truncate(b []byte) string {
	if len(b) > 300 {
		return string(b[:300]) + "..."
	}
	return string(b)
}

// metrics is the text of a scrape, read in process: /metrics over HTTP takes
// a token (TestMetricsNeedATokenAllowedToGetThem).
func (e *apiEnv) metrics() string {
	e.t.Helper()
	rec := httptest.NewRecorder()
	e.srv.MetricsHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		e.t.Fatalf("metrics answered %d", rec.Code)
	}
	return rec.Body.String()
}

// metric reads a sample of the metrics, e.g. `slotsync_api_cache_hits_total` or
// `slotsync_api_requests_total{code="200",route="GET /healthz"}`; 0 when absent.
func (e *apiEnv) metric(sample string) float64 {
	e.t.Helper()
	sc := bufio.NewScanner(strings.NewReader(e.metrics()))
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), " ")
		if ok && name == sample {
			v, err := strconv.ParseFloat(value, 64)
			if err != nil {
				e.t.Fatalf("metric %s: %v", sample, err)
			}
			return v
		}
	}
	return 0
}

// eventually polls check until it returns nil, failing the test with its last
// error after timeout.
func eventually(t *testing.T, timeout time.Duration, check func() error) {
	t.Helper()
	kubetest.Eventually(t, timeout, check)
}

// logSink keeps the lines a funcr logger writes.
type logSink struct {
	mu    sync.Mutex
	lines []string
}

func (s *logSink) logger() logr.Logger {
	return funcr.New(func(prefix, args string) {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.lines = append(s.lines, prefix+" "+args)
	}, funcr.Options{Verbosity: 1})
}

func (s *logSink) all() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Join(s.lines, "\n")
}

// expectedDates is the simulator's truth for the dates route at the instant
// at: each date from today (in loc; nil is UTC) through the same day two
// months later with a slot with places left and a passenger type with places
// left in it, once per currency, with the price a shop quotes: the lowest
// final price of the primary type, else of an adult-like type, else of any
// (ties: lowest original price, then slot and type).
func expectedDates(sim *partnersim.Server, product int64, at time.Time, loc *time.Location) []api.AvailableDate {
	if loc == nil {
		loc = time.UTC
	}
	y, m, d := at.In(loc).Date()
	today := time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
	out := []api.AvailableDate{}
	for d := today; !d.After(today.AddDate(0, 2, 0)); d = d.AddDate(0, 0, 1) {
		best := map[string]partner.PaxAvailability{}
		bestSlot := map[string]string{}
		for _, s := range sim.Inventory(product, d, at) {
			if s.Remaining <= 0 {
				continue
			}
			for _, p := range s.PaxAvailability {
				c := p.Price.CurrencyCode
				if b, ok := best[c]; p.Remaining > 0 && (!ok || lessOffer(p, s.ProviderSlotID, b, bestSlot[c])) {
					best[c], bestSlot[c] = p, s.ProviderSlotID
				}
			}
		}
		currencies := slices.Sorted(maps.Keys(best))
		for _, c := range currencies {
			b := best[c]
			out = append(out, api.AvailableDate{Date: d.Format(time.DateOnly), Price: api.DatePrice{
				FinalPrice: b.Price.FinalPrice, OriginalPrice: b.Price.OriginalPrice, CurrencyCode: c, PaxType: b.Type,
			}})
		}
	}
	return out
}

// quoteTier ranks the passenger types a shop quotes a date's price for.
func quoteTier(p partner.PaxAvailability) int {
	switch {
	case p.IsPrimary:
		return 0
	case strings.Contains(strings.ToLower(p.Type), "adult") || strings.Contains(strings.ToLower(p.Name), "adult"):
		return 1
	}
	return 2
}

func lessOffer(a partner.PaxAvailability, aSlot string, b partner.PaxAvailability, bSlot string) bool {
	if ta, tb := quoteTier(a), quoteTier(b); ta != tb {
		return ta < tb
	}
	if c := amount(a.Price.FinalPrice).Cmp(amount(b.Price.FinalPrice)); c != 0 {
		return c < 0
	}
	if c := amount(a.Price.OriginalPrice).Cmp(amount(b.Price.OriginalPrice)); c != 0 {
		return c < 0
	}
	if aSlot != bSlot {
		return aSlot < bSlot
	}
	return a.Type < b.Type
}

func amount(d partner.Decimal) *big.Rat {
	r, ok := new(big.Rat).SetString(string(d))
	if !ok {
		panic(errors.New("not a decimal: " + string(d)))
	}
	return r
}
