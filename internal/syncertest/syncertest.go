// Package syncertest runs sync workers for tests as the shards of a Job run
// them: against the partner simulator over real HTTP, each with a limiter of its
// own on the budget that they share through Postgres. Only tests import it.
package syncertest

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/slotsync/slotsync/internal/partner"
	"github.com/slotsync/slotsync/internal/partnersim"
	"github.com/slotsync/slotsync/internal/ratelimit"
	"github.com/slotsync/slotsync/internal/store"
	"github.com/slotsync/slotsync/internal/syncer"
)

// Serve serves sim over real HTTP until the test ends and returns its URL;
// wrap, when given, sees each request first.
func Serve(t testing.TB, sim *partnersim.Server, wrap func(http.Handler) http.Handler) string {
	t.Helper()
	h := sim.Handler()
	if wrap != nil {
		h = wrap(h)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	t.Cleanup(sim.Close) // runs first: releases requests a fault keeps hanging
	return srv.URL
}

// Workers builds sync workers as `slotsync sync` does: a partner client, with a
// limiter of its own when Limit is set, writing to DB.
type Workers struct {
	DB  *store.Store
	URL string // the partner's
	Key string
	// Limit requests per Window is the budget the workers share through DB.
	Limit        int
	Window       time.Duration
	LimitOptions []ratelimit.Option
	// Options configure each client after its limiter.
	Options []partner.Option
}

// New returns a worker whose client also has opts, after Options.
func (ws Workers) New(opts ...partner.Option) (*syncer.Worker, error) {
	var all []partner.Option
	if ws.Limit > 0 {
		limiter, err := ratelimit.New(ws.DB.Pool(), ws.Key, ws.Limit, ws.Window, ws.LimitOptions...)
		if err != nil {
			return nil, err
		}
		all = append(all, partner.WithLimiter(limiter))
	}
	all = append(append(all, ws.Options...), opts...)
	client, err := partner.New(ws.URL, ws.Key, all...)
	if err != nil {
		return nil, err
	}
	return &syncer.Worker{Fetcher: client, Writer: ws.DB}, nil
}

// RunShards runs the shards of cfg at once, each by a new worker as each pod
// has its own, and returns their summaries and errors by shard index.
func (ws Workers) RunShards(ctx context.Context, cfg syncer.Config, shards int) ([]syncer.Summary, []error) {
	sums := make([]syncer.Summary, shards)
	errs := make([]error, shards)
	var wg sync.WaitGroup
	for i := range shards {
		wg.Go(func() {
			w, err := ws.New()
			if err != nil {
				errs[i] = err
				return
			}
			c := cfg
			c.ShardIndex, c.ShardCount = i, shards
			sums[i], errs[i] = w.Run(ctx, c)
		})
	}
	wg.Wait()
	return sums, errs
}
