package store

import (
	"context"

	"github.com/jackc/pgx/v5/pgxpool"
)

// SetHook makes s call hook at each stage of a snapshot transaction: "locked"
// once it holds the pair and read its hash, "staged" after the COPY, "merged"
// just before the commit; pid is the backend's. An error
// from hook aborts the write, as a failure at that point would.
func SetHook(s *Store, hook func(ctx context.Context, stage string, pid uint32) error) {
	s.hook = hook
}

// ParseSnapshotPayload reads a notification on SnapshotChannel.
var ParseSnapshotPayload = parseSnapshotPayload

// SetProbeVia makes s send its snapshot listener's probe through pool.
func SetProbeVia(s *Store, pool *pgxpool.Pool) {
	s.probeVia = pool
}
