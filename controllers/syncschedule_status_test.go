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

// TestRunCountsFromLateTerminationMessages: the Job's completion can reach the
// controller before its pods' termination messages; the counts of the run
// follow the messages as they arrive, without any other change to wake the
// reconciler.
func TestRunCountsFromLateTerminationMessages(t *testing.T) {
	h := start(t, t0)
	h.schedule(t, "sample", fixture.TodayOnly)
	job := h.waitJobs(t, "sample", 1, nil)[0]
	h.finish(t, &job, true) // no pod has reported yet
	kubetest.Eventually(t, wait, func() error {
		ss := h.get(t, "sample")
		if len(ss.Status.Windows) != 1 || ss.Status.Windows[0].LastRun == nil || ss.Status.Windows[0].LastRun.Job != job.Name {
			return errorf("the finished run is not in status yet: %+v", ss.Status.Windows)
		}
		return nil
	})
	ok := map[string]any{"pairsTotal": 1, "pairsOK": 1, "slotsWritten": 5, "requests": 2, "rateLimited": 1}
	h.reportPods(t, &job, ok, ok)
	kubetest.Eventually(t, wait, func() error {
		run := h.get(t, "sample").Status.Windows[0].LastRun
		if run.Requests != 4 || run.RateLimited != 2 || run.SlotsWritten != 10 || run.PairsTotal != 2 || run.PairsOK != 2 || run.PodsCounted != 2 {
			return errorf("last run %+v, want the two pods' summaries added up", *run)
		}
		return nil
	})
}
