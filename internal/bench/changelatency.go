package bench

import (
	"math"
	"slices"
	"sort"
	"time"
)

// bandLatency is the change-detection latency of one band: how long after the
// partner's answer changed a snapshot showing it (or a later state) was taken.
type bandLatency struct {
	changes int // changes counted in the band
	// detected are the latencies of the changes a snapshot caught, sorted.
	detected []time.Duration
	missed   int // changes no snapshot caught before the end
}

func (b bandLatency) p50() time.Duration { return durationPercentile(b.detected, 50) }
func (b bandLatency) p99() time.Duration { return durationPercentile(b.detected, 99) }

func (b bandLatency) max() time.Duration {
	if len(b.detected) == 0 {
		return -1
	}
	return b.detected[len(b.detected)-1]
}

// durationPercentile is Percentile (nearest rank) of sorted durations, or -1
// for none: no latency is not a latency of zero.
func durationPercentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return -1
	}
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	return sorted[min(max(rank, 1), len(sorted))-1]
}

// changeLatency replays each pair's change instants against its snapshot
// times (both in inventory time) and summarises them per band. A change's
// latency runs to the first snapshot taken at or after it: that snapshot shows
// the change or a later state, which is as fresh as the data could be. A
// change with no snapshot from it until end is missed; changes at or after end
// are outside the measurement and not counted.
//
// A change belongs to the band of its date's distance in days from the UTC day
// of the change, as the controller cuts bands at each run; changes of dates no
// band covers (past, or beyond the last band) are not counted, since no
// schedule promises anything for them.
func changeLatency(changes, snapshots map[pairKey][]time.Time, bands []horizon, end time.Time) map[string]bandLatency {
	out := map[string]bandLatency{}
	for _, hz := range bands {
		out[hz.name] = bandLatency{}
	}
	for k, cs := range changes {
		day, err := time.Parse(time.DateOnly, k.day)
		if err != nil {
			continue // not a pair the benchmark names
		}
		snaps := slices.SortedFunc(slices.Values(snapshots[k]), time.Time.Compare)
		for _, at := range cs {
			hz, ok := bandOf(bands, day, at)
			if !ok || !at.Before(end) {
				continue
			}
			b := out[hz.name]
			b.changes++
			if lat, ok := firstAfter(snaps, at, end); ok {
				b.detected = append(b.detected, lat)
			} else {
				b.missed++
			}
			out[hz.name] = b
		}
	}
	for name, b := range out {
		slices.Sort(b.detected)
		out[name] = b
	}
	return out
}

// bandOf is the band whose days hold day as seen from the instant at.
func bandOf(bands []horizon, day, at time.Time) (horizon, bool) {
	d := int(day.Sub(at.UTC().Truncate(24*time.Hour)) / (24 * time.Hour))
	for _, hz := range bands {
		if d >= hz.fromDay && d <= hz.toDay {
			return hz, true
		}
	}
	return horizon{}, false
}

// firstAfter is the time from at to the first of the sorted snapshots taken at
// or after it and before end.
func firstAfter(snaps []time.Time, at, end time.Time) (time.Duration, bool) {
	i := sort.Search(len(snaps), func(i int) bool { return !snaps[i].Before(at) })
	if i == len(snaps) || !snaps[i].Before(end) {
		return 0, false
	}
	return snaps[i].Sub(at), true
}
