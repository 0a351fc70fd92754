package controllers_test

import (
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/cache"

	inventoryv1alpha1 "github.com/slotsync/slotsync/api/v1alpha1"
	"github.com/slotsync/slotsync/controllers"
)

// transformOf finds the cache transform CacheOptions sets for objects like obj.
func transformOf(t *testing.T, opts cache.Options, obj any) func(any) (any, error) {
	t.Helper()
	for o, by := range opts.ByObject {
		if _, same := o.(*batchv1.Job); same {
			if _, want := obj.(*batchv1.Job); want {
				return by.Transform
			}
		}
		if _, same := o.(*corev1.Pod); same {
			if _, want := obj.(*corev1.Pod); want {
				return by.Transform
			}
		}
	}
	t.Fatalf("CacheOptions has no entry for %T", obj)
	return nil
}

// The cache keeps what the reconciler reads and drops what it never reads.
func TestCacheKeepsWhatTheReconcilerReads(t *testing.T) {
	opts := controllers.CacheOptions()
	if opts.DefaultTransform == nil {
		t.Fatal("no default transform: managedFields of SyncSchedules stay in the cache")
	}
	meta := metav1.ObjectMeta{
		Name: "j", Namespace: "ns",
		Labels:          map[string]string{inventoryv1alpha1.LabelSchedule: "s", inventoryv1alpha1.LabelWindow: "today"},
		Annotations:     map[string]string{batchv1.JobCompletionIndexAnnotation: "1"},
		OwnerReferences: []metav1.OwnerReference{{Name: "s", UID: "u", Controller: ptr.To(true)}},
		ManagedFields:   []metav1.ManagedFieldsEntry{{Manager: "slotsync"}},
	}

	job := &batchv1.Job{ObjectMeta: *meta.DeepCopy(), Spec: batchv1.JobSpec{
		Suspend:     ptr.To(true),
		Completions: ptr.To[int32](2),
		Template:    corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "sync", Image: "x"}}}},
	}, Status: batchv1.JobStatus{Conditions: []batchv1.JobCondition{{Type: batchv1.JobComplete, Status: corev1.ConditionTrue}}}}
	out, err := transformOf(t, opts, job)(job)
	if err != nil {
		t.Fatal(err)
	}
	j := out.(*batchv1.Job)
	if j.ManagedFields != nil || len(j.Spec.Template.Spec.Containers) != 0 {
		t.Errorf("Job keeps managedFields %v or its pod template %v", j.ManagedFields, j.Spec.Template)
	}
	if j.Labels[inventoryv1alpha1.LabelWindow] != "today" || len(j.OwnerReferences) != 1 || !*j.Spec.Suspend ||
		*j.Spec.Completions != 2 || len(j.Status.Conditions) != 1 {
		t.Errorf("Job lost what the reconciler reads: %+v", j)
	}

	pod := &corev1.Pod{ObjectMeta: *meta.DeepCopy(),
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "sync", Image: "x"}}},
		Status: corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{{Name: "sync", State: corev1.ContainerState{
			Waiting: &corev1.ContainerStateWaiting{Reason: "CreateContainerConfigError", Message: `secret "k" not found`}}}}}}
	out, err = transformOf(t, opts, pod)(pod)
	if err != nil {
		t.Fatal(err)
	}
	p := out.(*corev1.Pod)
	if p.ManagedFields != nil || len(p.Spec.Containers) != 0 {
		t.Errorf("pod keeps managedFields %v or its spec %v", p.ManagedFields, p.Spec)
	}
	if p.Annotations[batchv1.JobCompletionIndexAnnotation] != "1" || len(p.Status.ContainerStatuses) != 1 ||
		p.Status.ContainerStatuses[0].State.Waiting.Message == "" {
		t.Errorf("pod lost what the reconciler reads: %+v", p)
	}

	// A tombstone or anything else passes through untouched.
	if out, err := transformOf(t, opts, job)("x"); err != nil || out != "x" {
		t.Errorf("transform of a non-Job: %v, %v", out, err)
	}
}
