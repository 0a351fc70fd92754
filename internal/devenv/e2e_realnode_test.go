//go:build e2e

package devenv_test

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	inventoryv1alpha1 "github.com/slotsync/slotsync/api/v1alpha1"
	"github.com/slotsync/slotsync/internal/devenv"
)

// The scenarios only the real node can show: containers, the kernel's
// enforcement of the security context, the kubelet's probes, projected tokens and
// Service networking.

// shippedPods are the running pods of config/default's Deployments, by component.
func (e *e2e) shippedPods(component string) []corev1.Pod {
	e.t.Helper()
	var list corev1.PodList
	if err := e.env.Client.List(e.ctx, &list, client.InNamespace(devenv.SystemNamespace),
		client.MatchingLabels{"app.kubernetes.io/name": "slotsync", "app.kubernetes.io/component": component}); err != nil {
		e.t.Fatal(err)
	}
	var running []corev1.Pod
	for _, p := range list.Items {
		if p.DeletionTimestamp == nil && p.Status.Phase == corev1.PodRunning {
			running = append(running, p)
		}
	}
	return running
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// shippedDeployments: config/default, applied as users do with only the image
// set, runs on the containerd node with the replicas it asks for; every
// container passed the kubelet's probes and never restarted; the manager elected
// a leader through its in-cluster config.
func (e *e2e) shippedDeployments() {
	if out := e.kubectl("get", "nodes", "-o", "wide"); !strings.Contains(out, "containerd://") {
		e.t.Errorf("kubectl get nodes -o wide shows no containerd node:\n%s", out)
	}
	var deployments appsv1.DeploymentList
	if err := e.env.Client.List(e.ctx, &deployments, client.InNamespace(devenv.SystemNamespace)); err != nil {
		e.t.Fatal(err)
	}
	want := map[string]int32{"slotsync-manager": 2, "slotsync-api": 2}
	for _, d := range deployments.Items {
		if n, ok := want[d.Name]; !ok || *d.Spec.Replicas != n || d.Status.AvailableReplicas != n {
			e.t.Errorf("Deployment %s: %d of %d replicas available, config/default asks for %d", d.Name, d.Status.AvailableReplicas, *d.Spec.Replicas, n)
		}
		delete(want, d.Name)
	}
	if len(want) != 0 {
		e.t.Errorf("Deployments missing from slotsync-system: %v", want)
	}
	for _, component := range []string{"manager", "api"} {
		for _, p := range e.shippedPods(component) {
			if p.Spec.NodeName != devenv.RealNodeName || !podReady(&p) {
				e.t.Errorf("pod %s on %q, Ready %t", p.Name, p.Spec.NodeName, podReady(&p))
			}
			for _, c := range p.Spec.Containers {
				if c.LivenessProbe == nil || c.ReadinessProbe == nil {
					e.t.Errorf("pod %s container %s ships without liveness and readiness probes", p.Name, c.Name)
				}
			}
			// Ready means the kubelet's readiness probe passed; no restart means
			// its liveness probe never failed.
			for _, s := range p.Status.ContainerStatuses {
				if !s.Ready || s.RestartCount != 0 {
					e.t.Errorf("pod %s container %s: ready %t, %d restarts", p.Name, s.Name, s.Ready, s.RestartCount)
				}
			}
		}
	}
	leader, err := e.env.ManagerLeader(e.ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	leads := false
	for _, p := range e.shippedPods("manager") {
		leads = leads || p.Name == leader
	}
	if !leads {
		e.t.Errorf("the lease is held by %q, not a running manager pod", leader)
	}
}

// procStatus is /proc/PID/status as the kernel reports it for a container's
// process.
func procStatus(pid int) (map[string]string, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fields := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok {
			fields[k] = strings.Join(strings.Fields(v), " ")
		}
	}
	return fields, sc.Err()
}

// writableMounts are the mount points a container's process may write to,
// read from /proc/PID/mountinfo, with the root's options.
func writableMounts(pid int) (rootOptions string, writable []string, err error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/mountinfo", pid))
	if err != nil {
		return "", nil, err
	}
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		// id parent major:minor root mountpoint options [optional...] - fstype source super
		pre, post, _ := strings.Cut(line, " - ")
		f, g := strings.Fields(pre), strings.Fields(post)
		if len(f) < 6 || len(g) < 1 {
			return "", nil, fmt.Errorf("mountinfo line %q", line)
		}
		mountPoint, options, fsType := f[4], f[5], g[0]
		if mountPoint == "/" {
			rootOptions = options
		}
		if !strings.HasPrefix(options, "rw") {
			continue
		}
		// Kernel interfaces, not storage: what a process writes there is gone
		// with it or refused by permissions.
		switch fsType {
		case "proc", "sysfs", "devpts", "mqueue", "cgroup", "cgroup2":
			continue
		}
		// Under /proc and /sys the runtime masks files with tmpfs or /dev/null
		// and mounts the cgroup tree: kernel interfaces too, not storage.
		if mountPoint == "/dev" || mountPoint == "/dev/shm" || strings.HasPrefix(mountPoint, "/proc/") || strings.HasPrefix(mountPoint, "/sys/") {
			continue
		}
		writable = append(writable, mountPoint)
	}
	return rootOptions, writable, nil
}

// kubeletFiles are the files the kubelet mounts into every container.
var kubeletFiles = map[string]bool{"/etc/hosts": true, "/etc/hostname": true, "/etc/resolv.conf": true, "/dev/termination-log": true}

// securityContextEnforced reads from the kernel, for every container of the
// shipped Deployments, what the shipped security context asks for: user and
// group 65532, no capabilities, no new privileges, seccomp filtering, a
// read-only root, and writes possible only on the volumes the pod declares.
func (e *e2e) securityContextEnforced() {
	checked := 0
	for _, component := range []string{"manager", "api"} {
		for _, p := range e.shippedPods(component) {
			volumes := map[string]bool{}
			for _, c := range p.Spec.Containers {
				for _, m := range c.VolumeMounts {
					if !m.ReadOnly {
						volumes[path.Clean(m.MountPath)] = true
					}
				}
			}
			for _, s := range p.Status.ContainerStatuses {
				pid, err := e.env.ContainerPID(e.ctx, s.ContainerID)
				if err != nil {
					e.t.Fatalf("pod %s container %s: %v", p.Name, s.Name, err)
				}
				status, err := procStatus(pid)
				if err != nil {
					e.t.Fatal(err)
				}
				for field, want := range map[string]string{
					"Uid": "65532 65532 65532 65532", "Gid": "65532 65532 65532 65532",
					"CapEff": "0000000000000000", "CapPrm": "0000000000000000", "CapBnd": "0000000000000000",
					"NoNewPrivs": "1", "Seccomp": "2",
				} {
					if status[field] != want {
						e.t.Errorf("pod %s container %s (pid %d): %s is %q, the shipped security context asks for %q", p.Name, s.Name, pid, field, status[field], want)
					}
				}
				rootOptions, writable, err := writableMounts(pid)
				if err != nil {
					e.t.Fatal(err)
				}
				if !strings.HasPrefix(rootOptions, "ro") {
					e.t.Errorf("pod %s container %s: root mounted %q, want read-only", p.Name, s.Name, rootOptions)
				}
				for _, m := range writable {
					if !kubeletFiles[m] && !volumes[m] {
						e.t.Errorf("pod %s container %s can write to %s, which is no volume of the pod", p.Name, s.Name, m)
					}
				}
				checked++
			}
		}
	}
	if checked < 4 {
		e.t.Fatalf("checked %d containers, want the 4 of config/default's replicas", checked)
	}
}

// jwtClaims decodes a token's claims without verifying it: the API server did.
func jwtClaims(token string) (map[string]any, error) {
	parts := strings.Split(strings.TrimSpace(token), ".")
	if len(parts) != 3 {
		return nil, fmt.Errorf("not a JWT: %d parts", len(parts))
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return nil, err
	}
	var claims map[string]any
	return claims, json.Unmarshal(payload, &claims)
}

// projectedTokens: the manager and the API talk to the API server with the
// in-cluster config (no kubeconfig) and a projected, pod-bound, expiring
// ServiceAccount token; the sync Jobs' pods get no token at all.
func (e *e2e) projectedTokens() {
	for _, component := range []string{"manager", "api"} {
		for _, p := range e.shippedPods(component) {
			for _, c := range p.Spec.Containers {
				for _, env := range c.Env {
					if env.Name == "KUBECONFIG" {
						e.t.Errorf("pod %s sets KUBECONFIG: not the in-cluster config", p.Name)
					}
				}
			}
			pid, err := e.env.ContainerPID(e.ctx, p.Status.ContainerStatuses[0].ContainerID)
			if err != nil {
				e.t.Fatal(err)
			}
			token, err := os.ReadFile(filepath.Join(fmt.Sprintf("/proc/%d/root", pid), "var/run/secrets/kubernetes.io/serviceaccount/token"))
			if err != nil {
				e.t.Fatalf("pod %s has no ServiceAccount token: %v", p.Name, err)
			}
			claims, err := jwtClaims(string(token))
			if err != nil {
				e.t.Fatalf("pod %s token: %v", p.Name, err)
			}
			bound, _ := claims["kubernetes.io"].(map[string]any)
			pod, _ := bound["pod"].(map[string]any)
			if pod["name"] != p.Name || claims["exp"] == nil {
				e.t.Errorf("pod %s token is not a projected one bound to it and expiring: %v", p.Name, claims)
			}
		}
	}
	// The manager got its lease and the API reviewed tokens (the REST pause
	// scenarios) with these tokens; the Jobs' pods get none.
	var pods corev1.PodList
	if err := e.env.Client.List(e.ctx, &pods, client.InNamespace(devenv.Namespace), client.HasLabels{inventoryv1alpha1.LabelSchedule}); err != nil {
		e.t.Fatal(err)
	}
	if len(pods.Items) == 0 {
		e.t.Fatal("no sync pods to check")
	}
	for _, p := range pods.Items {
		if p.Spec.AutomountServiceAccountToken == nil || *p.Spec.AutomountServiceAccountToken {
			e.t.Errorf("sync pod %s may mount a ServiceAccount token", p.Name)
		}
		for _, v := range p.Spec.Volumes {
			if v.Projected != nil {
				for _, src := range v.Projected.Sources {
					if src.ServiceAccountToken != nil {
						e.t.Errorf("sync pod %s has a ServiceAccount token in volume %s", p.Name, v.Name)
					}
				}
			}
		}
	}
}

// serviceCalls is what clients of the API's Service saw while something
// happened to its pods.
type serviceCalls struct {
	answered int
	failures []string
	// longestGap is the longest time without an answer.
	longestGap time.Duration
}

// callService calls the API's Service every 50 ms, each request on a new
// connection that kube-proxy balances afresh, until stop closes.
func (e *e2e) callService(stop <-chan struct{}) <-chan serviceCalls {
	transport := e.env.HTTPClient().Transport.(*http.Transport).Clone()
	transport.DisableKeepAlives = true
	hc := &http.Client{Timeout: 5 * time.Second, Transport: transport}
	url := e.env.APIURL + "/api/v1/experience/14/dates"
	out := make(chan serviceCalls, 1)
	go func() {
		var calls serviceCalls
		lastAnswer := time.Now()
		defer func() {
			calls.longestGap = max(calls.longestGap, time.Since(lastAnswer))
			out <- calls
		}()
		for {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
			resp, err := hc.Get(url)
			switch {
			case err != nil:
				calls.failures = append(calls.failures, err.Error())
			case resp.StatusCode != http.StatusOK:
				calls.failures = append(calls.failures, resp.Status)
			default:
				calls.answered++
				calls.longestGap = max(calls.longestGap, time.Since(lastAnswer))
				lastAnswer = time.Now()
			}
			if resp != nil {
				resp.Body.Close()
			}
		}
	}()
	return out
}

// apiPodsReady counts the API pods Ready, not counting gone.
func (e *e2e) apiPodsReady(gone string) int {
	ready := 0
	for _, p := range e.shippedPods("api") {
		if p.Name != gone && podReady(&p) {
			ready++
		}
	}
	return ready
}

// apiReplicaDeleted: one API pod is deleted (a drain, an eviction, a rollout)
// while clients call the Service: every request is answered, during the pod's
// shutdown (it drains for --shutdown-delay) and until its replacement is Ready.
func (e *e2e) apiReplicaDeleted() {
	pods := e.shippedPods("api")
	if len(pods) < 2 {
		e.t.Fatalf("%d API pods running, want 2", len(pods))
	}
	stop := make(chan struct{})
	result := e.callService(stop)
	time.Sleep(time.Second)
	victim := pods[0].Name
	if err := e.env.Client.Delete(e.ctx, &pods[0]); err != nil {
		e.t.Fatal(err)
	}
	deleted := time.Now()
	e.eventually("the deleted API pod is gone and its replacement Ready", func() error {
		var p corev1.Pod
		if err := e.env.Client.Get(e.ctx, client.ObjectKey{Namespace: devenv.SystemNamespace, Name: victim}, &p); err == nil {
			return fmt.Errorf("pod %s still there", victim)
		}
		if n := e.apiPodsReady(victim); n < 2 {
			return fmt.Errorf("%d API pods Ready", n)
		}
		return nil
	})
	// kube-proxy follows the replacement's endpoint a moment after it turns Ready.
	time.Sleep(3 * time.Second)
	close(stop)
	calls := <-result
	e.t.Logf("%d requests answered in the %s from the deletion to a whole Deployment", calls.answered, time.Since(deleted).Round(time.Second))
	if len(calls.failures) != 0 {
		e.t.Fatalf("%d of %d requests failed while an API pod went away: %v", len(calls.failures), calls.answered+len(calls.failures), calls.failures)
	}
	if calls.answered < 20 {
		e.t.Fatalf("only %d requests answered", calls.answered)
	}
}

// apiReplicaKilled: one API container is killed (SIGKILL, as a crash or the OOM
// killer would). Requests kube-proxy sends to it fail until the kubelet reports it
// not Ready and the endpoint goes, but the Service keeps answering through the
// other replica: never a second without an answer. The kubelet restarts the
// container, and once it is Ready again every request is answered.
func (e *e2e) apiReplicaKilled() {
	pods := e.shippedPods("api")
	if len(pods) < 2 {
		e.t.Fatalf("%d API pods running, want 2", len(pods))
	}
	victim := pods[0]
	restarts := victim.Status.ContainerStatuses[0].RestartCount
	pid, err := e.env.ContainerPID(e.ctx, victim.Status.ContainerStatuses[0].ContainerID)
	if err != nil {
		e.t.Fatal(err)
	}
	stop := make(chan struct{})
	during := e.callService(stop)
	time.Sleep(time.Second)
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		e.t.Fatal(err)
	}
	killed := time.Now()
	e.eventually("the kubelet restarts the killed container and it turns Ready", func() error {
		var p corev1.Pod
		if err := e.env.Client.Get(e.ctx, client.ObjectKeyFromObject(&victim), &p); err != nil {
			return err
		}
		if s := p.Status.ContainerStatuses[0]; s.RestartCount == restarts || !podReady(&p) {
			return fmt.Errorf("restarts %d, Ready %t", s.RestartCount, podReady(&p))
		}
		return nil
	})
	time.Sleep(3 * time.Second)
	close(stop)
	calls := <-during
	e.t.Logf("after the kill: %d answered, %d failed, longest without an answer %s; restarted and Ready after %s",
		calls.answered, len(calls.failures), calls.longestGap.Round(time.Millisecond), (time.Since(killed) - 3*time.Second).Round(time.Second))
	if calls.longestGap > time.Second {
		e.t.Errorf("the Service went %s without answering", calls.longestGap)
	}
	stop = make(chan struct{})
	after := e.callService(stop)
	time.Sleep(3 * time.Second)
	close(stop)
	if calls := <-after; len(calls.failures) != 0 || calls.answered < 20 {
		e.t.Errorf("with both replicas Ready again: %d answered, failures %v", calls.answered, calls.failures)
	}
}
