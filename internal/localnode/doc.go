// Package localnode is a Kubernetes node that runs pods as local processes, so
// that a control plane on a laptop or a CI machine without Docker can run the
// operator's Job pods. It is built on the virtual-kubelet library: the library
// registers the node, keeps its lease and status fresh and drives the pod
// lifecycle; this package starts, watches and stops the processes and reports
// their status.
//
// For every pod bound to the node it runs the init containers one after the
// other and then the containers, each as a process in a working directory of
// its own under Config.WorkDir, with the container's command, args (with
// $(VAR) expansion) and env (value, secretKeyRef, configMapKeyRef, fieldRef,
// resourceFieldRef, envFrom). It reports Pending, Running, Succeeded or Failed
// with exit codes and termination messages, restarts containers as the pod's
// restartPolicy says, stops processes with SIGTERM and then SIGKILL on
// deletion, and serves the kubelet API (container logs) over HTTPS on
// loopback so that kubectl logs works.
//
// # Which program runs
//
// A container image is not pulled or unpacked. The executable comes from the
// first rule that applies:
//
//  1. The first element of the command is a key of Config.Binaries, or an
//     absolute path whose last element is one ("/slotsync",
//     "/usr/local/bin/slotsync"): that binary runs with the rest of the
//     command and the args.
//  2. The command is empty: the image decides. Config.ResolveImage is asked
//     first; then an image whose repository name is a key of Config.Binaries
//     ("slotsync:dev", "ghcr.io/acme/slotsync:v1", "slotsync@sha256:…")
//     runs that binary with the args. Any other image fails the container
//     with reason UnsupportedImage.
//  3. Otherwise the command runs from the host's filesystem, whatever the
//     image: "/bin/sh" is the host's shell.
//
// # Termination messages
//
// A process cannot write /dev/termination-log, so each container gets a file
// of its own, <name>.termination-log beside its working directory. Wherever the
// container's terminationMessagePath (default /dev/termination-log) appears in
// its command, its args or the value of one of its env vars, it is replaced by
// that file's path: "--termination-log=/dev/termination-log" becomes
// "--termination-log=/…/<name>.termination-log". The path is also exported as
// $TERMINATION_MESSAGE_PATH unless the pod sets that variable. When the
// process ends, the first 4096 bytes of the file become
// state.terminated.message; with terminationMessagePolicy
// FallbackToLogsOnError, a failed container with an empty file gets the last
// 80 lines (at most 2048 bytes) of its log instead.
//
// # Files
//
// Under Config.WorkDir, pods/<namespace>_<name>_<uid>/ holds, per container,
// <name>/ (working directory and HOME, kept across restarts of the
// container), <name>.log (stdout and stderr of the current run),
// <name>.previous.log and <name>.termination-log.
//
// # The Node object
//
// The node registers with no taint: it removes the not-ready taint the API
// server puts on new nodes, because a development control plane may run
// without the node lifecycle controller that would. When Run returns it
// marks the node NotReady, best effort.
//
// # Limitations
//
// This is a development tool and isolates nothing. Read these before trusting
// a result from it:
//
//   - No container isolation: processes run as the user that runs the node,
//     see the host's filesystem, processes and network, and can read each
//     other's files. securityContext (runAsUser, runAsNonRoot,
//     readOnlyRootFilesystem, capabilities, seccomp) is not enforced.
//   - No images: nothing is pulled; see "Which program runs". The image's
//     entrypoint, default args, working directory and environment are
//     unknown, so containers get a minimal environment (PATH from the node,
//     HOME and the working directory set to the container's own directory,
//     HOSTNAME set to the pod name) plus Config.Env and the pod's env.
//     workingDir is ignored.
//   - No resource limits: requests and limits are only used to answer
//     resourceFieldRef env vars.
//   - No volumes: volume mounts are ignored, so a service-account token,
//     a Secret or a ConfigMap mounted as files is not there. Use env vars.
//   - No network namespaces: every pod's IP is the node's loopback address,
//     ports are the host's ports, so two pods listening on one port collide;
//     Services, cluster DNS and KUBERNETES_SERVICE_HOST are not provided.
//   - No probes: a running container is ready; liveness, readiness and
//     startup probes and lifecycle hooks are not run.
//   - No exec, attach, port-forward or stats (the kubelet API answers 501):
//     it serves logs and pod lists only, without authentication, which is
//     why it listens on a loopback address only.
//   - Logs have no timestamps: sinceSeconds, sinceTime and timestamps are
//     ignored.
//   - Processes are killed when the node's context ends (SIGTERM, then
//     SIGKILL after Config.ShutdownGrace) and, if the node process dies
//     without cleaning up, by the kernel (Pdeathsig) — but only the direct
//     child: its own children survive a hard kill of the node.
//   - Statuses of pods stopped at shutdown are not written; when the node
//     starts again, a pod with restartPolicy Never that had started is
//     marked Failed (reason NodeRestarted) rather than run twice, and other
//     pods are started again.
//   - Pod-level activeDeadlineSeconds, sidecar (restartable init)
//     containers, ephemeral containers and in-place updates are not
//     supported: a running container keeps the spec it started with.
//   - Directories and logs of finished pods stay under WorkDir until it is
//     removed.
package localnode
