package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/slotsync/slotsync/internal/partner"
)

// DatePrice is a date with places on offer and its price in one currency.
type DatePrice struct {
	// Date is the calendar date, "YYYY-MM-DD".
	Date string
	// FinalPrice is the lowest final price, in CurrencyCode, of the passenger
	// type a shop quotes (see AvailableDates) among those with places left in
	// slots with places left that day; OriginalPrice and PaxType belong to the
	// same offer. Amounts are the partner's text.
	FinalPrice    partner.Decimal
	OriginalPrice partner.Decimal
	CurrencyCode  string
	PaxType       string
}

// availableDates keeps, per date and currency, the best offer by DISTINCT ON:
// the tier first (0 primary, 1 adult-like, 2 any other type), then the lowest
// final price. The rest of ORDER BY only breaks ties, so equal prices always
// pick the same row. Currencies are never compared with each other: each has
// its own row.
const availableDates = `
SELECT DISTINCT ON (p.date, p.currency_code)
       to_char(p.date, 'YYYY-MM-DD'), p.final_price::text, p.original_price::text, p.currency_code, p.pax_type
FROM slot_pax p
JOIN slots s USING (product_id, date, provider_slot_id)
WHERE p.product_id = $1 AND p.date BETWEEN $2 AND $3
  AND p.remaining > 0 AND s.remaining > 0
ORDER BY p.date, p.currency_code,
         CASE WHEN p.is_primary THEN 0
              WHEN p.pax_type ILIKE '%adult%' OR p.name ILIKE '%adult%' THEN 1
              ELSE 2 END,
         p.final_price, p.original_price, p.provider_slot_id COLLATE "C", p.pax_type COLLATE "C"`

// AvailableDates returns, in date order, the dates from from through to (both
// inclusive, calendar dates in their own location) on which productID has a slot
// with places left and a passenger type with places left in it, each with the
// price a shop quotes for it: the lowest final price of the primary passenger
// type (the partner's isPrimary); where no primary type has places left, of the
// adult-like types (type or name containing "adult", in any case); else of any
// type. A date with offers in several currencies has one DatePrice per
// currency, in currency code order: prices in different currencies are never
// compared. ErrNotFound means the product was never synced on any date; a known
// product without availability has no dates.
func (s *Store) AvailableDates(ctx context.Context, productID int64, from, to time.Time) ([]DatePrice, error) {
	dates, _, err := s.AvailableDatesSynced(ctx, productID, from, to)
	return dates, err
}

// SyncSummary sums up the sync times of a product's dates in a range. Each
// snapshot written of a date, changed or not, moves that date's sync time
// forward, so the summary changes whenever anything read from those dates may
// have: an HTTP validator of answers built from them.
type SyncSummary struct {
	// Dates is how many dates of the range were ever synced.
	Dates int64
	// Latest is the latest of their sync times; nil when Dates is 0.
	Latest *time.Time
	// Sum is the sum of their sync times in Unix microseconds, in decimal. Unlike
	// Latest it moves when a date is synced after another but with an earlier
	// fetch time (a slow worker).
	Sum string
}

const syncSummary = `
SELECT count(*), max(synced_at), coalesce(sum((extract(epoch FROM synced_at) * 1000000)::numeric), 0)::text
FROM inventory_syncs WHERE product_id = $1 AND date BETWEEN $2 AND $3`

// AvailableDatesSynced is AvailableDates with the summary of the sync times of
// the same dates, read in the same snapshot of the database.
func (s *Store) AvailableDatesSynced(ctx context.Context, productID int64, from, to time.Time) ([]DatePrice, SyncSummary, error) {
	dates, sum, err := s.availableDates(ctx, productID, dateText(from), dateText(to))
	if err != nil {
		return nil, SyncSummary{}, fmt.Errorf("read available dates of product %d from %s to %s: %w",
			productID, dateText(from), dateText(to), err)
	}
	return dates, sum, nil
}

func (s *Store) availableDates(ctx context.Context, productID int64, from, to string) ([]DatePrice, SyncSummary, error) {
	// One snapshot for both queries, as in readSnapshot.
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return nil, SyncSummary{}, fmt.Errorf("begin: %w", err)
	}
	defer rollback(ctx, tx)

	known, err := productKnown(ctx, tx, productID)
	if err != nil {
		return nil, SyncSummary{}, fmt.Errorf("look up product: %w", err)
	}
	if !known {
		return nil, SyncSummary{}, ErrNotFound
	}
	rows, err := tx.Query(ctx, availableDates, productID, from, to)
	if err != nil {
		return nil, SyncSummary{}, fmt.Errorf("query: %w", err)
	}
	dates, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (DatePrice, error) {
		var d DatePrice
		var final, original string
		err := row.Scan(&d.Date, &final, &original, &d.CurrencyCode, &d.PaxType)
		d.FinalPrice, d.OriginalPrice = partner.Decimal(final), partner.Decimal(original)
		return d, err
	})
	if err != nil {
		return nil, SyncSummary{}, fmt.Errorf("query: %w", err)
	}
	var sum SyncSummary
	if err := tx.QueryRow(ctx, syncSummary, productID, from, to).Scan(&sum.Dates, &sum.Latest, &sum.Sum); err != nil {
		return nil, SyncSummary{}, fmt.Errorf("sum up sync times: %w", err)
	}
	return dates, sum, nil
}
