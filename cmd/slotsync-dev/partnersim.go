package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/go-logr/logr"
	"github.com/spf13/cobra"

	"github.com/slotsync/slotsync/internal/partnersim"
)

func newPartnerSimCmd() *cobra.Command {
	var (
		listen   string
		cfg      partnersim.Config
		keys     []string
		stormFor time.Duration
		faults   partnersim.Faults
	)
	cmd := &cobra.Command{
		Use:   "partner-sim",
		Short: "Run a deterministic simulator of the partner's inventory API",
		Long: `partner-sim serves a faithful, deterministic simulator of the ticketing partner's
inventory API for development, tests and benchmarks:

  GET /api/v1/inventory/{productId}?date=YYYY-MM-DD   with header x-api-key

It answers like the partner: a JSON array of slots (empty on days without slots),
401 for a missing, wrong or revoked key, and 429 once a key has spent its budget
of --limit requests per --window, with {"rateLimitState":{"limit","remaining",
"reset"}} (reset in epoch milliseconds) and a Retry-After header. Windows are
fixed and aligned to multiples of --window since the Unix epoch. An unknown
product gets 404, a bad id or date 400.

Products 1..--products exist, and always 14 (slots Monday to Wednesday) and 15
(slots on Sundays); the other products get a weekday pattern from --seed. The
inventory is a function of the seed, product, date and clock: slots go on sale a
week ahead, remaining counts fall every 15 minutes, slots that sell out leave the
answer, and prices move every 6 hours. Dates before today (UTC) have no slots.

Tests and benchmarks compress time with --window: with --window 2s --limit 30 a
rate-limit scenario that takes minutes against the partner takes seconds.

Faults are switched on with the --fault-* flags or at runtime. Admin endpoints,
without authentication, for tests and development only; never expose them:

  GET  /admin/stats        requests per key (keys shown as a SHA-256 prefix) and
                           accepted and rate-limited requests per window
  PUT  /admin/faults       replace the faults, e.g.
                           {"errorRate":0.1,"slowRate":0.05,"slowDelay":"3s",
                            "timeoutRate":0,"malformedRate":0,"missingFieldRate":0,
                            "duplicateRate":0,"revokedKeys":[],
                            "storm429Until":"2026-12-01T10:00:00Z"}
  POST /admin/reset-stats  zero the counters (budgets are kept)
  GET  /healthz            liveness

Accepted keys come from --keys, else from PARTNER_API_KEY, else "dev-key". Keys
given to the simulator are test keys; never pass a real partner key on a command
line.

Example:
  slotsync-dev partner-sim --products 50 --window 10s --fault-error-rate 0.05
  curl -H 'x-api-key: dev-key' 'http://127.0.0.1:8081/api/v1/inventory/14?date=2026-12-01'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cfg.Count < 0 {
				return fmt.Errorf("--products %d: want 0 or more", cfg.Count)
			}
			if cfg.Window < time.Millisecond {
				return fmt.Errorf("--window %s: want at least 1ms", cfg.Window)
			}
			if err := faults.Validate(); err != nil {
				return fmt.Errorf("fault flags: %w", err)
			}
			if stormFor > 0 {
				faults.Storm429Until = time.Now().Add(stormFor)
			}
			if len(keys) == 0 {
				if k := os.Getenv("PARTNER_API_KEY"); k != "" {
					keys = []string{k}
				}
			}
			cfg.Keys, cfg.Faults = keys, faults
			return runPartnerSim(cmd.Context(), listen, cfg)
		},
	}
	f := cmd.Flags()
	f.StringVar(&listen, "listen", "127.0.0.1:8081", "address to serve on")
	f.IntVar(&cfg.Limit, "limit", 30, "requests per key and window; negative for no limit")
	f.DurationVar(&cfg.Window, "window", time.Minute, "rate-limit window; shrink it to compress time in tests")
	f.IntVar(&cfg.Count, "products", 0, "products 1..N exist besides 14 and 15 (0: only 14 and 15)")
	f.Int64Var(&cfg.Seed, "seed", 1, "seed of the inventory and of the faults")
	f.StringSliceVar(&keys, "keys", nil, `accepted API keys, comma-separated (default: $PARTNER_API_KEY, else "dev-key")`)
	f.Float64Var(&faults.ErrorRate, "fault-error-rate", 0, "share of requests answered 500, 502 or 503")
	f.Float64Var(&faults.SlowRate, "fault-slow-rate", 0, "share of requests answered after --fault-slow-delay")
	f.DurationVar(&faults.SlowDelay, "fault-slow-delay", 2*time.Second, "delay of a slow answer")
	f.Float64Var(&faults.TimeoutRate, "fault-timeout-rate", 0, "share of requests never answered (until the client gives up)")
	f.Float64Var(&faults.MalformedRate, "fault-malformed-rate", 0, "share of answers with truncated JSON")
	f.Float64Var(&faults.MissingFieldRate, "fault-missing-field-rate", 0, "share of answers where one slot lacks providerSlotId")
	f.Float64Var(&faults.DuplicateRate, "fault-duplicate-rate", 0, "share of answers where two slots share a providerSlotId")
	f.StringSliceVar(&faults.RevokedKeys, "fault-revoked-keys", nil, "accepted keys that are answered 401, comma-separated")
	f.DurationVar(&stormFor, "fault-storm-429-for", 0, "answer every request 429 for this long after start")
	return cmd
}

// shutdownTimeout bounds how long a stopping simulator waits for answers in flight.
const shutdownTimeout = 10 * time.Second

func runPartnerSim(ctx context.Context, listen string, cfg partnersim.Config) error {
	log := logr.FromContextOrDiscard(ctx).WithName("partner-sim")
	sim := partnersim.New(cfg)
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", listen, err)
	}
	srv := &http.Server{
		Handler:           sim.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		// No write timeout: slow and hanging answers are faults on purpose.
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()

	// Keys are counted, never logged.
	f := cfg.Faults
	kv := []any{"address", ln.Addr().String(), "products", len(sim.Products()), "limit", cfg.Limit,
		"window", cfg.Window.String(), "seed", cfg.Seed, "keys", max(len(cfg.Keys), 1),
		"errorRate", f.ErrorRate, "slowRate", f.SlowRate, "slowDelay", f.SlowDelay.String(),
		"timeoutRate", f.TimeoutRate, "malformedRate", f.MalformedRate, "missingFieldRate", f.MissingFieldRate,
		"duplicateRate", f.DuplicateRate, "revokedKeys", len(f.RevokedKeys)}
	if !f.Storm429Until.IsZero() {
		kv = append(kv, "storm429Until", f.Storm429Until)
	}
	log.Info("partner simulator listening", kv...)
	if host, _, err := net.SplitHostPort(ln.Addr().String()); err == nil {
		if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
			log.Info("the /admin endpoints have no authentication and are reachable beyond loopback", "address", ln.Addr().String())
		}
	}

	select {
	case err := <-serveErr:
		return fmt.Errorf("serve partner simulator: %w", err)
	case <-ctx.Done():
	}
	// Release requests that a fault keeps hanging, or Shutdown would wait for them.
	sim.Close()
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		_ = srv.Close()
		return fmt.Errorf("shut down partner simulator: %w", err)
	}
	if err := <-serveErr; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve partner simulator: %w", err)
	}
	log.Info("partner simulator stopped")
	return nil
}
