package controllers_test

import (
	"context"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/controller-runtime/pkg/client"

	inventoryv1alpha1 "github.com/slotsync/slotsync/api/v1alpha1"
	"github.com/slotsync/slotsync/internal/fixture"
	"github.com/slotsync/slotsync/internal/kubetest"
)

// waitHealth polls the schedule, as the API server serves it to the GitOps
// tools, until kstatus, the Flux expressions and the Argo CD script say want.
func (h *harness) waitHealth(t *testing.T, name string, kstatus, flux status.Status, argo string) health {
	t.Helper()
	var got health
	kubetest.Eventually(t, wait, func() error {
		u := &unstructured.Unstructured{}
		u.SetGroupVersionKind(inventoryv1alpha1.GroupVersion.WithKind("SyncSchedule"))
		if err := h.c.Get(context.Background(), client.ObjectKey{Namespace: h.ns, Name: name}, u); err != nil {
			return err
		}
		got = healthOf(t, u.Object)
		if got.kstatus != kstatus || got.flux != flux || got.argo != argo {
			return errorf("schedule %s: health %+v, want kstatus %s, Flux %s, Argo CD %s", name, got, kstatus, flux, argo)
		}
		return nil
	})
	return got
}

// TestKstatusInProgressUntilARunOfTheGenerationSucceeds: a schedule is
// InProgress from creation until a run succeeds, and again after each spec
// change until a run of the new spec succeeds; Current only then.
func TestKstatusInProgressUntilARunOfTheGenerationSucceeds(t *testing.T) {
	h := start(t, t0)
	h.schedule(t, "sample", fixture.TodayOnly)
	job := h.waitJobs(t, "sample", 1, nil)[0]
	h.waitCondition(t, "sample", inventoryv1alpha1.ConditionReconciling, metav1.ConditionTrue, inventoryv1alpha1.ReasonProgressing)
	h.waitHealth(t, "sample", status.InProgressStatus, status.InProgressStatus, "Progressing")

	ok := map[string]any{"pairsTotal": 1, "pairsOK": 1}
	h.finish(t, &job, true, ok, ok)
	h.waitHealth(t, "sample", status.CurrentStatus, status.CurrentStatus, "Healthy")
	if c := findCondition(h.get(t, "sample"), inventoryv1alpha1.ConditionReconciling); c != nil {
		t.Errorf("Reconciling %+v on a healthy schedule, want it removed", c)
	}

	// A new generation: the last run was of the old spec.
	h.reconciled(t, "sample")
	ss := h.waitCondition(t, "sample", inventoryv1alpha1.ConditionReconciling, metav1.ConditionTrue, inventoryv1alpha1.ReasonProgressing)
	if !apimetaReady(ss) {
		t.Errorf("Ready went False on a spec change: %+v", findCondition(ss, inventoryv1alpha1.ConditionReady))
	}
	h.waitHealth(t, "sample", status.InProgressStatus, status.InProgressStatus, "Progressing")

	// A failed run of the new spec retries: still InProgress, not Failed.
	h.advance(t, "sample", 15*time.Minute)
	next := h.waitJobs(t, "sample", 1, func(j *batchv1.Job) bool { return byWindow("today")(j) && active(j) })[0]
	partial := map[string]any{"pairsTotal": 1, "pairsFailed": 1, "requests": 3}
	h.finish(t, &next, false, ok, partial)
	h.waitCondition(t, "sample", inventoryv1alpha1.ConditionReconciling, metav1.ConditionTrue, inventoryv1alpha1.ReasonProgressingWithRetry)
	h.waitHealth(t, "sample", status.InProgressStatus, status.InProgressStatus, "Progressing")

	h.advance(t, "sample", 15*time.Minute)
	next = h.waitJobs(t, "sample", 1, func(j *batchv1.Job) bool { return byWindow("today")(j) && active(j) })[0]
	h.finish(t, &next, true, ok, ok)
	h.waitHealth(t, "sample", status.CurrentStatus, status.CurrentStatus, "Healthy")

	// Paused: Argo CD shows it suspended; the others follow the last runs.
	h.update(t, "sample", fixture.Paused)
	h.waitHealth(t, "sample", status.CurrentStatus, status.CurrentStatus, "Suspended")
}

func apimetaReady(ss *inventoryv1alpha1.SyncSchedule) bool {
	c := findCondition(ss, inventoryv1alpha1.ConditionReady)
	return c != nil && c.Status == metav1.ConditionTrue
}

// TestKstatusFailedWhenOnlyAHumanCanHelp: a rejected key, a spec the controller
// cannot run, and a missing Secret are Failed (Stalled), not InProgress
// forever; the key's case clears once a run succeeds again.
func TestKstatusFailedWhenOnlyAHumanCanHelp(t *testing.T) {
	h := start(t, t0)
	h.schedule(t, "rejected-key", fixture.TodayOnly)
	h.schedule(t, "bad-zone", fixture.TodayOnly, func(ss *inventoryv1alpha1.SyncSchedule) { ss.Spec.Timezone = "Mars/Olympus_Mons" })
	h.schedule(t, "no-secret", fixture.TodayOnly, fixture.WithKeySecret("absent", "apiKey"))
	h.schedule(t, "secret-gone", fixture.TodayOnly)

	for _, c := range []struct{ name, reason string }{
		{"bad-zone", inventoryv1alpha1.ReasonInvalidSpec},
		{"no-secret", inventoryv1alpha1.ReasonSecretNotAllowed},
	} {
		h.waitCondition(t, c.name, inventoryv1alpha1.ConditionStalled, metav1.ConditionTrue, c.reason)
		got := h.waitHealth(t, c.name, status.FailedStatus, status.FailedStatus, "Degraded")
		if got.kstatusMessage == "" || got.argoMsg == "" {
			t.Errorf("%s: health %+v says nothing of why", c.name, got)
		}
		if r := findCondition(h.get(t, c.name), inventoryv1alpha1.ConditionReconciling); r != nil {
			t.Errorf("%s: Reconciling %+v beside Stalled", c.name, r)
		}
	}

	// The kubelet cannot start the pod: the Secret went away after the Job was made.
	gone := h.waitJobs(t, "secret-gone", 1, nil)[0]
	h.podWaitingForSecret(t, &gone, "secret-gone")
	h.waitCondition(t, "secret-gone", inventoryv1alpha1.ConditionStalled, metav1.ConditionTrue, inventoryv1alpha1.ReasonSecretMissing)
	h.waitHealth(t, "secret-gone", status.FailedStatus, status.FailedStatus, "Degraded")

	job := h.waitJobs(t, "rejected-key", 1, nil)[0]
	unauthorized := map[string]any{"pairsTotal": 1, "pairsFailed": 1, "requests": 1, "reason": "PartnerUnauthorized"}
	h.finish(t, &job, false, unauthorized, unauthorized)
	h.waitCondition(t, "rejected-key", inventoryv1alpha1.ConditionStalled, metav1.ConditionTrue, inventoryv1alpha1.ReasonPartnerUnauthorized)
	h.waitHealth(t, "rejected-key", status.FailedStatus, status.FailedStatus, "Degraded")

	// The key is replaced and the next run succeeds: Stalled goes.
	h.advance(t, "rejected-key", 15*time.Minute)
	next := h.waitJobs(t, "rejected-key", 1, func(j *batchv1.Job) bool { return active(j) })[0]
	ok := map[string]any{"pairsTotal": 1, "pairsOK": 1}
	h.finish(t, &next, true, ok, ok)
	h.waitHealth(t, "rejected-key", status.CurrentStatus, status.CurrentStatus, "Healthy")
	if c := findCondition(h.get(t, "rejected-key"), inventoryv1alpha1.ConditionStalled); c != nil {
		t.Errorf("Stalled %+v after a successful run, want it removed", c)
	}
}
