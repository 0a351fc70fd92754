package bench

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/slotsync/slotsync/internal/partner"
	"github.com/slotsync/slotsync/internal/store"
	"github.com/slotsync/slotsync/internal/syncer"
)

// paxTypes are the passenger types of every generated slot.
var paxTypes = []struct{ typ, name, desc string }{
	{"ADULT", "Adult", "Ages 13 and over"},
	{"CHILD", "Child", "Ages 3 to 12"},
	{"INFANT", "Infant", "Ages 0 to 2"},
}

// rowsPerSlot is one slot row and its pax rows.
var rowsPerSlot = 1 + len(paxTypes)

// makeSlots is a realistic answer of n slots with 3 pax types each, shaped like
// the simulator's (and the partner's) answers. version > 0 changes a tenth of its
// rows (every tenth row, counting a slot's row then its pax rows): their
// remaining counts fall by version, as sales would.
func makeSlots(product int64, date time.Time, n, version int) []partner.Slot {
	day := date.Format(partner.DateLayout)
	slots := make([]partner.Slot, n)
	row := 0
	changed := func() int {
		r := row
		row++
		if version > 0 && r%10 == 0 {
			return version
		}
		return 0
	}
	for i := range slots {
		start := (6*60 + i*2) % (24 * 60) // every 2 minutes from 06:00; 500 slots fill the day
		cents := 2000 + int64((product*7+int64(i)*13)%8000)
		s := partner.Slot{
			StartDate:      day,
			StartTime:      hhmm(start),
			EndTime:        hhmm(start + 60),
			ProviderSlotID: fmt.Sprintf("P%d-%s-%04d", product, date.Format("20060102"), i),
			CurrencyCode:   "EUR",
			VariantID:      product*100 + int64(i%2) + 1,
		}
		s.Remaining = 40 + i%17 - changed()
		for k, p := range paxTypes {
			price := cents * []int64{100, 60, 10}[k] / 100
			s.PaxAvailability = append(s.PaxAvailability, partner.PaxAvailability{
				Type: p.typ, Name: p.name, Description: p.desc,
				Min: []int{1, 0, 0}[k], Max: []int{10, 8, 2}[k],
				Remaining: 30 + (i+k)%11 - changed(), IsPrimary: k == 0,
				Price: partner.Price{
					FinalPrice: money(price), OriginalPrice: money(price), Discount: "0.00", CurrencyCode: "EUR",
				},
			})
		}
		slots[i] = s
	}
	return slots
}

func hhmm(minutes int) string { return fmt.Sprintf("%02d:%02d", minutes/60%24, minutes%60) }

func money(cents int64) partner.Decimal {
	return partner.Decimal(fmt.Sprintf("%d.%02d", cents/100, cents%100))
}

// snapshotWriter is one way of writing an answer.
type snapshotWriter interface {
	write(ctx context.Context, product int64, date time.Time, slots []partner.Slot, at time.Time) (written int, err error)
	close()
}

// ourWriter is slotsync's store.WriteSnapshot.
type ourWriter struct{ db *store.Store }

func (w ourWriter) write(ctx context.Context, product int64, date time.Time, slots []partner.Slot, at time.Time) (int, error) {
	res, err := w.db.WriteSnapshot(ctx, product, date, slots, at)
	return res.Written, err
}
func (w ourWriter) close() { w.db.Close() }

// rowLoopWriter is the baseline, the seed's way: in one transaction per answer,
// an upsert statement per slot and per pax row, each its own round trip, then a
// delete of the slots the answer no longer has. Every row is rewritten every time.
type rowLoopWriter struct{ pool *pgxpool.Pool }

func (w rowLoopWriter) write(ctx context.Context, product int64, date time.Time, slots []partner.Slot, at time.Time) (int, error) {
	day := date.Format(time.DateOnly)
	tx, err := w.pool.Begin(ctx)
	if err != nil {
		return 0, fmt.Errorf("begin: %w", err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	hash := answerHash(slots)
	if _, err := tx.Exec(ctx, `
INSERT INTO inventory_syncs (product_id, date, synced_at, changed_at, slot_count, content_hash)
VALUES ($1, $2, $3, $3, $4, $5)
ON CONFLICT (product_id, date) DO UPDATE
SET synced_at = EXCLUDED.synced_at, changed_at = EXCLUDED.changed_at,
    slot_count = EXCLUDED.slot_count, content_hash = EXCLUDED.content_hash`, product, day, at, len(slots), hash); err != nil {
		return 0, fmt.Errorf("upsert sync: %w", err)
	}
	written := 0
	ids := make([]string, len(slots))
	for i, s := range slots {
		ids[i] = s.ProviderSlotID
		if _, err := tx.Exec(ctx, `
INSERT INTO slots (product_id, date, provider_slot_id, start_date, start_time, end_time, remaining, currency_code, variant_id)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
ON CONFLICT (product_id, date, provider_slot_id) DO UPDATE
SET start_date = EXCLUDED.start_date, start_time = EXCLUDED.start_time, end_time = EXCLUDED.end_time,
    remaining = EXCLUDED.remaining, currency_code = EXCLUDED.currency_code, variant_id = EXCLUDED.variant_id`,
			product, day, s.ProviderSlotID, s.StartDate, s.StartTime, s.EndTime, s.Remaining, s.CurrencyCode, s.VariantID); err != nil {
			return 0, fmt.Errorf("upsert slot %s: %w", s.ProviderSlotID, err)
		}
		written++
		for _, p := range s.PaxAvailability {
			if _, err := tx.Exec(ctx, `
INSERT INTO slot_pax (product_id, date, provider_slot_id, pax_type, name, description, min_count, max_count,
                      remaining, is_primary, final_price, original_price, discount, currency_code)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
ON CONFLICT (product_id, date, provider_slot_id, pax_type) DO UPDATE
SET name = EXCLUDED.name, description = EXCLUDED.description, min_count = EXCLUDED.min_count,
    max_count = EXCLUDED.max_count, remaining = EXCLUDED.remaining, is_primary = EXCLUDED.is_primary,
    final_price = EXCLUDED.final_price, original_price = EXCLUDED.original_price,
    discount = EXCLUDED.discount, currency_code = EXCLUDED.currency_code`,
				product, day, s.ProviderSlotID, p.Type, p.Name, p.Description, p.Min, p.Max, p.Remaining, p.IsPrimary,
				string(p.Price.FinalPrice), string(p.Price.OriginalPrice), string(p.Price.Discount), p.Price.CurrencyCode); err != nil {
				return 0, fmt.Errorf("upsert pax %s/%s: %w", s.ProviderSlotID, p.Type, err)
			}
			written++
		}
	}
	if _, err := tx.Exec(ctx, `DELETE FROM slots WHERE product_id = $1 AND date = $2 AND provider_slot_id <> ALL($3)`,
		product, day, ids); err != nil {
		return 0, fmt.Errorf("delete vanished slots: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, fmt.Errorf("commit: %w", err)
	}
	return written, nil
}
func (w rowLoopWriter) close() { w.pool.Close() }

// copyWriter is the limit: bare COPY of the rows into tables that do not hold the
// pair yet, one transaction per answer, with no staging, comparison or merge. It
// only works for first writes.
type copyWriter struct{ pool *pgxpool.Pool }

func (w copyWriter) write(ctx context.Context, product int64, date time.Time, slots []partner.Slot, at time.Time) (int, error) {
	tx, err := w.pool.Begin(ctx)
	if err != nil {
		return 0, fmt.Errorf("begin: %w", err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	n, err := copyAnswers(ctx, tx, []answer{{product, date, slots}}, at)
	if err != nil {
		return 0, err
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, fmt.Errorf("commit: %w", err)
	}
	return n, nil
}
func (w copyWriter) close() { w.pool.Close() }

// answer is one (product, date) and its slots.
type answer struct {
	product int64
	date    time.Time
	slots   []partner.Slot
}

// copyAnswers COPYs the sync records, slots and pax rows of answers into the real
// tables, and returns the slot and pax rows written.
func copyAnswers(ctx context.Context, tx pgx.Tx, answers []answer, at time.Time) (int, error) {
	var syncs, slotRows, paxRows [][]any
	for _, a := range answers {
		day := a.date.Format(time.DateOnly)
		syncs = append(syncs, []any{a.product, day, at, at, len(a.slots), answerHash(a.slots)})
		for _, s := range a.slots {
			slotRows = append(slotRows, []any{a.product, day, s.ProviderSlotID, s.StartDate, s.StartTime, s.EndTime,
				s.Remaining, s.CurrencyCode, s.VariantID})
			for _, p := range s.PaxAvailability {
				paxRows = append(paxRows, []any{a.product, day, s.ProviderSlotID, p.Type, p.Name, p.Description,
					p.Min, p.Max, p.Remaining, p.IsPrimary, string(p.Price.FinalPrice), string(p.Price.OriginalPrice),
					string(p.Price.Discount), p.Price.CurrencyCode})
			}
		}
	}
	for _, c := range []struct {
		table string
		cols  []string
		rows  [][]any
	}{
		{"inventory_syncs", []string{"product_id", "date", "synced_at", "changed_at", "slot_count", "content_hash"}, syncs},
		{"slots", []string{"product_id", "date", "provider_slot_id", "start_date", "start_time", "end_time", "remaining",
			"currency_code", "variant_id"}, slotRows},
		{"slot_pax", []string{"product_id", "date", "provider_slot_id", "pax_type", "name", "description", "min_count",
			"max_count", "remaining", "is_primary", "final_price", "original_price", "discount", "currency_code"}, paxRows},
	} {
		// Text format, Postgres's own: pgx's binary COPY would parse every date and
		// decimal string on the client through a failed plan, which is no limit.
		sql := fmt.Sprintf("COPY %s (%s) FROM STDIN", c.table, strings.Join(c.cols, ", "))
		tag, err := tx.Conn().PgConn().CopyFrom(ctx, bytes.NewReader(copyText(c.rows)), sql)
		if err != nil {
			return 0, fmt.Errorf("copy %s: %w", c.table, err)
		}
		if tag.RowsAffected() != int64(len(c.rows)) {
			return 0, fmt.Errorf("copy %s: %d rows copied, want %d", c.table, tag.RowsAffected(), len(c.rows))
		}
	}
	return len(slotRows) + len(paxRows), nil
}

// copyEscaper escapes what COPY's text format gives a meaning to.
var copyEscaper = strings.NewReplacer(`\`, `\\`, "\n", `\n`, "\r", `\r`, "\t", `\t`)

// copyText renders rows in COPY's text format.
func copyText(rows [][]any) []byte {
	var b []byte
	for _, row := range rows {
		for i, v := range row {
			if i > 0 {
				b = append(b, '\t')
			}
			switch v := v.(type) {
			case string:
				b = append(b, copyEscaper.Replace(v)...)
			case int:
				b = strconv.AppendInt(b, int64(v), 10)
			case int64:
				b = strconv.AppendInt(b, v, 10)
			case bool:
				b = strconv.AppendBool(b, v)
			case time.Time:
				b = v.UTC().AppendFormat(b, time.RFC3339Nano)
			case []byte:
				b = append(b, `\\x`...)
				b = hex.AppendEncode(b, v)
			default:
				panic(fmt.Sprintf("copyText: no text form for %T", v))
			}
		}
		b = append(b, '\n')
	}
	return b
}

// answerHash stands in for a content hash in rows the baselines write: the
// column must hold one, and slotsync's own is internal to the store. It is cheap
// (the slot ids and counts, not the whole answer), so that it costs the limit
// nothing.
func answerHash(slots []partner.Slot) []byte {
	h := sha256.New()
	for _, s := range slots {
		fmt.Fprintf(h, "%s:%d;", s.ProviderSlotID, s.Remaining)
	}
	return h.Sum(nil)
}

// countRows returns the slot and pax rows of a database.
func countRows(ctx context.Context, pool *pgxpool.Pool) (slots, pax, syncs int, err error) {
	err = pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM slots), (SELECT count(*) FROM slot_pax), (SELECT count(*) FROM inventory_syncs)`).
		Scan(&slots, &pax, &syncs)
	if err != nil {
		err = fmt.Errorf("count rows: %w", err)
	}
	return slots, pax, syncs, err
}

// writeSizes are the sizes of the write benchmark.
type writeSizes struct {
	repeats       int
	singleSlots   int
	singleWrites  int // per repeat
	monthProducts int
	monthDays     int
	monthSlots    int
	growth        []int // total slots at each checkpoint
	loopGrowthMax int   // the per-row loop stops growing here: it would take minutes more
	copyGrowthMax int   // and bare COPY here, for time: its speed is flat
}

func writeSizesFor(quick bool) writeSizes {
	if quick {
		return writeSizes{repeats: 1, singleSlots: 500, singleWrites: 2, monthProducts: 10, monthDays: 3, monthSlots: 5,
			growth: []int{1000, 10000, 50000}, loopGrowthMax: 10000, copyGrowthMax: 50000}
	}
	// Two repeats of the month: one repeat writes 6,000 answers five times over
	// and takes a minute and a half.
	return writeSizes{repeats: 2, singleSlots: 500, singleWrites: 3, monthProducts: 200, monthDays: 30, monthSlots: 5,
		growth: []int{1000, 10000, 100000, 1000000}, loopGrowthMax: 10000, copyGrowthMax: 100000}
}

// The three ways of writing, in the order they run within a repeat.
const (
	wayOurs = "slotsync"
	wayLoop = "per-row loop"
	wayCopy = "bare COPY"
)

var ways = []string{wayOurs, wayLoop, wayCopy}

func (h *harness) openWriter(ctx context.Context, way, dbURL string) (snapshotWriter, *pgxpool.Pool, error) {
	check, err := pgxpool.New(ctx, dbURL)
	if err != nil {
		return nil, nil, fmt.Errorf("connect: %w", err)
	}
	one := withParam(dbURL, "pool_max_conns", "1")
	var w snapshotWriter
	switch way {
	case wayOurs:
		db, err := store.Open(ctx, one)
		if err != nil {
			check.Close()
			return nil, nil, err
		}
		w = ourWriter{db}
	default:
		pool, err := pgxpool.New(ctx, one)
		if err != nil {
			check.Close()
			return nil, nil, fmt.Errorf("connect: %w", err)
		}
		if way == wayLoop {
			w = rowLoopWriter{pool}
		} else {
			w = copyWriter{pool}
		}
	}
	// Warm up: connect, create the staging tables, prepare statements.
	warm := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	if _, err := w.write(ctx, 999999, warm, makeSlots(999999, warm, 2, 0), warm); err != nil {
		w.close()
		check.Close()
		return nil, nil, fmt.Errorf("warm up %s: %w", way, err)
	}
	return w, check, nil
}

// writeTimes are the timings of one repeat, by way and case, in seconds.
type writeTimes map[string]map[string]float64

func (t writeTimes) set(way, what string, v float64) {
	if t[way] == nil {
		t[way] = map[string]float64{}
	}
	t[way][what] = v
}

// Cases of the write benchmark.
const (
	caseSingle          = "single"
	caseSingleUnchanged = "single unchanged"
	caseSingleChanged   = "single changed"
	caseMonth           = "month"
	caseMonthUnchanged  = "month unchanged"
	caseMonthChanged    = "month changed"
	caseMonthBulk       = "month bulk"
)

func runWrite(ctx context.Context, h *harness, r *Report) error {
	r.Title = "Snapshot write speed"
	sz := writeSizesFor(h.opts.Quick)
	month := sz.monthProducts * sz.monthDays
	monthRows := month * sz.monthSlots * rowsPerSlot
	singleRows := sz.singleSlots * rowsPerSlot
	r.Intro = prose("write.intro", map[string]any{
		"SingleSlots":   sz.singleSlots,
		"SingleRows":    singleRows,
		"MonthProducts": sz.monthProducts,
		"MonthDays":     sz.monthDays,
		"MonthPairs":    month,
		"MonthSlots":    sz.monthSlots,
		"MonthRows":     monthRows,
	})
	r.Repeats = fmt.Sprintf("%d for the month; %d single writes per repeat (%d in all); growth once", sz.repeats, sz.singleWrites, sz.repeats*sz.singleWrites)

	var reps []writeTimes
	var singles []writeTimes
	base := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	for rep := range sz.repeats {
		t := writeTimes{}
		for _, way := range ways {
			ss, err := writeRepeat(ctx, h, way, sz, base, t)
			if err != nil {
				return fmt.Errorf("repeat %d, %s: %w", rep+1, way, err)
			}
			for i, s := range ss {
				if len(singles) <= rep*sz.singleWrites+i {
					singles = append(singles, writeTimes{})
				}
				for what, v := range s {
					singles[rep*sz.singleWrites+i].set(way, what, v)
				}
			}
		}
		// Bulk COPY of the whole month in one transaction: the absolute limit.
		secs, err := bulkMonth(ctx, h, sz, base)
		if err != nil {
			return fmt.Errorf("repeat %d, bulk COPY: %w", rep+1, err)
		}
		t.set(wayCopy, caseMonthBulk, secs)
		reps = append(reps, t)
	}

	col := func(list []writeTimes, way, what string, rows int) []float64 {
		out := make([]float64, len(list))
		for i, t := range list {
			out[i] = float64(rows) / t[way][what]
		}
		return out
	}
	ratio := func(list []writeTimes, a, whatA, b, whatB string) []float64 {
		out := make([]float64, len(list))
		for i, t := range list {
			out[i] = t[b][whatB] / t[a][whatA] // times: b's time over a's time is a's speed-up
		}
		return out
	}

	s := r.section(fmt.Sprintf("One (product, date): %d slots × 3 pax = %d rows", sz.singleSlots, singleRows),
		"Speeds in rows written per second; ratios are taken within each single write's repeat.")
	s.add("slotsync, first write", "rows/s", col(singles, wayOurs, caseSingle, singleRows), nil)
	s.add("per-row loop, first write", "rows/s", col(singles, wayLoop, caseSingle, singleRows), nil)
	s.add("bare COPY, first write", "rows/s", col(singles, wayCopy, caseSingle, singleRows), nil)
	s.add("slotsync ÷ per-row loop", "×", ratio(singles, wayOurs, caseSingle, wayLoop, caseSingle), AtLeast(20))
	s.add("slotsync ÷ bare COPY", "×", ratio(singles, wayOurs, caseSingle, wayCopy, caseSingle), AtLeast(0.25))
	s.add("slotsync, unchanged re-sync", "ms", msCol(singles, wayOurs, caseSingleUnchanged), nil)
	s.add("slotsync, 10%-changed re-sync", "ms", msCol(singles, wayOurs, caseSingleChanged), nil)
	s.add("slotsync: changed ÷ unchanged re-sync time", "×", ratio(singles, wayOurs, caseSingleUnchanged, wayOurs, caseSingleChanged), AtLeast(3))
	s.add("per-row loop, unchanged re-sync", "ms", msCol(singles, wayLoop, caseSingleUnchanged), nil)
	s.add("per-row loop, 10%-changed re-sync", "ms", msCol(singles, wayLoop, caseSingleChanged), nil)

	m := r.section(fmt.Sprintf("A month: %d answers of %d slots × 3 pax = %d rows", month, sz.monthSlots, monthRows), prose("write.month", nil))
	m.add("slotsync, first write", "rows/s", col(reps, wayOurs, caseMonth, monthRows), nil)
	m.add("per-row loop, first write", "rows/s", col(reps, wayLoop, caseMonth, monthRows), nil)
	m.add("bare COPY per answer, first write", "rows/s", col(reps, wayCopy, caseMonth, monthRows), nil)
	m.add("bare COPY of the whole month in one transaction", "rows/s", col(reps, wayCopy, caseMonthBulk, monthRows), nil)
	m.add("slotsync ÷ per-row loop", "×", ratio(reps, wayOurs, caseMonth, wayLoop, caseMonth), AtLeast(20))
	m.add("slotsync ÷ bare COPY per answer", "×", ratio(reps, wayOurs, caseMonth, wayCopy, caseMonth), AtLeast(0.25))
	m.add("slotsync ÷ bulk COPY of the month", "×", ratio(reps, wayOurs, caseMonth, wayCopy, caseMonthBulk), AtLeast(0.25))
	m.add("slotsync, unchanged re-sync of the month", "answers/s", answersCol(reps, wayOurs, caseMonthUnchanged, month), nil)
	m.add("slotsync, 10%-changed re-sync of the month", "answers/s", answersCol(reps, wayOurs, caseMonthChanged, month), nil)
	m.add("slotsync: changed ÷ unchanged re-sync time", "×", ratio(reps, wayOurs, caseMonthUnchanged, wayOurs, caseMonthChanged), AtLeast(3))
	m.add("per-row loop, 10%-changed re-sync of the month", "answers/s", answersCol(reps, wayLoop, caseMonthChanged, month), nil)
	m.add("slotsync ÷ per-row loop, 10%-changed re-sync", "×", ratio(reps, wayOurs, caseMonthChanged, wayLoop, caseMonthChanged), nil)

	perStmt := Summarize(msCol(singles, wayLoop, caseSingle)).Median / float64(singleRows+3)
	r.proseNote("write.round-trips", map[string]any{
		"Statements":   singleRows + 3,
		"Slots":        sz.singleSlots,
		"PerStatement": perStmt,
	})
	r.proseNote("write.small-answers", map[string]any{"Slots": sz.monthSlots, "LoopStatements": sz.monthSlots*rowsPerSlot + 3})
	r.proseNote("write.foreign-keys", map[string]any{"Slots": sz.singleSlots})
	if err := writeGrowth(ctx, h, r, sz, base); err != nil {
		return err
	}
	r.proseNote("write.checks", nil)
	r.proseNote("write.no-fsync", nil)
	return nil
}

func msCol(list []writeTimes, way, what string) []float64 {
	out := make([]float64, len(list))
	for i, t := range list {
		out[i] = t[way][what] * 1000
	}
	return out
}

func answersCol(list []writeTimes, way, what string, answers int) []float64 {
	out := make([]float64, len(list))
	for i, t := range list {
		out[i] = float64(answers) / t[way][what]
	}
	return out
}

// writeRepeat runs one way's passes of one repeat in a fresh database: the month
// (first write, unchanged and changed re-syncs) and the single answers.
func writeRepeat(ctx context.Context, h *harness, way string, sz writeSizes, base time.Time, t writeTimes) ([]map[string]float64, error) {
	dbURL, err := h.newDatabase(ctx, "write")
	if err != nil {
		return nil, err
	}
	defer func() { _ = h.dropDatabase(context.WithoutCancel(ctx), dbURL) }()
	w, check, err := h.openWriter(ctx, way, dbURL)
	if err != nil {
		return nil, err
	}
	defer w.close()
	defer check.Close()
	at := time.Now()

	// Single answers first, into empty tables; products far above the month's.
	var singles []map[string]float64
	for i := range sz.singleWrites {
		product := int64(100000 + i)
		one := map[string]float64{}
		passes := []struct {
			what    string
			version int
			want    int // rows slotsync must report written
		}{
			{caseSingle, 0, sz.singleSlots * rowsPerSlot},
			{caseSingleUnchanged, 0, 0},
			{caseSingleChanged, 1, sz.singleSlots * rowsPerSlot / 10},
		}
		for _, p := range passes {
			if way == wayCopy && p.what != caseSingle {
				continue
			}
			slots := makeSlots(product, base, sz.singleSlots, p.version)
			began := time.Now()
			n, err := w.write(ctx, product, base, slots, at)
			if err != nil {
				return nil, err
			}
			one[p.what] = time.Since(began).Seconds()
			if way == wayOurs && n != p.want {
				return nil, fmt.Errorf("%s: %d rows written, want %d", p.what, n, p.want)
			}
		}
		singles = append(singles, one)
	}

	passes := []struct {
		what    string
		version int
	}{{caseMonth, 0}, {caseMonthUnchanged, 0}, {caseMonthChanged, 1}}
	for _, p := range passes {
		if way == wayCopy && p.what != caseMonth || way == wayLoop && p.what == caseMonthUnchanged {
			continue // COPY only writes new pairs; the loop rewrites all rows either way
		}
		written := 0
		began := time.Now()
		if way == wayOurs {
			// slotsync writes a month as the sync worker does: group commit.
			n, err := workerMonth(ctx, w.(ourWriter).db, sz, base, p.version)
			if err != nil {
				return nil, err
			}
			written = n
		}
		for prod := 1; prod <= sz.monthProducts && way != wayOurs; prod++ {
			for d := range sz.monthDays {
				date := base.AddDate(0, 0, d)
				n, err := w.write(ctx, int64(prod), date, makeSlots(int64(prod), date, sz.monthSlots, p.version), at)
				if err != nil {
					return nil, err
				}
				written += n
			}
		}
		t.set(way, p.what, time.Since(began).Seconds())
		month := sz.monthProducts * sz.monthDays
		wantWritten := map[string]int{
			caseMonth:          month * sz.monthSlots * rowsPerSlot,
			caseMonthUnchanged: 0,
			caseMonthChanged:   month * sz.monthSlots * rowsPerSlot / 10,
		}[p.what]
		if way == wayOurs && written != wantWritten {
			return nil, fmt.Errorf("%s: %d rows written, want %d", p.what, written, wantWritten)
		}
	}
	wantSlots := sz.monthProducts*sz.monthDays*sz.monthSlots + sz.singleWrites*sz.singleSlots + 2
	slots, pax, syncs, err := countRows(ctx, check)
	if err != nil {
		return nil, err
	}
	if slots != wantSlots || pax != wantSlots*len(paxTypes) || syncs != sz.monthProducts*sz.monthDays+sz.singleWrites+1 {
		return nil, fmt.Errorf("%d slots, %d pax rows, %d syncs; want %d, %d, %d", slots, pax, syncs,
			wantSlots, wantSlots*len(paxTypes), sz.monthProducts*sz.monthDays+sz.singleWrites+1)
	}
	// The last version written must read back, through the store's own reader.
	version := 1
	if way == wayCopy {
		version = 0
	}
	db, err := store.Open(ctx, dbURL)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	for _, a := range []answer{
		{100000, base, makeSlots(100000, base, sz.singleSlots, version)},
		{1, base, makeSlots(1, base, sz.monthSlots, version)},
		{int64(sz.monthProducts), base.AddDate(0, 0, sz.monthDays-1), makeSlots(int64(sz.monthProducts), base.AddDate(0, 0, sz.monthDays-1), sz.monthSlots, version)},
	} {
		snap, err := db.ReadSnapshot(ctx, a.product, a.date)
		if err != nil {
			return nil, err
		}
		if !sameSlots(snap.Slots, a.slots) {
			return nil, fmt.Errorf("product %d on %s reads back different from what was written", a.product, a.date.Format(time.DateOnly))
		}
	}
	return singles, nil
}

// instantFetcher answers every request at once with the benchmark's month answer
// of the product and date, as a partner without a rate limit would.
type instantFetcher struct {
	slots, version int
	requests       int64
}

func (f *instantFetcher) FetchInventory(_ context.Context, product int64, date time.Time) ([]partner.Slot, error) {
	f.requests++
	return makeSlots(product, date, f.slots, f.version), nil
}

func (f *instantFetcher) Stats() partner.Stats { return partner.Stats{Requests: f.requests} }

// workerMonth writes the month through the sync worker, whose group commit puts
// the answers queued behind a transaction into the next one, and returns the rows
// it reports written.
func workerMonth(ctx context.Context, db *store.Store, sz writeSizes, base time.Time, version int) (int, error) {
	products := make([]int64, sz.monthProducts)
	for i := range products {
		products[i] = int64(i + 1)
	}
	w := &syncer.Worker{Fetcher: &instantFetcher{slots: sz.monthSlots, version: version}, Writer: db}
	sum, err := w.Run(ctx, syncer.Config{Products: products, FromDay: 0, ToDay: sz.monthDays - 1, Location: time.UTC,
		ShardCount: 1, Now: func() time.Time { return base }}) // today is the month's first day
	if err != nil {
		return 0, fmt.Errorf("sync worker: %w (%s)", err, sum.Line())
	}
	if month := sz.monthProducts * sz.monthDays; sum.PairsOK != month || int(sum.Requests) != month {
		return 0, fmt.Errorf("sync worker: %s; want %d pairs", sum.Line(), month)
	}
	return sum.SlotsWritten, nil
}

func monthAnswers(sz writeSizes, base time.Time) []answer {
	var out []answer
	for prod := 1; prod <= sz.monthProducts; prod++ {
		for d := range sz.monthDays {
			date := base.AddDate(0, 0, d)
			out = append(out, answer{int64(prod), date, makeSlots(int64(prod), date, sz.monthSlots, 0)})
		}
	}
	return out
}

func bulkMonth(ctx context.Context, h *harness, sz writeSizes, base time.Time) (float64, error) {
	dbURL, err := h.newDatabase(ctx, "write_bulk")
	if err != nil {
		return 0, err
	}
	defer func() { _ = h.dropDatabase(context.WithoutCancel(ctx), dbURL) }()
	pool, err := pgxpool.New(ctx, dbURL)
	if err != nil {
		return 0, fmt.Errorf("connect: %w", err)
	}
	defer pool.Close()
	if err := pool.Ping(ctx); err != nil {
		return 0, fmt.Errorf("connect: %w", err)
	}
	answers := monthAnswers(sz, base)
	began := time.Now()
	tx, err := pool.Begin(ctx)
	if err != nil {
		return 0, fmt.Errorf("begin: %w", err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	n, err := copyAnswers(ctx, tx, answers, time.Now())
	if err != nil {
		return 0, err
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, fmt.Errorf("commit: %w", err)
	}
	secs := time.Since(began).Seconds()
	if want := len(answers) * sz.monthSlots * rowsPerSlot; n != want {
		return 0, fmt.Errorf("bulk COPY wrote %d rows, want %d", n, want)
	}
	return secs, nil
}

// writeGrowth writes 500-slot answers into one growing database and reports the
// speed of each stretch up to the next checkpoint.
func writeGrowth(ctx context.Context, h *harness, r *Report, sz writeSizes, base time.Time) error {
	const per = 500
	s := r.section("Growth: rows written per second as the tables fill", prose("write.growth", map[string]any{
		"Per":     per,
		"LoopMax": sz.loopGrowthMax,
		"CopyMax": sz.copyGrowthMax,
	}))
	chart := Chart{Title: "Write speed as the tables grow", XLabel: "log10(slots in the tables)", YLabel: "rows written per second"}
	colors := map[string]string{wayOurs: "#1f77b4", wayLoop: "#ff7f0e", wayCopy: "#2ca02c"}
	for _, way := range ways {
		dbURL, err := h.newDatabase(ctx, "write_growth")
		if err != nil {
			return err
		}
		w, check, err := h.openWriter(ctx, way, dbURL)
		if err != nil {
			return err
		}
		series := Series{Name: way, Color: colors[way]}
		slots, written, prev := 0, 0, 0
		began := time.Now()
		at := time.Now()
		product := int64(1)
		for _, cp := range sz.growth {
			if way == wayLoop && cp > sz.loopGrowthMax || way == wayCopy && cp > sz.copyGrowthMax {
				break
			}
			for slots < cp {
				date := base.AddDate(0, 0, int(product%365))
				n, err := w.write(ctx, product, date, makeSlots(product, date, per, 0), at)
				if err != nil {
					w.close()
					check.Close()
					return fmt.Errorf("growth, %s: %w", way, err)
				}
				written += n
				slots += per
				product++
			}
			secs := time.Since(began).Seconds()
			rate := float64((slots-prev)*rowsPerSlot) / secs
			s.add(fmt.Sprintf("%s, %s slots", way, formatNumber(float64(cp))), "rows/s", []float64{rate}, nil)
			series.Points = append(series.Points, Point{X: log10(float64(cp)), Y: rate})
			prev = slots
			began = time.Now()
		}
		gotSlots, gotPax, _, err := countRows(ctx, check)
		w.close()
		check.Close()
		if err != nil {
			return err
		}
		if gotSlots != slots+2 || gotPax != (slots+2)*len(paxTypes) || written != slots*rowsPerSlot {
			return fmt.Errorf("growth, %s: %d slots and %d pax rows in the tables, %d rows reported, after writing %d slots",
				way, gotSlots, gotPax, written, slots)
		}
		if err := h.dropDatabase(ctx, dbURL); err != nil {
			return err
		}
		chart.Series = append(chart.Series, series)
	}
	r.plot("write-growth.svg", "Rows written per second against the number of slots already in the tables (log scale).", chart.SVG())
	return nil
}
