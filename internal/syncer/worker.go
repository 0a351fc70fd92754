package syncer

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/go-logr/logr"

	inventoryv1alpha1 "github.com/slotsync/slotsync/api/v1alpha1"
	"github.com/slotsync/slotsync/internal/partner"
	"github.com/slotsync/slotsync/internal/store"
)

// inFlightGrace is how long a snapshot whose answer has already been fetched may still
// take to commit after cancellation: the partner budget it cost is not thrown away.
const inFlightGrace = 10 * time.Second

// errRunDeadline is the cause of a run's context ending at Config.Deadline.
var errRunDeadline = errors.New("the run's deadline passed")

// Fetcher gets one (product, date) answer from the partner.
type Fetcher interface {
	FetchInventory(ctx context.Context, productID int64, date time.Time) ([]partner.Slot, error)
	Stats() partner.Stats
}

// SnapshotWriter stores answers as whole snapshots.
type SnapshotWriter interface {
	WriteSnapshot(ctx context.Context, productID int64, date time.Time, slots []partner.Slot, syncedAt time.Time) (store.SnapshotResult, error)
	SyncedByRun(ctx context.Context, productID int64, dates []time.Time, runID string) (map[string]bool, error)
}

// TimeZoneRecorder records the time zone whose calendar a run counts its days
// in, so the API counts "today" of those products alike; store.Store is one.
type TimeZoneRecorder interface {
	RecordTimeZone(ctx context.Context, products []int64, timeZone string) error
}

// Planner loads the adaptive polling plan; store.Store is one. It returns, of
// the pairs (productIDs[i], dates[i]), those on a weekday their product has
// been learned to have no slots on, with when each was last checked, by
// product and date (YYYY-MM-DD).
type Planner interface {
	ClosedWeekdayChecks(ctx context.Context, productIDs []int64, dates []time.Time, now time.Time) (map[int64]map[string]time.Time, error)
}

// MaxPlannedInterval is the longest an adaptive plan leaves a pair unchecked:
// a date that gains its first slots on a weekday learned closed shows within it.
const MaxPlannedInterval = 24 * time.Hour

// Config is one worker's share of a run.
type Config struct {
	Products   []int64
	FromDay    int
	ToDay      int
	Location   *time.Location
	ShardIndex int
	ShardCount int
	// ScheduledAt is the run's scheduled time; its date in Location is day 0.
	// Zero means now.
	ScheduledAt time.Time
	// RunID names the run (its Job) in every snapshot it writes. A retried index
	// skips the pairs last written by an earlier attempt of the same run, and
	// only those: a pair another run wrote is fetched again. Empty skips nothing.
	RunID string
	// Deadline is when the run stops, with the reason DeadlineExceeded: nothing
	// else bounds a worker whose key stays blocked or whose partner hangs, and a
	// run that never ends holds back its band's later runs. Zero means none.
	Deadline time.Time
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Adaptive skips the pairs the polling plan says need not be fetched yet
	// (see plan); the Writer must be a Planner. False fetches every pair.
	Adaptive bool
	// Every is how often the run's band is refreshed. An adaptive run skips a
	// pair only if the band's next run, which ends before 2×Every from now
	// when it keeps to its interval, still comes within MaxPlannedInterval of
	// the pair's last check. Zero counts as none.
	Every time.Duration
}

// Worker fetches and writes its shard of a run.
type Worker struct {
	Fetcher Fetcher
	Writer  SnapshotWriter
}

// Run syncs every pair of the shard. A failed pair does not stop the others; the
// returned error is non-nil when any pair failed or the run was cancelled.
func (w *Worker) Run(ctx context.Context, cfg Config) (sum Summary, err error) {
	log := logr.FromContextOrDiscard(ctx)
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	loc := cfg.Location
	if loc == nil {
		loc = time.UTC
	}
	start := now()
	if !cfg.Deadline.IsZero() {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadlineCause(ctx, cfg.Deadline, errRunDeadline)
		defer cancel()
	}
	rateLimited := false
	defer func() {
		st := w.Fetcher.Stats()
		sum.Requests, sum.RateLimited = st.Requests, st.RateLimited
		sum.DurationSeconds = now().Sub(start).Seconds()
	}()

	// The run's dates are those of its scheduled time: an index that starts or is
	// retried after midnight must sync the same dates as its siblings.
	day := start
	if !cfg.ScheduledAt.IsZero() {
		day = cfg.ScheduledAt
	}
	all := Pairs(cfg.Products, Today(day, loc), cfg.FromDay, cfg.ToDay)
	pairs, err := Shard(all, cfg.ShardIndex, cfg.ShardCount)
	if err != nil {
		return sum, err
	}
	sum.PairsTotal = len(pairs)
	if cfg.RunID != "" {
		ctx = store.WithRunID(ctx, cfg.RunID)
	}
	done, err := w.alreadySynced(ctx, pairs, cfg.RunID)
	if err != nil {
		// Nothing can be written without the database: every pair failed.
		for _, p := range pairs {
			sum.addFailure(p, err)
		}
		if errors.Is(context.Cause(ctx), errRunDeadline) {
			sum.Reason = inventoryv1alpha1.ReasonDeadlineExceeded
		}
		return sum, err
	}
	var planned map[Pair]bool
	if cfg.Adaptive {
		var closed map[Pair]bool
		planned, closed = w.plan(ctx, pairs, start, cfg.Every)
		pairs = closedLast(pairs, closed)
	}
	if r, ok := w.Writer.(TimeZoneRecorder); ok {
		// Without it the API judges today by its own --timezone: worth a log,
		// not a failed pair.
		if err := r.RecordTimeZone(ctx, cfg.Products, loc.String()); err != nil {
			log.Error(err, "time zone not recorded", "timeZone", loc.String())
		}
	}

	// Answers are written in the background, many to a transaction when they come
	// faster than one transaction each (see groupCommit).
	gc := newGroupCommit(w.Writer, inFlightGrace)
	for i, p := range pairs {
		sum.addWritten(ctx, gc.take())
		if ctx.Err() != nil {
			for _, rest := range pairs[i:] {
				sum.addFailure(rest, fmt.Errorf("not fetched: %w", context.Cause(ctx)))
			}
			if errors.Is(context.Cause(ctx), errRunDeadline) {
				sum.Reason = inventoryv1alpha1.ReasonDeadlineExceeded
			}
			break
		}
		if done[p] {
			sum.PairsSkipped++
			sum.PairsOK++
			continue
		}
		if planned[p] {
			sum.PairsPlanned++
			continue
		}
		slots, err := w.Fetcher.FetchInventory(ctx, p.ProductID, p.Date)
		if err != nil {
			log.Error(err, "sync failed", "product", p.ProductID, "date", p.Date.Format(time.DateOnly))
			sum.addFailure(p, err)
			if errors.Is(err, partner.ErrUnauthorized) {
				// Every other pair would get the same answer: stop, do not storm the partner.
				sum.Reason = "PartnerUnauthorized"
				for _, rest := range pairs[i+1:] {
					sum.addFailure(rest, fmt.Errorf("not fetched after the partner refused the key"))
				}
				break
			}
			if !cfg.Deadline.IsZero() && errors.Is(err, context.DeadlineExceeded) {
				// The budget's next slot lies past the deadline: so would every other pair's.
				sum.Reason = inventoryv1alpha1.ReasonDeadlineExceeded
				for _, rest := range pairs[i+1:] {
					sum.addFailure(rest, fmt.Errorf("not fetched before the run's deadline %s", cfg.Deadline.UTC().Format(time.RFC3339)))
				}
				break
			}
			if _, ok := errors.AsType[*partner.RateLimitedError](err); ok {
				rateLimited = true
			}
			continue
		}
		// The answer cost budget: its snapshot may commit even if we are being stopped.
		gc.submit(ctx, p, store.SnapshotWrite{ProductID: p.ProductID, Date: p.Date, Slots: slots, SyncedAt: now()})
	}
	sum.addWritten(ctx, gc.close())
	if sum.Reason == "" && rateLimited {
		sum.Reason = inventoryv1alpha1.ReasonRateLimitBlocked
	}
	if sum.PairsFailed > 0 {
		return sum, fmt.Errorf("%d of %d pairs failed", sum.PairsFailed, sum.PairsTotal)
	}
	return sum, nil
}

// plan returns the pairs an adaptive run leaves out (planned) and those it
// fetches although their weekday is closed (closed). Left out are the pairs
// whose date falls on a weekday their product has been learned to have no
// slots on (Planner) and that were checked so lately that the band's next run
// still fetches them within MaxPlannedInterval of that check, even fetching
// them last (see closedLast): the next run starts every from now and, keeping
// to its interval, ends before 2×every from now. A plan that cannot be loaded
// leaves out nothing: the run fetches everything, as a uniform one does.
func (w *Worker) plan(ctx context.Context, pairs []Pair, now time.Time, every time.Duration) (planned, closed map[Pair]bool) {
	log := logr.FromContextOrDiscard(ctx)
	planner, ok := w.Writer.(Planner)
	if !ok {
		log.Info("adaptive polling needs a writer that keeps the plan; fetching every pair")
		return nil, nil
	}
	// Checked after this instant, a pair is checked again by the end of the
	// band's next run within MaxPlannedInterval; with a band of 12h or
	// longer, never.
	fresh := now.Add(2*every - MaxPlannedInterval)
	if !fresh.Before(now) {
		return nil, nil
	}
	ids := make([]int64, len(pairs))
	dates := make([]time.Time, len(pairs))
	for i, p := range pairs {
		ids[i], dates[i] = p.ProductID, p.Date
	}
	checks, err := planner.ClosedWeekdayChecks(ctx, ids, dates, now)
	if err != nil {
		log.Error(err, "polling plan not loaded; fetching every pair")
		return nil, nil
	}
	planned, closed = map[Pair]bool{}, map[Pair]bool{}
	for _, p := range pairs {
		checked, ok := checks[p.ProductID][p.Date.Format(time.DateOnly)]
		switch {
		case !ok:
		case checked.After(fresh):
			planned[p] = true
		default:
			closed[p] = true
		}
	}
	return planned, closed
}

// closedLast moves the pairs on closed weekdays to the end, keeping the order
// of the rest. Every run then fetches the pairs that can change in the same
// order, each at about the same offset from its run's start, so a pair is
// refreshed every band interval. Among them, the closed dates that come due
// in one run and not the next would push the pairs after them later in some
// runs than in others, and their refresh past the interval.
func closedLast(pairs []Pair, closed map[Pair]bool) []Pair {
	if len(closed) == 0 {
		return pairs
	}
	out := make([]Pair, 0, len(pairs))
	for _, p := range pairs {
		if !closed[p] {
			out = append(out, p)
		}
	}
	for _, p := range pairs {
		if closed[p] {
			out = append(out, p)
		}
	}
	return out
}

func (w *Worker) alreadySynced(ctx context.Context, pairs []Pair, runID string) (map[Pair]bool, error) {
	done := map[Pair]bool{}
	if runID == "" {
		return done, nil
	}
	byProduct := map[int64][]time.Time{}
	var order []int64
	for _, p := range pairs {
		if _, ok := byProduct[p.ProductID]; !ok {
			order = append(order, p.ProductID)
		}
		byProduct[p.ProductID] = append(byProduct[p.ProductID], p.Date)
	}
	for _, id := range order {
		synced, err := w.Writer.SyncedByRun(ctx, id, byProduct[id], runID)
		if err != nil {
			return nil, fmt.Errorf("find pairs of product %d already synced: %w", id, err)
		}
		for _, d := range byProduct[id] {
			if synced[d.Format(time.DateOnly)] {
				done[Pair{ProductID: id, Date: d}] = true
			}
		}
	}
	return done, nil
}
