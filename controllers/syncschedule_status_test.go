package controllers_test

import (
	"testing"
	"time"

	"github.com/slotsync/slotsync/internal/fixture"
	"github.com/slotsync/slotsync/internal/kubetest"
)

// TestLastSuccessfulTimeIsTheScheduledTime: a run scheduled at 08:00 that
// finishes at 08:10 made the data as fresh as 08:00, which is what
// lastSuccessfulTime (and lastSyncTime) say, not 08:10.
func TestLastSuccessfulTimeIsTheScheduledTime(t *testing.T) {
	h := start(t, t0)
	h.schedule(t, "sample", fixture.TodayOnly)
	job := h.waitJobs(t, "sample", 1, nil)[0]
	h.clock.Step(10 * time.Minute)
	h.finish(t, &job, true, map[string]any{"pairsTotal": 1, "pairsOK": 1}, map[string]any{"pairsTotal": 1, "pairsOK": 1})
	scheduled := t0.Truncate(15 * time.Minute)
	kubetest.Eventually(t, wait, func() error {
		ss := h.get(t, "sample")
		if len(ss.Status.Windows) != 1 || ss.Status.Windows[0].LastSuccessfulTime == nil {
			return errorf("no lastSuccessfulTime yet: %+v", ss.Status.Windows)
		}
		if got := ss.Status.Windows[0].LastSuccessfulTime.Time; !got.Equal(scheduled) {
			return errorf("lastSuccessfulTime %s, want the run's scheduled time %s", got, scheduled)
		}
		if got := ss.Status.LastSyncTime; got == nil || !got.Time.Equal(scheduled) {
			return errorf("lastSyncTime %v, want the run's scheduled time %s", got, scheduled)
		}
		return nil
	})
}
