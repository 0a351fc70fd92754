package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/slotsync/slotsync/internal/partner"
)

// Snapshot is the stored answer for one (product, date).
type Snapshot struct {
	// SyncedAt is when the pair was last fetched; nil if it never was.
	SyncedAt *time.Time
	// ChangedAt is when the stored answer last changed; nil if never fetched.
	ChangedAt *time.Time
	// Slots are ordered by start time, then providerSlotId; pax by type. Never nil.
	Slots []partner.Slot
}

// ReadSnapshot returns the stored answer for productID on date. A pair never
// fetched has no sync time and no slots; ErrNotFound means the product was never
// synced on any date.
func (s *Store) ReadSnapshot(ctx context.Context, productID int64, date time.Time) (Snapshot, error) {
	day := dateText(date)
	snap, err := s.readSnapshot(ctx, productID, day)
	if err != nil {
		return Snapshot{}, fmt.Errorf("read snapshot of product %d on %s: %w", productID, day, err)
	}
	return snap, nil
}

// ReadSyncTimesSQL and ReadSlotsSQL are the statements ReadSnapshot runs, in one
// read-only repeatable-read transaction, for a product ($1) and date ($2). The
// API reads with ReadSlotsDocumentSQL instead.
const ReadSyncTimesSQL = `
SELECT (SELECT synced_at FROM inventory_syncs WHERE product_id = $1 AND date = $2),
       (SELECT changed_at FROM inventory_syncs WHERE product_id = $1 AND date = $2),
       ` + productKnownSQL

// productKnownSQL is true when the product ($1) was synced on any date: it
// tells a product we know nothing of (ErrNotFound) from a known one without
// data on a date.
const productKnownSQL = `EXISTS (SELECT FROM inventory_syncs WHERE product_id = $1)`

// ReadSlotsSQL: see ReadSyncTimesSQL. ORDER BY uses the C collation so the order
// is the bytes', whatever the database's default collation.
const ReadSlotsSQL = `
SELECT s.provider_slot_id, s.start_date, s.start_time, s.end_time, s.remaining, s.currency_code,
       coalesce(s.variant_id, 0),
       p.pax_type, p.name, p.description, coalesce(p.min_count, 0), coalesce(p.max_count, 0),
       p.remaining, p.is_primary, p.final_price::text, p.original_price::text,
       coalesce(p.discount::text, ''), p.currency_code
FROM slots s
LEFT JOIN slot_pax p USING (product_id, date, provider_slot_id)
WHERE s.product_id = $1 AND s.date = $2
ORDER BY s.start_time COLLATE "C", s.provider_slot_id COLLATE "C", p.pax_type COLLATE "C"`

// ReadSlotsDocumentSQL builds, in one statement and so in one round trip and one
// snapshot of the database, the whole JSON answer of the slots route for a
// product ($1) and date ($2): {"productId":…,"date":…,"syncedAt":…,"slots":[…]},
// compact, keys in the order of the API's types, syncedAt in RFC 3339 UTC with
// trailing zeros of the fraction left out, and slots in the order ReadSnapshot
// gives (start time, then providerSlotId, pax by type, each in byte order), pax
// min and max always written, 0 included. It returns no row when the product was never
// synced on any date. Strings are escaped by to_json, which writes them as
// encoding/json does except for '<', '>', '&', U+2028 and U+2029, which it
// leaves as they are (see ReadSlotsDocument). It is exported so the read
// benchmark can hand pgbench the very same SQL.
const ReadSlotsDocumentSQL = `
SELECT concat('{"productId":', $1::bigint, ',"date":"', to_char($2::date, 'YYYY-MM-DD'), '","syncedAt":',
  coalesce((SELECT rtrim(to_json(synced_at AT TIME ZONE 'UTC')::text, '"') || 'Z"'
            FROM inventory_syncs WHERE product_id = $1 AND date = $2), 'null'),
  ',"slots":[',
  (SELECT string_agg('{"startDate":' || to_json(s.start_date)::text || ',"startTime":' || to_json(s.start_time)::text
        || ',"endTime":' || to_json(s.end_time)::text || ',"providerSlotId":' || to_json(s.provider_slot_id)::text
        || ',"remaining":' || s.remaining::text || ',"currencyCode":' || to_json(s.currency_code)::text
        || ',"variantId":' || coalesce(s.variant_id, 0)::text || ',"paxAvailability":[' || coalesce(x.pax, '') || ']}',
      ',' ORDER BY s.start_time COLLATE "C", s.provider_slot_id COLLATE "C")
   FROM slots s
   LEFT JOIN (SELECT p.provider_slot_id,
                string_agg('{"type":' || to_json(p.pax_type)::text || ',"name":' || to_json(p.name)::text
                    || ',"description":' || to_json(p.description)::text
                    || ',"min":' || coalesce(p.min_count, 0)::text || ',"max":' || coalesce(p.max_count, 0)::text
                    || ',"remaining":' || p.remaining::text
                    || ',"isPrimary":' || CASE WHEN p.is_primary THEN 'true' ELSE 'false' END
                    || ',"price":{"discount":' || coalesce(p.discount::text, 'null')
                    || ',"finalPrice":' || p.final_price::text || ',"originalPrice":' || p.original_price::text
                    || ',"currencyCode":' || to_json(p.currency_code)::text || '}}',
                  ',' ORDER BY p.pax_type COLLATE "C") AS pax
              FROM slot_pax p WHERE p.product_id = $1 AND p.date = $2
              GROUP BY p.provider_slot_id) AS x USING (provider_slot_id)
   WHERE s.product_id = $1 AND s.date = $2),
  ']}')
WHERE ` + productKnownSQL

// ReadSlotsDocument returns the JSON answer of the slots route for productID on
// date as ReadSlotsDocumentSQL builds it, in a new slice; ErrNotFound means the
// product was never synced on any date. The caller escapes what encoding/json
// escapes and to_json does not.
func (s *Store) ReadSlotsDocument(ctx context.Context, productID int64, date time.Time) ([]byte, error) {
	return s.AppendSlotsDocument(ctx, nil, productID, date)
}

// AppendSlotsDocument is ReadSlotsDocument appending to buf, so that a caller
// that does not keep answers can reuse one buffer for many.
func (s *Store) AppendSlotsDocument(ctx context.Context, buf []byte, productID int64, date time.Time) ([]byte, error) {
	day := dateText(date)
	rows, err := s.pool.Query(ctx, ReadSlotsDocumentSQL, productID, day)
	if err != nil {
		return buf, fmt.Errorf("read slots of product %d on %s: %w", productID, day, err)
	}
	found := false
	for rows.Next() {
		buf = append(buf, rows.RawValues()[0]...)
		found = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return buf, fmt.Errorf("read slots of product %d on %s: %w", productID, day, err)
	}
	if !found {
		return buf, fmt.Errorf("read slots of product %d on %s: %w", productID, day, ErrNotFound)
	}
	return buf, nil
}

func (s *Store) readSnapshot(ctx context.Context, productID int64, day string) (Snapshot, error) {
	// One repeatable-read snapshot for both queries: a write committing between
	// them must not pair one answer's sync time with another's slots.
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return Snapshot{Slots: []partner.Slot{}}, fmt.Errorf("begin: %w", err)
	}
	defer rollback(ctx, tx)
	return readSnapshotTx(ctx, tx, productID, day)
}

// ReadSnapshotTx is ReadSnapshot inside tx, for a caller that reads more from
// the same snapshot of the database (the soak's row counts); tx should be
// repeatable read.
func ReadSnapshotTx(ctx context.Context, tx pgx.Tx, productID int64, date time.Time) (Snapshot, error) {
	day := dateText(date)
	snap, err := readSnapshotTx(ctx, tx, productID, day)
	if err != nil {
		return Snapshot{}, fmt.Errorf("read snapshot of product %d on %s: %w", productID, day, err)
	}
	return snap, nil
}

func readSnapshotTx(ctx context.Context, tx pgx.Tx, productID int64, day string) (Snapshot, error) {
	snap := Snapshot{Slots: []partner.Slot{}}
	var known bool
	err := tx.QueryRow(ctx, ReadSyncTimesSQL, productID, day).
		Scan(&snap.SyncedAt, &snap.ChangedAt, &known)
	if err != nil {
		return snap, fmt.Errorf("read sync time: %w", err)
	}
	if !known {
		return snap, ErrNotFound
	}
	if snap.SyncedAt == nil {
		return snap, nil
	}

	rows, err := tx.Query(ctx, ReadSlotsSQL, productID, day)
	if err != nil {
		return snap, fmt.Errorf("read slots: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var sl partner.Slot
		var paxType, name, description, final, original, discount, currency *string
		var paxMin, paxMax, remaining *int
		var primary *bool
		if err := rows.Scan(&sl.ProviderSlotID, &sl.StartDate, &sl.StartTime, &sl.EndTime, &sl.Remaining,
			&sl.CurrencyCode, &sl.VariantID, &paxType, &name, &description, &paxMin, &paxMax, &remaining,
			&primary, &final, &original, &discount, &currency); err != nil {
			return snap, fmt.Errorf("read slots: %w", err)
		}
		n := len(snap.Slots)
		if n == 0 || snap.Slots[n-1].ProviderSlotID != sl.ProviderSlotID {
			sl.PaxAvailability = []partner.PaxAvailability{}
			snap.Slots = append(snap.Slots, sl)
			n++
		}
		if paxType == nil { // a slot without pax rows
			continue
		}
		last := &snap.Slots[n-1]
		last.PaxAvailability = append(last.PaxAvailability, partner.PaxAvailability{
			Type: *paxType, Name: *name, Description: *description, Min: *paxMin, Max: *paxMax,
			Remaining: *remaining, IsPrimary: *primary,
			Price: partner.Price{
				FinalPrice: partner.Decimal(*final), OriginalPrice: partner.Decimal(*original),
				Discount: partner.Decimal(*discount), CurrencyCode: *currency,
			},
		})
	}
	if err := rows.Err(); err != nil {
		return snap, fmt.Errorf("read slots: %w", err)
	}
	return snap, nil
}

// ProductKnown reports whether productID was ever synced, on any date.
func (s *Store) ProductKnown(ctx context.Context, productID int64) (bool, error) {
	known, err := productKnown(ctx, s.pool, productID)
	if err != nil {
		return false, fmt.Errorf("look up product %d: %w", productID, err)
	}
	return known, nil
}

// rowQuerier is a pool or a transaction.
type rowQuerier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// productKnown runs productKnownSQL on q.
func productKnown(ctx context.Context, q rowQuerier, productID int64) (bool, error) {
	var known bool
	err := q.QueryRow(ctx, "SELECT "+productKnownSQL, productID).Scan(&known)
	return known, err
}

// SyncedByRun returns the dates, as "YYYY-MM-DD", among dates whose pair with
// productID was last written by the run runID (see WithRunID): a retried Job
// index skips them. A pair another run wrote since, even a moment ago, is not
// among them: that run may serve another schedule or partner.
func (s *Store) SyncedByRun(ctx context.Context, productID int64, dates []time.Time, runID string) (map[string]bool, error) {
	days := make([]string, len(dates))
	for i, d := range dates {
		days[i] = dateText(d)
	}
	rows, err := s.pool.Query(ctx, `
SELECT to_char(date, 'YYYY-MM-DD') FROM inventory_syncs
WHERE product_id = $1 AND date = ANY($2::date[]) AND run_id = $3`, productID, days, runID)
	if err != nil {
		return nil, fmt.Errorf("read sync times of product %d: %w", productID, err)
	}
	synced, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("read sync times of product %d: %w", productID, err)
	}
	out := make(map[string]bool, len(synced))
	for _, d := range synced {
		out[d] = true
	}
	return out, nil
}
