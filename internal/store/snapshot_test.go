package store_test

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/slotsync/slotsync/internal/partner"
	"github.com/slotsync/slotsync/internal/store"
)

const product = 14

var day = time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)

func pax(typ string, remaining int, final, original, discount partner.Decimal) partner.PaxAvailability {
	return partner.PaxAvailability{
		Type: typ, Name: typ + " ticket", Description: "for an " + typ, Min: 0, Max: 9,
		Remaining: remaining, IsPrimary: typ == "ADULT",
		Price: partner.Price{FinalPrice: final, OriginalPrice: original, Discount: discount, CurrencyCode: "EUR"},
	}
}

func slot(id, start string, remaining int, pax ...partner.PaxAvailability) partner.Slot {
	return partner.Slot{
		StartDate: "2026-12-01", StartTime: start, EndTime: start[:2] + ":59", ProviderSlotID: id,
		Remaining: remaining, CurrencyCode: "EUR", VariantID: 7, PaxAvailability: pax,
	}
}

// answerA is a partner answer in no particular order, with exact decimals that
// a float would not keep.
func answerA() []partner.Slot {
	return []partner.Slot{
		slot("s-10", "10:00", 5,
			pax("CHILD", 5, "6.10", "6.10", ""),
			pax("ADULT", 5, "12.50", "14.00", "1.50")),
		slot("s-09", "09:00", 3,
			pax("ADULT", 3, "12.50", "12.50", "0.00"),
			pax("INFANT", 3, "0", "0", "")),
		{StartDate: "2026-12-01", StartTime: "11:00", EndTime: "12:00", ProviderSlotID: "s-11",
			Remaining: 0, CurrencyCode: "EUR", PaxAvailability: []partner.PaxAvailability{}},
	}
}

// readOrder is the order ReadSnapshot promises: start time, providerSlotId, pax type.
func readOrder(slots []partner.Slot) []partner.Slot {
	out := make([]partner.Slot, len(slots))
	for i, s := range slots {
		s.PaxAvailability = slices.Clone(s.PaxAvailability)
		if s.PaxAvailability == nil {
			s.PaxAvailability = []partner.PaxAvailability{}
		}
		slices.SortFunc(s.PaxAvailability, func(a, b partner.PaxAvailability) int { return cmp.Compare(a.Type, b.Type) })
		out[i] = s
	}
	slices.SortFunc(out, func(a, b partner.Slot) int {
		return cmp.Or(cmp.Compare(a.StartTime, b.StartTime), cmp.Compare(a.ProviderSlotID, b.ProviderSlotID))
	})
	return out
}

func write(t *testing.T, s *store.Store, slots []partner.Slot, at time.Time) store.SnapshotResult {
	t.Helper()
	res, err := s.WriteSnapshot(testContext(t), product, day, slots, at)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func read(t *testing.T, s *store.Store) store.Snapshot {
	t.Helper()
	return readOn(t, s, day)
}

func readOn(t *testing.T, s *store.Store, date time.Time) store.Snapshot {
	t.Helper()
	snap, err := s.ReadSnapshot(testContext(t), product, date)
	if err != nil {
		t.Fatal(err)
	}
	return snap
}

func assertSlots(t *testing.T, got, want []partner.Slot) {
	t.Helper()
	if want = readOrder(want); !reflect.DeepEqual(got, want) {
		g, _ := json.MarshalIndent(got, "", " ")
		w, _ := json.MarshalIndent(want, "", " ")
		t.Fatalf("stored slots differ from the answer:\ngot  %s\nwant %s", g, w)
	}
}

// newStoreWithA is newStore holding answer A, written at instant(0).
func newStoreWithA(t *testing.T) (*store.Store, string) {
	t.Helper()
	s, url := newStore(t)
	write(t, s, answerA(), instant(0))
	return s, url
}

// instant is a time as Postgres keeps it, to the microsecond.
func instant(offset time.Duration) time.Time {
	return time.Date(2026, 11, 30, 8, 0, 0, 0, time.UTC).Add(offset)
}

func TestWriteThenReadIsExact(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	res := write(t, s, answerA(), instant(0))
	want := store.SnapshotResult{Changed: true, Slots: 3, Written: 3 + 4}
	if res != want {
		t.Errorf("result = %+v, want %+v", res, want)
	}
	snap := read(t, s)
	assertSlots(t, snap.Slots, answerA())
	if snap.SyncedAt == nil || !snap.SyncedAt.Equal(instant(0)) || snap.ChangedAt == nil || !snap.ChangedAt.Equal(instant(0)) {
		t.Errorf("synced at %v, changed at %v, want both %v", snap.SyncedAt, snap.ChangedAt, instant(0))
	}
}

func TestChangedAnswerReplacesTheStoredOne(t *testing.T) {
	t.Parallel()
	s, _ := newStoreWithA(t)

	// s-10 sells two seats and drops CHILD, s-09 vanishes, s-12 appears, and a
	// price keeps its value but not its text.
	b := []partner.Slot{
		slot("s-10", "10:00", 3, pax("ADULT", 3, "12.50", "14.00", "1.50")),
		answerA()[2],
		slot("s-12", "12:00", 8, pax("ADULT", 8, "12.5", "14", "")),
	}
	res := write(t, s, b, instant(time.Minute))
	// Written: s-10, s-12 and its pax row, s-10 ADULT. Deleted: s-09 with its two
	// pax rows, s-10 CHILD.
	want := store.SnapshotResult{Changed: true, Slots: 3, Written: 4, Deleted: 4}
	if res != want {
		t.Errorf("result = %+v, want %+v", res, want)
	}
	snap := read(t, s)
	assertSlots(t, snap.Slots, b)
	if !snap.ChangedAt.Equal(instant(time.Minute)) {
		t.Errorf("changed at %v, want %v", snap.ChangedAt, instant(time.Minute))
	}

	// The same value in another spelling is a change: the text is what reads back.
	b[2].PaxAvailability[0].Price.FinalPrice = "12.50"
	if res := write(t, s, b, instant(2*time.Minute)); res.Written != 1 {
		t.Errorf("rewriting 12.5 as 12.50 wrote %d rows, want 1", res.Written)
	}
	assertSlots(t, read(t, s).Slots, b)

	write(t, s, nil, instant(3*time.Minute))
	if snap := read(t, s); len(snap.Slots) != 0 || snap.SyncedAt == nil {
		t.Errorf("after an empty answer: %d slots, synced at %v", len(snap.Slots), snap.SyncedAt)
	}
}

// rowVersions maps each slot and pax row of the product (on dates, if any are
// given) to its xmin, which changes whenever the row is rewritten.
func rowVersions(t *testing.T, url string, dates ...time.Time) map[string]string {
	t.Helper()
	ctx := testContext(t)
	conn := connect(t, url)
	days := make([]string, len(dates))
	for i, d := range dates {
		days[i] = d.Format(time.DateOnly)
	}
	rows, err := conn.Query(ctx, `
SELECT provider_slot_id, xmin::text FROM slots
WHERE product_id = $1 AND (cardinality($2::text[]) = 0 OR date = ANY($2::text[]::date[]))
UNION ALL
SELECT provider_slot_id || '/' || pax_type, xmin::text FROM slot_pax
WHERE product_id = $1 AND (cardinality($2::text[]) = 0 OR date = ANY($2::text[]::date[]))`, product, days)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for rows.Next() {
		var key, xmin string
		if err := rows.Scan(&key, &xmin); err != nil {
			t.Fatal(err)
		}
		out[key] = xmin
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestUnchangedAnswerOnlyMovesSyncedAt(t *testing.T) {
	t.Parallel()
	s, url := newStoreWithA(t)
	before := rowVersions(t, url)

	// The same answer in another order, with nil instead of empty pax.
	same := answerA()
	slices.Reverse(same)
	slices.Reverse(same[1].PaxAvailability)
	same[0].PaxAvailability = nil
	res := write(t, s, same, instant(time.Hour))
	if want := (store.SnapshotResult{Slots: 3}); res != want {
		t.Errorf("result = %+v, want %+v", res, want)
	}
	if after := rowVersions(t, url); !reflect.DeepEqual(before, after) {
		t.Errorf("rows were rewritten: xmin before %v, after %v", before, after)
	}
	snap := read(t, s)
	if !snap.SyncedAt.Equal(instant(time.Hour)) || !snap.ChangedAt.Equal(instant(0)) {
		t.Errorf("synced at %v, changed at %v; want %v and %v", snap.SyncedAt, snap.ChangedAt, instant(time.Hour), instant(0))
	}
	assertSlots(t, snap.Slots, answerA())
}

func TestChangedAnswerKeepsUnchangedRows(t *testing.T) {
	t.Parallel()
	s, url := newStoreWithA(t)
	before := rowVersions(t, url)

	b := answerA()
	b[0].PaxAvailability[1].Remaining = 4 // s-10 ADULT
	if res := write(t, s, b, instant(time.Minute)); res.Written != 1 || !res.Changed {
		t.Errorf("result = %+v, want one row written", res)
	}
	after := rowVersions(t, url)
	for key, xmin := range before {
		if rewritten := after[key] != xmin; rewritten != (key == "s-10/ADULT") {
			t.Errorf("row %s rewritten = %v", key, rewritten)
		}
	}
}

func TestConcurrentWritersOfOnePair(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	// Eight different answers: each keeps a different subset of slots, with its
	// own remaining counts, so a mix of two would show.
	answers := make([][]partner.Slot, 8)
	for i := range answers {
		for j := range 6 {
			if (i+j)%3 == 0 {
				continue
			}
			answers[i] = append(answers[i], slot(fmt.Sprintf("s-%d", j), fmt.Sprintf("%02d:00", 8+j), 10*i+j,
				pax("ADULT", 10*i+j, partner.Decimal(fmt.Sprintf("%d.%02d", 10+i, j)), "20.00", ""),
				pax("CHILD", i, "5.00", "5.00", "")))
		}
	}
	fetchedAt := func(round, writer int) time.Time {
		return instant(time.Duration(round)*time.Minute + time.Duration(writer)*time.Second)
	}
	for round := range 5 {
		start := make(chan struct{})
		var wg sync.WaitGroup
		errs := make([]error, len(answers))
		for i, a := range answers {
			wg.Go(func() {
				<-start
				_, errs[i] = s.WriteSnapshot(testContext(t), product, day, a, fetchedAt(round, i))
			})
		}
		close(start)
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		snap := read(t, s)
		i := slices.IndexFunc(answers, func(a []partner.Slot) bool { return reflect.DeepEqual(snap.Slots, readOrder(a)) })
		if i < 0 {
			g, _ := json.Marshal(snap.Slots)
			t.Fatalf("round %d: the stored slots are none of the answers: %s", round, g)
		}
		if !snap.SyncedAt.Equal(fetchedAt(round, i)) {
			t.Errorf("round %d: answer %d is stored with the sync time %v of another writer", round, i, snap.SyncedAt)
		}
	}
}

// TestWriterWaitsForTheOneInProgress holds a writer that found its answer
// unchanged between its comparison and its commit; a writer of another answer
// must wait for it, or the stored answer would carry the first one's sync time.
func TestWriterWaitsForTheOneInProgress(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	s, url := newStoreWithA(t)

	var held atomic.Bool
	paused, release := make(chan struct{}), make(chan struct{})
	store.SetHook(s, func(ctx context.Context, stage string, _ uint32) error {
		if stage == "locked" && held.CompareAndSwap(false, true) {
			close(paused)
			select {
			case <-release:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		return nil
	})
	first := make(chan error, 1)
	go func() {
		_, err := s.WriteSnapshot(ctx, product, day, answerA(), instant(time.Minute))
		first <- err
	}()
	<-paused
	b := []partner.Slot{slot("s-20", "20:00", 1, pax("ADULT", 1, "1.00", "1.00", ""))}
	second := make(chan error, 1)
	go func() {
		_, err := s.WriteSnapshot(ctx, product, day, b, instant(2*time.Minute))
		second <- err
	}()

	watcher := connect(t, url)
	for waiting := false; !waiting; {
		select {
		case err := <-second:
			close(release)
			t.Fatalf("the second writer went ahead while the first held the pair (err %v)", err)
		default:
		}
		err := watcher.QueryRow(ctx, `SELECT EXISTS (SELECT FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = 'Lock')`).Scan(&waiting)
		if err != nil {
			t.Fatal(err)
		}
	}
	close(release)
	if err := errors.Join(<-first, <-second); err != nil {
		t.Fatal(err)
	}
	snap := read(t, s)
	assertSlots(t, snap.Slots, b)
	if !snap.SyncedAt.Equal(instant(2 * time.Minute)) {
		t.Errorf("synced at %v, want the second writer's %v", snap.SyncedAt, instant(2*time.Minute))
	}
}

func TestKilledConnectionKeepsPreviousSnapshot(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	s, url := newStoreWithA(t)

	killWhenStaged(t, s, url)
	b := []partner.Slot{slot("s-20", "20:00", 1, pax("ADULT", 1, "1.00", "1.00", ""))}
	if _, err := s.WriteSnapshot(ctx, product, day, b, instant(time.Minute)); err == nil {
		t.Fatal("a write whose connection was killed succeeded")
	} else {
		t.Logf("write on a killed connection: %v", err)
	}

	snap := read(t, s)
	assertSlots(t, snap.Slots, answerA())
	if !snap.SyncedAt.Equal(instant(0)) {
		t.Errorf("synced at %v, want the previous snapshot's %v", snap.SyncedAt, instant(0))
	}

	store.SetHook(s, nil)
	write(t, s, b, instant(2*time.Minute))
	assertSlots(t, read(t, s).Slots, b)
}

func TestNotifyOnCommitOnly(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	s, url := newStore(t)
	notes := listen(t, url)

	write(t, s, answerA(), instant(0))
	if got, want := notes.next(), "14:2026-12-01"; got != want {
		t.Errorf("notification %q, want %q", got, want)
	}
	write(t, s, answerA(), instant(time.Minute)) // unchanged: still fresher
	if got, want := notes.next(), "14:2026-12-01"; got != want {
		t.Errorf("notification for an unchanged answer %q, want %q", got, want)
	}

	errAbort := errors.New("abort before commit")
	store.SetHook(s, func(_ context.Context, stage string, _ uint32) error {
		if stage == "merged" {
			return errAbort
		}
		return nil
	})
	_, err := s.WriteSnapshot(ctx, product, day.AddDate(0, 0, 1), answerA(), instant(0))
	if !errors.Is(err, errAbort) {
		t.Fatalf("aborted write returned %v", err)
	}
	store.SetHook(s, nil)
	// The next notification must be this write's: the aborted one sent none.
	write(t, s, nil, instant(2*time.Minute))
	if got, want := notes.next(), "14:2026-12-01"; got != want {
		t.Errorf("notification %q after a rolled-back write, want %q", got, want)
	}
}

// TestOlderAnswerCommittingLastLoses: two writers of a pair, each with its own
// connection pool as two worker pods have; the one that fetched first commits
// last (a slow or replaced Job). Its answer must not put the snapshot back in time,
// changed or not, and its result says so.
func TestOlderAnswerCommittingLastLoses(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	newer, url := newStore(t)
	older, err := store.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(older.Close)
	b := []partner.Slot{slot("s-20", "20:00", 1, pax("ADULT", 1, "1.00", "1.00", ""))}

	write(t, newer, b, instant(2*time.Minute))
	before := rowVersions(t, url, day)
	for _, tt := range []struct {
		name  string
		slots []partner.Slot
	}{{"changed", answerA()}, {"unchanged", b}} {
		res := write(t, older, tt.slots, instant(time.Minute))
		if want := (store.SnapshotResult{Slots: len(tt.slots), Stale: true}); !reflect.DeepEqual(res, want) {
			t.Errorf("%s older answer: result %+v, want %+v", tt.name, res, want)
		}
		snap := read(t, newer)
		assertSlots(t, snap.Slots, b)
		if !snap.SyncedAt.Equal(instant(2*time.Minute)) || !snap.ChangedAt.Equal(instant(2*time.Minute)) {
			t.Errorf("%s older answer: synced at %v, changed at %v; want both still %v", tt.name, snap.SyncedAt, snap.ChangedAt, instant(2*time.Minute))
		}
		if after := rowVersions(t, url, day); !reflect.DeepEqual(after, before) {
			t.Errorf("%s older answer rewrote rows: %v, before %v", tt.name, after, before)
		}
	}

	// In a batch, only the stale answer is dropped; a newer one still moves on.
	res := writeAll(t, older,
		pairWrite(0, answerA(), instant(time.Minute)),
		pairWrite(1, b, instant(time.Minute)),
		pairWrite(0, b, instant(3*time.Minute)),
		pairWrite(0, answerA(), instant(150*time.Second)),
	)
	want := []store.SnapshotResult{{Slots: 3, Stale: true}, {Changed: true, Slots: 1, Written: 2}, {Slots: 1}, {Slots: 3, Stale: true}}
	if !reflect.DeepEqual(res, want) {
		t.Errorf("batch results %+v, want %+v", res, want)
	}
	snap := read(t, newer)
	assertSlots(t, snap.Slots, b)
	if !snap.SyncedAt.Equal(instant(3 * time.Minute)) {
		t.Errorf("synced at %v after the batch, want %v", snap.SyncedAt, instant(3*time.Minute))
	}
}
