package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/slotsync/slotsync/internal/partner"
)

// DatePrice is a date with places on offer and the lowest price among them.
type DatePrice struct {
	// Date is the calendar date, "YYYY-MM-DD".
	Date string
	// FinalPrice is the lowest final price of any passenger type with places
	// left in any slot with places left that day; OriginalPrice and
	// CurrencyCode belong to the same offer. Amounts are the partner's text.
	FinalPrice    partner.Decimal
	OriginalPrice partner.Decimal
	CurrencyCode  string
}

// availableDates reads slot_pax_available_price_idx in (date, final_price)
// order, so DISTINCT ON keeps the cheapest offer of each date without a sort.
// The rest of ORDER BY only breaks ties, so equal prices always pick the same row.
const availableDates = `
SELECT DISTINCT ON (p.date)
       to_char(p.date, 'YYYY-MM-DD'), p.final_price::text, p.original_price::text, p.currency_code
FROM slot_pax p
JOIN slots s USING (product_id, date, provider_slot_id)
WHERE p.product_id = $1 AND p.date BETWEEN $2 AND $3
  AND p.remaining > 0 AND s.remaining > 0
ORDER BY p.date, p.final_price, p.original_price,
         p.provider_slot_id COLLATE "C", p.pax_type COLLATE "C"`

// AvailableDates returns, in date order, the dates from from through to (both
// inclusive, calendar dates in their own location) on which productID has a slot
// with places left and a passenger type with places left in it, each with the
// lowest final price on offer. ErrNotFound means the product was never synced
// on any date; a known product without availability has no dates.
func (s *Store) AvailableDates(ctx context.Context, productID int64, from, to time.Time) ([]DatePrice, error) {
	dates, err := s.availableDates(ctx, productID, dateText(from), dateText(to))
	if err != nil {
		return nil, fmt.Errorf("read available dates of product %d from %s to %s: %w",
			productID, dateText(from), dateText(to), err)
	}
	return dates, nil
}

func (s *Store) availableDates(ctx context.Context, productID int64, from, to string) ([]DatePrice, error) {
	// One snapshot for both queries, as in readSnapshot.
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return nil, fmt.Errorf("begin: %w", err)
	}
	defer rollback(ctx, tx)

	known, err := productKnown(ctx, tx, productID)
	if err != nil {
		return nil, fmt.Errorf("look up product: %w", err)
	}
	if !known {
		return nil, ErrNotFound
	}
	rows, err := tx.Query(ctx, availableDates, productID, from, to)
	if err != nil {
		return nil, fmt.Errorf("query: %w", err)
	}
	dates, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (DatePrice, error) {
		var d DatePrice
		var final, original string
		err := row.Scan(&d.Date, &final, &original, &d.CurrencyCode)
		d.FinalPrice, d.OriginalPrice = partner.Decimal(final), partner.Decimal(original)
		return d, err
	})
	if err != nil {
		return nil, fmt.Errorf("query: %w", err)
	}
	return dates, nil
}
