package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/slotsync/slotsync/internal/partner"
)

// The staging tables are created once per connection, outside any transaction
// (so a rollback cannot undo them), and emptied by every commit: a snapshot loads
// into them with COPY and merges from there without churning the catalog.
const (
	stagingCreated = "slotsync.store.staging"
	createStaging  = `
CREATE TEMP TABLE IF NOT EXISTS staged_slots (
    provider_slot_id text    NOT NULL,
    start_date       text    NOT NULL,
    start_time       text    NOT NULL,
    end_time         text    NOT NULL,
    remaining        integer NOT NULL,
    currency_code    text    NOT NULL,
    variant_id       bigint
) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS staged_pax (
    provider_slot_id text    NOT NULL,
    pax_type         text    NOT NULL,
    name             text    NOT NULL,
    description      text    NOT NULL,
    min_count        integer,
    max_count        integer,
    remaining        integer NOT NULL,
    is_primary       boolean NOT NULL,
    final_price      text    NOT NULL,
    original_price   text    NOT NULL,
    discount         text,
    currency_code    text    NOT NULL
) ON COMMIT DELETE ROWS;`
)

func ensureStaging(ctx context.Context, conn *pgx.Conn) error {
	data := conn.PgConn().CustomData()
	if data[stagingCreated] == true {
		return nil
	}
	if _, err := conn.Exec(ctx, createStaging); err != nil {
		return fmt.Errorf("create staging tables: %w", err)
	}
	data[stagingCreated] = true
	return nil
}

var (
	stagedSlotColumns = []string{"provider_slot_id", "start_date", "start_time", "end_time", "remaining", "currency_code", "variant_id"}
	stagedPaxColumns  = []string{"provider_slot_id", "pax_type", "name", "description", "min_count", "max_count",
		"remaining", "is_primary", "final_price", "original_price", "discount", "currency_code"}
)

// stage loads the canonical answer into the staging tables with COPY.
func stage(ctx context.Context, tx pgx.Tx, canon []partner.Slot) error {
	slotRows := make([][]any, 0, len(canon))
	var paxRows [][]any
	for _, s := range canon {
		slotRows = append(slotRows, []any{s.ProviderSlotID, s.StartDate, s.StartTime, s.EndTime,
			s.Remaining, s.CurrencyCode, nullIfZero(s.VariantID)})
		for _, p := range s.PaxAvailability {
			paxRows = append(paxRows, []any{s.ProviderSlotID, p.Type, p.Name, p.Description, p.Min, p.Max,
				p.Remaining, p.IsPrimary, string(p.Price.FinalPrice), string(p.Price.OriginalPrice),
				nullIfEmpty(p.Price.Discount), p.Price.CurrencyCode})
		}
	}
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{"staged_slots"}, stagedSlotColumns, pgx.CopyFromRows(slotRows)); err != nil {
		return fmt.Errorf("copy slots: %w", err)
	}
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{"staged_pax"}, stagedPaxColumns, pgx.CopyFromRows(paxRows)); err != nil {
		return fmt.Errorf("copy pax: %w", err)
	}
	return nil
}

// The merge statements. Vanished pax go before vanished slots so that Deleted
// counts them (a cascade would not). Upserts skip rows whose values are all equal,
// so an unchanged row keeps its tuple; prices compare as text because numeric
// equality says 12.5 = 12.50, and the text is what must read back.
const (
	upsertSync = `
INSERT INTO inventory_syncs (product_id, date, synced_at, changed_at, slot_count, content_hash)
VALUES ($1, $2, $3, $3, $4, $5)
ON CONFLICT (product_id, date) DO UPDATE
SET synced_at = EXCLUDED.synced_at, changed_at = EXCLUDED.changed_at,
    slot_count = EXCLUDED.slot_count, content_hash = EXCLUDED.content_hash`

	deleteVanishedPax = `
DELETE FROM slot_pax p
WHERE p.product_id = $1 AND p.date = $2
  AND NOT EXISTS (SELECT FROM staged_pax n
                  WHERE n.provider_slot_id = p.provider_slot_id AND n.pax_type = p.pax_type)`

	deleteVanishedSlots = `
DELETE FROM slots s
WHERE s.product_id = $1 AND s.date = $2
  AND NOT EXISTS (SELECT FROM staged_slots n WHERE n.provider_slot_id = s.provider_slot_id)`

	upsertSlots = `
INSERT INTO slots AS s (product_id, date, provider_slot_id, start_date, start_time, end_time,
                        remaining, currency_code, variant_id)
SELECT $1, $2, provider_slot_id, start_date, start_time, end_time, remaining, currency_code, variant_id
FROM staged_slots
ON CONFLICT (product_id, date, provider_slot_id) DO UPDATE
SET start_date = EXCLUDED.start_date, start_time = EXCLUDED.start_time, end_time = EXCLUDED.end_time,
    remaining = EXCLUDED.remaining, currency_code = EXCLUDED.currency_code, variant_id = EXCLUDED.variant_id
WHERE (s.start_date, s.start_time, s.end_time, s.remaining, s.currency_code, s.variant_id)
      IS DISTINCT FROM
      (EXCLUDED.start_date, EXCLUDED.start_time, EXCLUDED.end_time, EXCLUDED.remaining,
       EXCLUDED.currency_code, EXCLUDED.variant_id)`

	upsertPax = `
INSERT INTO slot_pax AS p (product_id, date, provider_slot_id, pax_type, name, description, min_count,
                           max_count, remaining, is_primary, final_price, original_price, discount,
                           currency_code)
SELECT $1, $2, provider_slot_id, pax_type, name, description, min_count, max_count, remaining,
       is_primary, final_price::numeric, original_price::numeric, discount::numeric, currency_code
FROM staged_pax
ON CONFLICT (product_id, date, provider_slot_id, pax_type) DO UPDATE
SET name = EXCLUDED.name, description = EXCLUDED.description, min_count = EXCLUDED.min_count,
    max_count = EXCLUDED.max_count, remaining = EXCLUDED.remaining, is_primary = EXCLUDED.is_primary,
    final_price = EXCLUDED.final_price, original_price = EXCLUDED.original_price,
    discount = EXCLUDED.discount, currency_code = EXCLUDED.currency_code
WHERE (p.name, p.description, p.min_count, p.max_count, p.remaining, p.is_primary,
       p.final_price::text, p.original_price::text, p.discount::text, p.currency_code)
      IS DISTINCT FROM
      (EXCLUDED.name, EXCLUDED.description, EXCLUDED.min_count, EXCLUDED.max_count,
       EXCLUDED.remaining, EXCLUDED.is_primary, EXCLUDED.final_price::text,
       EXCLUDED.original_price::text, EXCLUDED.discount::text, EXCLUDED.currency_code)`
)

// plan is a batch of statements sent in one round trip, each with the name it
// gets in errors and the counter its affected rows add to.
type plan struct {
	batch pgx.Batch
	steps []planStep
}

type planStep struct {
	what  string
	count *int
}

func (p *plan) queue(what string, count *int, sql string, args ...any) {
	p.batch.Queue(sql, args...)
	p.steps = append(p.steps, planStep{what: what, count: count})
}

func (p *plan) run(ctx context.Context, tx pgx.Tx) error {
	br := tx.SendBatch(ctx, &p.batch)
	for _, st := range p.steps {
		tag, err := br.Exec()
		if err != nil {
			_ = br.Close() // the statement's error is the one to report
			return fmt.Errorf("%s: %w", st.what, err)
		}
		if st.count != nil {
			*st.count += int(tag.RowsAffected())
		}
	}
	return br.Close()
}

// queueMerge queues the statements that replace the stored answer by the staged one.
func queueMerge(p *plan, res *SnapshotResult, productID int64, day string, syncedAt time.Time, slotCount int, hash []byte) {
	p.queue("record sync", nil, upsertSync, productID, day, syncedAt, slotCount, hash)
	p.queue("delete vanished pax", &res.Deleted, deleteVanishedPax, productID, day)
	p.queue("delete vanished slots", &res.Deleted, deleteVanishedSlots, productID, day)
	p.queue("merge slots", &res.Written, upsertSlots, productID, day)
	p.queue("merge pax", &res.Written, upsertPax, productID, day)
}

func nullIfZero(v int64) *int64 {
	if v == 0 {
		return nil
	}
	return &v
}

func nullIfEmpty(d partner.Decimal) *string {
	if d == "" {
		return nil
	}
	s := string(d)
	return &s
}
