package localnode

import (
	"context"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
)

// TestNode runs a local node against a real API server and drives it the
// way the Job controller and kubectl do.
func TestNode(t *testing.T) {
	restCfg := startAPIServer(t)
	client := kubernetes.NewForConfigOrDie(restCfg)
	workDir := t.TempDir()
	ctx, cancel := context.WithCancel(logr.NewContext(context.Background(), testLogger()))
	defer cancel()
	f := &fixture{ctx: ctx, client: client, workDir: workDir}

	// Pods a previous node process was running when it died.
	restartNS := f.namespace(t)
	f.seedRunningPod(t, restartNS, "was-running-never", corev1.RestartPolicyNever, `exit 0`)
	f.seedRunningPod(t, restartNS, "was-running-always", corev1.RestartPolicyAlways, `sleep 300`)

	n, err := New(Config{
		RESTConfig: restCfg,
		NodeName:   testNodeName,
		WorkDir:    workDir,
		// The "slotsync" image plays the shell, so that image mapping is
		// exercised without building a program.
		Binaries:       map[string]string{"slotsync": "/bin/sh"},
		Env:            map[string]string{"FROM_NODE_CONFIG": "yes"},
		RestartBackoff: 100 * time.Millisecond,
		ShutdownGrace:  2 * time.Second,
	})
	if err != nil {
		t.Fatalf("New() error = %v", err)
	}
	runDone := make(chan error, 1)
	go func() { runDone <- n.Run(ctx) }()
	stopped := false
	stop := func() error {
		if stopped {
			return nil
		}
		stopped = true
		cancel()
		select {
		case err := <-runDone:
			return err
		case <-time.After(30 * time.Second):
			t.Fatal("Run did not return within 30s of cancel")
			return nil
		}
	}
	t.Cleanup(func() { _ = stop() })

	readyCtx, readyCancel := context.WithTimeout(ctx, 60*time.Second)
	defer readyCancel()
	if err := n.WaitReady(readyCtx); err != nil {
		t.Fatalf("WaitReady() error = %v", err)
	}
	f.node = n
	f.kubelet = newKubeletClient(t, n.ServingCertPEM())

	t.Run("pods", func(t *testing.T) {
		t.Run("node registers Ready", f.testNodeReady)
		t.Run("job pod succeeds with resolved env", f.testJobPodSucceeds)
		t.Run("failing pod reports exit codes and messages", f.testFailingPod)
		t.Run("OnFailure restarts until success", f.testOnFailureRestarts)
		t.Run("deleting a running pod stops it promptly", f.testDeleteRunning)
		t.Run("grace period ends in SIGKILL", f.testGracePeriodKill)
		t.Run("unmappable image fails clearly", f.testUnsupportedImage)
		t.Run("missing secret waits, then runs", f.testMissingSecret)
		t.Run("logs through the kubelet API and the API server", f.testLogs)
		t.Run("follow logs until the process ends", f.testFollowLogs)
		t.Run("pods of a previous node process", func(t *testing.T) {
			t.Parallel()
			never := f.waitPhase(t, restartNS, "was-running-never", corev1.PodFailed)
			if never.Status.Reason != ReasonNodeRestarted {
				t.Errorf("restartPolicy Never: reason %q, want %s: it must not run twice", never.Status.Reason, ReasonNodeRestarted)
			}
			always := f.waitRunning(t, restartNS, "was-running-always")
			if rc := always.Status.ContainerStatuses[0].RestartCount; rc != 1 {
				t.Errorf("restartPolicy Always: restartCount %d, want 1", rc)
			}
		})
	})
	if t.Failed() {
		return
	}

	// Ctrl-C of the dev command: every process goes, children included,
	// even those ignoring SIGTERM.
	ns := f.namespace(t)
	f.createPod(t, ns, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "deployment-like"},
		Spec: corev1.PodSpec{
			RestartPolicy: corev1.RestartPolicyAlways,
			Containers: []corev1.Container{
				shContainer("stubborn", `trap "" TERM; sleep 300 & sleep 300 & wait`),
				shContainer("plain", `sleep 300`),
			},
		},
	})
	f.waitRunning(t, ns, "deployment-like")
	if left := leftovers(workDir); len(left) == 0 {
		t.Fatal("no process of the running pod found; the leftover check would prove nothing")
	}
	if err := stop(); err != nil {
		t.Errorf("Run() after cancel = %v, want nil", err)
	}
	if left := leftovers(workDir); len(left) > 0 {
		t.Errorf("processes left after the node stopped:\n%s", strings.Join(left, "\n"))
	}
}

func (f *fixture) testNodeReady(t *testing.T) {
	t.Parallel()
	node, err := f.client.CoreV1().Nodes().Get(f.ctx, testNodeName, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get node: %v", err)
	}
	ready := false
	for _, c := range node.Status.Conditions {
		if c.Type == corev1.NodeReady {
			ready = c.Status == corev1.ConditionTrue
		}
	}
	if !ready {
		t.Errorf("node conditions %v, want Ready=True", node.Status.Conditions)
	}
	for k, want := range map[string]string{LabelType: TypeValue, corev1.LabelOSStable: "linux", corev1.LabelHostname: testNodeName} {
		if got := node.Labels[k]; got != want {
			t.Errorf("label %s = %q, want %q", k, got, want)
		}
	}
	if len(node.Spec.Taints) != 0 {
		t.Errorf("taints %v, want none", node.Spec.Taints)
	}
	if len(node.Status.Addresses) != 1 || node.Status.Addresses[0] != (corev1.NodeAddress{Type: corev1.NodeInternalIP, Address: "127.0.0.1"}) {
		t.Errorf("addresses %v, want only InternalIP 127.0.0.1", node.Status.Addresses)
	}
	_, port, _ := net.SplitHostPort(f.node.KubeletAddr())
	if got := strconv.Itoa(int(node.Status.DaemonEndpoints.KubeletEndpoint.Port)); got != port {
		t.Errorf("kubelet port %s, want %s", got, port)
	}
	if cpu := node.Status.Allocatable.Cpu(); cpu.IsZero() {
		t.Error("allocatable cpu is zero")
	}
	if pods := node.Status.Capacity.Pods(); pods.Value() != 110 {
		t.Errorf("pod capacity %v, want 110", pods)
	}
	// The lease is what keeps the node Ready in the controller-manager's eyes.
	var last error
	err = wait.PollUntilContextTimeout(f.ctx, 200*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		lease, err := f.client.CoordinationV1().Leases(corev1.NamespaceNodeLease).Get(ctx, testNodeName, metav1.GetOptions{})
		last = err
		return err == nil && lease.Spec.RenewTime != nil && ptr.Deref(lease.Spec.HolderIdentity, "") == testNodeName, nil
	})
	if err != nil {
		t.Fatalf("node lease not held by %s: %v", testNodeName, last)
	}
}

// seedRunningPod creates a pod bound to the node, with the status a node
// writes while the pod runs, before the node starts.
func (f *fixture) seedRunningPod(t *testing.T, ns, name string, policy corev1.RestartPolicy, script string) {
	t.Helper()
	pod := f.createPod(t, ns, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       corev1.PodSpec{RestartPolicy: policy, Containers: []corev1.Container{shContainer("main", script)}},
	})
	now := metav1.Now()
	pod.Status.Phase = corev1.PodRunning
	pod.Status.StartTime = &now
	pod.Status.ContainerStatuses = []corev1.ContainerStatus{{
		Name: "main", Image: "busybox", Ready: true, Started: ptr.To(true),
		State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: now}},
	}}
	if _, err := f.client.CoreV1().Pods(ns).UpdateStatus(f.ctx, pod, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("seed status of %s: %v", name, err)
	}
}
