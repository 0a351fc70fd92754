package controllers_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	inventoryv1alpha1 "github.com/slotsync/slotsync/api/v1alpha1"
	"github.com/slotsync/slotsync/internal/fixture"
	"github.com/slotsync/slotsync/internal/kubetest"
	"github.com/slotsync/slotsync/internal/managertest"
)

func TestMain(m *testing.M) { kubetest.Main(m) }

const (
	workerImage = "example.com/slotsync:test"
	wait        = 30 * time.Second
)

// harness is an API server with a manager running the reconciler on a fake clock.
type harness struct {
	env   *kubetest.Env
	c     client.Client
	clock *clocktesting.FakeClock
	ns    string
	pokes atomic.Int64
	// mgr is the manager start runs.
	mgr *managertest.Manager
}

// start runs a manager of the test's own, watching only the test's namespace, so
// tests can run their own clocks side by side; allowedImages are the images
// beside workerImage that schedules may set.
func start(t *testing.T, now time.Time, allowedImages ...string) *harness {
	t.Helper()
	h := newHarness(t, now)
	opts := h.managerOptions("slotsync-test", nil)
	opts.AllowedImages = allowedImages
	h.mgr = managertest.Start(t, h.env, opts)
	return h
}

// startAdjusted is start with the manager's options changed by adjust.
func startAdjusted(t *testing.T, now time.Time, adjust func(*ctrl.Options)) *harness {
	t.Helper()
	h := newHarness(t, now)
	h.mgr = managertest.Start(t, h.env, h.managerOptions("slotsync-test", adjust))
	return h
}

// newHarness is a harness without a manager.
func newHarness(t *testing.T, now time.Time) *harness {
	t.Helper()
	env := kubetest.Start(t)
	h := &harness{env: env, c: env.Client, clock: clocktesting.NewFakeClock(now), ns: env.Namespace(t)}
	// The fixture's Secrets, allowing every schedule: most tests are not about them.
	h.secret(t, "partner", map[string]string{"apiKey": "test-key"})
	h.secret(t, "db", map[string]string{"url": "postgres://slotsync@db.example:5432/slotsync"})
	return h
}

func (h *harness) startManager(t *testing.T) *managertest.Manager {
	t.Helper()
	return managertest.Start(t, h.env, h.managerOptions("slotsync-test", nil))
}

// managerOptions are those of the harness's managers: its namespace, clock and
// worker image.
func (h *harness) managerOptions(source string, adjust func(*ctrl.Options)) managertest.Options {
	return managertest.Options{Namespace: h.ns, Clock: h.clock, WorkerImage: workerImage, EventSource: source, Adjust: adjust}
}

// schedule is a valid schedule; the rest comes from the schema's defaults.
func (h *harness) schedule(t *testing.T, name string, mutate ...func(*inventoryv1alpha1.SyncSchedule)) *inventoryv1alpha1.SyncSchedule {
	t.Helper()
	ss := fixture.SyncSchedule(name, h.ns, append([]func(*inventoryv1alpha1.SyncSchedule){fixture.WithShards(2)}, mutate...)...)
	if err := h.c.Create(context.Background(), ss); err != nil {
		t.Fatalf("create schedule: %v", err)
	}
	return ss
}

func (h *harness) get(t *testing.T, name string) *inventoryv1alpha1.SyncSchedule {
	t.Helper()
	var ss inventoryv1alpha1.SyncSchedule
	if err := h.c.Get(context.Background(), client.ObjectKey{Namespace: h.ns, Name: name}, &ss); err != nil {
		t.Fatal(err)
	}
	return &ss
}

func (h *harness) update(t *testing.T, name string, mutate func(*inventoryv1alpha1.SyncSchedule)) {
	t.Helper()
	kubetest.Eventually(t, wait, func() error {
		ss := h.get(t, name)
		mutate(ss)
		return h.c.Update(context.Background(), ss)
	})
}

// advance moves the fake clock and wakes the reconciler, which would otherwise sleep
// its RequeueAfter in real time.
func (h *harness) advance(t *testing.T, name string, d time.Duration) {
	t.Helper()
	h.clock.Step(d)
	h.update(t, name, func(ss *inventoryv1alpha1.SyncSchedule) {
		if ss.Annotations == nil {
			ss.Annotations = map[string]string{}
		}
		ss.Annotations["test.slotsync.io/poke"] = fmt.Sprint(h.pokes.Add(1))
	})
}

func (h *harness) jobs(t *testing.T, name string) []batchv1.Job {
	t.Helper()
	var list batchv1.JobList
	if err := h.c.List(context.Background(), &list, client.InNamespace(h.ns), client.MatchingLabels{inventoryv1alpha1.LabelSchedule: name}); err != nil {
		t.Fatal(err)
	}
	return list.Items
}

// waitJobs polls until the schedule has exactly n Jobs matching keep.
func (h *harness) waitJobs(t *testing.T, name string, n int, keep func(*batchv1.Job) bool) []batchv1.Job {
	t.Helper()
	var got []batchv1.Job
	kubetest.Eventually(t, wait, func() error {
		got = got[:0]
		for _, j := range h.jobs(t, name) {
			if keep == nil || keep(&j) {
				got = append(got, j)
			}
		}
		if len(got) != n {
			return fmt.Errorf("schedule %s has %d matching Jobs, want %d", name, len(got), n)
		}
		return nil
	})
	return got
}

func (h *harness) waitCondition(t *testing.T, name, condType string, status metav1.ConditionStatus, reason string) *inventoryv1alpha1.SyncSchedule {
	t.Helper()
	var ss *inventoryv1alpha1.SyncSchedule
	kubetest.Eventually(t, wait, func() error {
		ss = h.get(t, name)
		c := apimeta.FindStatusCondition(ss.Status.Conditions, condType)
		if c == nil || c.Status != status || (reason != "" && c.Reason != reason) {
			return fmt.Errorf("condition %s is %+v, want %s/%s", condType, c, status, reason)
		}
		return nil
	})
	return ss
}

// finish plays the Job controller: one pod per index that reports summary as its
// termination message, then the Job's terminal condition.
func (h *harness) finish(t *testing.T, job *batchv1.Job, succeeded bool, summaries ...map[string]any) {
	t.Helper()
	ctx := context.Background()
	now := metav1.NewTime(h.clock.Now().Truncate(time.Second))
	h.reportPods(t, job, summaries...)
	kubetest.Eventually(t, wait, func() error {
		var j batchv1.Job
		if err := h.c.Get(ctx, client.ObjectKeyFromObject(job), &j); err != nil {
			return err
		}
		shards := *j.Spec.Completions
		start := metav1.NewTime(now.Add(-time.Minute))
		j.Status.StartTime = &start
		if succeeded {
			j.Status.Succeeded = shards
			j.Status.CompletedIndexes = fmt.Sprintf("0-%d", shards-1)
			if shards == 1 {
				j.Status.CompletedIndexes = "0"
			}
			j.Status.CompletionTime = &now
			j.Status.Conditions = []batchv1.JobCondition{
				{Type: batchv1.JobSuccessCriteriaMet, Status: corev1.ConditionTrue, LastTransitionTime: now, Reason: "CompletionsReached"},
				{Type: batchv1.JobComplete, Status: corev1.ConditionTrue, LastTransitionTime: now, Reason: "CompletionsReached"},
			}
		} else {
			j.Status.Failed = shards
			j.Status.FailedIndexes = ptr.To(fmt.Sprintf("0-%d", shards-1))
			if shards == 1 {
				j.Status.FailedIndexes = ptr.To("0")
			}
			j.Status.Conditions = []batchv1.JobCondition{
				{Type: batchv1.JobFailureTarget, Status: corev1.ConditionTrue, LastTransitionTime: now, Reason: "FailedIndexes"},
				{Type: batchv1.JobFailed, Status: corev1.ConditionTrue, LastTransitionTime: now, Reason: "FailedIndexes"},
			}
		}
		return h.c.Status().Update(ctx, &j)
	})
}

// reportPods plays the kubelet: one terminated pod per index of job, each with
// its summary as the termination message.
func (h *harness) reportPods(t *testing.T, job *batchv1.Job, summaries ...map[string]any) {
	t.Helper()
	ctx := context.Background()
	now := metav1.NewTime(h.clock.Now().Truncate(time.Second))
	for i, s := range summaries {
		msg, _ := json.Marshal(s)
		labels := map[string]string{batchv1.JobNameLabel: job.Name}
		for k, v := range job.Spec.Template.Labels {
			labels[k] = v
		}
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{
				Name: fmt.Sprintf("%s-%d", job.Name, i), Namespace: job.Namespace, Labels: labels,
				Annotations: map[string]string{batchv1.JobCompletionIndexAnnotation: fmt.Sprint(i)},
			},
			Spec: *job.Spec.Template.Spec.DeepCopy(),
		}
		if err := h.c.Create(ctx, pod); err != nil {
			t.Fatal(err)
		}
		exit := int32(0)
		phase := corev1.PodSucceeded
		if s["pairsFailed"] != nil && s["pairsFailed"] != 0 {
			exit, phase = 1, corev1.PodFailed
		}
		pod.Status = corev1.PodStatus{Phase: phase, ContainerStatuses: []corev1.ContainerStatus{{
			Name: "sync", Image: workerImage,
			State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
				ExitCode: exit, Message: string(msg), StartedAt: now, FinishedAt: now,
			}},
		}}}
		if err := h.c.Status().Update(ctx, pod); err != nil {
			t.Fatal(err)
		}
	}
}

// podWaitingForSecret plays the kubelet for job of schedule: it makes the job's
// pod and reports it stuck in CreateContainerConfigError, as when the partner
// Secret does not exist.
func (h *harness) podWaitingForSecret(t *testing.T, job *batchv1.Job, schedule string) {
	t.Helper()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: job.Name + "-0", Namespace: h.ns, Labels: map[string]string{
			batchv1.JobNameLabel: job.Name, inventoryv1alpha1.LabelSchedule: schedule}},
		Spec: *job.Spec.Template.Spec.DeepCopy(),
	}
	if err := h.c.Create(context.Background(), pod); err != nil {
		t.Fatal(err)
	}
	pod.Status = corev1.PodStatus{Phase: corev1.PodPending, ContainerStatuses: []corev1.ContainerStatus{{
		Name: "sync", Image: workerImage,
		State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CreateContainerConfigError", Message: `secret "partner" not found`}},
	}}}
	if err := h.c.Status().Update(context.Background(), pod); err != nil {
		t.Fatal(err)
	}
}

// reconciled changes the schedule's spec in a way that changes no run (a pod
// annotation) and waits until the reconciler has handled it: proof that a
// reconcile ran at the clock's time, for checks that nothing happened.
func (h *harness) reconciled(t *testing.T, name string) {
	t.Helper()
	h.update(t, name, func(ss *inventoryv1alpha1.SyncSchedule) {
		if ss.Spec.JobTemplate.PodAnnotations == nil {
			ss.Spec.JobTemplate.PodAnnotations = map[string]string{}
		}
		ss.Spec.JobTemplate.PodAnnotations["test.slotsync.io/poke"] = fmt.Sprint(h.pokes.Add(1))
	})
	kubetest.Eventually(t, wait, func() error {
		ss := h.get(t, name)
		if ss.Status.ObservedGeneration != ss.Generation {
			return fmt.Errorf("observedGeneration %d, want %d", ss.Status.ObservedGeneration, ss.Generation)
		}
		return nil
	})
}

// secret creates or replaces a Secret in the harness's namespace that every
// schedule may use.
func (h *harness) secret(t *testing.T, name string, data map[string]string) {
	t.Helper()
	h.secretAllowing(t, name, "*", data)
}

// secretAllowing creates or replaces a Secret whose allowed-schedules
// annotation is allowed; empty leaves the annotation out.
func (h *harness) secretAllowing(t *testing.T, name, allowed string, data map[string]string) {
	t.Helper()
	ctx := context.Background()
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: h.ns}}
	_, err := controllerutil.CreateOrUpdate(ctx, h.c, s, func() error {
		s.Annotations = nil
		if allowed != "" {
			s.Annotations = map[string]string{inventoryv1alpha1.AnnotationAllowedSchedules: allowed}
		}
		s.Data, s.StringData = nil, data
		return nil
	})
	if err != nil {
		t.Fatalf("create Secret %s: %v", name, err)
	}
}
