package localnode

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestPodPhase(t *testing.T) {
	running := corev1.ContainerStatus{State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}
	creating := corev1.ContainerStatus{State: waitingState("ContainerCreating", "")}
	exited := func(code int32) corev1.ContainerStatus {
		return corev1.ContainerStatus{State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: code}}}
	}
	backoff := corev1.ContainerStatus{
		State:                waitingState("CrashLoopBackOff", ""),
		LastTerminationState: exited(1).State,
	}
	initDone := podProgress{initialized: true}
	tests := []struct {
		name     string
		policy   corev1.RestartPolicy
		statuses []corev1.ContainerStatus
		progress podProgress
		want     corev1.PodPhase
	}{
		{name: "init running", policy: corev1.RestartPolicyNever, statuses: []corev1.ContainerStatus{creating}, want: corev1.PodPending},
		{name: "one not started", policy: corev1.RestartPolicyNever, statuses: []corev1.ContainerStatus{running, creating}, progress: initDone, want: corev1.PodPending},
		{name: "running", policy: corev1.RestartPolicyNever, statuses: []corev1.ContainerStatus{running, exited(0)}, progress: initDone, want: corev1.PodRunning},
		{name: "in back-off", policy: corev1.RestartPolicyOnFailure, statuses: []corev1.ContainerStatus{backoff}, progress: initDone, want: corev1.PodRunning},
		{name: "always, exited", policy: corev1.RestartPolicyAlways, statuses: []corev1.ContainerStatus{exited(0)}, progress: initDone, want: corev1.PodRunning},
		{name: "never, all exited 0", policy: corev1.RestartPolicyNever, statuses: []corev1.ContainerStatus{exited(0), exited(0)}, progress: initDone, want: corev1.PodSucceeded},
		{name: "never, one failed", policy: corev1.RestartPolicyNever, statuses: []corev1.ContainerStatus{exited(0), exited(2)}, progress: initDone, want: corev1.PodFailed},
		{name: "finished, all 0", policy: corev1.RestartPolicyOnFailure, statuses: []corev1.ContainerStatus{exited(0)}, progress: podProgress{initialized: true, finished: true}, want: corev1.PodSucceeded},
		{name: "finished, killed", policy: corev1.RestartPolicyAlways, statuses: []corev1.ContainerStatus{exited(143)}, progress: podProgress{initialized: true, finished: true}, want: corev1.PodFailed},
		{name: "finished in init", policy: corev1.RestartPolicyNever, statuses: []corev1.ContainerStatus{creating}, progress: podProgress{finished: true}, want: corev1.PodFailed},
		{name: "failed as a whole", policy: corev1.RestartPolicyNever, statuses: []corev1.ContainerStatus{creating}, progress: podProgress{finished: true, reason: ReasonUnsupportedImage}, want: corev1.PodFailed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := podPhase(tt.policy, tt.statuses, tt.progress); got != tt.want {
				t.Errorf("podPhase() = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestBuildStatusKeepsTransitionTimes(t *testing.T) {
	pod := &corev1.Pod{Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever}}
	t0 := metav1.Unix(1000, 0)
	t1 := metav1.Unix(2000, 0)
	running := []corev1.ContainerStatus{{Name: "c", Ready: true, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}}
	first := buildStatus(pod, corev1.PodStatus{QOSClass: corev1.PodQOSBestEffort}, nil, running, podProgress{initialized: true}, "127.0.0.1", t0, t0)
	second := buildStatus(pod, first, nil, running, podProgress{initialized: true}, "127.0.0.1", t0, t1)
	if second.QOSClass != corev1.PodQOSBestEffort {
		t.Errorf("qosClass = %q, want it kept", second.QOSClass)
	}
	for _, c := range second.Conditions {
		if c.Status != corev1.ConditionTrue {
			t.Errorf("condition %s = %s, want True", c.Type, c.Status)
		}
		if !c.LastTransitionTime.Equal(&t0) {
			t.Errorf("condition %s moved to %v without changing", c.Type, c.LastTransitionTime)
		}
	}
	if second.PodIP != "127.0.0.1" || second.Phase != corev1.PodRunning {
		t.Errorf("podIP %q phase %s, want 127.0.0.1 Running", second.PodIP, second.Phase)
	}
}

// TestBuildStatusTerminalPhaseIsCompleted: the containers can show a terminal
// phase before the supervisor marks the pod finished; that status already says
// the pod completed, as the kubelet's does.
func TestBuildStatusTerminalPhaseIsCompleted(t *testing.T) {
	pod := &corev1.Pod{Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever}}
	now := metav1.Unix(1000, 0)
	for _, code := range []int32{0, 1} {
		exited := []corev1.ContainerStatus{{Name: "sync", State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: code}}}}
		st := buildStatus(pod, corev1.PodStatus{}, nil, exited, podProgress{initialized: true}, "127.0.0.1", now, now)
		for _, c := range st.Conditions {
			if (c.Type == corev1.PodReady || c.Type == corev1.ContainersReady) && (c.Status != corev1.ConditionFalse || c.Reason != "PodCompleted") {
				t.Errorf("exit %d, phase %s: condition %s is %s %q, want False PodCompleted", code, st.Phase, c.Type, c.Status, c.Reason)
			}
		}
	}
}
