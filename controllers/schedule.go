package controllers

import (
	"time"

	inventoryv1alpha1 "github.com/slotsync/slotsync/api/v1alpha1"
	"github.com/slotsync/slotsync/internal/ratelimit"
)

// dueTime is the most recent time at or before now that a band of the given interval
// was due. Due times are multiples of the interval counted from the Unix epoch, so
// every controller (and every restart of one) computes the same instants.
func dueTime(now time.Time, every time.Duration) time.Time {
	if every <= 0 {
		return now
	}
	unix := now.UnixNano()
	return time.Unix(0, unix-unix%int64(every)).UTC()
}

// nextDue is the first due time after now.
func nextDue(now time.Time, every time.Duration) time.Time {
	return dueTime(now, every).Add(every)
}

// requestsPerDay is what a schedule's bands cost the partner key in a day when every
// band fetches each of its days for each product once per interval.
func requestsPerDay(bands []inventoryv1alpha1.Band, products int) float64 {
	var total float64
	for _, b := range bands {
		if b.Every <= 0 {
			continue
		}
		runs := float64(24*time.Hour) / float64(b.Every)
		total += float64(products) * float64(b.Days()) * runs
	}
	return total
}

// demandPerMinute is requestsPerDay spread over the minutes of a day.
func demandPerMinute(bands []inventoryv1alpha1.Band, products int) float64 {
	return requestsPerDay(bands, products) / (24 * 60)
}

// productsThatFit is the largest product count of a schedule whose demand,
// perProduct requests per minute for each product, added to others (requests
// per minute of the other schedules on the key), stays within budget (requests
// per minute).
func productsThatFit(perProduct, budget, others float64) int {
	if perProduct <= 0 {
		return 0
	}
	room := budget - others
	if room <= 0 {
		return 0
	}
	// A hair of tolerance so that an exact fit is not lost to float rounding.
	return int(room/perProduct + 1e-9)
}

// plannedShares is, per window of an Adaptive schedule, the share of the pairs
// of its last finished run that the workers' plan left out (pairsPlanned ÷
// pairsTotal): what the planner was seen to spare, not what it might. Nil for
// a Uniform schedule, whose workers fetch every pair whatever a run reported,
// and no entry for a window without a finished run, which counts in full until
// a run has shown what its plan leaves out.
func plannedShares(ss *inventoryv1alpha1.SyncSchedule) map[string]float64 {
	if ss.Polling() != inventoryv1alpha1.AdaptivePolling {
		return nil
	}
	out := map[string]float64{}
	for _, w := range ss.Status.Windows {
		if r := w.LastRun; r != nil && r.PairsTotal > 0 {
			out[w.Name] = min(max(float64(r.PairsPlanned)/float64(r.PairsTotal), 0), 1)
		}
	}
	return out
}

// plannedDemandPerMinute is demandPerMinute with each band's share of pairs
// the plan leaves out (by window) taken off: the share observed on the last
// run is taken to hold for any product count, as it is a property of the
// catalogue's weekday patterns, not of its size.
func plannedDemandPerMinute(bands []inventoryv1alpha1.Band, products int, planned map[string]float64) float64 {
	var total float64
	for _, b := range bands {
		total += demandPerMinute([]inventoryv1alpha1.Band{b}, products) * (1 - planned[b.Window])
	}
	return total
}

// scheduleDemand is the requests per minute a schedule of products costs its key.
func scheduleDemand(ss *inventoryv1alpha1.SyncSchedule, products int) float64 {
	return plannedDemandPerMinute(ss.Bands(), products, plannedShares(ss))
}

// usableBudget is what the key's limiter hands out of budget (requests per minute)
// to a schedule with these bands: the limiter spaces requests by its jitter
// margin, and each run of a band refreshed more often than another ends with a
// hand-over in which the key idles YieldSlots−1 slots while the claim lapses.
func usableBudget(bands []inventoryv1alpha1.Band, budget float64) float64 {
	var longest time.Duration
	for _, b := range bands {
		longest = max(longest, b.Every)
	}
	var handovers float64 // per minute
	for _, b := range bands {
		if b.Every > 0 && b.Every < longest {
			handovers += float64(time.Minute) / float64(b.Every)
		}
	}
	return budget/(1+ratelimit.DefaultMargin) - float64(ratelimit.YieldSlots-1)*handovers
}
