package devenv

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/slotsync/slotsync/internal/childproc"
)

// process is a child program of the environment, in a process group of its own so
// that stopping it stops its children too, and killed if the dev command dies.
type process struct {
	name string
	*childproc.Process
	log string
}

func startProcess(logDir, name string, env []string, bin string, args ...string) (*process, error) {
	logPath := filepath.Join(logDir, name+".log")
	// Append: a restarted component keeps the log of its previous life.
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	// The child keeps its own descriptor.
	defer logFile.Close()
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.Env = append(os.Environ(), env...)
	p, err := childproc.Start(cmd)
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	return &process{name: name, Process: p, log: logPath}, nil
}

// waitFor polls ready until it succeeds, the process dies or ctx ends.
func (p *process) waitFor(ctx context.Context, timeout time.Duration, ready func() error) error {
	var last, exited error
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, timeout, true, func(context.Context) (bool, error) {
		if last = ready(); last == nil {
			return true, nil
		}
		if done, err := p.Exited(); done {
			exited = fmt.Errorf("%s exited (%v); see %s", p.name, err, p.log)
			return false, exited
		}
		return false, nil
	})
	if err != nil && exited == nil {
		return fmt.Errorf("%s not ready after %v: %v; see %s", p.name, timeout, last, p.log)
	}
	return err
}
