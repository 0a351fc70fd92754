// Package childproc starts child processes that a crash of ours cannot orphan:
// each leads a process group of its own, so that stopping it reaches whatever
// it forked, and the kernel kills it (Pdeathsig) if we die without stopping it.
package childproc

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"syscall"
	"time"
)

// Process is a child started by Start.
type Process struct {
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

// Start starts cmd in a new process group with Pdeathsig SIGKILL, keeping the
// rest of cmd.SysProcAttr (a Credential, say). The kernel sends Pdeathsig when
// the thread that forked the child exits, not the process, so the fork happens
// on a goroutine that holds its OS thread until the child has been waited for.
func Start(cmd *exec.Cmd) (*Process, error) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL

	p := &Process{cmd: cmd, done: make(chan struct{})}
	started := make(chan error, 1)
	go func() {
		// Never unlocked: the thread ends with the goroutine, which is fine
		// once the child is gone.
		runtime.LockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		p.err = cmd.Wait()
		close(p.done)
	}()
	if err := <-started; err != nil {
		return nil, err
	}
	return p, nil
}

// Pid is the child's process id, which is also its process group's id.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Done is closed once the child has exited and been waited for.
func (p *Process) Done() <-chan struct{} { return p.done }

// Wait waits for the child to exit and returns what exec.Cmd.Wait returned.
func (p *Process) Wait() error {
	<-p.done
	return p.err
}

// Exited reports whether the child has exited, and then Wait's error.
func (p *Process) Exited() (bool, error) {
	select {
	case <-p.done:
		return true, p.err
	default:
		return false, nil
	}
}

// State is the exited child's state; nil while it runs.
func (p *Process) State() *os.ProcessState {
	select {
	case <-p.done:
		return p.cmd.ProcessState
	default:
		return nil
	}
}

// Signal sends sig to the child's process group. The group outlives its
// leader while members remain and its id is not reused until they are gone,
// so after the child exited this reaches only what it left behind.
func (p *Process) Signal(sig syscall.Signal) error { return SignalGroup(p.Pid(), sig) }

// Stop sends SIGTERM to the group, SIGKILL after grace if the child has not
// exited by then, and waits for it. It kills nothing the child left behind
// when it exited in time; Kill does.
func (p *Process) Stop(grace time.Duration) {
	if done, _ := p.Exited(); done {
		return
	}
	_ = p.Signal(syscall.SIGTERM)
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-p.done:
	case <-t.C:
		_ = p.Signal(syscall.SIGKILL)
		<-p.done
	}
}

// Kill sends SIGKILL to the group, waits for the child and returns Wait's error.
func (p *Process) Kill() error {
	_ = p.Signal(syscall.SIGKILL)
	return p.Wait()
}

// SignalGroup sends sig to the process group pgid; a group that is gone
// already is not an error. A pgid of zero or less does nothing, since kill(2)
// would read it as our own group or every process.
func SignalGroup(pgid int, sig syscall.Signal) error {
	if pgid <= 0 {
		return nil
	}
	if err := syscall.Kill(-pgid, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("signal %v to process group %d: %w", sig, pgid, err)
	}
	return nil
}
