package controllers_test

import (
	"encoding/json"
	"slices"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	inventoryv1alpha1 "github.com/slotsync/slotsync/api/v1alpha1"
)

// TestAdaptivePollingReachesTheWorkers: an Adaptive schedule's Jobs tell their
// workers --polling=adaptive; a Uniform one's (the default) carry no
// --polling at all, so their Jobs are what they were before the field
// existed. The runs' pairsPlanned add up into the window status.
func TestAdaptivePollingReachesTheWorkers(t *testing.T) {
	h := start(t, t0)
	h.schedule(t, "uniform")
	h.schedule(t, "explicit-uniform", func(ss *inventoryv1alpha1.SyncSchedule) {
		ss.Spec.Polling = inventoryv1alpha1.UniformPolling
	})
	h.schedule(t, "adaptive", func(ss *inventoryv1alpha1.SyncSchedule) {
		ss.Spec.Polling = inventoryv1alpha1.AdaptivePolling
	})

	for _, name := range []string{"uniform", "explicit-uniform"} {
		for _, j := range h.waitJobs(t, name, 3, nil) {
			args := j.Spec.Template.Spec.Containers[0].Args
			if slices.ContainsFunc(args, func(a string) bool { return len(a) >= 9 && a[:9] == "--polling" }) {
				t.Errorf("Uniform schedule %s: Job %s args %q pass --polling", name, j.Name, args)
			}
		}
	}
	adaptive := h.waitJobs(t, "adaptive", 3, nil)
	for _, j := range adaptive {
		if args := j.Spec.Template.Spec.Containers[0].Args; !slices.Contains(args, "--polling=adaptive") {
			t.Errorf("Adaptive schedule: Job %s args %q lack --polling=adaptive", j.Name, args)
		}
	}

	sum := map[string]any{"pairsTotal": 10, "pairsOK": 4, "pairsPlanned": 6, "requests": 4}
	for i := range adaptive {
		h.finish(t, &adaptive[i], true, sum, sum)
	}
	ss := h.waitCondition(t, "adaptive", inventoryv1alpha1.ConditionReady, metav1.ConditionTrue, inventoryv1alpha1.ReasonJobsSucceeded)
	for _, w := range ss.Status.Windows {
		if w.LastRun == nil || w.LastRun.Result != inventoryv1alpha1.RunSucceeded || w.LastRun.PairsPlanned != 12 || w.LastRun.PairsOK != 8 {
			b, _ := json.Marshal(w)
			t.Errorf("window status %s: want a successful run with 12 pairs planned out and 8 OK", b)
		}
	}
}
