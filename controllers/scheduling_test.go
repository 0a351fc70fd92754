package controllers_test

import (
	"reflect"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	inventoryv1alpha1 "github.com/slotsync/slotsync/api/v1alpha1"
	"github.com/slotsync/slotsync/internal/fixture"
)

// TestJobTemplateSchedulingReachesThePods: a schedule's nodeSelector,
// tolerations, affinity and priorityClassName, through the API server's
// schema, end up in its Jobs' pod template; the pods run as 65532 and their
// container has bounded ephemeral storage.
func TestJobTemplateSchedulingReachesThePods(t *testing.T) {
	h := start(t, time.Date(2026, 12, 1, 8, 0, 5, 0, time.UTC))
	affinity := &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{
		RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
			MatchExpressions: []corev1.NodeSelectorRequirement{{
				Key: "topology.kubernetes.io/zone", Operator: corev1.NodeSelectorOpIn, Values: []string{"eu-west-1a"},
			}},
		}}},
	}}
	tolerations := []corev1.Toleration{{Key: "dedicated", Operator: corev1.TolerationOpEqual, Value: "sync", Effect: corev1.TaintEffectNoSchedule}}
	h.schedule(t, "placed", fixture.TodayOnly, func(ss *inventoryv1alpha1.SyncSchedule) {
		ss.Spec.JobTemplate.NodeSelector = map[string]string{"pool": "sync"}
		ss.Spec.JobTemplate.Tolerations = tolerations
		ss.Spec.JobTemplate.Affinity = affinity
		ss.Spec.JobTemplate.PriorityClassName = "inventory-low"
	})
	h.schedule(t, "plain", fixture.TodayOnly)

	pod := h.waitJobs(t, "placed", 1, nil)[0].Spec.Template.Spec
	if want := map[string]string{"pool": "sync"}; !reflect.DeepEqual(pod.NodeSelector, want) {
		t.Errorf("nodeSelector = %v, want %v", pod.NodeSelector, want)
	}
	if !reflect.DeepEqual(pod.Tolerations, tolerations) {
		t.Errorf("tolerations = %+v, want %+v", pod.Tolerations, tolerations)
	}
	if !reflect.DeepEqual(pod.Affinity, affinity) {
		t.Errorf("affinity = %+v, want %+v", pod.Affinity, affinity)
	}
	if pod.PriorityClassName != "inventory-low" {
		t.Errorf("priorityClassName = %q, want inventory-low", pod.PriorityClassName)
	}

	plain := h.waitJobs(t, "plain", 1, nil)[0].Spec.Template.Spec
	if plain.NodeSelector != nil || plain.Tolerations != nil || plain.Affinity != nil || plain.PriorityClassName != "" {
		t.Errorf("a schedule without scheduling fields got some: %+v", plain)
	}
	for name, spec := range map[string]corev1.PodSpec{"placed": pod, "plain": plain} {
		if sc := spec.SecurityContext; sc == nil || sc.RunAsUser == nil || *sc.RunAsUser != 65532 || sc.RunAsGroup == nil || *sc.RunAsGroup != 65532 {
			t.Errorf("%s: pod security context %+v, want runAsUser and runAsGroup 65532", name, sc)
		}
		res := spec.Containers[0].Resources
		if got := res.Requests[corev1.ResourceEphemeralStorage]; got.Cmp(resource.MustParse("64Mi")) != 0 {
			t.Errorf("%s: ephemeral-storage request = %s, want 64Mi", name, got.String())
		}
		if got := res.Limits[corev1.ResourceEphemeralStorage]; got.Cmp(resource.MustParse("256Mi")) != 0 {
			t.Errorf("%s: ephemeral-storage limit = %s, want 256Mi", name, got.String())
		}
	}
}
