package localnode

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

const testNodeName = "test-node"

// startAPIServer runs etcd and kube-apiserver from KUBEBUILDER_ASSETS. The
// test fails, never skips, when they are missing.
func startAPIServer(t *testing.T) *rest.Config {
	t.Helper()
	assets := os.Getenv("KUBEBUILDER_ASSETS")
	if assets == "" {
		t.Fatal("KUBEBUILDER_ASSETS is not set: run `make envtest-assets` and set KUBEBUILDER_ASSETS=$PWD/bin/k8s (make test does both)")
	}
	for _, bin := range []string{"etcd", "kube-apiserver"} {
		if _, err := os.Stat(filepath.Join(assets, bin)); err != nil {
			t.Fatalf("%s is missing from KUBEBUILDER_ASSETS=%s: run `make envtest-assets`: %v", bin, assets, err)
		}
	}
	env := &envtest.Environment{BinaryAssetsDirectory: assets}
	cfg, err := env.Start()
	if err != nil {
		t.Fatalf("start envtest: %v", err)
	}
	t.Cleanup(func() {
		if err := env.Stop(); err != nil {
			t.Errorf("stop envtest: %v", err)
		}
	})
	return cfg
}

// testLogger writes to stderr, which go test shows only for a failing
// package; testr would panic on a log line after the test ended.
func testLogger() logr.Logger {
	return funcr.New(func(prefix, args string) {
		fmt.Fprintf(os.Stderr, "%s %s %s\n", time.Now().Format("15:04:05.000"), prefix, args)
	}, funcr.Options{})
}

// fixture is a running local node and a client of its API server.
type fixture struct {
	ctx     context.Context
	client  kubernetes.Interface
	node    *Node
	workDir string
	kubelet *http.Client
	nsSeq   atomic.Int32
}

func (f *fixture) namespace(t *testing.T) string {
	t.Helper()
	clean := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			return r
		}
		return '-'
	}, strings.ToLower(strings.TrimPrefix(t.Name(), "TestNode/pods/")))
	name := strings.TrimRight(fmt.Sprintf("t%d-%s", f.nsSeq.Add(1), clean), "-")
	if len(name) > 63 {
		name = strings.TrimRight(name[:63], "-")
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if _, err := f.client.CoreV1().Namespaces().Create(f.ctx, ns, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create namespace: %v", err)
	}
	return name
}

// createPod binds the pod to the node (envtest runs no scheduler) and
// defaults what a Job's pod template would have.
func (f *fixture) createPod(t *testing.T, ns string, pod *corev1.Pod) *corev1.Pod {
	t.Helper()
	pod.Namespace = ns
	pod.Spec.NodeName = testNodeName
	if pod.Spec.RestartPolicy == "" {
		pod.Spec.RestartPolicy = corev1.RestartPolicyNever
	}
	if pod.Spec.TerminationGracePeriodSeconds == nil {
		pod.Spec.TerminationGracePeriodSeconds = ptr.To[int64](30)
	}
	for i := range pod.Spec.Containers {
		if pod.Spec.Containers[i].Image == "" {
			pod.Spec.Containers[i].Image = "busybox"
		}
	}
	created, err := f.client.CoreV1().Pods(ns).Create(f.ctx, pod, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create pod %s: %v", pod.Name, err)
	}
	return created
}

// waitPod polls the API server until ok accepts the pod.
func (f *fixture) waitPod(t *testing.T, ns, name string, timeout time.Duration, what string, ok func(*corev1.Pod) bool) *corev1.Pod {
	t.Helper()
	var last *corev1.Pod
	err := wait.PollUntilContextTimeout(f.ctx, 100*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		pod, err := f.client.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		if err == nil {
			last = pod
			return ok(pod), nil
		}
		if !apierrors.IsNotFound(err) && ctx.Err() == nil {
			t.Logf("get pod %s/%s: %v", ns, name, err)
		}
		return false, nil
	})
	if err == nil {
		return last
	}
	if last != nil {
		t.Fatalf("pod %s/%s: %s: not within %s; phase %s reason %q message %q\ninit: %s\ncontainers: %s",
			ns, name, what, timeout, last.Status.Phase, last.Status.Reason, last.Status.Message,
			describe(last.Status.InitContainerStatuses), describe(last.Status.ContainerStatuses))
	}
	t.Fatalf("pod %s/%s: %s: not within %s; never found", ns, name, what, timeout)
	return nil
}

func (f *fixture) waitPhase(t *testing.T, ns, name string, phase corev1.PodPhase) *corev1.Pod {
	t.Helper()
	return f.waitPod(t, ns, name, 60*time.Second, "phase "+string(phase), func(p *corev1.Pod) bool {
		return p.Status.Phase == phase
	})
}

// waitRunning waits until every container runs and the pod is Ready.
func (f *fixture) waitRunning(t *testing.T, ns, name string) *corev1.Pod {
	t.Helper()
	return f.waitPod(t, ns, name, 60*time.Second, "running and Ready", func(p *corev1.Pod) bool {
		if p.Status.Phase != corev1.PodRunning || !podCondition(p, corev1.PodReady) {
			return false
		}
		for _, c := range p.Status.ContainerStatuses {
			if c.State.Running == nil {
				return false
			}
		}
		return true
	})
}

// waitGone waits until the pod is no longer in the API and returns how long
// that took.
func (f *fixture) waitGone(t *testing.T, ns, name string, timeout time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	err := wait.PollUntilContextTimeout(f.ctx, 100*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		_, err := f.client.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
	if err != nil {
		t.Fatalf("pod %s/%s still exists after %s", ns, name, timeout)
	}
	return time.Since(start)
}

// kubeletGet calls the node's kubelet API over HTTPS, trusting only the
// node's own certificate.
func (f *fixture) kubeletGet(t *testing.T, path string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(f.ctx, http.MethodGet, "https://"+f.node.KubeletAddr()+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := f.kubelet.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	return resp.StatusCode, string(body)
}

func newKubeletClient(t *testing.T, certPEM []byte) *http.Client {
	t.Helper()
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(certPEM) {
		t.Fatal("node serving certificate is not PEM")
	}
	return &http.Client{
		Timeout:   30 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}},
	}
}

// leftovers lists processes the node started that still live: every one
// of them, children included, has HOME under the node's WorkDir. Zombies
// have no environment and are not counted.
func leftovers(workDir string) []string {
	entries, _ := os.ReadDir("/proc")
	var out []string
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		env, err := os.ReadFile(filepath.Join("/proc", e.Name(), "environ"))
		if err != nil {
			continue
		}
		for _, kv := range bytes.Split(env, []byte{0}) {
			if home, ok := bytes.CutPrefix(kv, []byte("HOME=")); ok && strings.HasPrefix(string(home), workDir+"/") {
				cmd, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
				out = append(out, fmt.Sprintf("pid %d: %s", pid, bytes.ReplaceAll(cmd, []byte{0}, []byte{' '})))
			}
		}
	}
	return out
}

// pidOf reads the pid from a container ID (localnode://<pid>).
func pidOf(t *testing.T, s corev1.ContainerStatus) int {
	t.Helper()
	pid, err := strconv.Atoi(strings.TrimPrefix(s.ContainerID, "localnode://"))
	if err != nil {
		t.Fatalf("container %s: container ID %q has no pid", s.Name, s.ContainerID)
	}
	return pid
}

func podCondition(p *corev1.Pod, t corev1.PodConditionType) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == t {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func conditionReason(p *corev1.Pod, t corev1.PodConditionType) string {
	for _, c := range p.Status.Conditions {
		if c.Type == t {
			return c.Reason
		}
	}
	return ""
}

func containerStatus(t *testing.T, statuses []corev1.ContainerStatus, name string) corev1.ContainerStatus {
	t.Helper()
	for _, s := range statuses {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("no status for container %q in %s", name, describe(statuses))
	return corev1.ContainerStatus{}
}

func terminated(t *testing.T, s corev1.ContainerStatus) *corev1.ContainerStateTerminated {
	t.Helper()
	if s.State.Terminated == nil {
		t.Fatalf("container %s is not terminated: %s", s.Name, describe([]corev1.ContainerStatus{s}))
	}
	return s.State.Terminated
}

func describe(statuses []corev1.ContainerStatus) string {
	var b strings.Builder
	for _, s := range statuses {
		fmt.Fprintf(&b, "[%s restarts=%d ", s.Name, s.RestartCount)
		switch {
		case s.State.Waiting != nil:
			fmt.Fprintf(&b, "waiting %s %q", s.State.Waiting.Reason, s.State.Waiting.Message)
		case s.State.Running != nil:
			fmt.Fprintf(&b, "running since %s", s.State.Running.StartedAt)
		case s.State.Terminated != nil:
			fmt.Fprintf(&b, "terminated %d %s %q", s.State.Terminated.ExitCode, s.State.Terminated.Reason, s.State.Terminated.Message)
		}
		b.WriteString("] ")
	}
	return b.String()
}

func shContainer(name, script string) corev1.Container {
	return corev1.Container{Name: name, Image: "busybox", Command: []string{"/bin/sh", "-c", script}}
}
