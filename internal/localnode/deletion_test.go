package localnode

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

func (f *fixture) testDeleteRunning(t *testing.T) {
	t.Parallel()
	ns := f.namespace(t)
	f.createPod(t, ns, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "polite"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{
			shContainer("main", `trap 'echo got SIGTERM; exit 0' TERM; echo started; sleep 60 & wait`),
		}},
	})
	f.createPod(t, ns, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "sleeper"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{
			{Name: "main", Image: "busybox", Command: []string{"sleep", "60"}},
		}},
	})
	var pids []int
	for _, name := range []string{"polite", "sleeper"} {
		got := f.waitRunning(t, ns, name)
		st := containerStatus(t, got.Status.ContainerStatuses, "main")
		if st.State.Running.StartedAt.IsZero() || !st.Ready || !ptr.Deref(st.Started, false) {
			t.Errorf("%s: running status %+v, want startedAt, ready and started", name, st)
		}
		pids = append(pids, pidOf(t, st))
	}
	// The log says started before the trap can matter.
	f.waitLog(t, ns, "polite", "main", "started\n")

	for _, name := range []string{"polite", "sleeper"} {
		// Default grace: 30s. The pod must go as soon as its process does.
		if err := f.client.CoreV1().Pods(ns).Delete(f.ctx, name, metav1.DeleteOptions{}); err != nil {
			t.Fatalf("delete %s: %v", name, err)
		}
	}
	for _, name := range []string{"polite", "sleeper"} {
		if took := f.waitGone(t, ns, name, 15*time.Second); took > 10*time.Second {
			t.Errorf("%s took %s to go, want well under its 30s grace period", name, took)
		}
	}
	for _, pid := range pids {
		// A live process of ours has the WorkDir in its env; a reaped or
		// zombie one has no env.
		if env, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "environ")); err == nil && strings.Contains(string(env), f.workDir) {
			t.Errorf("process %d still runs after its pod was deleted", pid)
		}
	}
	logs, _ := filepath.Glob(filepath.Join(f.workDir, "pods", ns+"_polite_*", "main.log"))
	if len(logs) != 1 {
		t.Fatalf("log files of the deleted pod: %v", logs)
	}
	if b, _ := os.ReadFile(logs[0]); string(b) != "started\ngot SIGTERM\n" {
		t.Errorf("log of the deleted pod %q, want it to show SIGTERM", b)
	}
}

func (f *fixture) testGracePeriodKill(t *testing.T) {
	t.Parallel()
	ns := f.namespace(t)
	f.createPod(t, ns, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "stubborn"},
		Spec: corev1.PodSpec{
			TerminationGracePeriodSeconds: ptr.To[int64](2),
			Containers:                    []corev1.Container{shContainer("main", `trap "" TERM; echo started; sleep 60 & wait`)},
		},
	})
	f.waitRunning(t, ns, "stubborn")
	f.waitLog(t, ns, "stubborn", "main", "started\n")
	if err := f.client.CoreV1().Pods(ns).Delete(f.ctx, "stubborn", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	took := f.waitGone(t, ns, "stubborn", 20*time.Second)
	if took < 1500*time.Millisecond {
		t.Errorf("a process ignoring SIGTERM went after %s, before its 2s grace period", took)
	}
}
