package controllers_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	inventoryv1alpha1 "github.com/slotsync/slotsync/api/v1alpha1"
	"github.com/slotsync/slotsync/internal/fixture"
	"github.com/slotsync/slotsync/internal/kubetest"
)

// refused waits until the schedule is refused for reason, then checks that the
// controller created nothing that carries its Secrets: no Job beyond the
// jobsBefore it had, no pod. The condition is the proof that the reconcile ran.
func (h *harness) refused(t *testing.T, name, reason string, jobsBefore int, wantInMessage ...string) {
	t.Helper()
	// The refusal must be the verdict on the schedule's current generation: a
	// pod's event may have had the same condition reported on an older one.
	var ss *inventoryv1alpha1.SyncSchedule
	kubetest.Eventually(t, wait, func() error {
		ss = h.waitCondition(t, name, inventoryv1alpha1.ConditionReady, metav1.ConditionFalse, reason)
		if ss.Status.ObservedGeneration != ss.Generation {
			return fmt.Errorf("schedule %s: observedGeneration %d, want %d", name, ss.Status.ObservedGeneration, ss.Generation)
		}
		return nil
	})
	msg := findCondition(ss, inventoryv1alpha1.ConditionReady).Message
	for _, want := range wantInMessage {
		if !strings.Contains(msg, want) {
			t.Errorf("schedule %s: Ready message %q does not say %q", name, msg, want)
		}
	}
	if jobs := h.jobs(t, name); len(jobs) != jobsBefore {
		t.Errorf("schedule %s is refused (%s) but has %d Jobs, want %d", name, reason, len(jobs), jobsBefore)
	}
	if jobsBefore == 0 {
		var pods corev1.PodList
		if err := h.c.List(context.Background(), &pods, client.InNamespace(h.ns), client.MatchingLabels{inventoryv1alpha1.LabelSchedule: name}); err != nil {
			t.Fatal(err)
		}
		if len(pods.Items) != 0 {
			t.Errorf("schedule %s is refused but has %d pods", name, len(pods.Items))
		}
	}
	kubetest.Eventually(t, wait, func() error {
		var list eventsv1.EventList
		if err := h.c.List(context.Background(), &list, client.InNamespace(h.ns)); err != nil {
			return err
		}
		for _, e := range list.Items {
			if e.Regarding.Name == name && e.Type == corev1.EventTypeWarning && e.Reason == reason {
				return nil
			}
		}
		return errorf("no Warning event %s for schedule %s", reason, name)
	})
}

// TestSchedulesUseOnlySecretsMeantForThem: the controller never lends its
// right to read Secrets. A schedule gets a Job, and so the values of its
// Secrets in a pod, only when both Secrets exist in its namespace and name it
// in their allowed-schedules annotation; otherwise Ready says why and how to
// allow it, a Warning event says it too, and nothing carries the Secrets.
func TestSchedulesUseOnlySecretsMeantForThem(t *testing.T) {
	h := start(t, t0)
	key := map[string]string{"apiKey": "tenant-b-key"}
	url := map[string]string{"url": "postgres://tenant-b:pw@db.example:5432/b"}
	h.secretAllowing(t, "plain-key", "", key)
	h.secretAllowing(t, "plain-db", "", url)
	h.secretAllowing(t, "nightly-key", "nightly", key)
	h.secretAllowing(t, "mine-key", "other, mine", key)
	h.secretAllowing(t, "mine-db", "mine", url)

	rows := []struct {
		name        string
		key, db     string
		wantRefused bool
		wantMessage []string
	}{
		{name: "partner-unlabeled", key: "plain-key", db: "db", wantRefused: true,
			wantMessage: []string{"Secret plain-key (spec.partner.apiKeySecretRef) does not allow this schedule",
				"kubectl -n " + h.ns + " annotate secret plain-key --overwrite inventory.slotsync.io/allowed-schedules='partner-unlabeled'"}},
		{name: "database-unlabeled", key: "partner", db: "plain-db", wantRefused: true,
			wantMessage: []string{"Secret plain-db (spec.database.urlSecretRef)", "annotate secret plain-db"}},
		{name: "partner-of-another-schedule", key: "nightly-key", db: "db", wantRefused: true,
			wantMessage: []string{"inventory.slotsync.io/allowed-schedules='nightly,partner-of-another-schedule'"}},
		{name: "partner-missing", key: "absent", db: "db", wantRefused: true,
			wantMessage: []string{"Secret absent (spec.partner.apiKeySecretRef) does not exist", "annotate secret absent"}},
		{name: "database-missing", key: "partner", db: "absent", wantRefused: true,
			wantMessage: []string{"Secret absent (spec.database.urlSecretRef) does not exist"}},
		{name: "mine", key: "mine-key", db: "mine-db"},
		{name: "every-schedule", key: "partner", db: "db"},
	}
	for _, r := range rows {
		h.schedule(t, r.name, fixture.TodayOnly, fixture.WithKeySecret(r.key, "apiKey"), fixture.WithDatabaseSecret(r.db, "url"))
	}
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			if !r.wantRefused {
				job := h.waitJobs(t, r.name, 1, nil)[0]
				env := job.Spec.Template.Spec.Containers[0].Env
				if env[0].ValueFrom.SecretKeyRef.Name != r.key || env[1].ValueFrom.SecretKeyRef.Name != r.db {
					t.Errorf("Job env %+v, want Secrets %s and %s", env, r.key, r.db)
				}
				return
			}
			h.refused(t, r.name, inventoryv1alpha1.ReasonSecretNotAllowed, 0, r.wantMessage...)
			if ss := h.get(t, r.name); strings.HasPrefix(r.name, "partner-") && ss.Status.PartnerKeyHash != "" {
				t.Errorf("status.partnerKeyHash %q: a key the schedule may not use is fingerprinted", ss.Status.PartnerKeyHash)
			}
		})
	}

	t.Run("an opt-in added later starts the run", func(t *testing.T) {
		h.secretAllowing(t, "plain-key", "partner-unlabeled", key)
		h.reconciled(t, "partner-unlabeled")
		h.waitJobs(t, "partner-unlabeled", 1, nil)
		h.waitCondition(t, "partner-unlabeled", inventoryv1alpha1.ConditionReady, metav1.ConditionFalse, inventoryv1alpha1.ReasonAwaitingFirstRun)
	})
	t.Run("an opt-in withdrawn stops the next run", func(t *testing.T) {
		job := h.waitJobs(t, "mine", 1, nil)[0]
		h.finish(t, &job, true, map[string]any{"pairsOK": 1})
		h.secretAllowing(t, "mine-db", "", url)
		h.advance(t, "mine", 15*time.Minute)
		h.refused(t, "mine", inventoryv1alpha1.ReasonSecretNotAllowed, 1, "Secret mine-db (spec.database.urlSecretRef) does not allow this schedule")
	})
}

// TestSecretRefsStayInTheSchedulesNamespace: a Secret reference has no
// namespace. The API server rejects one (strict field validation, as kubectl
// sends), and where it is dropped as unknown, the controller looks in the
// schedule's own namespace: a Secret of the same name elsewhere, opted in for
// every schedule, is never used.
func TestSecretRefsStayInTheSchedulesNamespace(t *testing.T) {
	h := start(t, t0)
	other := h.env.Namespace(t)
	h2 := &harness{env: h.env, c: h.c, ns: other}
	h2.secret(t, "elsewhere", map[string]string{"apiKey": "other-tenant-key"})

	ss := fixture.SyncSchedule("cross", h.ns, fixture.TodayOnly, fixture.WithKeySecret("elsewhere", "apiKey"))
	ss.SetGroupVersionKind(inventoryv1alpha1.GroupVersion.WithKind("SyncSchedule"))
	obj, err := runtime.DefaultUnstructuredConverter.ToUnstructured(ss)
	if err != nil {
		t.Fatal(err)
	}
	u := &unstructured.Unstructured{Object: obj}
	if err := unstructured.SetNestedField(u.Object, other, "spec", "partner", "apiKeySecretRef", "namespace"); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := h.c.Create(ctx, u.DeepCopy(), client.FieldValidation("Strict")); err == nil || !strings.Contains(err.Error(), "namespace") {
		t.Fatalf("create with a namespace in apiKeySecretRef, strictly: %v, want the field rejected", err)
	}
	if err := h.c.Create(ctx, u, client.FieldValidation("Ignore")); err != nil {
		t.Fatal(err)
	}
	h.refused(t, "cross", inventoryv1alpha1.ReasonSecretNotAllowed, 0, "Secret elsewhere (spec.partner.apiKeySecretRef) does not exist")
	var jobs batchv1.JobList
	if err := h.c.List(ctx, &jobs, client.InNamespace(other)); err != nil || len(jobs.Items) != 0 {
		t.Errorf("Jobs in the Secret's namespace: %d, %v", len(jobs.Items), err)
	}
}

// TestWorkerImagesAreAllowListed: spec.jobTemplate.image runs only if the
// platform admin allows it on the manager (the worker image, exact references
// and prefixes); any other is refused with ImageNotAllowed and no Job.
func TestWorkerImagesAreAllowListed(t *testing.T) {
	h := start(t, t0, "registry.example.com/slotsync-worker:v2", "registry.example.com/team-a/*")
	rows := []struct {
		name, image string
		allowed     bool
	}{
		{name: "default", image: "", allowed: true},
		{name: "the-worker-image", image: workerImage, allowed: true},
		{name: "exact", image: "registry.example.com/slotsync-worker:v2", allowed: true},
		{name: "under-a-prefix", image: "registry.example.com/team-a/worker@sha256:" + strings.Repeat("a", 64), allowed: true},
		{name: "another-tag", image: "registry.example.com/slotsync-worker:v3"},
		{name: "beside-the-prefix", image: "registry.example.com/team-a-evil/worker:v1"},
		{name: "anything-else", image: "attacker.example/exfiltrate:latest"},
	}
	for _, r := range rows {
		h.schedule(t, r.name, fixture.TodayOnly, func(ss *inventoryv1alpha1.SyncSchedule) { ss.Spec.JobTemplate.Image = r.image })
	}
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			if !r.allowed {
				h.refused(t, r.name, inventoryv1alpha1.ReasonImageNotAllowed, 0, r.image, "--allowed-worker-images")
				return
			}
			job := h.waitJobs(t, r.name, 1, nil)[0]
			want := r.image
			if want == "" {
				want = workerImage
			}
			if got := job.Spec.Template.Spec.Containers[0].Image; got != want {
				t.Errorf("Job image %q, want %q", got, want)
			}
		})
	}
}
