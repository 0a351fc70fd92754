package store

import (
	"bytes"
	"context"
	"fmt"
	"hash/fnv"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/slotsync/slotsync/internal/partner"
)

// SnapshotChannel is the LISTEN/NOTIFY channel of committed snapshots. The payload
// is "<productID>:<YYYY-MM-DD>"; it is sent for unchanged answers too, since their
// freshness moved. A transaction that writes several pairs sends one per pair.
const SnapshotChannel = "slotsync_snapshot"

// snapshotLockSpace is the first key of the two-key advisory lock that serialises
// the writers of one (product, date). The two-key space is apart from goose's
// one-key migration lock; a hash collision between pairs only makes two writers
// take turns.
const snapshotLockSpace int32 = 0x51075e7c

type runKey struct{}

// WithRunID returns ctx naming the run that the snapshots written with it belong
// to (the sync Job's name); each stored pair remembers the run that wrote it
// last, so a retried attempt of the run can skip it (SyncedByRun). It travels in
// the context, as a request ID does, so that it reaches the store through any
// writer that wraps it.
func WithRunID(ctx context.Context, runID string) context.Context {
	return context.WithValue(ctx, runKey{}, runID)
}

// runIDOf is the run named by ctx, nil (NULL) when none is.
func runIDOf(ctx context.Context) *string {
	if id, ok := ctx.Value(runKey{}).(string); ok && id != "" {
		return &id
	}
	return nil
}

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
	// Stale is true when the stored snapshot was fetched after this answer: the
	// answer was dropped, as a snapshot never goes back in time.
	Stale bool
}

// SnapshotWrite is one answer to store: the partner's slots for ProductID on Date,
// fetched at SyncedAt. SyncedAt orders answers: a slow or replaced worker that
// commits an older answer after a newer one must not put it back, so an answer
// fetched before the stored one is dropped (SnapshotResult.Stale). Workers'
// clocks differ by little next to the minutes between two fetches of a pair.
type SnapshotWrite struct {
	ProductID int64
	Date      time.Time
	Slots     []partner.Slot
	SyncedAt  time.Time
}

// WriteSnapshot stores the partner's answer for productID on date, fetched at
// syncedAt, in one transaction, and notifies SnapshotChannel on commit. Writers of
// the same pair take turns, so the result is always exactly one whole answer.
// It is WriteSnapshots of one answer.
func (s *Store) WriteSnapshot(ctx context.Context, productID int64, date time.Time, slots []partner.Slot, syncedAt time.Time) (SnapshotResult, error) {
	res, err := s.WriteSnapshots(ctx, []SnapshotWrite{{ProductID: productID, Date: date, Slots: slots, SyncedAt: syncedAt}})
	if err != nil {
		return SnapshotResult{}, err
	}
	return res[0], nil
}

// WriteSnapshots stores many answers in one transaction (group commit), with the
// guarantees of WriteSnapshot for each: an unchanged answer only moves its sync
// time, a changed one replaces the stored answer row by row, one fetched before
// the stored one is dropped as Stale, every other pair is notified on commit, and
// concurrent writers of a pair take turns. The result is the same as writing the
// answers one after the other in slice order, except that all or none commit:
// the same pair twice in one batch is written twice, in order, so the later
// answer is the one stored unless it is older, and each gets its own result.
// Results are in the order of writes. On error nothing was written; an invalid
// answer fails the whole batch (its error names the pair), so a caller that must
// save the others writes them again without it, or one by one.
func (s *Store) WriteSnapshots(ctx context.Context, writes []SnapshotWrite) ([]SnapshotResult, error) {
	if len(writes) == 0 {
		return nil, nil
	}
	res, err := s.writeSnapshots(ctx, writes)
	if err != nil {
		if len(writes) == 1 {
			return nil, fmt.Errorf("write snapshot of product %d on %s: %w", writes[0].ProductID, dateText(writes[0].Date), err)
		}
		return nil, fmt.Errorf("write %d snapshots: %w", len(writes), err)
	}
	return res, nil
}

// pairKey is a (product, date) as the statements see it.
type pairKey struct {
	product int64
	day     string
}

func (k pairKey) String() string { return fmt.Sprintf("%d:%s", k.product, k.day) }

// entry is one answer of a batch on its way to the database.
type entry struct {
	key      pairKey
	date     time.Time // key.day at midnight UTC, as COPY sends a date
	canon    []partner.Slot
	hash     []byte
	syncedAt time.Time
	res      *SnapshotResult
}

func (s *Store) writeSnapshots(ctx context.Context, writes []SnapshotWrite) ([]SnapshotResult, error) {
	results := make([]SnapshotResult, len(writes))
	entries := make([]entry, len(writes))
	for i, w := range writes {
		key := pairKey{w.ProductID, dateText(w.Date)}
		canon, err := canonical(w.Slots)
		if err != nil {
			if len(writes) > 1 {
				err = fmt.Errorf("product %d on %s: %w", key.product, key.day, err)
			}
			return nil, err
		}
		results[i].Slots = len(canon)
		y, m, d := w.Date.Date()
		entries[i] = entry{key: key, date: time.Date(y, m, d, 0, 0, 0, 0, time.UTC), canon: canon, hash: contentHash(canon), syncedAt: w.SyncedAt, res: &results[i]}
	}
	// Round r holds the (r+1)-th answer of each pair, so that no round has a pair
	// twice and the rounds apply in slice order.
	var rounds [][]*entry
	seen := make(map[pairKey]int, len(entries))
	for i := range entries {
		r := seen[entries[i].key]
		seen[entries[i].key]++
		if r == len(rounds) {
			rounds = append(rounds, nil)
		}
		rounds[r] = append(rounds[r], &entries[i])
	}

	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("acquire connection: %w", err)
	}
	defer conn.Release()
	if err := ensureStaging(ctx, conn.Conn()); err != nil {
		return nil, err
	}
	pid := conn.Conn().PgConn().PID()
	runID := runIDOf(ctx)

	tx, err := conn.Begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("begin: %w", err)
	}
	defer rollback(ctx, tx)

	stored, err := lockPairs(ctx, tx, rounds[0])
	if err != nil {
		return nil, err
	}
	if err := s.runHook(ctx, "locked", pid); err != nil {
		return nil, err
	}
	for r, round := range rounds {
		if r > 0 {
			if _, err := tx.Exec(ctx, truncateStaging); err != nil {
				return nil, fmt.Errorf("empty staging tables: %w", err)
			}
		}
		var fresh, changed, unchanged []*entry
		for _, e := range round {
			prev, ok := stored[e.key]
			switch {
			case ok && prev.syncedAt.After(e.syncedAt.Truncate(time.Microsecond)):
				e.res.Stale = true
				continue
			case ok && bytes.Equal(prev.hash, e.hash):
				unchanged = append(unchanged, e)
				stored[e.key] = storedPair{prev.hash, e.syncedAt}
				continue
			case ok:
				changed = append(changed, e)
			default:
				fresh = append(fresh, e)
			}
			e.res.Changed = true
			stored[e.key] = storedPair{e.hash, e.syncedAt} // what the next round compares with
		}
		if err := copyFresh(ctx, tx, fresh, runID); err != nil {
			return nil, err
		}
		if err := stage(ctx, tx, changed); err != nil {
			return nil, err
		}
		if err := s.runHook(ctx, "staged", pid); err != nil {
			return nil, err
		}
		if err := merge(ctx, tx, round, changed, unchanged, runID); err != nil {
			return nil, err
		}
	}
	if err := s.runHook(ctx, "merged", pid); err != nil {
		return nil, err
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, fmt.Errorf("commit: %w", err)
	}
	return results, nil
}

// pairLockKey folds a (product, date) pair into the second advisory lock key.
func pairLockKey(productID int64, day string) int32 {
	h := fnv.New32a()
	fmt.Fprintf(h, "%d:%s", productID, day)
	return int32(h.Sum32())
}

// storedPair is what the batch compares an answer with.
type storedPair struct {
	hash     []byte
	syncedAt time.Time
}

// lockPairs takes the advisory locks of the pairs, in ascending key order so that
// two batches sharing pairs cannot deadlock, and reads their stored hashes and
// sync times; a pair missing from the map has no stored answer and, by the
// foreign keys, no rows.
func lockPairs(ctx context.Context, tx pgx.Tx, pairs []*entry) (map[pairKey]storedPair, error) {
	lockKeys := make([]int32, 0, len(pairs))
	products := make([]int64, len(pairs))
	days := make([]string, len(pairs))
	for i, e := range pairs {
		lockKeys = append(lockKeys, pairLockKey(e.key.product, e.key.day))
		products[i], days[i] = e.key.product, e.key.day
	}
	slices.Sort(lockKeys)
	lockKeys = slices.Compact(lockKeys)

	var p plan
	p.queue("lock pairs", nil, lockPairsSQL, snapshotLockSpace, lockKeys)
	stored := make(map[pairKey]storedPair, len(pairs))
	p.queueRows("read stored hashes", readHashesSQL, func(rows pgx.Rows) error {
		var (
			key pairKey
			sp  storedPair
		)
		if err := rows.Scan(&key.product, &key.day, &sp.hash, &sp.syncedAt); err != nil {
			return err
		}
		stored[key] = sp
		return nil
	}, products, days)
	if err := p.run(ctx, tx); err != nil {
		return nil, err
	}
	return stored, nil
}

func (s *Store) runHook(ctx context.Context, stage string, pid uint32) error {
	if s.hook == nil {
		return nil
	}
	return s.hook(ctx, stage, pid)
}
