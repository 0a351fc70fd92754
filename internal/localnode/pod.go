package localnode

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/slotsync/slotsync/internal/childproc"
)

// podRun supervises one pod: init containers one by one, then the
// containers side by side, until they end for good or the pod is stopped.
type podRun struct {
	p   *provider
	key string
	dir string
	log logr.Logger

	// notifyMu keeps status notifications in the order they were built.
	notifyMu sync.Mutex

	// policy is the pod's restartPolicy, which cannot change.
	policy corev1.RestartPolicy

	mu        sync.Mutex
	pod       *corev1.Pod // latest metadata and spec; status is built on demand
	prev      corev1.PodStatus
	init      []*containerRun
	regular   []*containerRun
	progress  podProgress
	startTime metav1.Time
	stopping  bool
	killed    bool
	stopCh    chan struct{}
	killTimer *time.Timer
	killAt    time.Time
	// Set by DeletePod: once stopped, delete the pod in the API (it is
	// being deleted there) or forget it (it is gone from there).
	apiDelete, forgetWhenDone bool
}

func newPodRun(p *provider, pod *corev1.Pod) (*podRun, error) {
	dir := filepath.Join(p.cfg.WorkDir, "pods", fmt.Sprintf("%s_%s_%s", pod.Namespace, pod.Name, pod.UID))
	r := &podRun{
		p:         p,
		key:       podKey(pod.Namespace, pod.Name),
		dir:       dir,
		log:       logr.FromContextOrDiscard(p.ctx).WithValues("pod", podKey(pod.Namespace, pod.Name)),
		policy:    pod.Spec.RestartPolicy,
		pod:       pod,
		prev:      pod.Status,
		startTime: metav1.Now(),
		stopCh:    make(chan struct{}),
	}
	if pod.Status.StartTime != nil {
		r.startTime = *pod.Status.StartTime
	}
	old := map[string]corev1.ContainerStatus{}
	for _, s := range append(append([]corev1.ContainerStatus{}, pod.Status.InitContainerStatuses...), pod.Status.ContainerStatuses...) {
		old[s.Name] = s
	}
	waiting := "ContainerCreating"
	for _, c := range pod.Spec.InitContainers {
		r.init = append(r.init, newContainerRun(dir, c, true, "PodInitializing", old[c.Name]))
		waiting = "PodInitializing"
	}
	for _, c := range pod.Spec.Containers {
		r.regular = append(r.regular, newContainerRun(dir, c, false, waiting, old[c.Name]))
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create pod directory: %w", err)
	}
	return r, nil
}

// run is the pod's supervisor goroutine.
func (r *podRun) run() {
	r.log.Info("pod starting", "dir", r.dir)
	r.notify()
	defer r.finish()

	if r.ranBefore() && r.policy == corev1.RestartPolicyNever {
		r.fail(ReasonNodeRestarted, "the pod had started before the local node restarted; restartPolicy Never forbids running it again")
		return
	}
	// Every image is checked before anything runs: a pod that cannot run
	// fails at once instead of after its init containers.
	for _, c := range r.all() {
		if _, err := r.p.resolve.argv(&c.spec); err != nil {
			r.unsupported(c, err)
			return
		}
	}
	for _, c := range r.init {
		if !r.runContainer(c) {
			return
		}
	}
	r.mu.Lock()
	r.progress.initialized = true
	for _, c := range r.regular {
		c.status.State = waitingState("ContainerCreating", "")
	}
	r.mu.Unlock()
	r.notify()

	var wg sync.WaitGroup
	for _, c := range r.regular {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.runContainer(c)
		}()
	}
	wg.Wait()
}

// runContainer runs c, restarting it as the restart policy says, and
// reports whether its last run succeeded.
func (r *podRun) runContainer(c *containerRun) bool {
	policy := r.policy
	backoff := r.restartBackoff()
	for {
		code, ran, took := r.attempt(c)
		if !ran || r.isStopping() {
			return ran && code == 0
		}
		restart := false
		switch {
		case c.init:
			restart = code != 0 && policy != corev1.RestartPolicyNever
		case policy == corev1.RestartPolicyAlways:
			restart = true
		case policy == corev1.RestartPolicyOnFailure:
			restart = code != 0
		}
		if !restart {
			return code == 0
		}
		// As the kubelet: the delay doubles with each restart and starts
		// over after a run twice as long as the longest delay.
		if took > 2*r.p.cfg.MaxRestartBackoff {
			backoff = r.restartBackoff()
		}
		delay := backoff.Step()
		r.mu.Lock()
		c.status.LastTerminationState = c.status.State
		c.status.State = waitingState("CrashLoopBackOff",
			fmt.Sprintf("back-off %s restarting failed container=%s pod=%s", delay, c.spec.Name, r.pod.Name))
		r.mu.Unlock()
		r.notify()
		if !r.sleep(delay) {
			return false
		}
	}
}

// restartBackoff gives the delays before each restart of a container:
// RestartBackoff, doubling up to MaxRestartBackoff.
func (r *podRun) restartBackoff() *wait.Backoff {
	return &wait.Backoff{Duration: r.p.cfg.RestartBackoff, Factor: 2, Cap: r.p.cfg.MaxRestartBackoff, Steps: math.MaxInt}
}

// unsupported ends a pod whose image cannot run. Pods that would restart it
// forever (restartPolicy Always) wait instead, as the kubelet's
// ErrImageNeverPull does, so that a ReplicaSet does not replace them in a loop.
func (r *podRun) unsupported(c *containerRun, err error) {
	r.log.Info("pod cannot run", "container", c.spec.Name, "image", c.spec.Image, "reason", ReasonUnsupportedImage)
	if r.policy == corev1.RestartPolicyAlways {
		r.mu.Lock()
		c.status.State = waitingState(ReasonUnsupportedImage, err.Error())
		r.mu.Unlock()
		r.notify()
		<-r.stopCh
		return
	}
	r.mu.Lock()
	c.status.State = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
		ExitCode: 128, Reason: ReasonUnsupportedImage, Message: err.Error(), FinishedAt: metav1.Now(),
	}}
	r.progress.reason = ReasonUnsupportedImage
	r.progress.message = err.Error()
	r.mu.Unlock()
}

// fail ends the pod as a whole without running anything.
func (r *podRun) fail(reason, message string) {
	r.log.Info("pod failed", "reason", reason, "message", message)
	r.mu.Lock()
	r.progress.reason = reason
	r.progress.message = message
	r.mu.Unlock()
}

// finish reports the final status and carries out a deletion asked for
// while the processes were stopping.
func (r *podRun) finish() {
	r.mu.Lock()
	r.progress.finished = true
	if r.killTimer != nil {
		r.killTimer.Stop()
	}
	for _, c := range r.all() {
		switch {
		case c.status.State.Terminated != nil:
		case c.status.LastTerminationState.Terminated != nil:
			// Stopped during a back-off: the last run is the final word.
			c.status.State = c.status.LastTerminationState
			c.status.LastTerminationState = corev1.ContainerState{}
		case r.stopping || r.progress.reason != "" || !c.init && r.progress.initialized:
			// Never started here, or lost in a node restart: the
			// kubelet's word for it.
			c.status.State = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
				ExitCode: 137, Reason: "ContainerStatusUnknown", FinishedAt: metav1.Now(),
				Message: "The container was not running when the pod ended",
			}}
		}
	}
	apiDelete, forget := r.apiDelete, r.forgetWhenDone
	r.mu.Unlock()
	pod := r.notify()
	r.log.Info("pod finished", "phase", pod.Status.Phase)
	switch {
	case forget:
		r.p.forget(r)
	case apiDelete:
		r.p.deleteFromAPI(r)
	}
}

// markDeleted records what to do once the pod has stopped and reports
// whether it has stopped already.
func (r *podRun) markDeleted(forget, apiDelete bool) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.progress.finished {
		return true
	}
	r.forgetWhenDone = r.forgetWhenDone || forget
	r.apiDelete = r.apiDelete || apiDelete
	return false
}

// requestStop sends SIGTERM to every process of the pod now and SIGKILL
// after grace; a shorter grace in a later call brings SIGKILL forward.
func (r *podRun) requestStop(grace time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	deadline := time.Now().Add(grace)
	if r.stopping {
		if deadline.Before(r.killAt) {
			r.killAt = deadline
			r.killTimer.Reset(grace)
		}
		return
	}
	r.stopping = true
	r.killAt = deadline
	close(r.stopCh)
	r.signalLocked(syscall.SIGTERM)
	r.killTimer = time.AfterFunc(grace, func() {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.killed = true
		r.signalLocked(syscall.SIGKILL)
	})
}

func (r *podRun) signalLocked(sig syscall.Signal) {
	for _, c := range r.all() {
		if err := childproc.SignalGroup(c.pid, sig); err != nil {
			r.log.Error(err, "stop container", "container", c.spec.Name)
		}
	}
}

func (r *podRun) isStopping() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stopping
}

// sleep waits d and reports false if the pod was stopped meanwhile.
func (r *podRun) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.stopCh:
		return false
	}
}

// ranBefore tells whether the API shows that a container of this pod had
// started, which for a pod we just took on means the node restarted.
func (r *podRun) ranBefore() bool {
	for _, c := range r.all() {
		if c.startedBefore {
			return true
		}
	}
	return false
}

func (r *podRun) update(pod *corev1.Pod) {
	r.mu.Lock()
	defer r.mu.Unlock()
	status := r.pod.Status
	r.pod = pod.DeepCopy()
	r.pod.Status = status
}

// notify builds the current status and hands it to the library.
func (r *podRun) notify() *corev1.Pod {
	r.notifyMu.Lock()
	defer r.notifyMu.Unlock()
	pod := r.snapshot()
	r.p.notifyPod(pod)
	return pod
}

// snapshot is the pod with its current status, safe to hand out.
func (r *podRun) snapshot() *corev1.Pod {
	r.mu.Lock()
	defer r.mu.Unlock()
	pod := r.pod.DeepCopy()
	init := make([]corev1.ContainerStatus, 0, len(r.init))
	for _, c := range r.init {
		init = append(init, *c.status.DeepCopy())
	}
	regular := make([]corev1.ContainerStatus, 0, len(r.regular))
	for _, c := range r.regular {
		regular = append(regular, *c.status.DeepCopy())
	}
	if len(init) == 0 {
		init = nil
	}
	pod.Status = buildStatus(pod, r.prev, init, regular, r.progress, r.p.cfg.Address, r.startTime, metav1.Now())
	r.prev = *pod.Status.DeepCopy()
	return pod
}

func (r *podRun) all() []*containerRun {
	return append(append([]*containerRun{}, r.init...), r.regular...)
}

func (r *podRun) uid() types.UID {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.pod.UID
}

func (r *podRun) namespaceName() (string, string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.pod.Namespace, r.pod.Name
}

func (r *podRun) container(name string) *containerRun {
	for _, c := range r.all() {
		if c.spec.Name == name {
			return c
		}
	}
	return nil
}
