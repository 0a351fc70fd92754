package api

import (
	"context"
	"time"

	"github.com/go-logr/logr"

	"github.com/slotsync/slotsync/internal/store"
)

// WatchSnapshots keeps the read cache coherent with the database until ctx is
// done: it drops the answers each committed snapshot changes, as the store's
// snapshot listener reports them. While that listener is down the cache
// neither serves nor stores; it starts empty each time the listener is back.
// With the cache off (size 0) it returns at once. Serve runs it.
func (s *Server) WatchSnapshots(ctx context.Context) {
	if !s.cache.enabled() {
		return
	}
	log := logr.FromContextOrDiscard(ctx).WithName("snapshots")
	defer s.cache.reset(false)
	down := false
	s.store.WatchSnapshots(ctx, store.SnapshotWatch{
		Listening: func() {
			// Only now may the cache serve: every commit from here on is notified.
			s.cache.reset(true)
			down = false
			log.Info("listening for snapshots; the read cache is on")
		},
		Snapshot: s.cache.invalidate,
		Unreadable: func(err error) {
			// Not ours to understand: drop everything rather than keep a stale answer.
			log.Error(err, "unexpected snapshot notification; clearing the read cache")
			s.cache.reset(true)
		},
		Lost: func(err error, retryIn time.Duration) {
			s.cache.reset(false)
			// Once per outage as an error; the retries only in detail.
			if !down {
				down = true
				log.Error(err, "snapshot listener disconnected; the read cache is off until it is back", "retryIn", retryIn.String())
			} else {
				log.V(1).Info("snapshot listener still disconnected", "error", err.Error(), "retryIn", retryIn.String())
			}
		},
	})
}
