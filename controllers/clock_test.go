package controllers_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	inventoryv1alpha1 "github.com/slotsync/slotsync/api/v1alpha1"
	"github.com/slotsync/slotsync/internal/kubetest"
)

// stepTo sets the fake clock to at, wakes the reconciler and waits until it has
// reconciled at that time: the today window's next run is the first due after at.
func (h *harness) stepTo(t *testing.T, name string, at time.Time, every time.Duration) {
	t.Helper()
	h.clock.SetTime(at)
	h.advance(t, name, 0)
	want := at.Truncate(every).Add(every)
	kubetest.Eventually(t, wait, func() error {
		ss := h.get(t, name)
		for _, w := range ss.Status.Windows {
			if w.NextScheduleTime != nil && w.NextScheduleTime.Time.Equal(want) {
				return nil
			}
		}
		return fmt.Errorf("no window's next run is %s yet: %+v", want, ss.Status.Windows)
	})
	// The status can move on while Forbid still holds the due run back, until the
	// cache sees the previous Job finished: wait for the run itself, or the next
	// step would move the clock past it.
	due := inventoryv1alpha1.FormatScheduledAt(at.Truncate(every))
	kubetest.Eventually(t, wait, func() error {
		for _, j := range h.jobs(t, name) {
			if j.Labels[inventoryv1alpha1.LabelScheduledAt] == due {
				return nil
			}
		}
		return fmt.Errorf("no Job for the run due at %s yet", at.Truncate(every))
	})
}

// scheduledRuns returns the scheduled times of each window's Jobs, sorted, and
// fails the test on two Jobs for one run.
func (h *harness) scheduledRuns(t *testing.T, name string) map[string][]time.Time {
	t.Helper()
	runs := requireOneJobPerRun(t, h.jobs(t, name))
	for _, ts := range runs {
		slices.SortFunc(ts, func(a, b time.Time) int { return a.Compare(b) })
	}
	return runs
}

func keepAllRuns(ss *inventoryv1alpha1.SyncSchedule) {
	ss.Spec.SuccessfulJobsHistoryLimit = ptr.To[int32](100)
	ss.Spec.FailedJobsHistoryLimit = ptr.To[int32](100)
}

// TestClockJumpForwardRunsOnce: a clock that jumps hours ahead (a controller
// suspended, a corrected clock) starts one run per window for the latest due
// time, not one per missed interval, and the data is fresh again after it.
func TestClockJumpForwardRunsOnce(t *testing.T) {
	h := start(t, t0)
	h.schedule(t, "sample", keepAllRuns, func(ss *inventoryv1alpha1.SyncSchedule) {
		ss.Spec.Windows = []inventoryv1alpha1.Window{
			{Name: "today", Days: 1, Every: metav1.Duration{Duration: 15 * time.Minute}},
			{Name: "week", Days: 7, Every: metav1.Duration{Duration: 4 * time.Hour}},
		}
	})
	h.waitJobs(t, "sample", 2, nil)
	h.finishActive(t, "sample")
	jump := t0.Add(9*time.Hour + 10*time.Minute) // 17:10:05: 37 today and 2 week runs missed
	h.stepTo(t, "sample", jump, 15*time.Minute)
	h.waitJobs(t, "sample", 4, nil)
	runs := h.scheduledRuns(t, "sample")
	want := map[string][]time.Time{
		"today": {t0.Truncate(15 * time.Minute), jump.Truncate(15 * time.Minute)},
		"week":  {t0.Truncate(4 * time.Hour), jump.Truncate(4 * time.Hour)},
	}
	for w, ts := range want {
		if !slices.Equal(runs[w], ts) {
			t.Errorf("window %s ran at %v, want %v", w, runs[w], ts)
		}
	}
}

// TestClockJumpBackward: a clock set back (an NTP correction after running
// fast) never runs a window twice for one due time, and the window keeps its
// freshness: it runs at each due time of the corrected clock.
func TestClockJumpBackward(t *testing.T) {
	const every = 15 * time.Minute
	h := start(t, t0)
	h.schedule(t, "sample", keepAllRuns, func(ss *inventoryv1alpha1.SyncSchedule) {
		ss.Spec.Windows = []inventoryv1alpha1.Window{{Name: "today", Days: 1, Every: metav1.Duration{Duration: every}}}
	})
	h.waitJobs(t, "sample", 1, nil)
	h.finishActive(t, "sample")
	ahead := t0.Add(time.Hour) // the clock ran an hour fast: 09:00:05
	h.stepTo(t, "sample", ahead, every)
	h.waitJobs(t, "sample", 2, nil)
	h.finishActive(t, "sample")

	// Corrected back to 08:20:05, then time goes on to 09:20:05.
	back := t0.Add(20 * time.Minute)
	for at := back; !at.After(ahead.Add(20 * time.Minute)); at = at.Add(every) {
		h.stepTo(t, "sample", at, every)
		h.finishActive(t, "sample")
	}
	runs := h.scheduledRuns(t, "sample")["today"] // fails the test on a double run
	t.Logf("runs: %v", runs)
	t.Run("no skipped run", func(t *testing.T) {
		// A run scheduled by the fast clock lies after now; counting it would
		// skip runs until the clock passed it again (finding F2).
		for at := back.Truncate(every); !at.After(ahead.Add(20 * time.Minute)); at = at.Add(every) {
			if !slices.ContainsFunc(runs, at.Equal) {
				t.Errorf("no run due at %s after the clock went back; runs: %v", at.Format(time.TimeOnly), runs)
			}
		}
	})
}

// TestTimezoneDayBoundaries: a schedule in Europe/Berlin runs each window
// exactly once per due time across local midnight and across the end of summer
// time, when 02:00-03:00 happens twice; each Job tells the worker the zone, so
// that it computes "today" in it.
func TestTimezoneDayBoundaries(t *testing.T) {
	const every = 15 * time.Minute
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	// 2026-10-24 23:15 CEST = 21:15Z, a quarter before local midnight; summer
	// time ends on 2026-10-25 at 03:00 CEST = 01:00Z.
	begin := time.Date(2026, 10, 24, 21, 15, 5, 0, time.UTC)
	h := start(t, begin)
	h.schedule(t, "sample", keepAllRuns, func(ss *inventoryv1alpha1.SyncSchedule) {
		ss.Spec.Timezone = "Europe/Berlin"
		ss.Spec.Windows = []inventoryv1alpha1.Window{
			{Name: "today", Days: 1, Every: metav1.Duration{Duration: every}},
			{Name: "month", Days: 30, Every: metav1.Duration{Duration: 24 * time.Hour}},
		}
	})
	h.waitJobs(t, "sample", 2, nil)
	h.finishActive(t, "sample")
	// Across local midnight, then across the repeated hour 02:00-03:00 local.
	var steps []time.Time
	for at := begin.Add(every); !at.After(time.Date(2026, 10, 24, 22, 30, 5, 0, time.UTC)); at = at.Add(every) {
		steps = append(steps, at)
	}
	for at := time.Date(2026, 10, 24, 23, 45, 5, 0, time.UTC); !at.After(time.Date(2026, 10, 25, 1, 30, 5, 0, time.UTC)); at = at.Add(every) {
		steps = append(steps, at)
	}
	for _, at := range steps {
		h.stepTo(t, "sample", at, every)
		h.finishActive(t, "sample")
	}
	runs := h.scheduledRuns(t, "sample")
	var want []time.Time
	want = append(want, begin.Truncate(every))
	for _, at := range steps {
		want = append(want, at.Truncate(every))
	}
	if !slices.Equal(runs["today"], want) {
		t.Errorf("today ran at\n%v\nwant once per step at\n%v", localTimes(runs["today"], berlin), localTimes(want, berlin))
	}
	// The month band is due at each multiple of 24h since the epoch: once before
	// and once after 00:00Z, which falls in the local night between the two days.
	wantMonth := []time.Time{time.Date(2026, 10, 24, 0, 0, 0, 0, time.UTC), time.Date(2026, 10, 25, 0, 0, 0, 0, time.UTC)}
	if !slices.Equal(runs["month"], wantMonth) {
		t.Errorf("month ran at %v, want %v", runs["month"], wantMonth)
	}
	for _, j := range h.jobs(t, "sample") {
		if !slices.Contains(j.Spec.Template.Spec.Containers[0].Args, "--timezone=Europe/Berlin") {
			t.Errorf("Job %s does not pass the schedule's zone: %v", j.Name, j.Spec.Template.Spec.Containers[0].Args)
		}
	}
	ss := h.get(t, "sample")
	if c := apimeta.FindStatusCondition(ss.Status.Conditions, inventoryv1alpha1.ConditionReady); c == nil || c.Status != metav1.ConditionTrue {
		t.Errorf("Ready after every run succeeded: %+v", c)
	}
}

func localTimes(ts []time.Time, loc *time.Location) []string {
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = t.In(loc).Format("01-02 15:04 MST")
	}
	return out
}
