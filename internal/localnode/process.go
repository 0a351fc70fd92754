package localnode

import (
	"fmt"
	"os"
	"os/exec"
	"syscall"

	"github.com/slotsync/slotsync/internal/childproc"
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
// The process leads a process group of its own (childproc), so that signals
// reach the children it forks, and everything left in the group is killed
// when it exits, as a container runtime does when a container's first
// process ends.
func runProcess(spec processSpec, started func(pid int)) (int32, error) {
	cmd := exec.Command(spec.argv[0], spec.argv[1:]...)
	cmd.Env = spec.env
	cmd.Dir = spec.dir
	cmd.Stdout = spec.log
	cmd.Stderr = spec.log
	p, err := childproc.Start(cmd)
	if err != nil {
		return 0, fmt.Errorf("start %s: %w", spec.argv[0], err)
	}
	started(p.Pid())
	// Output goes to a file, not a pipe, so Wait fails only as an
	// *exec.ExitError, which repeats ProcessState.
	_ = p.Wait()
	_ = p.Signal(syscall.SIGKILL)

	state := p.State()
	if state == nil {
		return 128 + int32(syscall.SIGKILL), nil
	}
	ws, ok := state.Sys().(syscall.WaitStatus)
	if ok && ws.Signaled() {
		return 128 + int32(ws.Signal()), nil
	}
	return int32(state.ExitCode()), nil
}
