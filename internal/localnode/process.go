package localnode

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"syscall"
)

// processSpec is one start of one container.
type processSpec struct {
	argv []string
	env  []string
	dir  string
	log  *os.File
}

// runProcess starts the process, calls started with its pid, waits for it and
// returns its exit code (128+signal when a signal ended it). An error means it
// never started.
//
// The process leads a process group of its own, so that signals reach the
// children it forks, and everything left in the group is killed when it
// exits, as a container runtime does when a container's first process ends.
// Pdeathsig kills it if the node dies without cleaning up; the kernel sends
// that signal when the thread that forked the process exits, so this
// goroutine holds its thread until the process is gone.
func runProcess(spec processSpec, started func(pid int)) (int32, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()

	cmd := exec.Command(spec.argv[0], spec.argv[1:]...)
	cmd.Env = spec.env
	cmd.Dir = spec.dir
	cmd.Stdout = spec.log
	cmd.Stderr = spec.log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return 0, fmt.Errorf("start %s: %w", spec.argv[0], err)
	}
	pid := cmd.Process.Pid
	started(pid)
	// Output goes to a file, not a pipe, so Wait fails only as an
	// *exec.ExitError, which repeats ProcessState.
	_ = cmd.Wait()
	// The group outlives its leader while children remain; its id is not
	// reused until they are gone, so this reaches only leftovers.
	_ = syscall.Kill(-pid, syscall.SIGKILL)

	if cmd.ProcessState == nil {
		return 128 + int32(syscall.SIGKILL), nil
	}
	ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus)
	if ok && ws.Signaled() {
		return 128 + int32(ws.Signal()), nil
	}
	return int32(cmd.ProcessState.ExitCode()), nil
}

// signalGroup sends sig to the process group led by pid.
func signalGroup(pid int, sig syscall.Signal) error {
	if pid <= 0 {
		return nil
	}
	if err := syscall.Kill(-pid, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("signal %v to process group %d: %w", sig, pid, err)
	}
	return nil
}
