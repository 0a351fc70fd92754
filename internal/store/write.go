package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/slotsync/slotsync/internal/partner"
)

// SnapshotChannel is the LISTEN/NOTIFY channel of committed snapshots. The payload
// is "<productID>:<YYYY-MM-DD>"; it is sent for unchanged answers too, since their
// freshness moved.
const SnapshotChannel = "slotsync_snapshot"

// snapshotLockSpace is the first key of the two-key advisory lock that serialises
// the writers of one (product, date). The two-key space is apart from goose's
// one-key migration lock; a hash collision between pairs only makes two writers
// take turns.
const snapshotLockSpace int32 = 0x51075e7c

// SnapshotResult says what writing one answer did.
type SnapshotResult struct {
	// Changed is false when the answer equalled the stored one: only its sync time moved.
	Changed bool
	// Slots is the number of slots in the answer.
	Slots int
	// Written counts slot and pax rows inserted or updated; unchanged rows are not.
	Written int
	// Deleted counts slot and pax rows the partner no longer returns.
	Deleted int
}

// WriteSnapshot stores the partner's answer for productID on date, fetched at
// syncedAt, in one transaction, and notifies SnapshotChannel on commit. Writers of
// the same pair take turns, so the result is always exactly one whole answer.
func (s *Store) WriteSnapshot(ctx context.Context, productID int64, date time.Time, slots []partner.Slot, syncedAt time.Time) (SnapshotResult, error) {
	day := dateText(date)
	res, err := s.writeSnapshot(ctx, productID, day, slots, syncedAt)
	if err != nil {
		return SnapshotResult{}, fmt.Errorf("write snapshot of product %d on %s: %w", productID, day, err)
	}
	return res, nil
}

func (s *Store) writeSnapshot(ctx context.Context, productID int64, day string, slots []partner.Slot, syncedAt time.Time) (SnapshotResult, error) {
	canon, err := canonical(slots)
	if err != nil {
		return SnapshotResult{}, err
	}
	hash, err := contentHash(canon)
	if err != nil {
		return SnapshotResult{}, err
	}
	res := SnapshotResult{Slots: len(canon)}

	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return res, fmt.Errorf("acquire connection: %w", err)
	}
	defer conn.Release()
	if err := ensureStaging(ctx, conn.Conn()); err != nil {
		return res, err
	}
	pid := conn.Conn().PgConn().PID()

	tx, err := conn.Begin(ctx)
	if err != nil {
		return res, fmt.Errorf("begin: %w", err)
	}
	defer rollback(ctx, tx)

	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1, $2)`, snapshotLockSpace, pairLockKey(productID, day)); err != nil {
		return res, fmt.Errorf("lock pair: %w", err)
	}
	var stored []byte
	err = tx.QueryRow(ctx, `SELECT content_hash FROM inventory_syncs WHERE product_id = $1 AND date = $2`, productID, day).Scan(&stored)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return res, fmt.Errorf("read stored hash: %w", err)
	}
	if err := s.runHook(ctx, "locked", pid); err != nil {
		return res, err
	}

	var p plan
	if bytes.Equal(stored, hash) {
		p.queue("record sync", nil, `UPDATE inventory_syncs SET synced_at = $3 WHERE product_id = $1 AND date = $2`,
			productID, day, syncedAt)
	} else {
		res.Changed = true
		if err := stage(ctx, tx, canon); err != nil {
			return res, err
		}
		if err := s.runHook(ctx, "staged", pid); err != nil {
			return res, err
		}
		queueMerge(&p, &res, productID, day, syncedAt, len(canon), hash)
	}
	p.queue("notify", nil, `SELECT pg_notify($1, $2)`, SnapshotChannel, fmt.Sprintf("%d:%s", productID, day))
	if err := p.run(ctx, tx); err != nil {
		return res, err
	}
	if err := s.runHook(ctx, "merged", pid); err != nil {
		return res, err
	}
	if err := tx.Commit(ctx); err != nil {
		return res, fmt.Errorf("commit: %w", err)
	}
	return res, nil
}

// pairLockKey folds a (product, date) pair into the second advisory lock key.
func pairLockKey(productID int64, day string) int32 {
	h := fnv.New32a()
	fmt.Fprintf(h, "%d:%s", productID, day)
	return int32(h.Sum32())
}

func (s *Store) runHook(ctx context.Context, stage string, pid uint32) error {
	if s.hook == nil {
		return nil
	}
	return s.hook(ctx, stage, pid)
}
