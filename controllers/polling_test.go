package controllers_test

import (
	"encoding/json"
	"slices"
	"strings"
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

// TestBudgetCountsObservedPlannedDemand: once an Adaptive schedule's runs have
// reported what their plan left out, BudgetExceeded and its "could grow to"
// count the demand left; a Uniform schedule whose runs report the same counts
// keeps the Uniform figure (276 products on 30/min). Each schedule is alone on
// its key. Before its runs finish, the Adaptive schedule counts in full.
func TestBudgetCountsObservedPlannedDemand(t *testing.T) {
	h := start(t, t0)
	h.secret(t, "partner", map[string]string{"apiKey": "key-1", "otherKey": "key-2"})
	ids := products(400)
	h.schedule(t, "adaptive", func(ss *inventoryv1alpha1.SyncSchedule) {
		ss.Spec.Polling = inventoryv1alpha1.AdaptivePolling
		ss.Spec.Products = ids
	})
	h.schedule(t, "uniform", func(ss *inventoryv1alpha1.SyncSchedule) {
		ss.Spec.Products = ids[:100]
		ss.Spec.Partner.APIKeySecretRef.Key = "otherKey"
	})
	// 400 products at the Uniform 155 requests a day each are over 30/min.
	h.waitCondition(t, "adaptive", inventoryv1alpha1.ConditionBudgetExceeded, metav1.ConditionTrue, inventoryv1alpha1.ReasonOverBudget)

	// Half of today's and the week's pairs planned out, none of the month's:
	// 96/2 + 36/2 + 23 = 89 requests a product a day, 481 products in the
	// 29.78 requests a minute the limiter hands out.
	summaries := map[string]map[string]any{
		"today": {"pairsTotal": 200, "pairsOK": 100, "pairsPlanned": 100, "requests": 100},
		"week":  {"pairsTotal": 1200, "pairsOK": 600, "pairsPlanned": 600, "requests": 600},
		"month": {"pairsTotal": 4600, "pairsOK": 4600, "requests": 4600},
	}
	for _, name := range []string{"adaptive", "uniform"} {
		for _, j := range h.waitJobs(t, name, 3, nil) {
			sum := summaries[j.Labels[inventoryv1alpha1.LabelWindow]]
			h.finish(t, &j, true, sum, sum)
		}
	}
	for _, tt := range []struct{ name, want string }{
		{"adaptive", "could grow to 481 products"},
		{"uniform", "could grow to 276 products"},
	} {
		ss := h.waitCondition(t, tt.name, inventoryv1alpha1.ConditionBudgetExceeded, metav1.ConditionFalse, inventoryv1alpha1.ReasonWithinBudget)
		if c := findCondition(ss, inventoryv1alpha1.ConditionBudgetExceeded); !strings.Contains(c.Message, tt.want) {
			t.Errorf("%s: budget message %q, want %q", tt.name, c.Message, tt.want)
		}
	}
}
