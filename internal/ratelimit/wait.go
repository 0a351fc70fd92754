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
//
// A blocked_until further than $6 ahead was not written by Block, which bounds
// it (an older version, a wrong clock), and is ignored.
//
// It reserves nothing while a band refreshed more often than $3 has a slot later
// than now − $4 (its workers are still at it: their next reservation follows
// their last answer), and then returns reserved = false and how long until that
// band's claim lapses; unless $5 is false (the caller is overdue and yields to no
// one). Each reservation renews its own band's claim.
const reserve = `
WITH busy AS (
    SELECT max(last_slot) + $4 * interval '1 microsecond' AS until
    FROM partner_budget_claims
    WHERE $5 AND key_hash = $1 AND every_us < $3
), slot AS (
    INSERT INTO partner_budgets AS b (key_hash, tat)
    SELECT $1, clock_timestamp() + $2 * interval '1 microsecond'
    WHERE coalesce((SELECT until FROM busy) <= clock_timestamp(), true)
    ON CONFLICT (key_hash) DO UPDATE
    SET tat = greatest(b.tat, clock_timestamp(),
                       CASE WHEN b.blocked_until <= clock_timestamp() + $6 * interval '1 microsecond'
                            THEN b.blocked_until END) + $2 * interval '1 microsecond',
        updated_at = clock_timestamp()
    RETURNING b.tat - $2 * interval '1 microsecond' AS at
), claim AS (
    INSERT INTO partner_budget_claims AS c (key_hash, every_us, last_slot)
    SELECT $1, $3, at FROM slot
    ON CONFLICT (key_hash, every_us) DO UPDATE
    SET last_slot = greatest(c.last_slot, EXCLUDED.last_slot)
)
SELECT EXISTS (SELECT FROM slot),
       (extract(epoch FROM coalesce((SELECT at FROM slot), (SELECT until FROM busy)) - clock_timestamp()) * 1000000)::bigint`

// YieldSlots is how many slot intervals a band's claim outlives its last slot: a
// worker reserves its next slot only after its answer is fetched and stored, and
// lower bands must not slip into that gap. The key idles for as long when a
// band's run ends, and a lower band may slip in one request when all of a band's
// workers are busy at once for longer: both cost little.
const YieldSlots = 2

// blockedFor says how long the key stays blocked by a 429; a block beyond $2 is
// ignored, as in reserve.
const blockedFor = `
SELECT coalesce((SELECT (extract(epoch FROM blocked_until - clock_timestamp()) * 1000000)::bigint
                 FROM partner_budgets
                 WHERE key_hash = $1 AND blocked_until <= clock_timestamp() + $2 * interval '1 microsecond'), 0)`

// block holds the key for $2 microseconds from now in the database clock, and
// says for how long it is held: an earlier block that ends later is kept, unless
// it lies beyond $3, the bound of every block, when it cannot be right.
const block = `
INSERT INTO partner_budgets AS b (key_hash, tat, blocked_until)
VALUES ($1, clock_timestamp(), clock_timestamp() + $2 * interval '1 microsecond')
ON CONFLICT (key_hash) DO UPDATE
SET blocked_until = CASE WHEN b.blocked_until <= clock_timestamp() + $3 * interval '1 microsecond'
                         THEN greatest(b.blocked_until, EXCLUDED.blocked_until)
                         ELSE EXCLUDED.blocked_until END,
    updated_at = clock_timestamp()
RETURNING (extract(epoch FROM b.blocked_until - clock_timestamp()) * 1000000)::bigint`

// Wait returns when the caller may send one request, or with ctx's error. When
// the next slot lies beyond ctx's deadline it returns at once.
func (l *Limiter) Wait(ctx context.Context) error {
	for {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("wait for partner budget: %w", err)
		}
		var reserved bool
		var us int64
		yield := l.deadline.IsZero() || time.Now().Before(l.deadline)
		err := l.pool.QueryRow(ctx, reserve, l.keyHash, l.interval.Microseconds(), l.every.Microseconds(),
			(YieldSlots*l.interval).Microseconds(), yield, l.maxBlock.Microseconds()).Scan(&reserved, &us)
		if err != nil {
			return fmt.Errorf("wait for partner budget: reserve: %w", err)
		}
		d := time.Duration(us) * time.Microsecond
		if !reserved {
			// A band refreshed more often is using the key: look again when its claim lapses.
			l.yields.Add(1)
			if err := l.sleep(ctx, max(d, l.interval)); err != nil {
				return err
			}
			continue
		}
		l.reservations.Add(1)
		if d <= 0 {
			return nil // the reservation itself saw any block
		}
		if err := l.sleep(ctx, d); err != nil {
			return err
		}
		// A 429 may have come in while we slept, with a reset after our slot.
		blocked, err := l.query(ctx, blockedFor, l.keyHash, l.maxBlock.Microseconds())
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

// Block holds every Limiter of the key for wait after a 429, the partner's reset
// as seen from here when its answer came: nobody's next slot comes before. The
// wait starts now in the database clock, which every holder's slots are timed
// by, so the pod's clock does not matter, and is bounded by MaxBlockWindows
// windows. A shorter wait never shortens a block. It returns how long the key
// is now blocked.
func (l *Limiter) Block(ctx context.Context, wait time.Duration) (time.Duration, error) {
	wait = min(max(wait, 0), l.maxBlock)
	// Round up to the database's microsecond so no slot lands just before the reset.
	us := (wait + time.Microsecond - 1).Microseconds()
	blocked, err := l.query(ctx, block, l.keyHash, us, l.maxBlock.Microseconds())
	if err != nil {
		return 0, fmt.Errorf("block partner budget for %v: %w", wait, err)
	}
	l.blocks.Add(1)
	return blocked, nil
}
