package controllers_test

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"

	inventoryv1alpha1 "github.com/slotsync/slotsync/api/v1alpha1"
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

// products returns n product IDs.
func products(n int) []int64 {
	ids := make([]int64, n)
	for i := range ids {
		ids[i] = int64(i + 1)
	}
	return ids
}

// TestBudgetSharedByKeyValue: the limiter shares a budget by the key's value,
// in every namespace, and BudgetExceeded counts the same way. 200 and 100
// products fit one key each (276 do), not together.
func TestBudgetSharedByKeyValue(t *testing.T) {
	other := kubetest.Start(t).Namespace(t)
	h := startAdjusted(t, t0, func(o *ctrl.Options) { o.Cache.DefaultNamespaces[other] = cache.Config{} })
	h2 := &harness{env: h.env, c: h.c, clock: h.clock, ns: other, mgr: h.mgr}
	h.secret(t, "partner", map[string]string{"apiKey": "key-shared"})
	h.secret(t, "solo", map[string]string{"apiKey": "key-solo"})
	h2.secret(t, "vendor", map[string]string{"token": "key-shared"})
	h2.secret(t, "partner", map[string]string{"apiKey": "key-other"})

	// Same value in two namespaces, under other names: one budget.
	h.schedule(t, "a", fixture.WithProducts(products(200)...))
	h2.schedule(t, "b", fixture.WithProducts(products(100)...), fixture.WithKeySecret("vendor", "token"))
	a := h.waitCondition(t, "a", inventoryv1alpha1.ConditionBudgetExceeded, metav1.ConditionTrue, inventoryv1alpha1.ReasonOverBudget)
	b := h2.waitCondition(t, "b", inventoryv1alpha1.ConditionBudgetExceeded, metav1.ConditionTrue, inventoryv1alpha1.ReasonOverBudget)
	if a.Status.PartnerKeyHash == "" || a.Status.PartnerKeyHash != b.Status.PartnerKeyHash {
		t.Errorf("partnerKeyHash %q and %q, want one fingerprint of the shared key", a.Status.PartnerKeyHash, b.Status.PartnerKeyHash)
	}
	if strings.Contains(a.Status.PartnerKeyHash, "key-shared") {
		t.Errorf("partnerKeyHash %q holds the key", a.Status.PartnerKeyHash)
	}

	// Other values, in the same namespace or under the same Secret name: budgets of their own.
	h.schedule(t, "c", fixture.WithProducts(products(200)...), fixture.WithKeySecret("solo", "apiKey"))
	h2.schedule(t, "d", fixture.WithProducts(products(200)...))
	c := h.waitCondition(t, "c", inventoryv1alpha1.ConditionBudgetExceeded, metav1.ConditionFalse, inventoryv1alpha1.ReasonWithinBudget)
	d := h2.waitCondition(t, "d", inventoryv1alpha1.ConditionBudgetExceeded, metav1.ConditionFalse, inventoryv1alpha1.ReasonWithinBudget)
	for _, ss := range []*inventoryv1alpha1.SyncSchedule{c, d} {
		if ss.Status.PartnerKeyHash == "" || ss.Status.PartnerKeyHash == a.Status.PartnerKeyHash {
			t.Errorf("schedule %s/%s has partnerKeyHash %q beside the shared key's %q", ss.Namespace, ss.Name, ss.Status.PartnerKeyHash, a.Status.PartnerKeyHash)
		}
	}
	h.waitCondition(t, "a", inventoryv1alpha1.ConditionBudgetExceeded, metav1.ConditionTrue, inventoryv1alpha1.ReasonOverBudget)
}

// TestPausedScheduleTakesNoBudget: a paused schedule starts no run, so its demand
// does not count against the schedules it shares a key with; resumed, it does.
func TestPausedScheduleTakesNoBudget(t *testing.T) {
	h := start(t, t0)
	h.secret(t, "partner", map[string]string{"apiKey": "key-1"})
	h.schedule(t, "a", fixture.WithProducts(products(200)...))
	h.schedule(t, "b", fixture.WithProducts(products(100)...))
	h.waitCondition(t, "a", inventoryv1alpha1.ConditionBudgetExceeded, metav1.ConditionTrue, inventoryv1alpha1.ReasonOverBudget)

	h.update(t, "b", func(ss *inventoryv1alpha1.SyncSchedule) { ss.Spec.Paused = true })
	a := h.waitCondition(t, "a", inventoryv1alpha1.ConditionBudgetExceeded, metav1.ConditionFalse, inventoryv1alpha1.ReasonWithinBudget)
	if a.Status.DemandPerMinute != "21.53" {
		t.Errorf("demand on the key %s requests/min, want 21.53: schedule a's 200 products alone", a.Status.DemandPerMinute)
	}
	h.update(t, "b", func(ss *inventoryv1alpha1.SyncSchedule) { ss.Spec.Paused = false })
	h.waitCondition(t, "a", inventoryv1alpha1.ConditionBudgetExceeded, metav1.ConditionTrue, inventoryv1alpha1.ReasonOverBudget)
}
