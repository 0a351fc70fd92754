package store_test

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slotsync/slotsync/internal/partner"
	"github.com/slotsync/slotsync/internal/store"
)

// pairWrite is the write of the pair (product, day+d).
func pairWrite(d int, slots []partner.Slot, syncedAt time.Time) store.SnapshotWrite {
	return store.SnapshotWrite{ProductID: product, Date: day.AddDate(0, 0, d), Slots: slots, SyncedAt: syncedAt}
}

// pairState is everything stored for one pair, with the row versions.
type pairState struct {
	Snap  store.Snapshot
	Xmins map[string]string
}

func state(t *testing.T, s *store.Store, url string, d int) pairState {
	t.Helper()
	ctx := testContext(t)
	snap, err := s.ReadSnapshot(ctx, product, day.AddDate(0, 0, d))
	if err != nil {
		t.Fatal(err)
	}
	xmins := rowVersions(t, url, day.AddDate(0, 0, d))
	return pairState{snap, xmins}
}

func writeAll(t *testing.T, s *store.Store, writes ...store.SnapshotWrite) []store.SnapshotResult {
	t.Helper()
	res, err := s.WriteSnapshots(testContext(t), writes)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != len(writes) {
		t.Fatalf("%d results for %d writes", len(res), len(writes))
	}
	return res
}

// A batch of new, unchanged, changed and emptied pairs does to each pair what a
// single write of its answer does, and reports the same.
func TestWriteSnapshotsMixedBatchEqualsSingleWrites(t *testing.T) {
	t.Parallel()
	batched, url := newStore(t)
	single, _ := newStore(t)

	changed := []partner.Slot{
		slot("s-10", "10:00", 3, pax("ADULT", 3, "12.50", "14.00", "1.50")), // CHILD vanishes
		answerA()[2],
		slot("s-12", "12:00", 8, pax("ADULT", 8, "12.5", "14", "")), // s-09 vanishes, s-12 is new
	}
	before := []store.SnapshotWrite{pairWrite(0, answerA(), instant(0)), pairWrite(1, answerA(), instant(0)), pairWrite(2, answerA(), instant(0))}
	batch := []store.SnapshotWrite{
		pairWrite(3, answerA(), instant(time.Hour)),     // new
		pairWrite(0, answerA(), instant(time.Hour)),     // unchanged
		pairWrite(1, changed, instant(time.Hour)),       // changed
		pairWrite(2, nil, instant(time.Hour)),           // every slot vanished
		pairWrite(4, nil, instant(time.Hour)),           // new and empty
		pairWrite(5, changed[2:], instant(time.Minute)), // new, synced earlier
	}
	writeAll(t, batched, before...)
	for _, w := range before {
		if _, err := single.WriteSnapshot(testContext(t), w.ProductID, w.Date, w.Slots, w.SyncedAt); err != nil {
			t.Fatal(err)
		}
	}
	stateBefore := state(t, batched, url, 0)

	got := writeAll(t, batched, batch...)
	var want []store.SnapshotResult
	for _, w := range batch {
		res, err := single.WriteSnapshot(testContext(t), w.ProductID, w.Date, w.Slots, w.SyncedAt)
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, res)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("batch results %+v, single writes' %+v", got, want)
	}
	// Spelled out, so that a fault shared by both paths shows too.
	spelled := []store.SnapshotResult{
		{Changed: true, Slots: 3, Written: 7},
		{Slots: 3},
		{Changed: true, Slots: 3, Written: 4, Deleted: 4},
		{Changed: true, Deleted: 7},
		{Changed: true},
		{Changed: true, Slots: 1, Written: 2},
	}
	if !reflect.DeepEqual(got, spelled) {
		t.Errorf("batch results %+v, want %+v", got, spelled)
	}
	for i, w := range batch {
		d := int(w.Date.Sub(day).Hours() / 24)
		b := readOn(t, batched, w.Date)
		assertSlots(t, b.Slots, w.Slots)
		if !b.SyncedAt.Equal(w.SyncedAt) {
			t.Errorf("write %d: synced at %v, want %v", i, b.SyncedAt, w.SyncedAt)
		}
		if s := readOn(t, single, w.Date); !reflect.DeepEqual(b.SyncedAt, s.SyncedAt) || !reflect.DeepEqual(b.ChangedAt, s.ChangedAt) {
			t.Errorf("day %d: batch stored synced %v changed %v, single writes %v %v", d, b.SyncedAt, b.ChangedAt, s.SyncedAt, s.ChangedAt)
		}
	}
	after := state(t, batched, url, 0)
	if !reflect.DeepEqual(stateBefore.Xmins, after.Xmins) {
		t.Errorf("the unchanged pair's rows were rewritten: %v, then %v", stateBefore.Xmins, after.Xmins)
	}
	if !after.Snap.ChangedAt.Equal(instant(0)) {
		t.Errorf("the unchanged pair's changed_at moved to %v", after.Snap.ChangedAt)
	}
}

// The same pair twice in a batch is written twice, in order: the last answer is
// stored, and every answer's result is what writing them one by one reports.
func TestWriteSnapshotsDuplicatePairAppliesInOrder(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	other := []partner.Slot{slot("s-20", "20:00", 1, pax("ADULT", 1, "1.00", "1.00", ""))}
	got := writeAll(t, s,
		pairWrite(0, answerA(), instant(0)),
		pairWrite(1, other, instant(0)),
		pairWrite(0, other, instant(time.Minute)),
		pairWrite(0, other, instant(2*time.Minute)),
		pairWrite(0, answerA(), instant(3*time.Minute)),
	)
	want := []store.SnapshotResult{
		{Changed: true, Slots: 3, Written: 7},
		{Changed: true, Slots: 1, Written: 2},
		{Changed: true, Slots: 1, Written: 2, Deleted: 7},
		{Slots: 1},
		{Changed: true, Slots: 3, Written: 7, Deleted: 2},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("results %+v, want %+v", got, want)
	}
	snap := readOn(t, s, day)
	assertSlots(t, snap.Slots, answerA())
	if !snap.SyncedAt.Equal(instant(3*time.Minute)) || !snap.ChangedAt.Equal(instant(3*time.Minute)) {
		t.Errorf("synced at %v, changed at %v; want both %v", snap.SyncedAt, snap.ChangedAt, instant(3*time.Minute))
	}
	assertSlots(t, readOn(t, s, day.AddDate(0, 0, 1)).Slots, other)
}

// An invalid answer fails the whole batch, naming its pair; nothing is written.
func TestWriteSnapshotsInvalidAnswerWritesNothing(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	bad := append(answerA(), answerA()[0])
	_, err := s.WriteSnapshots(testContext(t), []store.SnapshotWrite{pairWrite(0, answerA(), instant(0)), pairWrite(1, bad, instant(0))})
	if !errors.Is(err, store.ErrInvalidSnapshot) || !strings.Contains(err.Error(), "2026-12-02") {
		t.Fatalf("error %v, want an invalid snapshot of 2026-12-02", err)
	}
	if _, err := s.ReadSnapshot(testContext(t), product, day); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("after the failed batch, reading its valid answer: %v, want nothing stored", err)
	}
	if res, err := s.WriteSnapshots(testContext(t), nil); res != nil || err != nil {
		t.Errorf("empty batch: %v, %v", res, err)
	}
}

// A batch notifies each of its pairs once, after its commit, in the payload the
// single write sends.
func TestWriteSnapshotsNotifiesEveryPair(t *testing.T) {
	t.Parallel()
	s, url := newStore(t)
	notes := listen(t, url)
	writeAll(t, s, pairWrite(0, answerA(), instant(0)))
	writeAll(t, s, pairWrite(2, nil, instant(0)), pairWrite(0, answerA(), instant(time.Minute)), pairWrite(1, answerA(), instant(0)), pairWrite(2, answerA(), instant(0)))
	var got []string
	for range 4 {
		got = append(got, notes.next())
	}
	want := []string{"14:2026-12-01", "14:2026-12-03", "14:2026-12-01", "14:2026-12-02"}
	if !reflect.DeepEqual(got[:1], want[:1]) || !reflect.DeepEqual(sorted(got[1:]), sorted(want[1:])) {
		t.Errorf("notifications %q, want %q (the batch's in any order)", got, want)
	}
	if payload, err := notes.wait(200 * time.Millisecond); err == nil {
		t.Errorf("one notification too many: %q", payload)
	}
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

// Batches that share pairs, in opposite orders, run beside single writers of the
// same pairs: none deadlocks, and every pair ends up holding one whole answer
// with the sync time of the writer that wrote it.
func TestWriteSnapshotsConcurrentWithSingleWrites(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	const days, writers = 6, 6
	// Writer w's answer for any day: its own subset of slots and counts.
	answer := func(w int) []partner.Slot {
		var out []partner.Slot
		for j := range 6 {
			if (w+j)%3 == 0 {
				continue
			}
			out = append(out, slot(fmt.Sprintf("s-%d", j), fmt.Sprintf("%02d:00", 8+j), 10*w+j,
				pax("ADULT", 10*w+j, partner.Decimal(fmt.Sprintf("%d.%02d", 10+w, j)), "20.00", "")))
		}
		return out
	}
	at := func(round, w int) time.Time {
		return instant(time.Duration(round)*time.Minute + time.Duration(w)*time.Second)
	}
	for round := range 4 {
		var wg sync.WaitGroup
		start := make(chan struct{})
		errs := make([]error, writers)
		for w := range writers {
			wg.Go(func() {
				<-start
				ctx := testContext(t)
				if w%2 == 1 { // single writes, one pair after the other
					for d := range days {
						if _, err := s.WriteSnapshot(ctx, product, day.AddDate(0, 0, d), answer(w), at(round, w)); err != nil {
							errs[w] = err
							return
						}
					}
					return
				}
				batch := make([]store.SnapshotWrite, days)
				for d := range days {
					batch[d] = pairWrite(d, answer(w), at(round, w))
				}
				if w%4 == 2 {
					slices.Reverse(batch)
				}
				_, errs[w] = s.WriteSnapshots(ctx, batch)
			})
		}
		close(start)
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		for d := range days {
			snap := readOn(t, s, day.AddDate(0, 0, d))
			w := -1
			for i := range writers {
				if reflect.DeepEqual(snap.Slots, readOrder(answer(i))) {
					w = i
				}
			}
			if w < 0 {
				t.Fatalf("round %d, day %d: the stored slots are none of the answers: %+v", round, d, snap.Slots)
			}
			if !snap.SyncedAt.Equal(at(round, w)) {
				t.Errorf("round %d, day %d: writer %d's answer with the sync time %v", round, d, w, snap.SyncedAt)
			}
		}
	}
}

// A batch whose connection dies after staging leaves every pair as it was.
func TestWriteSnapshotsKilledConnectionWritesNothing(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	s, url := newStore(t)
	writeAll(t, s, pairWrite(0, answerA(), instant(0)))

	killWhenStaged(t, s, url)
	b := []partner.Slot{slot("s-20", "20:00", 1, pax("ADULT", 1, "1.00", "1.00", ""))}
	if _, err := s.WriteSnapshots(ctx, []store.SnapshotWrite{pairWrite(1, b, instant(time.Minute)), pairWrite(0, b, instant(time.Minute))}); err == nil {
		t.Fatal("a batch whose connection was killed succeeded")
	}
	store.SetHook(s, nil)
	snap := readOn(t, s, day)
	assertSlots(t, snap.Slots, answerA())
	if !snap.SyncedAt.Equal(instant(0)) {
		t.Errorf("synced at %v, want the previous snapshot's %v", snap.SyncedAt, instant(0))
	}
	if snap := readOn(t, s, day.AddDate(0, 0, 1)); snap.SyncedAt != nil {
		t.Errorf("the new pair of the killed batch was stored at %v", snap.SyncedAt)
	}
}
