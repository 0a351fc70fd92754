package localnode

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
)

// untaint removes the not-ready and unreachable taints. The API server puts
// node.kubernetes.io/not-ready on every new node and only the node lifecycle
// controller takes it off; a development control plane may run without that
// controller, and then the scheduler would never place a pod here. Where the
// controller runs, it agrees: the node is Ready.
func (n *Node) untaint(ctx context.Context) error {
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		node, err := n.client.CoreV1().Nodes().Get(ctx, n.cfg.NodeName, metav1.GetOptions{})
		if err != nil {
			return err
		}
		kept := node.Spec.Taints[:0:0]
		for _, t := range node.Spec.Taints {
			if t.Key != corev1.TaintNodeNotReady && t.Key != corev1.TaintNodeUnreachable {
				kept = append(kept, t)
			}
		}
		if len(kept) == len(node.Spec.Taints) {
			return nil
		}
		node.Spec.Taints = kept
		_, err = n.client.CoreV1().Nodes().Update(ctx, node, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		return fmt.Errorf("remove not-ready taint from node %s: %w", n.cfg.NodeName, err)
	}
	return nil
}

// markNotReady tells the API server, best effort, that the node stopped, so
// that the node does not look Ready while nothing runs its pods. The API
// server may be stopping too (Ctrl-C reaches the whole dev environment), so
// this gives up quickly.
func (n *Node) markNotReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		node, err := n.client.CoreV1().Nodes().Get(ctx, n.cfg.NodeName, metav1.GetOptions{})
		if err != nil {
			return err
		}
		now := metav1.Now()
		for i, c := range node.Status.Conditions {
			if c.Type == corev1.NodeReady {
				node.Status.Conditions[i] = corev1.NodeCondition{
					Type: corev1.NodeReady, Status: corev1.ConditionFalse,
					Reason: "KubeletStopped", Message: "the local node stopped and killed its pods' processes",
					LastHeartbeatTime: now, LastTransitionTime: now,
				}
			}
		}
		_, err = n.client.CoreV1().Nodes().UpdateStatus(ctx, node, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		return fmt.Errorf("mark node %s not ready: %w", n.cfg.NodeName, err)
	}
	return nil
}
