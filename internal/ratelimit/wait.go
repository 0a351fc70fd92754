package ratelimit

import (
	"context"
	"fmt"
	"time"
)

// reserve takes the next slot, slot = greatest(tat, now, blocked_until), and
// returns how long until it. One statement under the row lock, so concurrent
// reservations get distinct slots; clock_timestamp() is read after the lock is
// held. The wait is computed in the database clock and waited out locally, so
// it is never shorter than the slot demands whatever the local clock says.
const reserve = `
INSERT INTO partner_budgets AS b (key_hash, tat)
VALUES ($1, clock_timestamp() + $2 * interval '1 microsecond')
ON CONFLICT (key_hash) DO UPDATE
SET tat = greatest(b.tat, clock_timestamp(), b.blocked_until) + $2 * interval '1 microsecond',
    updated_at = clock_timestamp()
RETURNING (extract(epoch FROM b.tat - $2 * interval '1 microsecond' - clock_timestamp()) * 1000000)::bigint`

// blockedFor says how long the key stays blocked by a 429.
const blockedFor = `
SELECT coalesce((SELECT (extract(epoch FROM blocked_until - clock_timestamp()) * 1000000)::bigint
                 FROM partner_budgets WHERE key_hash = $1), 0)`

// Wait returns when the caller may send one request, or with ctx's error. When
// the next slot lies beyond ctx's deadline it returns at once.
func (l *Limiter) Wait(ctx context.Context) error {
	for {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("wait for partner budget: %w", err)
		}
		d, err := l.query(ctx, reserve, l.keyHash, l.interval.Microseconds())
		if err != nil {
			return fmt.Errorf("wait for partner budget: reserve: %w", err)
		}
		l.reservations.Add(1)
		if d <= 0 {
			return nil // the reservation itself saw any block
		}
		if err := l.sleep(ctx, d); err != nil {
			return err
		}
		// A 429 may have come in while we slept, with a reset after our slot.
		blocked, err := l.query(ctx, blockedFor, l.keyHash)
		if err != nil {
			return fmt.Errorf("wait for partner budget: check block: %w", err)
		}
		if blocked <= 0 {
			return nil
		}
	}
}

// query runs a statement returning microseconds, as a Duration.
func (l *Limiter) query(ctx context.Context, sql string, args ...any) (time.Duration, error) {
	var us int64
	if err := l.pool.QueryRow(ctx, sql, args...).Scan(&us); err != nil {
		return 0, err
	}
	return time.Duration(us) * time.Microsecond, nil
}

func (l *Limiter) sleep(ctx context.Context, d time.Duration) error {
	if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) < d {
		return fmt.Errorf("wait for partner budget: next slot in %v is past the deadline: %w", d, context.DeadlineExceeded)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	start := time.Now()
	select {
	case <-t.C:
		l.waited.Add(int64(time.Since(start)))
		return nil
	case <-ctx.Done():
		l.waited.Add(int64(time.Since(start)))
		return fmt.Errorf("wait for partner budget: %w", ctx.Err())
	}
}

// Block holds every Limiter of the key until the partner's reset after a 429:
// nobody's next slot comes before until. An earlier until never shortens a block.
func (l *Limiter) Block(ctx context.Context, until time.Time) error {
	// Round up to the database's microsecond so no slot lands just before until.
	if r := until.Truncate(time.Microsecond); !r.Equal(until) {
		until = r.Add(time.Microsecond)
	}
	_, err := l.pool.Exec(ctx, `
INSERT INTO partner_budgets AS b (key_hash, tat, blocked_until) VALUES ($1, $2, $2)
ON CONFLICT (key_hash) DO UPDATE
SET blocked_until = greatest(b.blocked_until, EXCLUDED.blocked_until),
    tat = greatest(b.tat, EXCLUDED.tat),
    updated_at = clock_timestamp()`, l.keyHash, until)
	if err != nil {
		return fmt.Errorf("block partner budget until %s: %w", until.UTC().Format(time.RFC3339Nano), err)
	}
	l.blocks.Add(1)
	return nil
}
