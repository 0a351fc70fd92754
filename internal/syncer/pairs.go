// Package syncer is the sync worker that every Job index runs: it derives its share of
// (product, date) pairs, fetches each from the partner under the shared budget and
// writes it to Postgres as one snapshot.
package syncer

import (
	"fmt"
	"time"
)

// Pair is one (product, date) the partner answers with one request.
type Pair struct {
	ProductID int64
	// Date is the product's local calendar date, at midnight UTC.
	Date time.Time
}

func (p Pair) String() string {
	return fmt.Sprintf("product %d on %s", p.ProductID, p.Date.Format(time.DateOnly))
}

// Today is the calendar date of now in loc, at midnight UTC so that dates compare and
// print the same whatever the zone.
func Today(now time.Time, loc *time.Location) time.Time {
	y, m, d := now.In(loc).Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// Pairs lists every product on every day from fromDay to toDay (both inclusive, 0 is
// today), ordered by product then date.
func Pairs(products []int64, today time.Time, fromDay, toDay int) []Pair {
	if toDay < fromDay {
		return nil
	}
	pairs := make([]Pair, 0, len(products)*(toDay-fromDay+1))
	for _, p := range products {
		for d := fromDay; d <= toDay; d++ {
			pairs = append(pairs, Pair{ProductID: p, Date: today.AddDate(0, 0, d)})
		}
	}
	return pairs
}

// Shard returns the pairs of shard index out of count. Pairs are dealt round-robin, so
// no shard holds more than one pair more than another and every pair has one owner.
func Shard(pairs []Pair, index, count int) ([]Pair, error) {
	if count < 1 {
		return nil, fmt.Errorf("shard count %d: want at least 1", count)
	}
	if index < 0 || index >= count {
		return nil, fmt.Errorf("shard index %d: want 0 to %d", index, count-1)
	}
	var mine []Pair
	for i := index; i < len(pairs); i += count {
		mine = append(mine, pairs[i])
	}
	return mine, nil
}
