package store

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/slotsync/slotsync/internal/partner"
)

// The staging tables are created once per connection, outside any transaction
// (so a rollback cannot undo them), and emptied by every commit: changed answers
// load into them with COPY, keyed by (product, date), and merge from there
// without churning the catalog. Their primary keys are what the anti-joins that
// find vanished rows probe: without statistics on a temporary table the planner
// expects a handful of rows and would rescan the whole staging table for every
// stored row, quadratic in the answer's size (a quarter of a second for 500 slots).
const (
	stagingCreated = "slotsync.store.staging.v2"
	createStaging  = `
CREATE TEMP TABLE IF NOT EXISTS staged_slots (
    product_id       bigint  NOT NULL,
    date             date    NOT NULL,
    provider_slot_id text    NOT NULL,
    start_date       text    NOT NULL,
    start_time       text    NOT NULL,
    end_time         text    NOT NULL,
    remaining        integer NOT NULL,
    currency_code    text    NOT NULL,
    variant_id       bigint,
    PRIMARY KEY (product_id, date, provider_slot_id)
) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS staged_pax (
    product_id       bigint  NOT NULL,
    date             date    NOT NULL,
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
    currency_code    text    NOT NULL,
    PRIMARY KEY (product_id, date, provider_slot_id, pax_type)
) ON COMMIT DELETE ROWS;`

	// truncateStaging empties the staging tables between two rounds of a batch.
	truncateStaging = `TRUNCATE staged_slots, staged_pax`
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

// The statements of a batch. Pairs travel as parallel arrays: product ids ($1)
// and dates as text ($2), then per-pair values.
const (
	// lockPairsSQL takes the locks in the order of the array, which is sorted.
	lockPairsSQL = `SELECT count(pg_advisory_xact_lock($1, k)) FROM unnest($2::int4[]) AS k`

	readHashesSQL = `
SELECT i.product_id, i.date::text, i.content_hash, i.synced_at
FROM inventory_syncs i
JOIN unnest($1::bigint[], $2::text[]::date[]) AS k(product_id, date)
  ON i.product_id = k.product_id AND i.date = k.date`

	// recordSyncs moves the sync time and the writing run ($4, NULL if none)
	// of unchanged answers.
	recordSyncs = `
UPDATE inventory_syncs i SET synced_at = u.synced_at, run_id = $4
FROM unnest($1::bigint[], $2::text[]::date[], $3::timestamptz[]) AS u(product_id, date, synced_at)
WHERE i.product_id = u.product_id AND i.date = u.date`

	upsertSyncs = `
INSERT INTO inventory_syncs (product_id, date, synced_at, changed_at, slot_count, content_hash, run_id)
SELECT product_id, date, synced_at, synced_at, slot_count, content_hash, $6
FROM unnest($1::bigint[], $2::text[]::date[], $3::timestamptz[], $4::int4[], $5::bytea[])
     AS u(product_id, date, synced_at, slot_count, content_hash)
ON CONFLICT (product_id, date) DO UPDATE
SET synced_at = EXCLUDED.synced_at, changed_at = EXCLUDED.changed_at,
    slot_count = EXCLUDED.slot_count, content_hash = EXCLUDED.content_hash, run_id = EXCLUDED.run_id`

	// The merge statements, for the changed pairs ($1, $2), each returning its
	// rows per pair. Vanished pax go before vanished slots so that Deleted counts
	// them (a cascade would not). Upserts skip rows whose values are all equal, so
	// an unchanged row keeps its tuple; prices compare as text because numeric
	// equality says 12.5 = 12.50, and the text is what must read back.
	deleteVanishedPax = `
WITH gone AS (
  DELETE FROM slot_pax p
  USING unnest($1::bigint[], $2::text[]::date[]) AS c(product_id, date)
  WHERE p.product_id = c.product_id AND p.date = c.date
    AND NOT EXISTS (SELECT FROM staged_pax n
                    WHERE n.product_id = p.product_id AND n.date = p.date
                      AND n.provider_slot_id = p.provider_slot_id AND n.pax_type = p.pax_type)
  RETURNING p.product_id, p.date)
SELECT product_id, date::text, count(*) FROM gone GROUP BY product_id, date`

	deleteVanishedSlots = `
WITH gone AS (
  DELETE FROM slots s
  USING unnest($1::bigint[], $2::text[]::date[]) AS c(product_id, date)
  WHERE s.product_id = c.product_id AND s.date = c.date
    AND NOT EXISTS (SELECT FROM staged_slots n
                    WHERE n.product_id = s.product_id AND n.date = s.date
                      AND n.provider_slot_id = s.provider_slot_id)
  RETURNING s.product_id, s.date)
SELECT product_id, date::text, count(*) FROM gone GROUP BY product_id, date`

	upsertSlots = `
WITH written AS (
  INSERT INTO slots AS s (product_id, date, provider_slot_id, start_date, start_time, end_time,
                          remaining, currency_code, variant_id)
  SELECT product_id, date, provider_slot_id, start_date, start_time, end_time, remaining, currency_code,
         variant_id
  FROM staged_slots
  ON CONFLICT (product_id, date, provider_slot_id) DO UPDATE
  SET start_date = EXCLUDED.start_date, start_time = EXCLUDED.start_time, end_time = EXCLUDED.end_time,
      remaining = EXCLUDED.remaining, currency_code = EXCLUDED.currency_code, variant_id = EXCLUDED.variant_id
  WHERE (s.start_date, s.start_time, s.end_time, s.remaining, s.currency_code, s.variant_id)
        IS DISTINCT FROM
        (EXCLUDED.start_date, EXCLUDED.start_time, EXCLUDED.end_time, EXCLUDED.remaining,
         EXCLUDED.currency_code, EXCLUDED.variant_id)
  RETURNING s.product_id, s.date)
SELECT product_id, date::text, count(*) FROM written GROUP BY product_id, date`

	upsertPax = `
WITH written AS (
  INSERT INTO slot_pax AS p (product_id, date, provider_slot_id, pax_type, name, description, min_count,
                             max_count, remaining, is_primary, final_price, original_price, discount,
                             currency_code)
  SELECT product_id, date, provider_slot_id, pax_type, name, description, min_count, max_count, remaining,
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
         EXCLUDED.original_price::text, EXCLUDED.discount::text, EXCLUDED.currency_code)
  RETURNING p.product_id, p.date)
SELECT product_id, date::text, count(*) FROM written GROUP BY product_id, date`

	notifyPairs = `SELECT count(pg_notify($1, x)) FROM unnest($2::text[]) AS x`
)

var (
	syncColumns = []string{"product_id", "date", "synced_at", "changed_at", "slot_count", "content_hash", "run_id"}
	slotColumns = []string{"product_id", "date", "provider_slot_id", "start_date", "start_time", "end_time",
		"remaining", "currency_code", "variant_id"}
	paxColumns = []string{"product_id", "date", "provider_slot_id", "pax_type", "name", "description",
		"min_count", "max_count", "remaining", "is_primary", "final_price", "original_price", "discount",
		"currency_code"}
)

// copyRows are the COPY data of answers' slots and pax rows, for the tables or
// the staging tables alike (same columns, same order), in COPY's text format.
// Text and not pgx's binary COPY: pgx encodes a decimal string into a numeric
// only by way of a failed plan and a text parse, and even a ready numeric through
// big-integer arithmetic, which cost more than the server's work; as text the
// partner's decimal goes through as it is, and numeric keeps its scale.
func copyRows(entries []*entry) (slots, pax *copyText) {
	slots, pax = &copyText{}, &copyText{}
	for _, e := range entries {
		for _, s := range e.canon {
			slots.int(e.key.product).text(e.key.day).text(s.ProviderSlotID).text(s.StartDate).text(s.StartTime).
				text(s.EndTime).int(int64(s.Remaining)).text(s.CurrencyCode)
			if s.VariantID == 0 {
				slots.null()
			} else {
				slots.int(s.VariantID)
			}
			slots.end()
			for _, p := range s.PaxAvailability {
				pax.int(e.key.product).text(e.key.day).text(s.ProviderSlotID).text(p.Type).text(p.Name).
					text(p.Description).int(int64(p.Min)).int(int64(p.Max)).int(int64(p.Remaining)).bool(p.IsPrimary).
					text(string(p.Price.FinalPrice)).text(string(p.Price.OriginalPrice))
				if p.Price.Discount == "" {
					pax.null()
				} else {
					pax.text(string(p.Price.Discount))
				}
				pax.text(p.Price.CurrencyCode).end()
			}
		}
	}
	return slots, pax
}

// copyText is COPY data in text format: fields end with a tab, rows with a newline.
type copyText struct {
	buf  []byte
	rows int
}

func (c *copyText) text(s string) *copyText {
	for i := 0; i < len(s); i++ {
		switch b := s[i]; b {
		case '\\':
			c.buf = append(c.buf, '\\', '\\')
		case '\n':
			c.buf = append(c.buf, '\\', 'n')
		case '\r':
			c.buf = append(c.buf, '\\', 'r')
		case '\t':
			c.buf = append(c.buf, '\\', 't')
		default:
			c.buf = append(c.buf, b)
		}
	}
	c.buf = append(c.buf, '\t')
	return c
}

func (c *copyText) int(v int64) *copyText {
	c.buf = append(strconv.AppendInt(c.buf, v, 10), '\t')
	return c
}

func (c *copyText) bool(v bool) *copyText {
	if v {
		c.buf = append(c.buf, 't', '\t')
	} else {
		c.buf = append(c.buf, 'f', '\t')
	}
	return c
}

func (c *copyText) null() *copyText {
	c.buf = append(c.buf, '\\', 'N', '\t')
	return c
}

// end ends a row: its last field's tab becomes the newline.
func (c *copyText) end() {
	c.buf[len(c.buf)-1] = '\n'
	c.rows++
}

// copyInto runs COPY of data into table's columns.
func copyInto(ctx context.Context, tx pgx.Tx, table string, columns []string, data *copyText) error {
	if data.rows == 0 {
		return nil
	}
	cols := make([]string, len(columns))
	for i, c := range columns {
		cols[i] = pgx.Identifier{c}.Sanitize()
	}
	sql := "COPY " + pgx.Identifier{table}.Sanitize() + " (" + strings.Join(cols, ", ") + ") FROM STDIN"
	tag, err := tx.Conn().PgConn().CopyFrom(ctx, bytes.NewReader(data.buf), sql)
	if err != nil {
		return fmt.Errorf("copy %s: %w", table, err)
	}
	if n := tag.RowsAffected(); n != int64(data.rows) {
		return fmt.Errorf("copy %s: %d rows copied, want %d", table, n, data.rows)
	}
	return nil
}

// copyFresh writes answers of pairs with no stored answer straight into the
// tables with COPY: under the pairs' locks no other writer can add their rows, so
// there is nothing to compare or merge.
func copyFresh(ctx context.Context, tx pgx.Tx, fresh []*entry, runID *string) error {
	if len(fresh) == 0 {
		return nil
	}
	syncs := make([][]any, len(fresh))
	for i, e := range fresh {
		syncs[i] = []any{e.key.product, e.date, e.syncedAt, e.syncedAt, len(e.canon), e.hash, runID}
		e.res.Written = rowCount(e.canon)
	}
	// The sync rows first: the slots' foreign key needs them.
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{"inventory_syncs"}, syncColumns, pgx.CopyFromRows(syncs)); err != nil {
		return fmt.Errorf("copy inventory_syncs: %w", err)
	}
	slots, pax := copyRows(fresh)
	if err := copyInto(ctx, tx, "slots", slotColumns, slots); err != nil {
		return err
	}
	return copyInto(ctx, tx, "slot_pax", paxColumns, pax)
}

func rowCount(canon []partner.Slot) int {
	n := len(canon)
	for _, s := range canon {
		n += len(s.PaxAvailability)
	}
	return n
}

// stage loads the canonical answers of changed pairs into the staging tables with COPY.
func stage(ctx context.Context, tx pgx.Tx, changed []*entry) error {
	slots, pax := copyRows(changed)
	if err := copyInto(ctx, tx, "staged_slots", slotColumns, slots); err != nil {
		return err
	}
	return copyInto(ctx, tx, "staged_pax", paxColumns, pax)
}

// merge sends, in one round trip, the statements that record the unchanged
// answers' sync time, replace the stored answers of changed pairs by the staged
// ones, and notify every pair of the round.
func merge(ctx context.Context, tx pgx.Tx, round, changed, unchanged []*entry, runID *string) error {
	var p plan
	if len(unchanged) > 0 {
		products, days := pairArrays(unchanged)
		times := make([]time.Time, len(unchanged))
		for i, e := range unchanged {
			times[i] = e.syncedAt
		}
		p.queue("record sync", nil, recordSyncs, products, days, times, runID)
	}
	if len(changed) > 0 {
		products, days := pairArrays(changed)
		times := make([]time.Time, len(changed))
		counts := make([]int32, len(changed))
		hashes := make([][]byte, len(changed))
		for i, e := range changed {
			times[i], counts[i], hashes[i] = e.syncedAt, int32(len(e.canon)), e.hash
		}
		byKey := make(map[pairKey]*SnapshotResult, len(changed))
		for _, e := range changed {
			byKey[e.key] = e.res
		}
		deleted := perPair(byKey, func(r *SnapshotResult) *int { return &r.Deleted })
		written := perPair(byKey, func(r *SnapshotResult) *int { return &r.Written })
		p.queue("record sync", nil, upsertSyncs, products, days, times, counts, hashes, runID)
		p.queueRows("delete vanished pax", deleteVanishedPax, deleted, products, days)
		p.queueRows("delete vanished slots", deleteVanishedSlots, deleted, products, days)
		p.queueRows("merge slots", upsertSlots, written)
		p.queueRows("merge pax", upsertPax, written)
	}
	// A stale answer changed nothing: no one needs to look again.
	payloads := make([]string, 0, len(round))
	for _, e := range round {
		if !e.res.Stale {
			payloads = append(payloads, e.key.String())
		}
	}
	p.queue("notify", nil, notifyPairs, SnapshotChannel, payloads)
	return p.run(ctx, tx)
}

func pairArrays(entries []*entry) (products []int64, days []string) {
	products, days = make([]int64, len(entries)), make([]string, len(entries))
	for i, e := range entries {
		products[i], days[i] = e.key.product, e.key.day
	}
	return products, days
}

// perPair reads rows of (product, date, count) into the field of each pair's result.
func perPair(byKey map[pairKey]*SnapshotResult, field func(*SnapshotResult) *int) func(pgx.Rows) error {
	return func(rows pgx.Rows) error {
		var (
			key pairKey
			n   int64
		)
		if err := rows.Scan(&key.product, &key.day, &n); err != nil {
			return err
		}
		res, ok := byKey[key]
		if !ok {
			return fmt.Errorf("rows of pair %s, which is not in the batch", key)
		}
		*field(res) += int(n)
		return nil
	}
}

// plan is a batch of statements sent in one round trip, each with the name it
// gets in errors and either the counter its affected rows add to or the function
// that reads its rows.
type plan struct {
	batch pgx.Batch
	steps []planStep
}

type planStep struct {
	what  string
	count *int
	row   func(pgx.Rows) error
}

func (p *plan) queue(what string, count *int, sql string, args ...any) {
	p.batch.Queue(sql, args...)
	p.steps = append(p.steps, planStep{what: what, count: count})
}

func (p *plan) queueRows(what, sql string, row func(pgx.Rows) error, args ...any) {
	p.batch.Queue(sql, args...)
	p.steps = append(p.steps, planStep{what: what, row: row})
}

func (p *plan) run(ctx context.Context, tx pgx.Tx) error {
	br := tx.SendBatch(ctx, &p.batch)
	for _, st := range p.steps {
		if err := st.read(br); err != nil {
			_ = br.Close() // the statement's error is the one to report
			return fmt.Errorf("%s: %w", st.what, err)
		}
	}
	return br.Close()
}

func (st planStep) read(br pgx.BatchResults) error {
	if st.row == nil {
		tag, err := br.Exec()
		if err == nil && st.count != nil {
			*st.count += int(tag.RowsAffected())
		}
		return err
	}
	rows, err := br.Query()
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := st.row(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}
