package security_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/go-logr/logr"
	eventsv1 "k8s.io/api/events/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	inventoryv1alpha1 "github.com/slotsync/slotsync/api/v1alpha1"
	"github.com/slotsync/slotsync/internal/kubetest"
	"github.com/slotsync/slotsync/internal/partnersim"
	"github.com/slotsync/slotsync/internal/pgtest"
	"github.com/slotsync/slotsync/internal/syncer"
	"github.com/slotsync/slotsync/internal/syncertest"
)

// TestRevokedKeyDegradesScheduleWithoutRetryStorm: the partner revokes the key.
// Each shard of the run (the real worker, each with its own limiter as pods
// have) sends one request, gets 401 and stops; the controller reads their
// summaries and turns the schedule Degraded and not Ready with reason
// PartnerUnauthorized, with a warning event, so a human knows to rotate the key.
func TestRevokedKeyDegradesScheduleWithoutRetryStorm(t *testing.T) {
	const shards = 2
	ctx := context.Background()
	sim := partnersim.New(partnersim.Config{Seed: 5, Limit: -1, Keys: []string{partnerKey},
		Faults: partnersim.Faults{RevokedKeys: []string{partnerKey}}})
	workers := syncertest.Workers{DB: pgtest.OpenStore(t, pgtest.NewDatabase(t)), URL: syncertest.Serve(t, sim, nil), Key: partnerKey,
		Limit: 30, Window: time.Second}
	summaries, errs := workers.RunShards(ctx, syncer.Config{Products: []int64{14, 15}, FromDay: 0, ToDay: 29,
		ScheduledAt: time.Now().Add(-time.Minute)}, shards)
	for i, s := range summaries {
		if s.Reason != inventoryv1alpha1.ReasonPartnerUnauthorized || s.Requests != 1 || s.PairsFailed != s.PairsTotal {
			t.Errorf("shard %d: %s (%v); want one request, then every pair failed with %s", i, s.Line(), errs[i], inventoryv1alpha1.ReasonPartnerUnauthorized)
		}
	}
	if st := sim.Stats(); st.Requests != shards || st.Unauthorized != shards {
		t.Errorf("the partner got %d requests (%d answered 401) from %d shards, want one each", st.Requests, st.Unauthorized, shards)
	}

	e := startController(t, logr.Discard())
	job := e.schedule(t, "revoked")[0]
	failJob(t, e, &job, summaries)
	key := types.NamespacedName{Namespace: e.ns, Name: "revoked"}
	var ss inventoryv1alpha1.SyncSchedule
	kubetest.Eventually(t, wait, func() error {
		if err := e.c.Get(ctx, key, &ss); err != nil {
			return err
		}
		for _, ct := range []string{inventoryv1alpha1.ConditionDegraded, inventoryv1alpha1.ConditionReady} {
			c := apimeta.FindStatusCondition(ss.Status.Conditions, ct)
			want := map[string]metav1.ConditionStatus{inventoryv1alpha1.ConditionDegraded: metav1.ConditionTrue, inventoryv1alpha1.ConditionReady: metav1.ConditionFalse}[ct]
			if c == nil || c.Status != want || c.Reason != inventoryv1alpha1.ReasonPartnerUnauthorized {
				return fmt.Errorf("condition %s is %+v, want %s with reason %s", ct, c, want, inventoryv1alpha1.ReasonPartnerUnauthorized)
			}
		}
		return nil
	})
	if run := ss.Status.Windows[0].LastRun; run == nil || run.Requests != shards || run.Reason != inventoryv1alpha1.ReasonPartnerUnauthorized {
		t.Errorf("last run %+v, want %d requests and reason %s", run, shards, inventoryv1alpha1.ReasonPartnerUnauthorized)
	}
	kubetest.Eventually(t, wait, func() error {
		var events eventsv1.EventList
		if err := e.c.List(ctx, &events, client.InNamespace(e.ns)); err != nil {
			return err
		}
		for _, ev := range events.Items {
			if ev.Regarding.Name == "revoked" && ev.Reason == inventoryv1alpha1.ReasonPartnerUnauthorized && ev.Type == "Warning" {
				return nil
			}
		}
		return fmt.Errorf("no PartnerUnauthorized warning event among %d events", len(events.Items))
	})
}
