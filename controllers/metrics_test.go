package controllers

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	inventoryv1alpha1 "github.com/slotsync/slotsync/api/v1alpha1"
)

// The schedule collector reports what the last reconcile saw, replaces it
// whole (a changed reason leaves no stale series) and forgets deleted schedules.
func TestScheduleCollector(t *testing.T) {
	c := newScheduleCollector()
	ss := &inventoryv1alpha1.SyncSchedule{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "s"}}
	ss.Spec.Windows = []inventoryv1alpha1.Window{{Name: "today", Days: 1, Every: metav1.Duration{Duration: 5 * time.Minute}}}
	success := time.Unix(1_800_000_000, 0)
	ss.Status.Windows = []inventoryv1alpha1.WindowStatus{{Name: "today", LastSuccessfulTime: &metav1.Time{Time: success}}}
	ss.Status.Conditions = []metav1.Condition{{Type: "Ready", Status: metav1.ConditionFalse, Reason: "RunFailed"}}
	c.observe(ss)
	ss.Status.Conditions[0].Reason = "PartnerUnauthorized"
	c.observe(ss)

	want := `
# HELP slotsync_schedule_condition 1 for each condition a SyncSchedule has, by type, status and reason.
# TYPE slotsync_schedule_condition gauge
slotsync_schedule_condition{namespace="ns",reason="PartnerUnauthorized",schedule="s",status="False",type="Ready"} 1
# HELP slotsync_window_interval_seconds How often each schedule's window is due.
# TYPE slotsync_window_interval_seconds gauge
slotsync_window_interval_seconds{namespace="ns",schedule="s",window="today"} 300
# HELP slotsync_window_last_success_timestamp_seconds Unix time of the scheduled time of the last successful run of each schedule's window.
# TYPE slotsync_window_last_success_timestamp_seconds gauge
slotsync_window_last_success_timestamp_seconds{namespace="ns",schedule="s",window="today"} 1.8e+09
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want),
		"slotsync_schedule_condition", "slotsync_window_interval_seconds", "slotsync_window_last_success_timestamp_seconds"); err != nil {
		t.Error(err)
	}
	if n := testutil.CollectAndCount(c, "slotsync_window_data_age_seconds"); n != 1 {
		t.Errorf("%d data age series, want 1", n)
	}
	c.forget("ns", "s")
	if n := testutil.CollectAndCount(c); n != 0 {
		t.Errorf("%d series after forget, want 0", n)
	}
}

// Run counters exist at zero before a window's first run, so that increase()
// counts its first failure; a deleted schedule takes them along.
func TestRunCountersStartAtZero(t *testing.T) {
	ss := &inventoryv1alpha1.SyncSchedule{ObjectMeta: metav1.ObjectMeta{Namespace: "metrics-zero", Name: "s"}}
	ss.Spec.Windows = []inventoryv1alpha1.Window{{Name: "today", Days: 1, Every: metav1.Duration{Duration: time.Minute}}}
	runs := func() map[string]float64 {
		got := map[string]float64{}
		for _, o := range []string{"Succeeded", "Partial", "Failed"} {
			c, err := runsTotal.GetMetricWith(map[string]string{"namespace": ss.Namespace, "schedule": ss.Name, "window": "today", "outcome": o})
			if err != nil {
				t.Fatal(err)
			}
			got[o] = testutil.ToFloat64(c)
		}
		return got
	}
	observeSchedule(ss)
	// Counting by deleting: a Vec has no other way to list its series.
	if n := runsTotal.DeletePartialMatch(map[string]string{"namespace": ss.Namespace}); n != 3 {
		t.Errorf("%d run counters before the first run, want one per outcome", n)
	}
	observeSchedule(ss)
	recordRun(ss, "today", inventoryv1alpha1.RunFailed)
	if got := runs(); got["Failed"] != 1 || got["Succeeded"] != 0 || got["Partial"] != 0 {
		t.Errorf("runs after one failure: %v", got)
	}
	forgetSchedule(ss.Namespace, ss.Name)
	if n := runsTotal.DeletePartialMatch(map[string]string{"namespace": ss.Namespace}); n != 0 {
		t.Errorf("%d run counters left after forgetSchedule", n)
	}
}
