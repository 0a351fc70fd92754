package syncer_test

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/slotsync/slotsync/internal/partner"
	"github.com/slotsync/slotsync/internal/pgtest"
	"github.com/slotsync/slotsync/internal/store"
	"github.com/slotsync/slotsync/internal/syncer"
)

// answerOf is the partner's answer for a pair in these tests: two slots, one
// pax each. Product 666 on the 3rd day answers with a slot twice, which the store
// refuses.
func answerOf(product int64, date time.Time) []partner.Slot {
	var out []partner.Slot
	for i := range 2 {
		out = append(out, partner.Slot{
			StartDate: date.Format(time.DateOnly), StartTime: fmt.Sprintf("%02d:00", 9+i), EndTime: "20:00",
			ProviderSlotID: fmt.Sprintf("%d-%s-%d", product, date.Format("0102"), i), Remaining: 5, CurrencyCode: "EUR",
			PaxAvailability: []partner.PaxAvailability{{Type: "ADULT", Name: "Adult", Description: "adult", Remaining: 5,
				IsPrimary: true, Price: partner.Price{FinalPrice: "10.50", OriginalPrice: "10.50", CurrencyCode: "EUR"}}},
		})
	}
	if product == badProduct && date.Equal(groupStart.AddDate(0, 0, 2)) {
		out = append(out, out[0])
	}
	return out
}

const badProduct = 666

var groupStart = time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)

// instantFetcher answers at once, after waiting (if set) before each request.
type instantFetcher struct {
	requests atomic.Int64
	before   func(n int64) // n: requests answered so far
}

func (f *instantFetcher) FetchInventory(_ context.Context, product int64, date time.Time) ([]partner.Slot, error) {
	if f.before != nil {
		f.before(f.requests.Load())
	}
	f.requests.Add(1)
	return answerOf(product, date), nil
}

func (f *instantFetcher) Stats() partner.Stats { return partner.Stats{Requests: f.requests.Load()} }

// gatedStore records how many answers each transaction wrote; until open is
// closed, writes wait.
type gatedStore struct {
	*store.Store
	open    chan struct{}
	mu      sync.Mutex
	sizes   []int
	written atomic.Int64
	// gated counts the answers that reached the gate.
	gated atomic.Int64
}

func (g *gatedStore) WriteSnapshots(ctx context.Context, writes []store.SnapshotWrite) ([]store.SnapshotResult, error) {
	g.gated.Add(int64(len(writes)))
	<-g.open
	res, err := g.Store.WriteSnapshots(ctx, writes)
	g.mu.Lock()
	g.sizes = append(g.sizes, len(writes))
	g.mu.Unlock()
	if err == nil {
		g.written.Add(int64(len(writes)))
	}
	return res, err
}

func (g *gatedStore) WriteSnapshot(ctx context.Context, productID int64, date time.Time, slots []partner.Slot, syncedAt time.Time) (store.SnapshotResult, error) {
	g.gated.Add(1)
	<-g.open
	res, err := g.Store.WriteSnapshot(ctx, productID, date, slots, syncedAt)
	g.mu.Lock()
	g.sizes = append(g.sizes, 1)
	g.mu.Unlock()
	if err == nil {
		g.written.Add(1)
	}
	return res, err
}

func newGatedStore(t *testing.T) *gatedStore {
	t.Helper()
	return &gatedStore{Store: pgtest.OpenStore(t, pgtest.NewDatabase(t)), open: make(chan struct{})}
}

func runWorker(t *testing.T, f *instantFetcher, w *gatedStore, products []int64) syncer.Summary {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	sum, _ := (&syncer.Worker{Fetcher: f, Writer: w}).Run(ctx, syncer.Config{
		Products: products, FromDay: 0, ToDay: 29, ShardCount: 1, Now: func() time.Time { return groupStart.Add(8 * time.Hour) }})
	return sum
}

func requireStored(t *testing.T, db *store.Store, products []int64, except syncer.Pair) {
	t.Helper()
	for _, p := range syncer.Pairs(products, groupStart, 0, 29) {
		snap, err := db.ReadSnapshot(context.Background(), p.ProductID, p.Date)
		if err != nil {
			t.Fatal(err)
		}
		if p == except {
			if snap.SyncedAt != nil {
				t.Errorf("%s was stored", p)
			}
			continue
		}
		if !reflect.DeepEqual(snap.Slots, answerOf(p.ProductID, p.Date)) {
			t.Fatalf("%s: stored %+v, want %+v", p, snap.Slots, answerOf(p.ProductID, p.Date))
		}
	}
}

// Answers fetched while a transaction is in progress go together into the next.
func TestGroupCommitBatchesQueuedAnswers(t *testing.T) {
	t.Parallel()
	w := newGatedStore(t)
	var once sync.Once
	// The writer takes the first answer alone and waits until 40 more answers
	// queued behind it.
	f := &instantFetcher{before: func(n int64) {
		switch n {
		case 2:
			for w.gated.Load() == 0 {
				time.Sleep(time.Millisecond)
			}
		case 42:
			once.Do(func() { close(w.open) })
		}
	}}
	products := []int64{14, 15}
	sum := runWorker(t, f, w, products)
	if sum.PairsOK != 60 || sum.PairsFailed != 0 || sum.SnapshotsChanged != 60 || sum.SlotsWritten != 60*4 || sum.Requests != 60 {
		t.Fatalf("summary: %s", sum.Line())
	}
	if slices.Max(w.sizes) < 40 || slices.Max(w.sizes) > syncer.MaxBatch {
		t.Errorf("transactions of %v answers; want one of 40 to %d", w.sizes, syncer.MaxBatch)
	}
	requireStored(t, w.Store, products, syncer.Pair{})
}

// At the partner's pace, an answer is written alone and at once: the writer
// does not wait for company.
func TestGroupCommitWritesALoneAnswerAtOnce(t *testing.T) {
	t.Parallel()
	w := newGatedStore(t)
	close(w.open)
	// Each request waits until the answer before it is committed, as a slow
	// partner's would come long after.
	f := &instantFetcher{before: func(n int64) {
		for w.written.Load() < n {
			time.Sleep(time.Millisecond)
		}
	}}
	sum := runWorker(t, f, w, []int64{14})
	if sum.PairsOK != 30 || sum.PairsFailed != 0 {
		t.Fatalf("summary: %s", sum.Line())
	}
	if slices.Max(w.sizes) != 1 || len(w.sizes) != 30 {
		t.Errorf("transactions of %v answers; want 30 of one", w.sizes)
	}
}

// A batch that fails is written again answer by answer: the one bad answer
// fails alone, and the summary counts every pair where it belongs.
func TestGroupCommitFailedBatchFailsOnlyTheBadAnswer(t *testing.T) {
	t.Parallel()
	w := newGatedStore(t)
	var once sync.Once
	f := &instantFetcher{before: func(n int64) {
		if n == 10 {
			once.Do(func() { close(w.open) })
		}
	}}
	products := []int64{badProduct, 15}
	sum := runWorker(t, f, w, products)
	bad := syncer.Pair{ProductID: badProduct, Date: groupStart.AddDate(0, 0, 2)}
	if sum.PairsOK != 59 || sum.PairsFailed != 1 || sum.SnapshotsChanged != 59 || sum.SlotsWritten != 59*4 {
		t.Fatalf("summary: %s", sum.Line())
	}
	if len(sum.Failures) != 1 || sum.Failures[0].ProductID != badProduct || sum.Failures[0].Date != "2026-12-02" {
		t.Errorf("failures %+v, want only %s", sum.Failures, bad)
	}
	if slices.Max(w.sizes) < 2 {
		t.Errorf("transactions of %v answers: the bad answer was never in a batch", w.sizes)
	}
	requireStored(t, w.Store, products, bad)
}
