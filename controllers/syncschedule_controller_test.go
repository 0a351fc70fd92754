package controllers_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/events"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	inventoryv1alpha1 "github.com/slotsync/slotsync/api/v1alpha1"
	"github.com/slotsync/slotsync/controllers"
	"github.com/slotsync/slotsync/internal/fixture"
	"github.com/slotsync/slotsync/internal/kubetest"
)

// t0 is a quarter past the hour: every default window is due at once.
var t0 = time.Date(2026, 12, 1, 8, 0, 5, 0, time.UTC)

func byWindow(window string) func(*batchv1.Job) bool {
	return func(j *batchv1.Job) bool { return j.Labels[inventoryv1alpha1.LabelWindow] == window }
}

func active(j *batchv1.Job) bool {
	for _, c := range j.Status.Conditions {
		if (c.Type == batchv1.JobComplete || c.Type == batchv1.JobFailed) && c.Status == corev1.ConditionTrue {
			return false
		}
	}
	return true
}

func TestCreatesOneIndexedJobPerBand(t *testing.T) {
	h := start(t, t0)
	h.schedule(t, "sample")
	jobs := h.waitJobs(t, "sample", 3, nil)

	want := map[string][2]string{"today": {"0", "0"}, "week": {"1", "6"}, "month": {"7", "29"}}
	for _, j := range jobs {
		window := j.Labels[inventoryv1alpha1.LabelWindow]
		days, ok := want[window]
		if !ok {
			t.Fatalf("Job %s for unknown window %q", j.Name, window)
		}
		delete(want, window)
		every := map[string]time.Duration{"today": 15 * time.Minute, "week": 4 * time.Hour, "month": 24 * time.Hour}[window]
		due := t0.Truncate(every)
		if j.Name != inventoryv1alpha1.JobName("sample", window, due) {
			t.Errorf("Job name %s, want %s", j.Name, inventoryv1alpha1.JobName("sample", window, due))
		}
		s := j.Spec
		if *s.CompletionMode != batchv1.IndexedCompletion || *s.Completions != 2 || *s.Parallelism != 2 || *s.BackoffLimitPerIndex != 2 || *s.Suspend {
			t.Errorf("Job %s spec: mode %v completions %d parallelism %d backoff %d suspend %v", j.Name, *s.CompletionMode, *s.Completions, *s.Parallelism, *s.BackoffLimitPerIndex, *s.Suspend)
		}
		// By default a run may take two intervals: past one it is overdue, past two stuck.
		if d := s.ActiveDeadlineSeconds; d == nil || *d != int64(2*every/time.Second) {
			t.Errorf("Job %s activeDeadlineSeconds %v, want twice its band's interval %v", j.Name, d, every)
		}
		if p := s.PodFailurePolicy; p == nil || len(p.Rules) != 2 ||
			p.Rules[0].Action != batchv1.PodFailurePolicyActionFailJob || p.Rules[0].OnExitCodes == nil ||
			!slices.Equal(p.Rules[0].OnExitCodes.Values, []int32{inventoryv1alpha1.ExitCodePartnerUnauthorized}) ||
			p.Rules[1].Action != batchv1.PodFailurePolicyActionIgnore {
			t.Errorf("Job %s pod failure policy %+v: want FailJob on the worker's exit code %d, then disruptions ignored",
				j.Name, p, inventoryv1alpha1.ExitCodePartnerUnauthorized)
		}
		if len(j.OwnerReferences) != 1 || j.OwnerReferences[0].Kind != "SyncSchedule" || !*j.OwnerReferences[0].Controller {
			t.Errorf("Job %s owner references %+v", j.Name, j.OwnerReferences)
		}
		pod := s.Template.Spec
		c := pod.Containers[0]
		args := strings.Join(c.Args, " ")
		for _, a := range []string{"sync", "--products=14,15", "--from-day=" + days[0], "--to-day=" + days[1], "--shards=2", "--timezone=UTC",
			"--scheduled-at=" + due.Format(time.RFC3339), "--run-id=" + j.Name, "--partner-url=http://partner.example:8081", "--rate-limit=30", "--rate-window=1m0s", "--every=" + every.String()} {
			if !slices.Contains(c.Args, a) {
				t.Errorf("Job %s args %q lack %q", j.Name, args, a)
			}
		}
		if c.Image != workerImage || pod.RestartPolicy != corev1.RestartPolicyNever {
			t.Errorf("Job %s image %q restart %q", j.Name, c.Image, pod.RestartPolicy)
		}
		env := map[string]corev1.EnvVar{}
		for _, e := range c.Env {
			env[e.Name] = e
		}
		if ref := env["PARTNER_API_KEY"].ValueFrom; ref == nil || ref.SecretKeyRef.Name != "partner" || ref.SecretKeyRef.Key != "apiKey" {
			t.Errorf("Job %s PARTNER_API_KEY not from the Secret: %+v", j.Name, env["PARTNER_API_KEY"])
		}
		if ref := env["DATABASE_URL"].ValueFrom; ref == nil || ref.SecretKeyRef.Name != "db" || ref.SecretKeyRef.Key != "url" {
			t.Errorf("Job %s DATABASE_URL not from the Secret: %+v", j.Name, env["DATABASE_URL"])
		}
		sc := c.SecurityContext
		if !*sc.RunAsNonRoot || !*sc.ReadOnlyRootFilesystem || *sc.AllowPrivilegeEscalation || sc.Capabilities.Drop[0] != "ALL" ||
			sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault || !*pod.SecurityContext.RunAsNonRoot {
			t.Errorf("Job %s is not hardened: %+v", j.Name, sc)
		}
	}

	ss := h.waitCondition(t, "sample", inventoryv1alpha1.ConditionSyncing, metav1.ConditionTrue, inventoryv1alpha1.ReasonJobActive)
	h.waitCondition(t, "sample", inventoryv1alpha1.ConditionReady, metav1.ConditionFalse, inventoryv1alpha1.ReasonAwaitingFirstRun)
	if len(ss.Status.Windows) != 3 || ss.Status.Windows[0].NextScheduleTime == nil || ss.Status.Windows[0].ActiveJob == "" {
		t.Errorf("window status %+v", ss.Status.Windows)
	}
	if ss.Status.DemandPerMinute != "0.22" || ss.Status.BudgetPerMinute != 30 {
		t.Errorf("demand %s of budget %d, want 0.22 of 30 (2 products x 155 requests a day)", ss.Status.DemandPerMinute, ss.Status.BudgetPerMinute)
	}

	// A quarter of an hour later only the today window is due again.
	for i := range jobs {
		if byWindow("today")(&jobs[i]) {
			h.finish(t, &jobs[i], true, map[string]any{"pairsOK": 1})
		}
	}
	h.advance(t, "sample", 15*time.Minute)
	h.waitJobs(t, "sample", 2, byWindow("today"))
	h.waitJobs(t, "sample", 1, byWindow("week"))
}

func TestNoDuplicateJobsFromRestartsOrRacingReconcilers(t *testing.T) {
	h := start(t, t0)
	h.schedule(t, "sample")
	first := h.waitJobs(t, "sample", 3, nil)

	// Two more reconcilers, as a restarted or a second controller would be, reconcile
	// the same schedule at once with clients that read Jobs uncached. Schedules come
	// from the manager's cache, which holds the partner-key index.
	c, err := client.New(h.env.Config, client.Options{Scheme: h.env.Scheme, Cache: &client.CacheOptions{
		Reader: h.mgr.GetCache(), DisableFor: []client.Object{&batchv1.Job{}, &corev1.Pod{}}}})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := &controllers.SyncScheduleReconciler{Client: c, Scheme: h.env.Scheme, Clock: clocktesting.NewFakeClock(t0),
				Recorder: events.NewFakeRecorder(100), WorkerImage: workerImage, APIReader: h.mgr.GetAPIReader()}
			_, err := r.Reconcile(context.Background(), ctrl.Request{NamespacedName: types.NamespacedName{Namespace: h.ns, Name: "sample"}})
			if err != nil && !strings.Contains(err.Error(), "the object has been modified") {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("racing reconcile: %v", err)
	}
	if got := h.jobs(t, "sample"); len(got) != len(first) {
		t.Fatalf("%d Jobs after racing reconciles, want %d", len(got), len(first))
	}
}

func TestMissedRunsAfterDowntimeRunOnce(t *testing.T) {
	h := start(t, t0)
	h.schedule(t, "sample", fixture.TodayOnly)
	first := h.waitJobs(t, "sample", 1, nil)
	h.finish(t, &first[0], true, map[string]any{"pairsOK": 1})
	// Two hours without a reconcile (a controller outage) miss eight runs: one runs.
	h.advance(t, "sample", 2*time.Hour)
	jobs := h.waitJobs(t, "sample", 1, active)
	due := t0.Add(2 * time.Hour).Truncate(15 * time.Minute)
	if jobs[0].Name != inventoryv1alpha1.JobName("sample", "today", due) {
		t.Errorf("catch-up Job %s, want the latest due run %s", jobs[0].Name, inventoryv1alpha1.JobName("sample", "today", due))
	}
	h.advance(t, "sample", time.Second)
	h.waitCondition(t, "sample", inventoryv1alpha1.ConditionSyncing, metav1.ConditionTrue, "")
	if got := len(h.jobs(t, "sample")); got != 2 {
		t.Errorf("%d Jobs after the outage, want the first run and one catch-up run", got)
	}
}

func TestPauseSuspendsAndResumeLifts(t *testing.T) {
	h := start(t, t0)
	h.schedule(t, "sample")
	h.waitJobs(t, "sample", 3, nil)

	h.update(t, "sample", func(ss *inventoryv1alpha1.SyncSchedule) { ss.Spec.Paused = true })
	h.waitJobs(t, "sample", 3, func(j *batchv1.Job) bool { return j.Spec.Suspend != nil && *j.Spec.Suspend })
	ss := h.waitCondition(t, "sample", inventoryv1alpha1.ConditionPaused, metav1.ConditionTrue, inventoryv1alpha1.ReasonUserPaused)
	if ss.Status.Windows[0].NextScheduleTime != nil {
		t.Errorf("a paused schedule shows a next run: %v", ss.Status.Windows[0].NextScheduleTime)
	}
	// Time passes; nothing new starts while paused, and nothing is deleted.
	h.advance(t, "sample", time.Hour)
	h.waitCondition(t, "sample", inventoryv1alpha1.ConditionPaused, metav1.ConditionTrue, "")
	if got := h.jobs(t, "sample"); len(got) != 3 {
		t.Fatalf("%d Jobs while paused, want the 3 suspended ones", len(got))
	}

	h.update(t, "sample", func(ss *inventoryv1alpha1.SyncSchedule) { ss.Spec.Paused = false })
	h.waitCondition(t, "sample", inventoryv1alpha1.ConditionPaused, metav1.ConditionFalse, inventoryv1alpha1.ReasonResumed)
	// The suspended Jobs run again (Forbid holds the due today run behind its active Job).
	h.waitJobs(t, "sample", 3, func(j *batchv1.Job) bool { return j.Spec.Suspend != nil && !*j.Spec.Suspend })
}

func TestManualRunHandledOnce(t *testing.T) {
	h := start(t, t0)
	h.schedule(t, "sample", func(ss *inventoryv1alpha1.SyncSchedule) {
		ss.Spec.ConcurrencyPolicy = inventoryv1alpha1.ReplaceConcurrent
	})
	h.waitJobs(t, "sample", 3, nil)
	h.clock.Step(time.Minute)
	h.update(t, "sample", func(ss *inventoryv1alpha1.SyncSchedule) {
		ss.Annotations = map[string]string{inventoryv1alpha1.AnnotationRequestedAt: "2026-12-01T08:01:05Z"}
	})
	manual := func(j *batchv1.Job) bool { return j.Labels["inventory.slotsync.io/request"] != "" }
	h.waitJobs(t, "sample", 3, manual)
	kubetest.Eventually(t, wait, func() error {
		if got := h.get(t, "sample").Status.LastHandledRequest; got != "2026-12-01T08:01:05Z" {
			return errorf("lastHandledRequest %q", got)
		}
		return nil
	})
	// Another reconcile with the same annotation starts nothing more.
	h.advance(t, "sample", time.Second)
	h.waitCondition(t, "sample", inventoryv1alpha1.ConditionReady, metav1.ConditionFalse, "")
	if got := len(slices.DeleteFunc(h.jobs(t, "sample"), func(j batchv1.Job) bool { return !manual(&j) })); got != 3 {
		t.Fatalf("%d manual Jobs after a second reconcile, want 3", got)
	}
}

func TestManualRunWaitsForForbiddenActiveJobs(t *testing.T) {
	h := start(t, t0)
	h.schedule(t, "sample", fixture.TodayOnly)
	first := h.waitJobs(t, "sample", 1, nil)
	h.update(t, "sample", func(ss *inventoryv1alpha1.SyncSchedule) {
		ss.Annotations = map[string]string{inventoryv1alpha1.AnnotationRequestedAt: "now"}
	})
	h.waitCondition(t, "sample", inventoryv1alpha1.ConditionSyncing, metav1.ConditionTrue, "")
	if got := h.get(t, "sample").Status.LastHandledRequest; got != "" {
		t.Fatalf("a manual run held back by Forbid was marked handled (%q)", got)
	}
	h.finish(t, &first[0], true, map[string]any{"pairsOK": 1})
	h.waitJobs(t, "sample", 1, func(j *batchv1.Job) bool { return j.Labels["inventory.slotsync.io/request"] != "" })
	kubetest.Eventually(t, wait, func() error {
		if got := h.get(t, "sample").Status.LastHandledRequest; got != "now" {
			return errorf("lastHandledRequest %q", got)
		}
		return nil
	})
}

// TestQueuedManualRunIsShown: a manual run held back by Forbid says so in
// Syncing and Ready and with a ManualRunQueued event, until it starts.
func TestQueuedManualRunIsShown(t *testing.T) {
	h := start(t, t0)
	h.schedule(t, "sample", fixture.TodayOnly)
	first := h.waitJobs(t, "sample", 1, nil)[0]
	h.update(t, "sample", func(ss *inventoryv1alpha1.SyncSchedule) {
		ss.Annotations = map[string]string{inventoryv1alpha1.AnnotationRequestedAt: "now"}
	})
	ss := h.waitCondition(t, "sample", inventoryv1alpha1.ConditionSyncing, metav1.ConditionTrue, inventoryv1alpha1.ReasonManualRunQueued)
	if c := findCondition(ss, inventoryv1alpha1.ConditionSyncing); !strings.Contains(c.Message, "window(s) today") {
		t.Errorf("Syncing message %q does not say which window's Job the run waits for", c.Message)
	}
	if c := findCondition(ss, inventoryv1alpha1.ConditionReady); c == nil || !strings.Contains(c.Message, "manual run") {
		t.Errorf("Ready %+v does not say that a manual run waits", c)
	}
	kubetest.Eventually(t, wait, func() error {
		var list eventsv1.EventList
		if err := h.c.List(context.Background(), &list, client.InNamespace(h.ns)); err != nil {
			return err
		}
		for _, e := range list.Items {
			if e.Regarding.Name == "sample" && e.Reason == inventoryv1alpha1.ReasonManualRunQueued {
				return nil
			}
		}
		return errorf("no %s event on the schedule", inventoryv1alpha1.ReasonManualRunQueued)
	})

	h.finish(t, &first, true, map[string]any{"pairsOK": 1})
	ss = h.waitCondition(t, "sample", inventoryv1alpha1.ConditionSyncing, metav1.ConditionTrue, inventoryv1alpha1.ReasonJobActive)
	if c := findCondition(ss, inventoryv1alpha1.ConditionReady); strings.Contains(c.Message, "manual run") {
		t.Errorf("Ready message %q still says a manual run waits after it started", c.Message)
	}
}

// TestManualRunNotRepeatedWhilePruned: with today held back behind its active Job
// (Forbid), the week's manual run finishes and is pruned at once (history limit
// 0); later reconciles, at later clock times, do not run the week again, and
// today's run, when it can start, gets the name of the request, not of the time.
func TestManualRunNotRepeatedWhilePruned(t *testing.T) {
	const request = "2026-12-01T08:01:05Z"
	h := start(t, t0)
	h.schedule(t, "sample", fixture.WithWindows(
		inventoryv1alpha1.Window{Name: "today", Days: 1, Every: metav1.Duration{Duration: 15 * time.Minute}},
		inventoryv1alpha1.Window{Name: "week", Days: 7, Every: metav1.Duration{Duration: 4 * time.Hour}},
	), func(ss *inventoryv1alpha1.SyncSchedule) { ss.Spec.SuccessfulJobsHistoryLimit = ptr.To[int32](0) })
	ok := map[string]any{"pairsTotal": 1, "pairsOK": 1}
	today := h.waitJobs(t, "sample", 1, byWindow("today"))[0]
	week := h.waitJobs(t, "sample", 1, byWindow("week"))[0]
	h.finish(t, &week, true, ok, ok)
	h.waitJobs(t, "sample", 0, byWindow("week"))

	h.clock.Step(time.Minute)
	h.update(t, "sample", func(ss *inventoryv1alpha1.SyncSchedule) {
		ss.Annotations = map[string]string{inventoryv1alpha1.AnnotationRequestedAt: request}
	})
	manual := func(window string) func(*batchv1.Job) bool {
		return func(j *batchv1.Job) bool {
			return byWindow(window)(j) && j.Labels["inventory.slotsync.io/request"] != ""
		}
	}
	manualWeek := h.waitJobs(t, "sample", 1, manual("week"))[0]
	if want := inventoryv1alpha1.ManualJobName("sample", "week", request); manualWeek.Name != want {
		t.Errorf("manual Job %s, want %s", manualWeek.Name, want)
	}
	h.finish(t, &manualWeek, true, ok, ok)
	h.waitJobs(t, "sample", 0, byWindow("week"))

	for range 3 {
		h.clock.Step(time.Minute)
		h.reconciled(t, "sample")
		for _, j := range h.jobs(t, "sample") {
			if byWindow("week")(&j) {
				t.Fatalf("the week's manual run started again at %s as Job %s", h.clock.Now().Format(time.TimeOnly), j.Name)
			}
		}
		if got := h.get(t, "sample").Status.LastHandledRequest; got != "" {
			t.Fatalf("lastHandledRequest %q while today's manual run waits", got)
		}
	}

	h.finish(t, &today, true, ok, ok)
	manualToday := h.waitJobs(t, "sample", 1, manual("today"))[0]
	if want := inventoryv1alpha1.ManualJobName("sample", "today", request); manualToday.Name != want {
		t.Errorf("manual Job %s, want %s, whatever the clock", manualToday.Name, want)
	}
	kubetest.Eventually(t, wait, func() error {
		ss := h.get(t, "sample")
		if ss.Status.LastHandledRequest != request {
			return errorf("lastHandledRequest %q, want %q", ss.Status.LastHandledRequest, request)
		}
		for _, w := range ss.Status.Windows {
			if w.LastHandledRequest != request {
				return errorf("window %s lastHandledRequest %q, want %q", w.Name, w.LastHandledRequest, request)
			}
		}
		return nil
	})
}

func TestStatusFromTerminationMessages(t *testing.T) {
	h := start(t, t0)
	h.schedule(t, "sample")
	jobs := h.waitJobs(t, "sample", 3, nil)
	ok := map[string]any{"pairsTotal": 1, "pairsOK": 1, "slotsWritten": 5, "requests": 2, "rateLimited": 1}
	for i := range jobs {
		h.finish(t, &jobs[i], true, ok, ok)
	}
	ss := h.waitCondition(t, "sample", inventoryv1alpha1.ConditionReady, metav1.ConditionTrue, inventoryv1alpha1.ReasonJobsSucceeded)
	for _, w := range ss.Status.Windows {
		if w.LastRun == nil || w.LastRun.Result != inventoryv1alpha1.RunSucceeded || w.LastRun.Requests != 4 || w.LastRun.RateLimited != 2 ||
			w.LastRun.SlotsWritten != 10 || w.LastRun.PairsOK != 2 || w.LastSuccessfulTime == nil || w.ActiveJob != "" {
			b, _ := json.Marshal(w)
			t.Errorf("window status %s", b)
		}
	}
	if ss.Status.LastSyncTime == nil {
		t.Error("no lastSyncTime after successful runs")
	}
	h.waitCondition(t, "sample", inventoryv1alpha1.ConditionSyncing, metav1.ConditionFalse, inventoryv1alpha1.ReasonIdle)

	// The next today run fails partly: Degraded with the reason, Ready false.
	h.advance(t, "sample", 15*time.Minute)
	next := h.waitJobs(t, "sample", 1, func(j *batchv1.Job) bool { return byWindow("today")(j) && active(j) })
	h.finish(t, &next[0], false, ok, map[string]any{"pairsTotal": 1, "pairsFailed": 1, "requests": 3})
	ss = h.waitCondition(t, "sample", inventoryv1alpha1.ConditionDegraded, metav1.ConditionTrue, inventoryv1alpha1.ReasonRunPartial)
	h.waitCondition(t, "sample", inventoryv1alpha1.ConditionReady, metav1.ConditionFalse, inventoryv1alpha1.ReasonRunPartial)

	// A revoked key: the worker says PartnerUnauthorized and the schedule says so too.
	h.advance(t, "sample", 15*time.Minute)
	next = h.waitJobs(t, "sample", 1, func(j *batchv1.Job) bool { return byWindow("today")(j) && active(j) })
	unauthorized := map[string]any{"pairsTotal": 1, "pairsFailed": 1, "requests": 1, "reason": "PartnerUnauthorized"}
	h.finish(t, &next[0], false, unauthorized, unauthorized)
	h.waitCondition(t, "sample", inventoryv1alpha1.ConditionDegraded, metav1.ConditionTrue, inventoryv1alpha1.ReasonPartnerUnauthorized)

	// A run that hit its deadline says so, rather than only Partial or Failed.
	h.advance(t, "sample", 15*time.Minute)
	next = h.waitJobs(t, "sample", 1, func(j *batchv1.Job) bool { return byWindow("today")(j) && active(j) })
	late := map[string]any{"pairsTotal": 1, "pairsFailed": 1, "requests": 4, "rateLimited": 4, "reason": "DeadlineExceeded"}
	h.finish(t, &next[0], false, late, late)
	h.waitCondition(t, "sample", inventoryv1alpha1.ConditionDegraded, metav1.ConditionTrue, inventoryv1alpha1.ReasonDeadlineExceeded)
	_ = ss
}

func TestMissingSecretIsReported(t *testing.T) {
	h := start(t, t0)
	h.schedule(t, "sample", fixture.TodayOnly)
	job := h.waitJobs(t, "sample", 1, nil)[0]
	// Play the kubelet: the pod waits because the partner Secret does not exist.
	h.podWaitingForSecret(t, &job, "sample")
	// No poke: the pod's status alone wakes the controller.
	ss := h.waitCondition(t, "sample", inventoryv1alpha1.ConditionDegraded, metav1.ConditionTrue, inventoryv1alpha1.ReasonSecretMissing)
	if c := findCondition(ss, inventoryv1alpha1.ConditionDegraded); !strings.Contains(c.Message, `secret "partner" not found`) {
		t.Errorf("Degraded message %q does not name the missing Secret", c.Message)
	}
	h.waitCondition(t, "sample", inventoryv1alpha1.ConditionReady, metav1.ConditionFalse, inventoryv1alpha1.ReasonSecretMissing)
}

func TestHistoryLimitsPruneFinishedJobs(t *testing.T) {
	h := start(t, t0)
	h.schedule(t, "sample", func(ss *inventoryv1alpha1.SyncSchedule) {
		ss.Spec.Windows = []inventoryv1alpha1.Window{{Name: "today", Days: 1, Every: metav1.Duration{Duration: 15 * time.Minute}}}
		ss.Spec.SuccessfulJobsHistoryLimit = ptr.To[int32](2)
		ss.Spec.FailedJobsHistoryLimit = ptr.To[int32](1)
	})
	ok := map[string]any{"pairsTotal": 1, "pairsOK": 1}
	bad := map[string]any{"pairsTotal": 1, "pairsFailed": 1}
	for run := range 6 {
		job := h.waitJobs(t, "sample", 1, active)
		h.finish(t, &job[0], run%3 != 2, ok, map[bool]map[string]any{true: ok, false: bad}[run%3 != 2])
		h.advance(t, "sample", 15*time.Minute)
	}
	h.waitJobs(t, "sample", 1, active)
	succeeded := func(j *batchv1.Job) bool { return !active(j) && j.Status.Succeeded > 0 }
	h.waitJobs(t, "sample", 2, succeeded)
	h.waitJobs(t, "sample", 1, func(j *batchv1.Job) bool { return !active(j) && !succeeded(j) })
}

func TestConcurrencyPolicy(t *testing.T) {
	today := []inventoryv1alpha1.Window{{Name: "today", Days: 1, Every: metav1.Duration{Duration: 15 * time.Minute}}}
	t.Run("Forbid holds the next run until the active one ends", func(t *testing.T) {
		h := start(t, t0)
		h.schedule(t, "sample", func(ss *inventoryv1alpha1.SyncSchedule) { ss.Spec.Windows = today })
		first := h.waitJobs(t, "sample", 1, nil)
		h.advance(t, "sample", 15*time.Minute)
		h.waitCondition(t, "sample", inventoryv1alpha1.ConditionSyncing, metav1.ConditionTrue, "")
		if got := h.jobs(t, "sample"); len(got) != 1 {
			t.Fatalf("%d Jobs while one is active under Forbid, want 1", len(got))
		}
		h.finish(t, &first[0], true, map[string]any{"pairsOK": 1})
		h.waitJobs(t, "sample", 1, active) // the held-back run starts, late but once
	})
	t.Run("Replace deletes the active Job", func(t *testing.T) {
		h := start(t, t0)
		h.schedule(t, "sample", func(ss *inventoryv1alpha1.SyncSchedule) {
			ss.Spec.Windows = today
			ss.Spec.ConcurrencyPolicy = inventoryv1alpha1.ReplaceConcurrent
		})
		first := h.waitJobs(t, "sample", 1, nil)
		h.advance(t, "sample", 15*time.Minute)
		kubetest.Eventually(t, wait, func() error {
			jobs := h.jobs(t, "sample")
			names := []string{}
			for _, j := range jobs {
				if j.DeletionTimestamp == nil {
					names = append(names, j.Name)
				}
			}
			if len(names) != 1 || names[0] == first[0].Name {
				return errorf("Jobs %v, want only the new run's", names)
			}
			return nil
		})
	})
}

func TestBudgetExceededSetAndCleared(t *testing.T) {
	h := start(t, t0)
	h.secret(t, "partner", map[string]string{"apiKey": "key-1", "otherKey": "key-2"})
	many := products(300)
	h.schedule(t, "big", func(ss *inventoryv1alpha1.SyncSchedule) { ss.Spec.Products = many })
	ss := h.waitCondition(t, "big", inventoryv1alpha1.ConditionBudgetExceeded, metav1.ConditionTrue, inventoryv1alpha1.ReasonOverBudget)
	c := findCondition(ss, inventoryv1alpha1.ConditionBudgetExceeded)
	if !strings.Contains(c.Message, "at most 276 products") || !strings.Contains(c.Message, "32.29 requests/min") {
		t.Errorf("budget message %q does not say the demand and what fits", c.Message)
	}
	h.update(t, "big", func(ss *inventoryv1alpha1.SyncSchedule) { ss.Spec.Products = many[:276] })
	h.waitCondition(t, "big", inventoryv1alpha1.ConditionBudgetExceeded, metav1.ConditionFalse, inventoryv1alpha1.ReasonWithinBudget)

	// A second schedule on the same key counts against the same budget.
	h.schedule(t, "small", func(ss *inventoryv1alpha1.SyncSchedule) { ss.Spec.Products = []int64{1000} })
	h.waitCondition(t, "small", inventoryv1alpha1.ConditionBudgetExceeded, metav1.ConditionTrue, inventoryv1alpha1.ReasonOverBudget)
	h.waitCondition(t, "big", inventoryv1alpha1.ConditionBudgetExceeded, metav1.ConditionTrue, inventoryv1alpha1.ReasonOverBudget)
	// Another key of the same Secret, of another value, has a budget of its own.
	h.schedule(t, "other", func(ss *inventoryv1alpha1.SyncSchedule) {
		ss.Spec.Products = []int64{1000}
		ss.Spec.Partner.APIKeySecretRef.Key = "otherKey"
	})
	h.waitCondition(t, "other", inventoryv1alpha1.ConditionBudgetExceeded, metav1.ConditionFalse, inventoryv1alpha1.ReasonWithinBudget)
}

func TestInvalidTimezoneIsACondition(t *testing.T) {
	h := start(t, t0)
	h.schedule(t, "sample", func(ss *inventoryv1alpha1.SyncSchedule) { ss.Spec.Timezone = "Mars/Olympus_Mons" })
	ss := h.waitCondition(t, "sample", inventoryv1alpha1.ConditionReady, metav1.ConditionFalse, inventoryv1alpha1.ReasonInvalidSpec)
	if c := findCondition(ss, inventoryv1alpha1.ConditionReady); !strings.Contains(c.Message, "IANA") {
		t.Errorf("message %q does not say how to fix the zone", c.Message)
	}
	if got := h.jobs(t, "sample"); len(got) != 0 {
		t.Errorf("%d Jobs for an invalid spec", len(got))
	}
}

func TestEventsAndMetrics(t *testing.T) {
	h := start(t, t0)
	h.schedule(t, "sample", fixture.TodayOnly)
	job := h.waitJobs(t, "sample", 1, nil)[0]
	h.finish(t, &job, true, map[string]any{"pairsOK": 1})
	h.waitCondition(t, "sample", inventoryv1alpha1.ConditionReady, metav1.ConditionTrue, "")
	h.update(t, "sample", func(ss *inventoryv1alpha1.SyncSchedule) { ss.Spec.Paused = true })
	h.waitCondition(t, "sample", inventoryv1alpha1.ConditionPaused, metav1.ConditionTrue, "")

	kubetest.Eventually(t, wait, func() error {
		var list eventsv1.EventList
		if err := h.c.List(context.Background(), &list, client.InNamespace(h.ns)); err != nil {
			return err
		}
		seen := map[string]bool{}
		for _, e := range list.Items {
			if e.Regarding.Name == "sample" && e.Regarding.Kind == "SyncSchedule" {
				seen[e.Reason] = true
			}
		}
		if !seen[inventoryv1alpha1.ReasonJobCreated] || !seen["Paused"] {
			return errorf("events on the schedule: %v, want JobCreated and Paused", seen)
		}
		return nil
	})

	families, err := metrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	found := map[string]bool{}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["namespace"] != "" && labels["namespace"] != h.ns {
				continue
			}
			found[f.GetName()] = true
		}
	}
	for _, name := range []string{"slotsync_jobs_created_total", "slotsync_runs_total", "slotsync_window_data_age_seconds", "slotsync_budget_demand_requests_per_second", "slotsync_window_last_success_timestamp_seconds", "slotsync_window_interval_seconds", "slotsync_schedule_condition", "slotsync_build_info", "slotsync_schedule_reconciles_total"} {
		if !found[name] {
			t.Errorf("metric %s missing for this schedule", name)
		}
	}
}

// A Job the API server refuses shows in status and events, not only in the log,
// and the schedule recovers once Jobs can be created again.
func TestRefusedJobIsACondition(t *testing.T) {
	var refuse atomic.Bool
	refuse.Store(true)
	h := startAdjusted(t, t0, func(o *ctrl.Options) {
		o.NewClient = func(cfg *rest.Config, opts client.Options) (client.Client, error) {
			c, err := client.NewWithWatch(cfg, opts)
			if err != nil {
				return nil, err
			}
			return interceptor.NewClient(c, interceptor.Funcs{
				Create: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
					if _, isJob := obj.(*batchv1.Job); isJob && refuse.Load() {
						// What the quota admission plugin answers in a namespace out of Jobs.
						return apierrors.NewForbidden(batchv1.Resource("jobs"), obj.GetName(),
							errors.New("exceeded quota: jobs, requested: count/jobs.batch=1, used: count/jobs.batch=0, limited: count/jobs.batch=0"))
					}
					return c.Create(ctx, obj, opts...)
				},
			}), nil
		}
	})
	h.schedule(t, "sample", fixture.TodayOnly)

	ss := h.waitCondition(t, "sample", inventoryv1alpha1.ConditionReady, metav1.ConditionFalse, inventoryv1alpha1.ReasonJobCreateFailed)
	if c := findCondition(ss, inventoryv1alpha1.ConditionReady); !strings.Contains(c.Message, "exceeded quota") {
		t.Errorf("Ready message %q does not say why the Job was refused", c.Message)
	}
	if c := findCondition(ss, inventoryv1alpha1.ConditionDegraded); c == nil || c.Status != metav1.ConditionTrue || c.Reason != inventoryv1alpha1.ReasonJobCreateFailed {
		t.Errorf("Degraded is %+v, want True/%s", c, inventoryv1alpha1.ReasonJobCreateFailed)
	}
	if ss.Status.ObservedGeneration == ss.Generation {
		t.Errorf("observedGeneration %d recorded though the generation was not handled", ss.Status.ObservedGeneration)
	}
	kubetest.Eventually(t, wait, func() error {
		var list eventsv1.EventList
		if err := h.c.List(context.Background(), &list, client.InNamespace(h.ns)); err != nil {
			return err
		}
		for _, e := range list.Items {
			if e.Regarding.Name == "sample" && e.Type == corev1.EventTypeWarning && e.Reason == inventoryv1alpha1.ReasonJobCreateFailed {
				return nil
			}
		}
		return errorf("no %s warning event on the schedule", inventoryv1alpha1.ReasonJobCreateFailed)
	})

	refuse.Store(false)
	h.advance(t, "sample", time.Second)
	h.waitJobs(t, "sample", 1, nil)
	h.waitCondition(t, "sample", inventoryv1alpha1.ConditionReady, metav1.ConditionFalse, inventoryv1alpha1.ReasonAwaitingFirstRun)
	h.waitCondition(t, "sample", inventoryv1alpha1.ConditionDegraded, metav1.ConditionFalse, inventoryv1alpha1.ReasonJobsSucceeded)
}

// TestManualRunOnCreateStartsOneJobPerWindow: a schedule created with a run
// request has its manual run and its first scheduled runs due in the same
// reconcile. The manual Jobs count as the windows' runs, so Forbid never sees
// two Jobs of one window side by side.
func TestManualRunOnCreateStartsOneJobPerWindow(t *testing.T) {
	h := start(t, t0)
	h.schedule(t, "sample", func(ss *inventoryv1alpha1.SyncSchedule) {
		ss.Annotations = map[string]string{inventoryv1alpha1.AnnotationRequestedAt: "now"}
	})
	h.waitJobs(t, "sample", 3, nil)
	// Give a second reconcile the chance to add what the first one would have.
	h.advance(t, "sample", time.Second)
	jobs := h.jobs(t, "sample")
	for _, window := range []string{"today", "week", "month"} {
		if n := len(slices.DeleteFunc(slices.Clone(jobs), func(j batchv1.Job) bool { return !byWindow(window)(&j) })); n != 1 {
			t.Errorf("window %s has %d Jobs, want 1 (the manual run)", window, n)
		}
	}
}
