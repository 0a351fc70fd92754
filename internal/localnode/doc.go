// Package localnode is a Kubernetes node that runs pods as local processes, so
// that a control plane on a laptop or a CI machine without Docker can run the
// operator's Job pods. It is built on the virtual-kubelet library, which
// registers the node and drives the pod lifecycle; this package starts, watches
// and stops the processes, reports their status and serves their logs. It
// isolates nothing: see docs/local-node.md for which program a container runs,
// its files and termination messages, and the limitations.
package localnode
