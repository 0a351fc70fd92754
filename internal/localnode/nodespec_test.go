package localnode

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// TestCapacityCoversWhatTheJobsRequest: the shipped sync Jobs request CPU,
// memory and ephemeral storage; a node that reports none of one of them gets
// no Job pod scheduled at all.
func TestCapacityCoversWhatTheJobsRequest(t *testing.T) {
	rl := machineCapacity()
	for _, name := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory, corev1.ResourceEphemeralStorage, corev1.ResourcePods} {
		if q, ok := rl[name]; !ok || q.Sign() <= 0 {
			t.Errorf("capacity has no %s (%v)", name, rl)
		}
	}
}
