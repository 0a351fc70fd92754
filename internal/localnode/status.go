package localnode

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// podProgress is what the pod's supervisor knows beyond container statuses.
type podProgress struct {
	initialized bool
	// finished: no container runs or will run again.
	finished bool
	// reason and message, when set, explain a pod that failed as a whole.
	reason, message string
}

// buildStatus derives the pod status from its container statuses, keeping
// fields the API server set (qosClass) and the transition times of
// conditions that did not change.
func buildStatus(pod *corev1.Pod, prev corev1.PodStatus, init, regular []corev1.ContainerStatus,
	pr podProgress, address string, startTime metav1.Time, now metav1.Time) corev1.PodStatus {
	st := corev1.PodStatus{
		QOSClass:              prev.QOSClass,
		HostIP:                address,
		HostIPs:               []corev1.HostIP{{IP: address}},
		PodIP:                 address,
		PodIPs:                []corev1.PodIP{{IP: address}},
		StartTime:             &startTime,
		InitContainerStatuses: init,
		ContainerStatuses:     regular,
		Reason:                pr.reason,
		Message:               pr.message,
	}
	st.Phase = podPhase(pod.Spec.RestartPolicy, regular, pr)
	// A terminal phase read from the containers can come before the supervisor
	// marks the pod finished: the conditions must say completed all the same.
	finished := pr.finished || st.Phase == corev1.PodSucceeded || st.Phase == corev1.PodFailed

	ready := !finished
	var unready []string
	for _, c := range regular {
		if !c.Ready {
			ready = false
			unready = append(unready, c.Name)
		}
	}
	readyCond := kubeletCondition(ready, finished, "ContainersNotReady", "unready", unready)
	var pending []string
	for _, c := range init {
		if c.State.Terminated == nil || c.State.Terminated.ExitCode != 0 {
			pending = append(pending, c.Name)
		}
	}
	initCond := kubeletCondition(pr.initialized, finished, "ContainersNotInitialized", "incomplete", pending)
	conds := []corev1.PodCondition{
		{Type: corev1.PodScheduled, Status: corev1.ConditionTrue},
		withType(initCond, corev1.PodInitialized),
		withType(readyCond, corev1.ContainersReady),
		withType(readyCond, corev1.PodReady),
	}
	for i := range conds {
		conds[i].LastTransitionTime = now
		for _, p := range prev.Conditions {
			if p.Type == conds[i].Type && p.Status == conds[i].Status {
				conds[i].LastTransitionTime = p.LastTransitionTime
			}
		}
	}
	st.Conditions = conds
	return st
}

func withType(c corev1.PodCondition, t corev1.PodConditionType) corev1.PodCondition {
	c.Type = t
	return c
}

// podPhase follows the kubelet: Pending until every container has started
// once, Running while one runs or will be restarted, and, once finished,
// Succeeded only if every container exited 0.
func podPhase(policy corev1.RestartPolicy, regular []corev1.ContainerStatus, pr podProgress) corev1.PodPhase {
	if pr.reason != "" && pr.finished {
		return corev1.PodFailed
	}
	succeeded, stopped, running, waiting := 0, 0, 0, 0
	for _, c := range regular {
		switch {
		case c.State.Running != nil:
			running++
		case c.State.Terminated != nil:
			stopped++
			if c.State.Terminated.ExitCode == 0 {
				succeeded++
			}
		case c.LastTerminationState.Terminated != nil:
			stopped++ // waiting to be restarted
		default:
			waiting++
		}
	}
	switch {
	case pr.finished:
		if pr.initialized && succeeded == len(regular) {
			return corev1.PodSucceeded
		}
		return corev1.PodFailed
	case !pr.initialized || waiting > 0:
		return corev1.PodPending
	case running > 0:
		return corev1.PodRunning
	case policy == corev1.RestartPolicyNever && stopped == len(regular):
		// Every container ended; the supervisor is about to finish.
		if succeeded == stopped {
			return corev1.PodSucceeded
		}
		return corev1.PodFailed
	}
	return corev1.PodRunning
}

func waitingState(reason, message string) corev1.ContainerState {
	return corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason, Message: message}}
}

// exitReason is the kubelet's reason for a process that ended by itself.
func exitReason(code int32) string {
	if code == 0 {
		return "Completed"
	}
	return "Error"
}

// kubeletCondition is a pod condition as the kubelet words it: when not ok, reason
// and the containers in state, or PodCompleted without a message once the pod
// has finished.
func kubeletCondition(ok, finished bool, reason, state string, containers []string) corev1.PodCondition {
	if ok {
		return corev1.PodCondition{Status: corev1.ConditionTrue}
	}
	if finished {
		return corev1.PodCondition{Status: corev1.ConditionFalse, Reason: "PodCompleted"}
	}
	return corev1.PodCondition{Status: corev1.ConditionFalse, Reason: reason,
		Message: fmt.Sprintf("containers with %s status: [%s]", state, strings.Join(containers, " "))}
}
