package controllers_test

import (
	"fmt"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"

	inventoryv1alpha1 "github.com/slotsync/slotsync/api/v1alpha1"
	"github.com/slotsync/slotsync/internal/fixture"
	"github.com/slotsync/slotsync/internal/kubetest"
	"github.com/slotsync/slotsync/internal/managertest"
)

// bareHarness is a harness whose managers the test starts itself.
func bareHarness(t *testing.T, now time.Time) *harness {
	t.Helper()
	return newHarness(t, now)
}

// electingManager is a manager that runs the reconciler only while it holds the
// test's leader lease, as `slotsync manager --leader-elect` does.
type electingManager struct {
	*managertest.Manager
	name string
}

// startElecting starts a manager in the leader election of the test's namespace.
// With release, stopping it hands the lease over at once (a rolling update);
// without, the lease runs out first (a crash).
func (h *harness) startElecting(t *testing.T, name string, release bool) *electingManager {
	t.Helper()
	m := managertest.Start(t, h.env, h.managerOptions("slotsync-"+name, func(o *ctrl.Options) {
		o.LeaderElection = true
		o.LeaderElectionID = "slotsync-manager.inventory.slotsync.io"
		o.LeaderElectionNamespace = h.ns
		o.LeaderElectionReleaseOnCancel = release
		// Short, so that a crashed leader's lease runs out within the test.
		o.LeaseDuration = ptr.To(3 * time.Second)
		o.RenewDeadline = ptr.To(2 * time.Second)
		o.RetryPeriod = ptr.To(250 * time.Millisecond)
	}))
	return &electingManager{Manager: m, name: name}
}

func (m *electingManager) isLeader() bool {
	select {
	case <-m.Elected():
		return true
	default:
		return false
	}
}

// waitLeader waits until one of ms leads and returns it.
func waitLeader(t *testing.T, timeout time.Duration, ms ...*electingManager) *electingManager {
	t.Helper()
	var leader *electingManager
	kubetest.Eventually(t, timeout, func() error {
		for _, m := range ms {
			if m.isLeader() {
				leader = m
				return nil
			}
		}
		return fmt.Errorf("no manager was elected within %v", timeout)
	})
	return leader
}

// requireOneJobPerRun fails the test when a window has two Jobs for one scheduled
// time, and returns the scheduled times of each window's Jobs.
func requireOneJobPerRun(t *testing.T, jobs []batchv1.Job) map[string][]time.Time {
	t.Helper()
	seen := map[string]string{}
	runs := map[string][]time.Time{}
	for _, j := range jobs {
		window := j.Labels[inventoryv1alpha1.LabelWindow]
		at := j.Labels[inventoryv1alpha1.LabelScheduledAt]
		key := window + "@" + at
		if other, dup := seen[key]; dup {
			t.Errorf("two Jobs for the run of window %s at %s: %s and %s", window, at, other, j.Name)
		}
		seen[key] = j.Name
		ts, err := inventoryv1alpha1.ParseScheduledAt(at)
		if err != nil {
			t.Errorf("Job %s: %v", j.Name, err)
		}
		runs[window] = append(runs[window], ts)
	}
	return runs
}

// finishActive plays the Job controller: every active Job of the schedule succeeds.
func (h *harness) finishActive(t *testing.T, name string) {
	t.Helper()
	for _, j := range h.jobs(t, name) {
		if active(&j) {
			h.finish(t, &j, true)
		}
	}
}

// TestLeaderElectionFailoverNoDuplicateNoLostRun: two managers elect one leader,
// which alone creates the due Jobs; when it crashes mid-run the other takes over
// once the lease runs out and creates the run that fell due meanwhile, exactly
// once, without repeating the runs the first one created.
func TestLeaderElectionFailoverNoDuplicateNoLostRun(t *testing.T) {
	h := bareHarness(t, t0)
	a := h.startElecting(t, "a", false)
	b := h.startElecting(t, "b", false)
	leader := waitLeader(t, wait, a, b)
	follower := map[*electingManager]*electingManager{a: b, b: a}[leader]

	h.schedule(t, "sample")
	h.waitJobs(t, "sample", 3, nil)
	if follower.isLeader() {
		t.Fatalf("managers %s and %s both lead", a.name, b.name)
	}
	h.finishActive(t, "sample")

	// The leader crashes; the today window falls due while nobody leads.
	crashed := time.Now()
	leader.Cancel()
	h.advance(t, "sample", 15*time.Minute)
	waitLeader(t, wait, follower)
	t.Logf("manager %s took over %v after %s crashed", follower.name, time.Since(crashed).Round(10*time.Millisecond), leader.name)
	h.waitJobs(t, "sample", 2, byWindow("today"))

	// More reconciles of the new leader change nothing.
	h.advance(t, "sample", time.Second)
	h.waitCondition(t, "sample", inventoryv1alpha1.ConditionSyncing, metav1.ConditionTrue, "")
	runs := requireOneJobPerRun(t, h.jobs(t, "sample"))
	want := map[string]int{"today": 2, "week": 1, "month": 1}
	for w, n := range want {
		if len(runs[w]) != n {
			t.Errorf("window %s has %d runs, want %d: %v", w, len(runs[w]), n, runs[w])
		}
	}
}

// TestLeaderElectionHandOverOnRollingUpdate: a leader that stops cleanly releases
// its lease, so a new manager leads at once and the schedule keeps its runs.
func TestLeaderElectionHandOverOnRollingUpdate(t *testing.T) {
	h := bareHarness(t, t0)
	old := h.startElecting(t, "old", true)
	waitLeader(t, wait, old)
	h.schedule(t, "sample", fixture.TodayOnly)
	first := h.waitJobs(t, "sample", 1, nil)[0]

	next := h.startElecting(t, "new", true)
	time.Sleep(500 * time.Millisecond) // two retry periods: next must not lead yet
	if next.isLeader() {
		t.Fatal("a second manager leads while the first still holds the lease")
	}
	stopped := time.Now()
	old.Cancel()
	waitLeader(t, 2*time.Second, next)
	t.Logf("the lease passed in %v", time.Since(stopped).Round(10*time.Millisecond))

	// The run the old leader started finishes under the new one: its result is
	// reported, and the next run follows once.
	h.finish(t, &first, true, map[string]any{"pairsTotal": 1, "pairsOK": 1})
	h.waitCondition(t, "sample", inventoryv1alpha1.ConditionReady, metav1.ConditionTrue, inventoryv1alpha1.ReasonJobsSucceeded)
	h.advance(t, "sample", 15*time.Minute)
	h.waitJobs(t, "sample", 2, nil)
	requireOneJobPerRun(t, h.jobs(t, "sample"))
}

// TestManagerRestartMidRun: a manager stops while its Job runs; the Job finishes
// while no manager runs; the next manager reports the run's result, starts no
// second Job for it, and starts the next run when due.
func TestManagerRestartMidRun(t *testing.T) {
	h := bareHarness(t, t0)
	mgr := h.startManager(t)
	h.schedule(t, "sample", fixture.TodayOnly)
	job := h.waitJobs(t, "sample", 1, nil)[0]
	mgr.Cancel()
	h.finish(t, &job, true, map[string]any{"pairsTotal": 3, "pairsOK": 3, "requests": 3})

	h.startManager(t)
	ss := h.waitCondition(t, "sample", inventoryv1alpha1.ConditionReady, metav1.ConditionTrue, inventoryv1alpha1.ReasonJobsSucceeded)
	if w := ss.Status.Windows[0]; w.LastRun == nil || w.LastRun.Job != job.Name || w.LastRun.PairsOK != 3 {
		t.Errorf("the restarted manager reports %+v, want the run of Job %s with 3 pairs", w.LastRun, job.Name)
	}
	if got := h.jobs(t, "sample"); len(got) != 1 {
		t.Fatalf("%d Jobs after the restart before the next due time, want 1", len(got))
	}
	h.advance(t, "sample", 15*time.Minute)
	h.waitJobs(t, "sample", 2, nil)
	requireOneJobPerRun(t, h.jobs(t, "sample"))
}

// TestTwoActiveManagersNoDuplicateJobs: even two managers reconciling at once,
// as a split brain or leader election switched off would have, create one Job
// per run, because the Job of a run has one name.
func TestTwoActiveManagersNoDuplicateJobs(t *testing.T) {
	h := start(t, t0)
	h.startManager(t)
	h.schedule(t, "sample", func(ss *inventoryv1alpha1.SyncSchedule) {
		ss.Spec.SuccessfulJobsHistoryLimit = ptr.To[int32](100)
	})
	h.waitJobs(t, "sample", 3, nil)
	for step := 1; step <= 4; step++ {
		h.finishActive(t, "sample")
		h.advance(t, "sample", 15*time.Minute)
		h.waitJobs(t, "sample", 1+step, byWindow("today"))
	}
	h.advance(t, "sample", time.Second)
	h.waitCondition(t, "sample", inventoryv1alpha1.ConditionSyncing, metav1.ConditionTrue, "")
	runs := requireOneJobPerRun(t, h.jobs(t, "sample"))
	if got := fmt.Sprint(len(runs["today"]), len(runs["week"]), len(runs["month"])); got != "5 1 1" {
		t.Errorf("runs per window (today week month): %s, want 5 1 1", got)
	}
}
