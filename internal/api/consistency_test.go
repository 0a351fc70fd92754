package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/slotsync/slotsync/internal/api"
	"github.com/slotsync/slotsync/internal/partner"
)

// TestAnswersAreWholeSnapshotsUnderLoad: while a writer commits two known answers
// A and B of one (product, date) in turn, readers hammer the slots and dates
// routes; every answer is exactly A's or exactly B's, never a mix, with the read
// cache on and off. Once the writer stops, the API serves the last commit.
func TestAnswersAreWholeSnapshotsUnderLoad(t *testing.T) {
	for _, tc := range []struct {
		name      string
		cacheSize int
	}{{"cache on", 0}, {"cache off", -1}} {
		t.Run(tc.name, func(t *testing.T) {
			e := newAPIEnv(t, options{cacheSize: tc.cacheSize})
			e.sync([]int64{14}, 0, 6)
			day := start.AddDate(0, 0, 1) // a Tuesday: product 14 has slots
			a := e.sim.Inventory(14, day, e.clock.now())
			if len(a) < 2 {
				t.Fatalf("the fixture needs a day with 2 slots or more, got %d", len(a))
			}
			b := otherAnswer(a)
			slotsPath := fmt.Sprintf("/api/v1/experience/14/slots?date=%s", day.Format(time.DateOnly))
			datesPath := "/api/v1/experience/14/dates"
			ctx := context.Background()

			write := func(slots []partner.Slot) {
				t.Helper()
				if _, err := e.db.WriteSnapshot(ctx, 14, day, slots, e.clock.now()); err != nil {
					t.Fatal(err)
				}
			}
			// The dates answers of A and B, once each is committed and served.
			// Serving the new slots does not prove the listener has handled the
			// commit's notification: the slots may be read from the database
			// (their last fill was dropped, having raced an earlier notification)
			// while the cache still holds the dates answer from before. Only a
			// dates answer read from the database after the commit is surely
			// its; no one else reads yet, so hits count ours alone.
			settle := func(slots []partner.Slot) []byte {
				t.Helper()
				write(slots)
				var dates []byte
				eventually(t, 10*time.Second, func() error {
					if got := slotsOf(t, e.get(slotsPath).body); !reflect.DeepEqual(got, slots) {
						return fmt.Errorf("the API does not serve the committed answer yet")
					}
					hits := e.metric("slotsync_api_cache_hits_total")
					dates = e.get(datesPath).body
					if e.metric("slotsync_api_cache_hits_total") != hits {
						return fmt.Errorf("the dates answer still comes from the cache, maybe from before the commit")
					}
					return nil
				})
				return dates
			}
			datesA, datesB := settle(a), settle(b)
			if bytes.Equal(datesA, datesB) {
				t.Fatal("A and B have the same dates answer: the test could not tell them apart")
			}

			const readers = 4
			stop := make(chan struct{})
			var wg sync.WaitGroup
			var sawA, sawB, datesSawA, datesSawB, bad atomic.Int64
			errs := make(chan error, readers*2+1)
			report := func(err error) {
				bad.Add(1)
				select {
				case errs <- err:
				default:
				}
			}
			client := &http.Client{Timeout: 10 * time.Second}
			for i := range readers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for n := 0; ; n++ {
						select {
						case <-stop:
							return
						default:
						}
						path := slotsPath
						if (n+i)%3 == 0 {
							path = datesPath
						}
						status, body, err := fetch(client, e.url+path)
						switch {
						case err != nil:
							report(err)
						case status != http.StatusOK:
							report(fmt.Errorf("GET %s answered %d: %s", path, status, body))
						case path == datesPath && bytes.Equal(body, datesA):
							datesSawA.Add(1)
						case path == datesPath && bytes.Equal(body, datesB):
							datesSawB.Add(1)
						case path == datesPath:
							report(fmt.Errorf("a dates answer is neither A's nor B's:\n%s\nA %s\nB %s", body, datesA, datesB))
						default:
							var r api.SlotsResponse
							if err := json.Unmarshal(body, &r); err != nil || r.SyncedAt == nil {
								report(fmt.Errorf("slots answer %s: %v", body, err))
								continue
							}
							switch {
							case reflect.DeepEqual(r.Slots, a):
								sawA.Add(1)
							case reflect.DeepEqual(r.Slots, b):
								sawB.Add(1)
							default:
								report(fmt.Errorf("a slots answer is neither A nor B, a torn snapshot:\n%+v", r.Slots))
							}
						}
					}
				}()
			}

			// The writer commits A and B in turn, as two Jobs of one pair would.
			writes := 0
			last := b
			deadline := time.Now().Add(3 * time.Second)
			for time.Now().Before(deadline) {
				last = a
				if writes%2 == 1 {
					last = b
				}
				if _, err := e.db.WriteSnapshot(ctx, 14, day, last, e.clock.now()); err != nil {
					report(err)
					break
				}
				writes++
			}
			close(stop)
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
			t.Logf("%d commits; slots answers: %d A, %d B; dates answers: %d A, %d B; %d bad",
				writes, sawA.Load(), sawB.Load(), datesSawA.Load(), datesSawB.Load(), bad.Load())
			if sawA.Load() == 0 || sawB.Load() == 0 || datesSawA.Load() == 0 || datesSawB.Load() == 0 {
				t.Error("the readers did not see both answers on both routes: the test proved nothing")
			}
			// The cache must not keep serving the answer before the last commit.
			eventually(t, 10*time.Second, func() error {
				if got := slotsOf(t, e.get(slotsPath).body); !reflect.DeepEqual(got, last) {
					return fmt.Errorf("after the writer stopped the API does not serve its last commit")
				}
				return nil
			})
		})
	}
}

// otherAnswer is a second valid answer for the same day that differs from a in
// every way a snapshot can: a slot gone, a slot new (and cheapest), a count and a
// price changed.
func otherAnswer(a []partner.Slot) []partner.Slot {
	var b []partner.Slot
	for _, s := range a[:len(a)-1] {
		s.PaxAvailability = append([]partner.PaxAvailability(nil), s.PaxAvailability...)
		b = append(b, s)
	}
	b[0].Remaining++
	b[0].PaxAvailability[0].Remaining++
	b[0].PaxAvailability[0].Price.FinalPrice = "1.50"
	b[0].PaxAvailability[0].Price.OriginalPrice = "1.50"
	b[0].PaxAvailability[0].Price.Discount = "0.00"
	extra := a[len(a)-1]
	extra.ProviderSlotID += "-new"
	extra.StartTime, extra.EndTime = "23:00", "23:30"
	extra.PaxAvailability = []partner.PaxAvailability{{
		Type: "ADULT", Name: "Adult", Min: 1, Max: 2, Remaining: 1, IsPrimary: true,
		Price: partner.Price{FinalPrice: "0.99", OriginalPrice: "0.99", Discount: "0.00", CurrencyCode: "EUR"},
	}}
	return append(b, extra)
}

func slotsOf(t *testing.T, body []byte) []partner.Slot {
	t.Helper()
	var r api.SlotsResponse
	if err := json.Unmarshal(body, &r); err != nil {
		t.Fatalf("slots answer %s: %v", body, err)
	}
	return r.Slots
}

func fetch(c *http.Client, url string) (int, []byte, error) {
	resp, err := c.Get(url)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, body, err
}
