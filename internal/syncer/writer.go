package syncer

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/go-logr/logr"

	"github.com/slotsync/slotsync/internal/store"
)

// MaxBatch bounds the answers written in one transaction by group commit.
const MaxBatch = 64

// BatchSnapshotWriter writes many answers in one transaction; store.Store is one.
// A Writer that has this method gets group commit, one that has not writes each
// answer on its own.
type BatchSnapshotWriter interface {
	WriteSnapshots(ctx context.Context, writes []store.SnapshotWrite) ([]store.SnapshotResult, error)
}

// written is what became of one fetched answer.
type written struct {
	pair Pair
	res  store.SnapshotResult
	err  error
}

// groupCommit writes fetched answers in the background, so the next fetch need
// not wait for the database: each transaction takes every answer queued while the
// previous one committed, up to MaxBatch, and never waits for more. At the
// partner's real pace an answer finds the writer idle and is written alone at
// once; when answers come faster than one transaction per answer (a backfill, a
// benchmark) they are written many to a transaction.
type groupCommit struct {
	w     SnapshotWriter
	batch BatchSnapshotWriter // nil: one answer at a time
	grace time.Duration
	queue chan pending
	done  chan struct{}

	mu   sync.Mutex
	outs []written
	// largest is the most answers committed in one transaction, for tests.
	largest int
}

type pending struct {
	pair  Pair
	write store.SnapshotWrite
	// ctx is the fetching run's context, without its cancellation: an answer
	// that cost budget may still commit within the grace period.
	ctx context.Context
}

func newGroupCommit(w SnapshotWriter, grace time.Duration) *groupCommit {
	g := &groupCommit{w: w, grace: grace, queue: make(chan pending, MaxBatch), done: make(chan struct{})}
	g.batch, _ = w.(BatchSnapshotWriter)
	go g.loop()
	return g
}

// submit queues an answer; it blocks only while MaxBatch answers are queued.
func (g *groupCommit) submit(ctx context.Context, p Pair, w store.SnapshotWrite) {
	g.queue <- pending{pair: p, write: w, ctx: context.WithoutCancel(ctx)}
}

// take returns the outcomes of the answers written since the last take.
func (g *groupCommit) take() []written {
	g.mu.Lock()
	defer g.mu.Unlock()
	outs := g.outs
	g.outs = nil
	return outs
}

// close waits until every submitted answer is written and returns the outcomes
// not taken yet. No submit may follow.
func (g *groupCommit) close() []written {
	close(g.queue)
	<-g.done
	return g.take()
}

func (g *groupCommit) loop() {
	defer close(g.done)
	for first := range g.queue {
		batch := []pending{first}
	more:
		for len(batch) < MaxBatch {
			select {
			case p, ok := <-g.queue:
				if !ok {
					break more
				}
				batch = append(batch, p)
			default:
				break more
			}
		}
		g.record(g.write(batch))
	}
}

func (g *groupCommit) record(outs []written, together int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.outs = append(g.outs, outs...)
	g.largest = max(g.largest, together)
}

// write writes a batch in one transaction and says how many answers committed
// together. If that fails, nothing of it was written, and each answer is written
// again on its own: one bad answer or one lost connection must not fail or
// misattribute the others.
func (g *groupCommit) write(batch []pending) ([]written, int) {
	outs := make([]written, len(batch))
	for i, p := range batch {
		outs[i].pair = p.pair
	}
	if g.batch != nil && len(batch) > 1 {
		ctx, cancel := context.WithTimeout(batch[0].ctx, g.grace)
		writes := make([]store.SnapshotWrite, len(batch))
		for i, p := range batch {
			writes[i] = p.write
		}
		res, err := g.batch.WriteSnapshots(ctx, writes)
		cancel()
		if err == nil {
			for i := range outs {
				outs[i].res = res[i]
			}
			return outs, 1
		}
	}
	for i, p := range batch {
		ctx, cancel := context.WithTimeout(p.ctx, g.grace)
		w := p.write
		outs[i].res, outs[i].err = g.w.WriteSnapshot(ctx, w.ProductID, w.Date, w.Slots, w.SyncedAt)
		cancel()
		if outs[i].err != nil {
			outs[i].err = fmt.Errorf("sync %s: %w", p.pair, outs[i].err)
		}
	}
	return outs, 1
}

// addWritten counts the outcomes of written answers.
func (s *Summary) addWritten(ctx context.Context, outs []written) {
	log := logr.FromContextOrDiscard(ctx)
	for _, o := range outs {
		p := o.pair
		if o.err != nil {
			log.Error(o.err, "sync failed", "product", p.ProductID, "date", p.Date.Format(time.DateOnly))
			s.addFailure(p, o.err)
			continue
		}
		s.PairsOK++
		s.SlotsWritten += o.res.Written
		if o.res.Changed {
			s.SnapshotsChanged++
		}
		if o.res.Stale {
			s.SnapshotsStale++
		}
		log.V(1).Info("snapshot written", "product", p.ProductID, "date", p.Date.Format(time.DateOnly), "slots", o.res.Slots, "changed", o.res.Changed, "stale", o.res.Stale)
	}
}
