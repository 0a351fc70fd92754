package store

import (
	"context"
	"fmt"
	"time"
)

// The adaptive polling plan learns from inventory_syncs, which already holds,
// per (product, date), when it was last checked (synced_at, moved by every
// fetch in the snapshot's own transaction, even when the answer is unchanged)
// and how many slots that answer had (slot_count). Every worker and Job reads
// the same rows, and restarts lose nothing; no second table has to be kept in
// step with the snapshots.
const (
	// ClosedWeekdayEvidence is how far back, by check time, the answers that
	// decide whether a product's weekday is closed reach. Five weeks is longer
	// than the default month horizon (30 days), so each weekday's evidence spans
	// a whole horizon of dates checked lately, and a date on that weekday that
	// had slots within the last five weeks (past dates keep their last answer)
	// keeps the weekday open.
	ClosedWeekdayEvidence = 35 * 24 * time.Hour
	// ClosedWeekdayMinDates is how many distinct dates on a weekday must have
	// been checked, all empty, within ClosedWeekdayEvidence before the weekday
	// counts as closed: one empty date is as likely a sold-out day, three in a
	// row are the pattern.
	ClosedWeekdayMinDates = 3
)

// closedWeekdayChecks returns, of the pairs ($1, $2), those whose last answer
// was empty and whose weekday their product has no slots on: at least $4
// distinct dates on that weekday checked since $3, and none of them with slots.
// A single answer with slots on the weekday opens it again at once.
const closedWeekdayChecks = `
WITH pairs AS (
  SELECT DISTINCT product_id, date
  FROM unnest($1::bigint[], $2::text[]::date[]) AS p(product_id, date)
), closed AS (
  SELECT product_id, extract(isodow FROM date) AS dow
  FROM inventory_syncs
  WHERE product_id IN (SELECT product_id FROM pairs) AND synced_at >= $3
  GROUP BY product_id, extract(isodow FROM date)
  HAVING count(*) >= $4 AND NOT bool_or(slot_count > 0)
)
SELECT i.product_id, i.date::text, i.synced_at
FROM pairs p
JOIN closed c ON c.product_id = p.product_id AND c.dow = extract(isodow FROM p.date)
JOIN inventory_syncs i ON i.product_id = p.product_id AND i.date = p.date
WHERE i.slot_count = 0`

// ClosedWeekdayChecks returns, for those of the pairs (productIDs[i],
// dates[i]) that fall on a weekday their product has been learned to have no
// slots on, when each was last checked, by product and then date
// (YYYY-MM-DD). A weekday is closed when at least ClosedWeekdayMinDates
// distinct dates on it were checked within ClosedWeekdayEvidence before now and
// every one of those answers was empty. It is one query, whatever the number
// of pairs.
func (s *Store) ClosedWeekdayChecks(ctx context.Context, productIDs []int64, dates []time.Time, now time.Time) (map[int64]map[string]time.Time, error) {
	if len(productIDs) != len(dates) {
		return nil, fmt.Errorf("closed weekday checks: %d products for %d dates", len(productIDs), len(dates))
	}
	days := make([]string, len(dates))
	for i, d := range dates {
		days[i] = dateText(d)
	}
	rows, err := s.pool.Query(ctx, closedWeekdayChecks, productIDs, days, now.Add(-ClosedWeekdayEvidence), ClosedWeekdayMinDates)
	if err != nil {
		return nil, fmt.Errorf("load the polling plan: %w", err)
	}
	defer rows.Close()
	plan := map[int64]map[string]time.Time{}
	for rows.Next() {
		var (
			product int64
			day     string
			checked time.Time
		)
		if err := rows.Scan(&product, &day, &checked); err != nil {
			return nil, fmt.Errorf("load the polling plan: %w", err)
		}
		if plan[product] == nil {
			plan[product] = map[string]time.Time{}
		}
		plan[product][day] = checked
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("load the polling plan: %w", err)
	}
	return plan, nil
}
