// Package ratelimit shares a partner key's request budget among every process that
// uses the key: Jobs, shards and pods on any node reserve request slots from one
// GCRA state kept in PostgreSQL, timed by the database clock so they all agree.
//
// The partner counts requests in fixed windows (30 per minute). GCRA with no burst
// spaces reservations interval = window/limit × (1+margin) apart, so any span of
// one window holds at most ceil(limit/(1+margin)) ≤ limit reservations, whatever
// the partner's window alignment. A request is sent a little after its slot
// (timers, scheduling, network), never before; if every send lags its slot by at
// most J, a window sees the slots of a span window+J, which stays within the limit
// while J ≤ window×margin. The default 0.5% margin tolerates 300 ms of jitter at
// 30 per minute and costs 0.5% of the budget.
//
// Slots go to the most urgent work first: a Limiter made WithPriority(every) for a
// band refreshed every `every` yields the key while workers of a band refreshed
// more often have reserved a slot lately (rate-monotonic priority). Without it, a
// key shared by today's, the week's and the month's Jobs would split the budget
// equally among all their workers, and today's data would go stale long before
// the budget is spent. A run past its deadline (WithDeadline) yields no more, so
// over budget every band still progresses.
package ratelimit

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// The partner client takes its budget through this interface.
var _ interface {
	Wait(ctx context.Context) error
	Block(ctx context.Context, wait time.Duration) (time.Duration, error)
} = (*Limiter)(nil)

// DefaultMargin is the share of the budget given up for jitter tolerance.
const DefaultMargin = 0.005

// MaxBlockWindows bounds a 429's block, in windows. The partner counts requests
// in fixed windows, so an honest reset lies at most one window away; the second
// leaves room for skew between the partner's clock and ours. A later reset is
// wrong (a skewed clock, a reset in 2100) and would stop every worker on the key
// for good: after a window the budget is whole again anyway, and a partner that
// still refuses blocks the key again with its next 429.
const MaxBlockWindows = 2

// Limiter reserves request slots of one partner key. Limiters of the same key in
// any number of processes share one budget.
type Limiter struct {
	pool     *pgxpool.Pool
	keyHash  string
	interval time.Duration
	maxBlock time.Duration
	every    time.Duration
	deadline time.Time

	reservations atomic.Int64
	waited       atomic.Int64 // nanoseconds
	blocks       atomic.Int64
	yields       atomic.Int64
}

// Stats counts what a Limiter did since it was made.
type Stats struct {
	// Reservations is the number of slots reserved, including ones given up
	// when a wait was cancelled or found blocked.
	Reservations int64
	// Waited is the total time spent waiting for slots.
	Waited time.Duration
	// Blocks is the number of Block calls.
	Blocks int64
	// Yields counts the times the Limiter stood back for a band refreshed more often.
	Yields int64
}

type options struct {
	margin   float64
	every    time.Duration
	deadline time.Time
}

// Option configures a Limiter.
type Option func(*options)

// WithMargin sets the share of the budget given up so that send jitter up to
// window×margin cannot exceed the partner's limit. It must be in [0, 1).
func WithMargin(margin float64) Option {
	return func(o *options) { o.margin = margin }
}

// WithPriority says the caller syncs a band refreshed every `every`. It yields the
// key to Limiters of the same key whose band is refreshed more often while they
// are using it, and gets the whole budget when they are not. Without it (or with
// 0) a Limiter outranks every band.
func WithPriority(every time.Duration) Option {
	return func(o *options) { o.every = every }
}

// WithDeadline says when the caller's run is due to be done (its scheduled time
// plus its band's interval). From then on it yields to no band: over budget, the
// bands refreshed less often would otherwise never get a slot while a more urgent
// band always has work; overdue, they take their turn beside it.
func WithDeadline(deadline time.Time) Option {
	return func(o *options) { o.deadline = deadline }
}

// New returns a Limiter allowing limit requests per window for apiKey. Only the
// key's sha256 is stored.
func New(pool *pgxpool.Pool, apiKey string, limit int, window time.Duration, opts ...Option) (*Limiter, error) {
	o := options{margin: DefaultMargin}
	for _, opt := range opts {
		opt(&o)
	}
	switch {
	case pool == nil:
		return nil, errors.New("new rate limiter: no database pool")
	case apiKey == "":
		return nil, errors.New("new rate limiter: empty API key")
	case limit <= 0:
		return nil, fmt.Errorf("new rate limiter: limit %d is not positive", limit)
	case window <= 0:
		return nil, fmt.Errorf("new rate limiter: window %v is not positive", window)
	case !(o.margin >= 0 && o.margin < 1):
		return nil, fmt.Errorf("new rate limiter: margin %v is not in [0, 1)", o.margin)
	case o.every < 0:
		return nil, fmt.Errorf("new rate limiter: priority interval %v is negative", o.every)
	}
	sum := sha256.Sum256([]byte(apiKey))
	return &Limiter{
		pool:     pool,
		keyHash:  hex.EncodeToString(sum[:]),
		interval: spacing(limit, window, o.margin),
		maxBlock: MaxBlockWindows * window,
		every:    o.every,
		deadline: o.deadline,
	}, nil
}

// spacing is the interval between reservations, rounded up to the microsecond the
// database keeps so that rounding never packs slots closer.
func spacing(limit int, window time.Duration, margin float64) time.Duration {
	ns := float64(window) / float64(limit) * (1 + margin)
	return time.Duration(math.Ceil(ns/float64(time.Microsecond))) * time.Microsecond
}

// Interval is the spacing between two reserved slots.
func (l *Limiter) Interval() time.Duration { return l.interval }

// Stats returns the Limiter's counters.
func (l *Limiter) Stats() Stats {
	return Stats{
		Reservations: l.reservations.Load(),
		Waited:       time.Duration(l.waited.Load()),
		Blocks:       l.blocks.Load(),
		Yields:       l.yields.Load(),
	}
}
