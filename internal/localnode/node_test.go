package localnode

import (
	"context"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
)

const jobIndexAnnotation = "batch.kubernetes.io/job-completion-index"

// TestNode runs a local node against a real API server and drives it the
// way the Job controller and kubectl do.
func TestNode(t *testing.T) {
	restCfg := startAPIServer(t)
	client := kubernetes.NewForConfigOrDie(restCfg)
	workDir := t.TempDir()

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
	ctx, cancel := context.WithCancel(logr.NewContext(context.Background(), testLogger()))
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
	f := &fixture{ctx: ctx, client: client, node: n, workDir: workDir, kubelet: newKubeletClient(t, n.ServingCertPEM())}

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
	deadline := time.Now().Add(30 * time.Second)
	for {
		lease, err := f.client.CoordinationV1().Leases(corev1.NamespaceNodeLease).Get(f.ctx, testNodeName, metav1.GetOptions{})
		if err == nil && lease.Spec.RenewTime != nil && ptr.Deref(lease.Spec.HolderIdentity, "") == testNodeName {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("node lease not held by %s: %v", testNodeName, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func (f *fixture) testJobPodSucceeds(t *testing.T) {
	t.Parallel()
	ns := f.namespace(t)
	if _, err := f.client.CoreV1().Secrets(ns).Create(f.ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "partner-creds"},
		Data:       map[string][]byte{"token": []byte("s3cr3t")},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.client.CoreV1().ConfigMaps(ns).Create(f.ctx, &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "sync-config"},
		Data:       map[string]string{"region": "eu"},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// Shaped like an Indexed Job's pod: the completion index arrives as an
	// annotation and reaches the process through fieldRef.
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name:        "sync-3",
			Labels:      map[string]string{"app": "slotsync"},
			Annotations: map[string]string{jobIndexAnnotation: "3"},
		},
		Spec: corev1.PodSpec{
			InitContainers: []corev1.Container{{
				Name:  "prepare",
				Image: "slotsync:dev",
				Args:  []string{"-c", `echo prepared; printf init-ok > /dev/termination-log`},
			}},
			Containers: []corev1.Container{{
				Name:  "sync",
				Image: "ghcr.io/acme/slotsync:v1",
				Args: []string{"-c",
					`echo "shard $JOB_COMPLETION_INDEX in $PWD"; ` +
						`printf 'index=%s token=%s region=%s pod=%s app=%s node=%s' "$JOB_COMPLETION_INDEX" "$TOKEN" "$REGION" "$1" "$APP" "$FROM_NODE_CONFIG" > "$2"`,
					"sh", "$(POD_NAME)", "/dev/termination-log"},
				Env: []corev1.EnvVar{
					{Name: "TOKEN", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
						LocalObjectReference: corev1.LocalObjectReference{Name: "partner-creds"}, Key: "token"}}},
					{Name: "REGION", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{
						LocalObjectReference: corev1.LocalObjectReference{Name: "sync-config"}, Key: "region"}}},
					{Name: "JOB_COMPLETION_INDEX", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{
						FieldPath: "metadata.annotations['" + jobIndexAnnotation + "']"}}},
					{Name: "POD_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
					{Name: "APP", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.labels['app']"}}},
				},
			}},
		},
	}
	f.createPod(t, ns, pod)
	got := f.waitPhase(t, ns, "sync-3", corev1.PodSucceeded)

	init := terminated(t, containerStatus(t, got.Status.InitContainerStatuses, "prepare"))
	if init.ExitCode != 0 || init.Message != "init-ok" {
		t.Errorf("init container: exit %d message %q, want 0 %q", init.ExitCode, init.Message, "init-ok")
	}
	main := terminated(t, containerStatus(t, got.Status.ContainerStatuses, "sync"))
	if main.ExitCode != 0 || main.Reason != "Completed" {
		t.Errorf("container: exit %d reason %q, want 0 Completed", main.ExitCode, main.Reason)
	}
	if want := "index=3 token=s3cr3t region=eu pod=sync-3 app=slotsync node=yes"; main.Message != want {
		t.Errorf("termination message %q, want %q", main.Message, want)
	}
	if main.StartedAt.Before(&init.FinishedAt) {
		t.Errorf("container started %v, before the init container finished %v", main.StartedAt, init.FinishedAt)
	}
	if main.FinishedAt.IsZero() {
		t.Error("finishedAt not set")
	}
	if got.Status.PodIP != "127.0.0.1" || got.Status.HostIP != "127.0.0.1" || got.Status.StartTime == nil {
		t.Errorf("podIP %q hostIP %q startTime %v, want 127.0.0.1 and a start time", got.Status.PodIP, got.Status.HostIP, got.Status.StartTime)
	}
	if !podCondition(got, corev1.PodInitialized) || !podCondition(got, corev1.PodScheduled) {
		t.Errorf("conditions %v, want Initialized and PodScheduled True", got.Status.Conditions)
	}
	if podCondition(got, corev1.PodReady) || conditionReason(got, corev1.PodReady) != "PodCompleted" {
		t.Errorf("Ready condition %v, want False PodCompleted", got.Status.Conditions)
	}
	// The working directory is the container's own.
	code, body := f.kubeletGet(t, "/containerLogs/"+ns+"/sync-3/sync")
	if code != 200 || !strings.HasPrefix(body, "shard 3 in "+f.workDir+"/pods/"+ns+"_sync-3_") || !strings.HasSuffix(body, "/sync\n") {
		t.Errorf("log: %d %q, want the shard and a working directory of its own", code, body)
	}
}

func (f *fixture) testFailingPod(t *testing.T) {
	t.Parallel()
	ns := f.namespace(t)
	fallback := shContainer("fallback", `for i in $(seq 1 100); do echo "line $i"; done; exit 4`)
	fallback.TerminationMessagePolicy = corev1.TerminationMessageFallbackToLogsOnError
	custom := shContainer("custom", `printf quota > /var/msg; exit 5`)
	custom.TerminationMessagePath = "/var/msg"
	f.createPod(t, ns, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "broken"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{
			shContainer("fail", `echo boom >&2; echo "bad input" > /dev/termination-log; exit 3`),
			fallback,
			custom,
		}},
	})
	got := f.waitPhase(t, ns, "broken", corev1.PodFailed)

	fail := terminated(t, containerStatus(t, got.Status.ContainerStatuses, "fail"))
	if fail.ExitCode != 3 || fail.Reason != "Error" || fail.Message != "bad input\n" {
		t.Errorf("fail: exit %d reason %q message %q, want 3 Error %q", fail.ExitCode, fail.Reason, fail.Message, "bad input\n")
	}
	fb := terminated(t, containerStatus(t, got.Status.ContainerStatuses, "fallback"))
	if fb.ExitCode != 4 || !strings.HasPrefix(fb.Message, "line 21\n") || !strings.HasSuffix(fb.Message, "line 100\n") {
		t.Errorf("fallback: exit %d message %q, want 4 and the last 80 log lines", fb.ExitCode, fb.Message)
	}
	cu := terminated(t, containerStatus(t, got.Status.ContainerStatuses, "custom"))
	if cu.ExitCode != 5 || cu.Message != "quota" {
		t.Errorf("custom path: exit %d message %q, want 5 %q", cu.ExitCode, cu.Message, "quota")
	}
	if podCondition(got, corev1.PodReady) {
		t.Error("failed pod is Ready")
	}
}

func (f *fixture) testOnFailureRestarts(t *testing.T) {
	t.Parallel()
	ns := f.namespace(t)
	// The working directory survives restarts, so the count does too.
	f.createPod(t, ns, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "flaky"},
		Spec: corev1.PodSpec{
			RestartPolicy: corev1.RestartPolicyOnFailure,
			Containers: []corev1.Container{shContainer("main",
				`n=$(cat count 2>/dev/null || echo 0); n=$((n+1)); echo $n > count; echo "run $n"; [ "$n" -ge 3 ]`)},
		},
	})
	got := f.waitPhase(t, ns, "flaky", corev1.PodSucceeded)
	st := containerStatus(t, got.Status.ContainerStatuses, "main")
	if st.RestartCount != 2 || terminated(t, st).ExitCode != 0 {
		t.Errorf("restarts %d exit %d, want 2 restarts and exit 0", st.RestartCount, terminated(t, st).ExitCode)
	}
	if code, body := f.kubeletGet(t, "/containerLogs/"+ns+"/flaky/main"); code != 200 || body != "run 3\n" {
		t.Errorf("current log: %d %q, want %q", code, body, "run 3\n")
	}
	if code, body := f.kubeletGet(t, "/containerLogs/"+ns+"/flaky/main?previous=true"); code != 200 || body != "run 2\n" {
		t.Errorf("previous log: %d %q, want %q", code, body, "run 2\n")
	}
}

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

func (f *fixture) testUnsupportedImage(t *testing.T) {
	t.Parallel()
	ns := f.namespace(t)
	f.createPod(t, ns, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "nginx", Image: "nginx:1.27"}}},
	})
	f.createPod(t, ns, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web-deployment"},
		Spec: corev1.PodSpec{
			RestartPolicy: corev1.RestartPolicyAlways,
			Containers:    []corev1.Container{{Name: "nginx", Image: "nginx:1.27"}},
		},
	})
	got := f.waitPhase(t, ns, "web", corev1.PodFailed)
	if got.Status.Reason != ReasonUnsupportedImage || !strings.Contains(got.Status.Message, `"nginx:1.27"`) {
		t.Errorf("pod reason %q message %q, want %s naming the image", got.Status.Reason, got.Status.Message, ReasonUnsupportedImage)
	}
	st := terminated(t, containerStatus(t, got.Status.ContainerStatuses, "nginx"))
	if st.Reason != ReasonUnsupportedImage || st.ExitCode == 0 {
		t.Errorf("container reason %q exit %d, want %s and a failure", st.Reason, st.ExitCode, ReasonUnsupportedImage)
	}
	// A Deployment's pod waits, as with ErrImageNeverPull, instead of
	// failing into a replace loop.
	f.waitPod(t, ns, "web-deployment", 30*time.Second, "waiting with "+ReasonUnsupportedImage, func(p *corev1.Pod) bool {
		return p.Status.Phase == corev1.PodPending && len(p.Status.ContainerStatuses) == 1 &&
			p.Status.ContainerStatuses[0].State.Waiting != nil &&
			p.Status.ContainerStatuses[0].State.Waiting.Reason == ReasonUnsupportedImage
	})
}

func (f *fixture) testMissingSecret(t *testing.T) {
	t.Parallel()
	ns := f.namespace(t)
	c := shContainer("main", `printf "$TOKEN" > /dev/termination-log`)
	c.Env = []corev1.EnvVar{{Name: "TOKEN", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
		LocalObjectReference: corev1.LocalObjectReference{Name: "late"}, Key: "token"}}}}
	f.createPod(t, ns, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "early"},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{c}},
	})
	f.waitPod(t, ns, "early", 30*time.Second, "waiting with CreateContainerConfigError", func(p *corev1.Pod) bool {
		return len(p.Status.ContainerStatuses) == 1 && p.Status.ContainerStatuses[0].State.Waiting != nil &&
			p.Status.ContainerStatuses[0].State.Waiting.Reason == "CreateContainerConfigError" &&
			strings.Contains(p.Status.ContainerStatuses[0].State.Waiting.Message, `"late"`)
	})
	if _, err := f.client.CoreV1().Secrets(ns).Create(f.ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "late"},
		Data:       map[string][]byte{"token": []byte("finally")},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	got := f.waitPhase(t, ns, "early", corev1.PodSucceeded)
	if msg := terminated(t, containerStatus(t, got.Status.ContainerStatuses, "main")).Message; msg != "finally" {
		t.Errorf("message %q, want the secret created after the pod", msg)
	}
}

func (f *fixture) testLogs(t *testing.T) {
	t.Parallel()
	ns := f.namespace(t)
	f.createPod(t, ns, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "talker"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{
			shContainer("main", `for i in 1 2 3 4 5; do echo "line $i"; done; echo "to stderr" >&2`),
		}},
	})
	f.waitPhase(t, ns, "talker", corev1.PodSucceeded)

	const all = "line 1\nline 2\nline 3\nline 4\nline 5\nto stderr\n"
	tests := []struct {
		name     string
		path     string
		wantCode int
		want     string
	}{
		{name: "all", path: "/containerLogs/" + ns + "/talker/main", wantCode: 200, want: all},
		{name: "tail", path: "/containerLogs/" + ns + "/talker/main?tailLines=2", wantCode: 200, want: "line 5\nto stderr\n"},
		{name: "limit bytes", path: "/containerLogs/" + ns + "/talker/main?limitBytes=6", wantCode: 200, want: "line 1"},
		{name: "no previous run", path: "/containerLogs/" + ns + "/talker/main?previous=true", wantCode: 400},
		{name: "unknown container", path: "/containerLogs/" + ns + "/talker/nope", wantCode: 404},
		{name: "unknown pod", path: "/containerLogs/" + ns + "/nope/main", wantCode: 404},
		{name: "exec is not offered", path: "/exec/" + ns + "/talker/main?command=ls", wantCode: 501},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := f.kubeletGet(t, tt.path)
			if code != tt.wantCode || (tt.want != "" && body != tt.want) {
				t.Errorf("GET %s = %d %q, want %d %q", tt.path, code, body, tt.wantCode, tt.want)
			}
		})
	}

	// kubectl logs goes through the API server, which finds the node's
	// address and kubelet port in its status.
	t.Run("via API server", func(t *testing.T) {
		body, err := f.client.CoreV1().Pods(ns).GetLogs("talker", &corev1.PodLogOptions{Container: "main", TailLines: ptr.To[int64](3)}).DoRaw(f.ctx)
		if err != nil {
			t.Fatalf("pods/log: %v", err)
		}
		if want := "line 4\nline 5\nto stderr\n"; string(body) != want {
			t.Errorf("pods/log = %q, want %q", body, want)
		}
	})
}

func (f *fixture) testFollowLogs(t *testing.T) {
	t.Parallel()
	ns := f.namespace(t)
	f.createPod(t, ns, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "streamer"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{
			shContainer("main", `echo one; sleep 2; echo two`),
		}},
	})
	f.waitRunning(t, ns, "streamer")
	// Through the API server, as kubectl logs -f: the stream ends when the
	// process does.
	start := time.Now()
	stream, err := f.client.CoreV1().Pods(ns).GetLogs("streamer", &corev1.PodLogOptions{Container: "main", Follow: true}).Stream(f.ctx)
	if err != nil {
		t.Fatalf("follow pods/log: %v", err)
	}
	defer stream.Close()
	body, err := io.ReadAll(stream)
	if err != nil {
		t.Fatalf("read followed log: %v", err)
	}
	if string(body) != "one\ntwo\n" {
		t.Errorf("followed log %q, want %q", body, "one\ntwo\n")
	}
	if time.Since(start) > 20*time.Second {
		t.Errorf("follow took %s, want it to end with the process", time.Since(start))
	}
}

// waitLog polls the kubelet API until the container's log is want.
func (f *fixture) waitLog(t *testing.T, ns, pod, container, want string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		code, body := f.kubeletGet(t, "/containerLogs/"+ns+"/"+pod+"/"+container)
		if code == 200 && body == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("log of %s/%s/%s: %d %q, want %q", ns, pod, container, code, body, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
