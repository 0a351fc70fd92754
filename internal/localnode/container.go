package localnode

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/slotsync/slotsync/internal/childproc"
)

const (
	// The kubelet's limits for termination messages and their log fallback.
	maxTerminationMessage = 4096
	fallbackLogLines      = 80
	fallbackLogBytes      = 2048

	// configRetry is how often a container whose env cannot be resolved
	// yet (a Secret not created yet) tries again.
	configRetry = 2 * time.Second

	defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
)

// containerRun is one container of a pod and its files:
//
//	<pod dir>/<name>/                   working directory and HOME
//	<pod dir>/<name>.log                stdout and stderr of the current run
//	<pod dir>/<name>.previous.log       ... of the run before
//	<pod dir>/<name>.termination-log    the termination message file
//
// Container names are DNS labels, so they cannot collide with these suffixes.
type containerRun struct {
	spec                               corev1.Container
	init                               bool
	workDir, logPath, prevLog, termLog string
	// startedBefore: the API showed the container started before this
	// node took the pod on, so the node must have restarted.
	startedBefore bool

	// Guarded by the pod's mu.
	status      corev1.ContainerStatus
	pid         int
	starts      int
	exited      chan struct{} // closed when the current run's process has ended
	hasPrevious bool
	lastConfErr string
}

func newContainerRun(podDir string, spec corev1.Container, init bool, waiting string, old corev1.ContainerStatus) *containerRun {
	base := filepath.Join(podDir, spec.Name)
	exited := make(chan struct{})
	close(exited)
	return &containerRun{
		spec:    spec,
		init:    init,
		workDir: base,
		logPath: base + ".log",
		prevLog: base + ".previous.log",
		termLog: base + ".termination-log",
		exited:  exited,
		startedBefore: old.State.Running != nil || old.State.Terminated != nil ||
			old.LastTerminationState.Terminated != nil || old.RestartCount > 0,
		status: corev1.ContainerStatus{
			Name:         spec.Name,
			Image:        spec.Image,
			RestartCount: old.RestartCount,
			State:        waitingState(waiting, ""),
			Started:      ptr.To(false),
		},
	}
}

// attempt runs c once. ran is false when the pod stopped before a process
// could start; took is how long the process ran.
func (r *podRun) attempt(c *containerRun) (code int32, ran bool, took time.Duration) {
	var spec processSpec
	for {
		var err error
		spec, err = r.prepare(c)
		if err == nil {
			break
		}
		r.mu.Lock()
		c.status.State = waitingState("CreateContainerConfigError", err.Error())
		changed := c.lastConfErr != err.Error()
		c.lastConfErr = err.Error()
		r.mu.Unlock()
		if changed {
			r.log.Info("container cannot start yet", "container", c.spec.Name, "reason", "CreateContainerConfigError", "error", err.Error())
			r.notify()
		}
		if !r.sleep(min(configRetry, r.p.cfg.RestartBackoff)) {
			return 0, false, 0
		}
	}

	logFile, err := r.openFiles(c)
	if err != nil {
		return r.startFailed(c, fmt.Errorf("prepare container files: %w", err)), true, 0
	}
	defer logFile.Close()
	if spec.argv[0], err = lookPath(spec.argv[0], spec.env); err != nil {
		fmt.Fprintln(logFile, err)
		return r.startFailed(c, err), true, 0
	}
	spec.log = logFile

	r.mu.Lock()
	if r.stopping {
		r.mu.Unlock()
		return 0, false, 0
	}
	exited := make(chan struct{})
	c.exited = exited
	r.mu.Unlock()

	start := time.Now()
	code, err = runProcess(spec, func(pid int) { r.started(c, pid, spec.argv[0]) })
	took = time.Since(start)
	if err != nil {
		fmt.Fprintln(logFile, err)
		r.mu.Lock()
		close(exited)
		r.mu.Unlock()
		return r.startFailed(c, err), true, 0
	}
	msg := r.terminationMessage(c, code)
	r.mu.Lock()
	c.pid = 0
	close(exited)
	startedAt := metav1.NewTime(start)
	if c.status.State.Running != nil {
		startedAt = c.status.State.Running.StartedAt
	}
	c.status.State = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
		ExitCode:    code,
		Reason:      exitReason(code),
		Message:     msg,
		StartedAt:   startedAt,
		FinishedAt:  metav1.Now(),
		ContainerID: c.status.ContainerID,
	}}
	c.status.Ready = false
	c.status.Started = ptr.To(false)
	r.mu.Unlock()
	r.log.Info("container exited", "container", c.spec.Name, "exitCode", code, "ran", took.Round(time.Millisecond).String())
	r.notify()
	return code, true, took
}

// started records a running process. A stop that came while it was starting
// is passed on at once.
func (r *podRun) started(c *containerRun, pid int, exe string) {
	r.mu.Lock()
	r.countStartLocked(c)
	c.pid = pid
	c.status.State = corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.Now()}}
	c.status.Ready = true
	c.status.Started = ptr.To(true)
	c.status.ContainerID = fmt.Sprintf("localnode://%d", pid)
	stopping, killed := r.stopping, r.killed
	r.mu.Unlock()
	switch {
	case killed:
		_ = childproc.SignalGroup(pid, syscall.SIGKILL)
	case stopping:
		_ = childproc.SignalGroup(pid, syscall.SIGTERM)
	}
	r.log.Info("container started", "container", c.spec.Name, "pid", pid, "executable", exe)
	r.notify()
}

// startFailed records a run that never got a process, as the kubelet's
// StartError: it counts as a failed run for the restart policy.
func (r *podRun) startFailed(c *containerRun, err error) int32 {
	const code = 128
	now := metav1.Now()
	r.mu.Lock()
	r.countStartLocked(c)
	c.status.State = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
		ExitCode: code, Reason: "StartError", Message: err.Error(), StartedAt: now, FinishedAt: now,
	}}
	r.mu.Unlock()
	r.log.Info("container failed to start", "container", c.spec.Name, "error", err.Error())
	r.notify()
	return code
}

// countStartLocked: restartCount counts starts after the first, including
// those before a node restart.
func (r *podRun) countStartLocked(c *containerRun) {
	if c.starts > 0 || c.startedBefore {
		c.status.RestartCount++
	}
	c.starts++
}

// prepare builds the process: executable, args and env, with $(VAR) expanded
// and the termination message path pointed at the container's file. An
// error means a reference (Secret, ConfigMap, field) cannot be resolved yet.
func (r *podRun) prepare(c *containerRun) (processSpec, error) {
	r.mu.Lock()
	pod := r.pod.DeepCopy()
	r.mu.Unlock()

	env := newEnvironment()
	env.set("PATH", defaultPath)
	if p := os.Getenv("PATH"); p != "" {
		env.set("PATH", p)
	}
	env.set("HOSTNAME", pod.Name)
	env.set("HOME", c.workDir)
	env.set(TerminationMessagePathEnv, c.termLog)
	names := make([]string, 0, len(r.p.cfg.Env))
	for k := range r.p.cfg.Env {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		env.set(k, r.p.cfg.Env[k])
	}
	if err := r.p.env.resolve(env, pod, &c.spec); err != nil {
		return processSpec{}, err
	}
	from := terminationMessagePath(&c.spec)
	for k, v := range env.vars {
		env.vars[k] = substitutePath(v, from, c.termLog)
	}
	argv, err := r.p.resolve.argv(&c.spec)
	if err != nil {
		return processSpec{}, err
	}
	for i := range argv {
		argv[i] = substitutePath(expand(argv[i], env.vars), from, c.termLog)
	}
	return processSpec{argv: argv, env: env.list(), dir: c.workDir}, nil
}

// openFiles creates the working directory, moves the last run's log aside
// and empties the termination message file.
func (r *podRun) openFiles(c *containerRun) (*os.File, error) {
	if err := os.MkdirAll(c.workDir, 0o755); err != nil {
		return nil, fmt.Errorf("create working directory: %w", err)
	}
	if err := os.WriteFile(c.termLog, nil, 0o666); err != nil {
		return nil, fmt.Errorf("create termination message file: %w", err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, err := os.Stat(c.logPath); err == nil {
		if err := os.Rename(c.logPath, c.prevLog); err != nil {
			return nil, fmt.Errorf("keep previous log: %w", err)
		}
		c.hasPrevious = true
	}
	f, err := os.OpenFile(c.logPath, os.O_CREATE|os.O_WRONLY|os.O_TRUNC|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("create log: %w", err)
	}
	return f, nil
}

// terminationMessage reads what the process left in its termination message
// file or, if the container asks for it and failed silently, its last log
// lines.
func (r *podRun) terminationMessage(c *containerRun, code int32) string {
	msg, err := readHead(c.termLog, maxTerminationMessage)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		r.log.Error(err, "read termination message", "container", c.spec.Name)
	}
	if msg == "" && code != 0 && c.spec.TerminationMessagePolicy == corev1.TerminationMessageFallbackToLogsOnError {
		if msg, err = readTail(c.logPath, fallbackLogLines, fallbackLogBytes); err != nil {
			r.log.Error(err, "read log for termination message", "container", c.spec.Name)
		}
	}
	return msg
}

func readHead(path string, limit int64) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit))
	return string(b), err
}
