package localnode

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/go-logr/logr"
	dto "github.com/prometheus/client_model/go"
	"github.com/virtual-kubelet/virtual-kubelet/errdefs"
	"github.com/virtual-kubelet/virtual-kubelet/node/api"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	corev1listers "k8s.io/client-go/listers/core/v1"
	statsv1alpha1 "k8s.io/kubelet/pkg/apis/stats/v1alpha1"
)

// errNotSupported answers the kubelet features a process cannot offer.
var errNotSupported = errors.New("not supported by the local node: it runs plain processes")

// provider is the virtual-kubelet provider: it keeps one podRun per pod bound
// to the node and tells the library when a pod's status changes.
type provider struct {
	cfg     Config
	client  kubernetes.Interface
	pods    corev1listers.PodLister
	env     envResolver
	resolve resolver

	// ctx is the node's: its logger, and cancelled when the node stops.
	ctx context.Context

	mu      sync.Mutex
	runs    map[string]*podRun // by namespace/name, as the library keys pods
	notify  func(*corev1.Pod)
	closing bool
	wg      sync.WaitGroup // supervisors and API deletions
}

func podKey(namespace, name string) string { return namespace + "/" + name }

// CreatePod starts the pod's supervisor; it returns before any process runs.
func (p *provider) CreatePod(_ context.Context, pod *corev1.Pod) error {
	key := podKey(pod.Namespace, pod.Name)
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closing {
		return errors.New("local node is shutting down")
	}
	if old, ok := p.runs[key]; ok {
		if old.uid() == pod.UID {
			return nil
		}
		// A pod of the same name replaced one we still run (a StatefulSet
		// does this); the old one is gone from the API.
		old.requestStop(0)
	}
	r, err := newPodRun(p, pod.DeepCopy())
	if err != nil {
		return fmt.Errorf("prepare pod %s: %w", key, err)
	}
	p.runs[key] = r
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		r.run()
	}()
	return nil
}

// UpdatePod records new labels and annotations; running processes keep the
// spec and env they started with, as the kubelet's containers do.
func (p *provider) UpdatePod(_ context.Context, pod *corev1.Pod) error {
	r := p.lookup(pod.Namespace, pod.Name)
	if r == nil || r.uid() != pod.UID {
		return errdefs.NotFoundf("pod %s/%s is not on this node", pod.Namespace, pod.Name)
	}
	r.update(pod)
	return nil
}

// DeletePod stops the pod's processes: SIGTERM now, SIGKILL after the grace
// period. The library calls it when the pod is being deleted in the API, and
// again, with our own copy, once the pod is gone from the API.
func (p *provider) DeletePod(ctx context.Context, pod *corev1.Pod) error {
	r := p.lookup(pod.Namespace, pod.Name)
	if r == nil || (pod.UID != "" && r.uid() != pod.UID) {
		return errdefs.NotFoundf("pod %s/%s is not on this node", pod.Namespace, pod.Name)
	}
	inAPI := false
	if cur, err := p.pods.Pods(pod.Namespace).Get(pod.Name); err == nil && cur.UID == r.uid() {
		inAPI = true
	}
	finished := r.markDeleted(!inAPI, inAPI && pod.DeletionTimestamp != nil)
	switch {
	case finished && !inAPI:
		p.forget(r)
	case finished && pod.DeletionTimestamp != nil:
		// Stopped already, but the API has not seen it yet.
		p.deleteFromAPI(r)
	case !finished:
		logr.FromContextOrDiscard(p.ctx).Info("stopping pod", "pod", r.key, "gracePeriod", gracePeriod(pod))
		r.requestStop(gracePeriod(pod))
	}
	return nil
}

func (p *provider) GetPod(_ context.Context, namespace, name string) (*corev1.Pod, error) {
	r := p.lookup(namespace, name)
	if r == nil {
		return nil, errdefs.NotFoundf("pod %s/%s is not on this node", namespace, name)
	}
	return r.snapshot(), nil
}

func (p *provider) GetPodStatus(ctx context.Context, namespace, name string) (*corev1.PodStatus, error) {
	pod, err := p.GetPod(ctx, namespace, name)
	if err != nil {
		return nil, err
	}
	return &pod.Status, nil
}

func (p *provider) GetPods(context.Context) ([]*corev1.Pod, error) {
	p.mu.Lock()
	runs := make([]*podRun, 0, len(p.runs))
	for _, r := range p.runs {
		runs = append(runs, r)
	}
	p.mu.Unlock()
	pods := make([]*corev1.Pod, 0, len(runs))
	for _, r := range runs {
		pods = append(pods, r.snapshot())
	}
	return pods, nil
}

// NotifyPods is how the library learns status changes; supervisors call f.
func (p *provider) NotifyPods(_ context.Context, f func(*corev1.Pod)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.notify = f
}

func (p *provider) notifyPod(pod *corev1.Pod) {
	p.mu.Lock()
	f := p.notify
	p.mu.Unlock()
	if f != nil {
		f(pod)
	}
}

func (p *provider) lookup(namespace, name string) *podRun {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.runs[podKey(namespace, name)]
}

// forget drops a pod that is gone from the API and has no process left.
func (p *provider) forget(r *podRun) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.runs[r.key] == r {
		delete(p.runs, r.key)
	}
}

// deleteFromAPI removes a pod whose processes have ended, as the kubelet does
// once a deleted pod is terminal, so that deletion does not wait for the
// whole grace period. It first waits (briefly) until the API shows the final
// status, so that the Job controller counts the pod as it ended.
func (p *provider) deleteFromAPI(r *podRun) {
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		log := logr.FromContextOrDiscard(p.ctx).WithValues("pod", r.key)
		uid := r.uid()
		ns, name := r.namespaceName()
		ctx, cancel := context.WithTimeout(p.ctx, 5*time.Second)
		_ = wait.PollUntilContextCancel(ctx, 100*time.Millisecond, true, func(context.Context) (bool, error) {
			cur, err := p.pods.Pods(ns).Get(name)
			if err != nil || cur.UID != uid {
				return true, nil
			}
			return cur.Status.Phase == corev1.PodSucceeded || cur.Status.Phase == corev1.PodFailed, nil
		})
		cancel()
		if p.ctx.Err() != nil {
			return
		}
		opts := metav1.DeleteOptions{GracePeriodSeconds: new(int64), Preconditions: metav1.NewUIDPreconditions(string(uid))}
		err := p.client.CoreV1().Pods(ns).Delete(p.ctx, name, opts)
		if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
			log.Error(err, "delete stopped pod")
		}
	}()
}

// shutdown stops every pod: SIGTERM, SIGKILL after ShutdownGrace, and waits
// until every process has been reaped.
func (p *provider) shutdown(log logr.Logger) error {
	p.mu.Lock()
	p.closing = true
	runs := make([]*podRun, 0, len(p.runs))
	for _, r := range p.runs {
		runs = append(runs, r)
	}
	p.mu.Unlock()
	for _, r := range runs {
		r.requestStop(p.cfg.ShutdownGrace)
	}
	done := make(chan struct{})
	go func() {
		p.wg.Wait()
		close(done)
	}()
	// SIGKILL cannot be ignored, so this waits only for a process stuck in
	// the kernel.
	select {
	case <-done:
		log.Info("all pod processes stopped", "pods", len(runs))
		return nil
	case <-time.After(p.cfg.ShutdownGrace + 10*time.Second):
		return errors.New("stop pod processes: some did not exit after SIGKILL")
	}
}

// gracePeriod is the time between SIGTERM and SIGKILL for a deletion.
func gracePeriod(pod *corev1.Pod) time.Duration {
	switch {
	case pod.DeletionGracePeriodSeconds != nil:
		return time.Duration(*pod.DeletionGracePeriodSeconds) * time.Second
	case pod.Spec.TerminationGracePeriodSeconds != nil:
		return time.Duration(*pod.Spec.TerminationGracePeriodSeconds) * time.Second
	}
	return corev1.DefaultTerminationGracePeriodSeconds * time.Second
}

// The library's provider interface asks for these; a process offers none.

func (p *provider) RunInContainer(context.Context, string, string, string, []string, api.AttachIO) error {
	return errNotSupported
}

func (p *provider) AttachToContainer(context.Context, string, string, string, api.AttachIO) error {
	return errNotSupported
}

func (p *provider) PortForward(context.Context, string, string, int32, io.ReadWriteCloser) error {
	return errNotSupported
}

func (p *provider) GetStatsSummary(context.Context) (*statsv1alpha1.Summary, error) {
	return nil, errNotSupported
}

func (p *provider) GetMetricsResource(context.Context) ([]*dto.MetricFamily, error) {
	return nil, errNotSupported
}
