package partnersim

import (
	"crypto/sha256"
	"encoding/hex"
	"maps"
	"math/rand/v2"
	"net/http"
	"slices"
	"sync"
	"time"
)

// Config configures a Server. Zero values take the defaults.
type Config struct {
	// Seed decides everything random: inventory, day patterns, faults.
	Seed int64
	// Products are the product ids that exist. When empty, Count products 1..Count
	// exist. Products 14 and 15 always exist.
	Products []int64
	Count    int
	// Limit is the budget of each key per window (default 30; negative: unlimited).
	Limit int
	// Window is the rate-limit window (default 1m, at least 1ms). Tests compress
	// time by shrinking it.
	Window time.Duration
	// Keys are the accepted API keys (default "dev-key").
	Keys []string
	// Now is the clock (default time.Now).
	Now func() time.Time
	// InventoryNow, when set, is the clock of the inventory alone (sales, sell-outs,
	// prices), so a demo can run the market faster than the rate limit's real time.
	InventoryNow func() time.Time
	// Faults are switched on from the start; see SetFaults.
	Faults Faults
	// AllOpen gives every product, the reference products 14 and 15 too, slots
	// on every weekday: a catalogue with no empty weekday for demand-aware
	// polling to learn, against which it must do no worse than uniform polling.
	AllOpen bool
	// OpeningsPerMille is how many of each thousand dates on a weekday a
	// product has no slots on open anyway (a special opening): the date gains
	// its slots, as on its product's open days, at an instant within the 7
	// days before it, on a 15-minute step. Zero: never. It gives demand-aware
	// polling first slots to show on dates it learned to be closed.
	OpeningsPerMille int
}

// Server is the simulated partner. Its methods are safe for concurrent use.
type Server struct {
	seed     int64
	products map[int64]product
	openings int // per mille, see Config.OpeningsPerMille
	limit    int
	window   time.Duration
	keys     map[string]bool
	now      func() time.Time
	invNow   func() time.Time

	closed    chan struct{}
	closeOnce sync.Once

	mu      sync.Mutex
	rng     *rand.Rand
	faults  Faults
	budgets map[string]*budget // by key hash
	stats   Stats
}

// budget is what one key spent in its current window.
type budget struct {
	window int64 // index of the window since the Unix epoch
	used   int
}

// New returns a simulator. Fault rates outside 0..1 are clamped; use
// Faults.Validate first to reject them instead.
func New(cfg Config) *Server {
	s := &Server{
		seed:     cfg.Seed,
		products: make(map[int64]product),
		openings: min(max(cfg.OpeningsPerMille, 0), 1000),
		limit:    cfg.Limit,
		window:   cfg.Window,
		keys:     make(map[string]bool),
		now:      cfg.Now,
		invNow:   cfg.InventoryNow,
		closed:   make(chan struct{}),
		rng:      rand.New(rand.NewPCG(uint64(cfg.Seed), 0x510751c)),
		budgets:  make(map[string]*budget),
	}
	if s.limit == 0 {
		s.limit = 30
	}
	if s.window == 0 {
		s.window = time.Minute
	}
	s.window = max(s.window, time.Millisecond)
	if s.now == nil {
		s.now = time.Now
	}
	if s.invNow == nil {
		s.invNow = s.now
	}
	ids := cfg.Products
	if len(ids) == 0 {
		for id := int64(1); id <= int64(cfg.Count); id++ {
			ids = append(ids, id)
		}
	}
	ids = append(ids, ProductMonToWed, ProductSundays)
	for _, id := range ids {
		if id > 0 {
			p := newProduct(cfg.Seed, id)
			if cfg.AllOpen {
				p.weekdays = [7]bool{true, true, true, true, true, true, true}
			}
			s.products[id] = p
		}
	}
	keys := cfg.Keys
	if len(keys) == 0 {
		keys = []string{"dev-key"}
	}
	for _, k := range keys {
		if k != "" {
			s.keys[k] = true
		}
	}
	s.faults = clamp(cfg.Faults.clone())
	s.resetStatsLocked()
	return s
}

func clamp(f Faults) Faults {
	c := func(v float64) float64 {
		if !(v > 0) { // also NaN
			return 0
		}
		return min(v, 1)
	}
	f.ErrorRate, f.SlowRate, f.TimeoutRate = c(f.ErrorRate), c(f.SlowRate), c(f.TimeoutRate)
	f.MalformedRate, f.MissingFieldRate, f.DuplicateRate = c(f.MalformedRate), c(f.MissingFieldRate), c(f.DuplicateRate)
	f.SlowDelay = max(f.SlowDelay, 0)
	return f
}

// Handler serves the partner API, /healthz and the /admin endpoints.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/inventory/{productId}", s.serveInventory)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /admin/stats", s.serveStats)
	mux.HandleFunc("PUT /admin/faults", s.serveSetFaults)
	mux.HandleFunc("POST /admin/reset-stats", s.serveResetStats)
	return mux
}

// Close releases requests that hang or are slowed by a fault, so that an
// http.Server can shut down. The simulator keeps answering other requests.
func (s *Server) Close() {
	s.closeOnce.Do(func() { close(s.closed) })
}

// Products returns the ids of the products that exist, in ascending order.
func (s *Server) Products() []int64 {
	return slices.Sorted(maps.Keys(s.products))
}

// OpenWeekdays is how many weekdays productID has slots on (0 for an unknown
// product): the mix of a catalogue, for a benchmark to describe.
func (s *Server) OpenWeekdays(productID int64) int {
	n := 0
	for _, open := range s.products[productID].weekdays {
		if open {
			n++
		}
	}
	return n
}

// OpenOn tells whether productID's weekday pattern has slots on wd: the
// ground truth a demand-aware client can only learn from answers.
func (s *Server) OpenOn(productID int64, wd time.Weekday) bool {
	return s.products[productID].weekdays[wd]
}

// SetFaults replaces the faults from now on.
func (s *Server) SetFaults(f Faults) error {
	if err := f.Validate(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = f.clone()
	return nil
}

// Faults returns the faults in force.
func (s *Server) Faults() Faults {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.faults.clone()
}

// KeyHash is how a key appears in stats: a prefix of its SHA-256, never the key.
func KeyHash(key string) string {
	if key == "" {
		return "none"
	}
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:6])
}
