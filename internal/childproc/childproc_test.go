package childproc_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/slotsync/slotsync/internal/childproc"
)

// envParent makes the test binary the parent of TestChildDiesWithParent: it
// starts a child, prints its pid and waits to be killed.
const envParent = "CHILDPROC_TEST_PARENT"

func TestMain(m *testing.M) {
	if os.Getenv(envParent) != "" {
		p, err := childproc.Start(exec.Command("sleep", "60"))
		if err != nil {
			fmt.Println("error:", err)
			os.Exit(1)
		}
		fmt.Println(p.Pid())
		_ = p.Wait()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// gone reports whether pid has ended: it no longer exists, or is a zombie
// nobody has reaped yet (a container's init may never do it).
func gone(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	// The state follows the command name, which is in parentheses.
	s := string(b)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	return len(fields) > 0 && (fields[0] == "Z" || fields[0] == "X")
}

func waitGone(t *testing.T, pid int, what string) {
	t.Helper()
	err := wait.PollUntilContextTimeout(context.Background(), 20*time.Millisecond, 10*time.Second, true,
		func(context.Context) (bool, error) { return gone(pid), nil })
	if err != nil {
		t.Fatalf("%s (pid %d) still runs after 10s", what, pid)
	}
}

func TestChildDiesWithParent(t *testing.T) {
	parent := exec.Command(os.Args[0], "-test.run=^$")
	parent.Env = append(os.Environ(), envParent+"=1")
	out, err := parent.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := parent.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		_ = parent.Process.Kill()
		t.Fatalf("read the child's pid from the parent: %v (%q)", err, line)
	}
	child, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil {
		_ = parent.Process.Kill()
		t.Fatalf("parent said %q, want the child's pid", line)
	}
	if gone(child) {
		t.Fatal("the child is not running before its parent is killed")
	}
	if err := parent.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = parent.Wait()
	waitGone(t, child, "the child of a killed parent")
}

// TestChildOutlivesStartingThread: the child belongs to childproc's own locked
// thread, so the thread of the goroutine that called Start may end at once.
// Forking on the caller's thread would let Pdeathsig kill the child here.
func TestChildOutlivesStartingThread(t *testing.T) {
	cmd := exec.Command("sh", "-c", "read line; echo \"$line\"; exec sleep 60")
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	type started struct {
		p   *childproc.Process
		tid int
		err error
	}
	ch := make(chan started)
	var start func()
	start = func() {
		// A goroutine that exits while locked ends its thread, unless that is
		// the main thread, which the runtime keeps: then start from another.
		runtime.LockOSThread()
		if syscall.Gettid() == os.Getpid() {
			go start()
			return
		}
		p, err := childproc.Start(cmd)
		ch <- started{p, syscall.Gettid(), err}
	}
	go start()
	s := <-ch
	if s.err != nil {
		t.Fatal(s.err)
	}
	defer s.p.Kill()
	task := fmt.Sprintf("/proc/self/task/%d", s.tid)
	err = wait.PollUntilContextTimeout(context.Background(), 10*time.Millisecond, 10*time.Second, true,
		func(context.Context) (bool, error) {
			_, err := os.Stat(task)
			return errors.Is(err, os.ErrNotExist), nil
		})
	if err != nil {
		t.Fatal("the starting goroutine's thread did not end")
	}
	// Pdeathsig is queued as the thread exits, and a process with SIGKILL
	// pending runs no more of its code: an echo now proves it survived.
	if _, err := io.WriteString(in, "ping\n"); err != nil {
		t.Fatalf("write to the child: %v", err)
	}
	if line, err := bufio.NewReader(out).ReadString('\n'); line != "ping\n" {
		t.Fatalf("the child died with the thread of the goroutine that started it: read %q, %v", line, err)
	}
}

func TestStopKillsTheGroup(t *testing.T) {
	tests := []struct {
		name, script string
	}{
		{"leader exits on SIGTERM", `sleep 60 & echo $!; wait`},
		{"leader ignores SIGTERM", `trap '' TERM; sleep 60 & echo $!; wait; wait`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := exec.Command("sh", "-c", tt.script)
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			p, err := childproc.Start(cmd)
			if err != nil {
				t.Fatal(err)
			}
			line, err := bufio.NewReader(out).ReadString('\n')
			if err != nil {
				p.Kill()
				t.Fatalf("read the grandchild's pid: %v", err)
			}
			grandchild, _ := strconv.Atoi(strings.TrimSpace(line))
			p.Stop(200 * time.Millisecond)
			if done, _ := p.Exited(); !done {
				t.Fatal("Stop returned before the child exited")
			}
			waitGone(t, grandchild, "the child's own child")
		})
	}
}
