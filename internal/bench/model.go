package bench

import (
	"slices"
	"time"
)

// modelBand is a band of days as the controller runs it: a Job every `every`,
// started late when the previous one is still active (Forbid).
type modelBand struct {
	fromDay, toDay int
	every          time.Duration
}

// modelFresh plays one day of the controller's scheme at the granularity of
// the limiter's slots, with no other cost: every band runs `shards` workers; the
// limiter hands each slot to a worker of the most often refreshed band that has
// work (its priority), in turn among that band's workers, but not to a band below
// one that had a slot in the last `lapse` slots (the claim the limiter keeps for
// a band's workers between their requests); a Job ends when all its
// shards have; a band's next run starts at its next due time, or at once if that
// passed while the Job was active; a run skips the pairs synced after its
// scheduled time, as a retried Job index does. It reports whether every pair
// was fetched in every period of its horizon, the test the benchmark applies to
// the real run. It exists to choose where to measure, not to replace measuring.
func modelFresh(products int, bands []modelBand, shards, lapse int, slot time.Duration) bool {
	const day = 24 * time.Hour
	type pair struct{ product, day int }
	type worker struct {
		band  int
		pairs []pair
	}
	last := map[pair]time.Duration{} // last sync, as time since the start
	hist := map[pair][]time.Duration{}
	active := make([]int, len(bands)) // workers left per band; 0 is idle
	scheduled := make([]time.Duration, len(bands))
	started := make([]bool, len(bands))
	queues := make([][]*worker, len(bands)) // waiting workers per band
	lastSlot := make([]time.Duration, len(bands))
	for b := range lastSlot {
		lastSlot[b] = -day
	}
	start := func(b int, now, due time.Duration) {
		today := int(now / day)
		var all []pair
		for p := range products {
			for d := bands[b].fromDay; d <= bands[b].toDay; d++ {
				all = append(all, pair{p, today + d})
			}
		}
		for s := range shards {
			w := &worker{band: b}
			for i := s; i < len(all); i += shards {
				if t, ok := last[all[i]]; ok && t > due {
					continue
				}
				w.pairs = append(w.pairs, all[i])
			}
			if len(w.pairs) > 0 {
				queues[b] = append(queues[b], w)
				active[b]++
			}
		}
		scheduled[b], started[b] = due, true
	}
	for now := time.Duration(0); now < day; now += slot {
		for b, band := range bands {
			due := now - now%band.every
			if active[b] == 0 && (!started[b] || scheduled[b] < due) {
				start(b, now, due)
			}
		}
		b := -1
		for i, band := range bands {
			if len(queues[i]) > 0 && (b < 0 || band.every < bands[b].every) {
				b = i
			}
		}
		if b < 0 {
			continue
		}
		claimed := false
		for i, band := range bands {
			claimed = claimed || band.every < bands[b].every && now < lastSlot[i]+time.Duration(lapse)*slot
		}
		if claimed {
			continue // the slot idles while a higher band's claim lapses
		}
		lastSlot[b] = now
		w := queues[b][0]
		queues[b] = queues[b][1:]
		p := w.pairs[0]
		w.pairs = w.pairs[1:]
		last[p] = now
		hist[p] = append(hist[p], now)
		if len(w.pairs) > 0 {
			queues[b] = append(queues[b], w)
		} else {
			active[w.band]--
		}
	}
	for _, band := range bands {
		for from := time.Duration(0); from+band.every <= day; from += band.every {
			today := int(from / day)
			for d := band.fromDay; d <= band.toDay; d++ {
				for p := range products {
					if !slices.ContainsFunc(hist[pair{p, today + d}], func(t time.Duration) bool { return t >= from && t < from+band.every }) {
						return false
					}
				}
			}
		}
	}
	return true
}

// modelCapacity is the largest product count that modelFresh keeps fresh, up to
// limit, by bisection (freshness only gets harder with more products).
func modelCapacity(bands []modelBand, shards, lapse int, slot time.Duration, limit int) int {
	lo, hi := 0, limit+1 // lo fresh (or zero), hi not
	for hi-lo > 1 {
		mid := (lo + hi) / 2
		if modelFresh(mid, bands, shards, lapse, slot) {
			lo = mid
		} else {
			hi = mid
		}
	}
	return lo
}
