package localnode

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/virtual-kubelet/virtual-kubelet/errdefs"
	"github.com/virtual-kubelet/virtual-kubelet/node/api"
)

// followPoll is how often a followed log is checked for new output.
const followPoll = 200 * time.Millisecond

// GetContainerLogs serves kubectl logs: the current or previous run's log,
// optionally its last lines, optionally followed until the process ends.
func (p *provider) GetContainerLogs(ctx context.Context, namespace, podName, containerName string, opts api.ContainerLogOpts) (io.ReadCloser, error) {
	r := p.lookup(namespace, podName)
	if r == nil {
		return nil, errdefs.NotFoundf("pod %s/%s is not on this node", namespace, podName)
	}
	c := r.container(containerName)
	if c == nil {
		return nil, errdefs.NotFoundf("container %q is not in pod %s/%s", containerName, namespace, podName)
	}
	r.mu.Lock()
	path, exited := c.logPath, c.exited
	waiting := c.starts == 0 && c.status.State.Waiting != nil
	reason := ""
	if c.status.State.Waiting != nil {
		reason = c.status.State.Waiting.Reason
	}
	hasPrevious := c.hasPrevious
	r.mu.Unlock()

	if opts.Previous {
		if !hasPrevious {
			return nil, errdefs.InvalidInputf("previous terminated container %q in pod %q not found", containerName, podName)
		}
		path = c.prevLog
		done := make(chan struct{})
		close(done)
		exited = done
	} else if waiting {
		return nil, errdefs.InvalidInputf("container %q in pod %q is waiting to start: %s", containerName, podName, reason)
	}

	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open log of %s/%s/%s: %w", namespace, podName, containerName, err)
	}
	if opts.Tail > 0 {
		off, err := tailOffset(f, opts.Tail)
		if err == nil {
			_, err = f.Seek(off, io.SeekStart)
		}
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("find last %d lines of %s: %w", opts.Tail, path, err)
		}
	}
	var rd io.Reader = f
	if opts.Follow {
		rd = &followReader{ctx: ctx, f: f, exited: exited}
	}
	if opts.LimitBytes > 0 {
		rd = io.LimitReader(rd, int64(opts.LimitBytes))
	}
	return struct {
		io.Reader
		io.Closer
	}{rd, f}, nil
}

// followReader reads a log as it grows until its process has ended and all
// it wrote has been read, or the request ends.
type followReader struct {
	ctx    context.Context
	f      *os.File
	exited <-chan struct{}
}

func (fr *followReader) Read(p []byte) (int, error) {
	for {
		n, err := fr.f.Read(p)
		if n > 0 || !errors.Is(err, io.EOF) {
			return n, err
		}
		select {
		case <-fr.exited:
			// The process is gone: one more read gets what it wrote last.
			n, err := fr.f.Read(p)
			if n > 0 {
				return n, nil
			}
			return 0, err
		case <-fr.ctx.Done():
			return 0, io.EOF
		case <-time.After(followPoll):
		}
	}
}

// tailOffset is where the last n lines of f start. A final newline ends the
// last line; it does not start an empty one.
func tailOffset(f *os.File, n int) (int64, error) {
	fi, err := f.Stat()
	if err != nil {
		return 0, err
	}
	size := fi.Size()
	buf := make([]byte, 32<<10)
	seen := 0
	for end := size; end > 0; {
		start := max(0, end-int64(len(buf)))
		b := buf[:end-start]
		if _, err := f.ReadAt(b, start); err != nil && !errors.Is(err, io.EOF) {
			return 0, err
		}
		for i := len(b) - 1; i >= 0; i-- {
			if b[i] != '\n' || start+int64(i) == size-1 {
				continue
			}
			if seen++; seen == n {
				return start + int64(i) + 1, nil
			}
		}
		end = start
	}
	return 0, nil
}

// readTail returns the last lines of a file, at most maxBytes of them.
func readTail(path string, lines int, maxBytes int64) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	off, err := tailOffset(f, lines)
	if err != nil {
		return "", err
	}
	fi, err := f.Stat()
	if err != nil {
		return "", err
	}
	off = max(off, fi.Size()-maxBytes)
	b := make([]byte, fi.Size()-off)
	if _, err := f.ReadAt(b, off); err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	return string(b), nil
}
