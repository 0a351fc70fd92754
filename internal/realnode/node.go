package realnode

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	criv1 "k8s.io/cri-api/pkg/apis/runtime/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/slotsync/slotsync/internal/childproc"
)

// Unavailable says why this machine cannot run the real node, or nil when it can.
// kubeletBin is checked too when not empty.
func Unavailable(kubeletBin string) error {
	if os.Geteuid() != 0 {
		return errors.New("not root: containerd and the kubelet need root")
	}
	for _, b := range []string{"containerd", "containerd-shim-runc-v2", "runc", "ctr", "iptables"} {
		if _, err := exec.LookPath(b); err != nil {
			return fmt.Errorf("%s missing: run `hack/install-deps.sh --real-node`", b)
		}
	}
	if _, err := os.Stat(filepath.Join(CNIBinDir, "bridge")); err != nil {
		return fmt.Errorf("CNI plugins missing in %s: run `hack/install-deps.sh --real-node`", CNIBinDir)
	}
	if _, err := os.Stat("/sys/fs/cgroup/memory"); err != nil {
		if _, err2 := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err2 != nil {
			return errors.New("no cgroup file system at /sys/fs/cgroup")
		}
	}
	if kubeletBin != "" {
		if _, err := os.Stat(kubeletBin); err != nil {
			return fmt.Errorf("kubelet missing at %s: run `hack/build-k8s.sh bin/k8s kubelet`", kubeletBin)
		}
	}
	return nil
}

// Node is a running containerd and kubelet.
type Node struct {
	cfg        Config
	containerd *childproc.Process
	kubelet    *childproc.Process
	kubeProxy  *childproc.Process
}

// Start writes the configuration, starts containerd, imports the images and starts
// the kubelet. On error it stops what it started.
func Start(ctx context.Context, cfg Config) (_ *Node, err error) {
	n := &Node{cfg: cfg}
	defer func() {
		if err != nil {
			n.Stop()
		}
	}()
	if err := cfg.writeFiles(); err != nil {
		return nil, fmt.Errorf("write the node's configuration: %w", err)
	}
	if n.containerd, err = n.start("containerd", "containerd", "--config", cfg.path("containerd", "config.toml")); err != nil {
		return nil, err
	}
	if err := n.waitContainerd(ctx); err != nil {
		return nil, err
	}
	for _, img := range cfg.Images {
		if out, err := n.ctr(ctx, "images", "import", img); err != nil {
			return nil, fmt.Errorf("import %s: %w: %s", img, err, out)
		}
	}
	if err := BridgeUp(ctx); err != nil {
		return nil, err
	}
	n.kubelet, err = n.start("kubelet", cfg.Kubelet,
		"--config="+cfg.path("kubelet", "config.json"), "--kubeconfig="+cfg.Kubeconfig,
		"--hostname-override="+cfg.NodeName, "--node-ip="+Gateway,
		"--root-dir="+cfg.path("kubelet", "root"), "--cert-dir="+cfg.path("kubelet", "pki"), "--v=1")
	if err != nil || cfg.KubeProxy == "" {
		return n, err
	}
	healthz, metrics, err := twoFreePorts()
	if err != nil {
		return nil, err
	}
	// iptables mode; zero conntrack settings leave the machine's sysctls alone, and
	// node ports open on the gateway only.
	n.kubeProxy, err = n.start("kube-proxy", cfg.KubeProxy,
		"--kubeconfig="+cfg.Kubeconfig, "--hostname-override="+cfg.NodeName, "--proxy-mode=iptables",
		"--bind-address="+Gateway, "--nodeport-addresses="+Gateway+"/32",
		fmt.Sprintf("--healthz-bind-address=127.0.0.1:%d", healthz), fmt.Sprintf("--metrics-bind-address=127.0.0.1:%d", metrics),
		"--conntrack-max-per-core=0", "--conntrack-tcp-timeout-established=0", "--conntrack-tcp-timeout-close-wait=0", "--v=1")
	return n, err
}

func twoFreePorts() (int, int, error) {
	var ports [2]int
	for i := range ports {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, 0, err
		}
		ports[i] = l.Addr().(*net.TCPAddr).Port
		defer l.Close()
	}
	return ports[0], ports[1], nil
}

// BridgeUp makes the CNI bridge with its gateway address before the first pod
// would, so the kubelet has its node IP at start and the API server can listen
// there for pods; the bridge plugin adopts it. Stop removes it.
func BridgeUp(ctx context.Context) error {
	for _, args := range [][]string{
		{"link", "add", "name", Bridge, "type", "bridge"},
		{"addr", "replace", Gateway + "/24", "dev", Bridge},
		{"link", "set", Bridge, "up"},
		// Host clients of Service addresses leave from the gateway, which pods can
		// answer, instead of following the default route off the machine.
		{"route", "replace", ServiceSubnet, "dev", Bridge, "src", Gateway},
	} {
		out, err := exec.CommandContext(ctx, "ip", args...).CombinedOutput()
		if err != nil && !strings.Contains(string(out), "File exists") {
			return fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, out)
		}
	}
	return nil
}

func (n *Node) start(name, bin string, args ...string) (*childproc.Process, error) {
	log, err := os.OpenFile(n.cfg.path("logs", name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer log.Close()
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = log, log
	p, err := childproc.Start(cmd)
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	return p, nil
}

func (n *Node) ctr(ctx context.Context, args ...string) ([]byte, error) {
	return exec.CommandContext(ctx, "ctr", append([]string{"--address", n.cfg.socket(), "--namespace", "k8s.io"}, args...)...).CombinedOutput()
}

func (n *Node) waitContainerd(ctx context.Context) error {
	return wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		if done, err := n.containerd.Exited(); done {
			return false, fmt.Errorf("containerd exited (%v): %s", err, n.logTail("containerd"))
		}
		_, err := n.ctr(ctx, "version")
		return err == nil, nil
	})
}

// LogPath is the log file of a component: containerd or kubelet.
func (n *Node) LogPath(name string) string { return n.cfg.path("logs", name+".log") }

// logTail is the end of a component's log, for errors: the directory may be gone
// by the time someone reads them.
func (n *Node) logTail(name string) string {
	data, _ := os.ReadFile(n.LogPath(name))
	if len(data) > 3000 {
		data = data[len(data)-3000:]
	}
	return string(data)
}

// WaitReady waits for the Node to report Ready.
func (n *Node) WaitReady(ctx context.Context, c client.Client, timeout time.Duration) error {
	var last string
	err := wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		if done, err := n.kubelet.Exited(); done {
			return false, fmt.Errorf("kubelet exited (%v): %s", err, n.logTail("kubelet"))
		}
		var node corev1.Node
		if err := c.Get(ctx, client.ObjectKey{Name: n.cfg.NodeName}, &node); err != nil {
			last = err.Error()
			return false, nil
		}
		for _, cond := range node.Status.Conditions {
			if cond.Type == corev1.NodeReady {
				last = string(cond.Status) + " " + cond.Reason + ": " + cond.Message
				return cond.Status == corev1.ConditionTrue, nil
			}
		}
		return false, nil
	})
	if err != nil && last != "" {
		return fmt.Errorf("node %s not Ready (%s): %w; see %s", n.cfg.NodeName, last, err, n.LogPath("kubelet"))
	}
	return err
}

// Stop stops the kubelet, then every pod sandbox through the CRI (which tears down
// their network), then containerd and any shim of ours left, and unmounts what
// they mounted under the node's directory.
func (n *Node) Stop() {
	if n.kubeProxy != nil {
		n.kubeProxy.Stop(10 * time.Second)
		// Its KUBE-* rules would keep steering Service addresses after it is gone.
		_ = exec.Command(n.cfg.KubeProxy, "--cleanup", "--proxy-mode=iptables").Run()
	}
	if n.kubelet != nil {
		n.kubelet.Stop(10 * time.Second)
	}
	if n.containerd != nil {
		if done, _ := n.containerd.Exited(); !done {
			n.removeSandboxes()
		}
		n.containerd.Stop(10 * time.Second)
	}
	n.killShims()
	unmountUnder(n.cfg.Dir)
	removeCgroups()
	// The bridge plugin made it; nothing else uses it.
	_ = exec.Command("ip", "link", "delete", Bridge).Run()
}

func (n *Node) removeSandboxes() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := grpc.NewClient("unix://"+n.cfg.socket(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return
	}
	defer conn.Close()
	rt := criv1.NewRuntimeServiceClient(conn)
	list, err := rt.ListPodSandbox(ctx, &criv1.ListPodSandboxRequest{})
	if err != nil {
		return
	}
	for _, s := range list.Items {
		_, _ = rt.StopPodSandbox(ctx, &criv1.StopPodSandboxRequest{PodSandboxId: s.Id})
		_, _ = rt.RemovePodSandbox(ctx, &criv1.RemovePodSandboxRequest{PodSandboxId: s.Id})
	}
}

// killShims kills the runc shims that serve our containerd (their command line
// names its socket) and what runs under them: shims start in process groups of
// their own, so stopping containerd's group misses them.
func (n *Node) killShims() {
	procs, _ := os.ReadDir("/proc")
	parent := map[int]int{}
	var shims []int
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil {
			continue
		}
		cmdline, _ := os.ReadFile(filepath.Join("/proc", p.Name(), "cmdline"))
		if bytes.Contains(cmdline, []byte("containerd-shim")) && bytes.Contains(cmdline, []byte(n.cfg.socket())) {
			shims = append(shims, pid)
		}
		stat, _ := os.ReadFile(filepath.Join("/proc", p.Name(), "stat"))
		// The parent pid is the second field after the command, which is in parens.
		if i := bytes.LastIndexByte(stat, ')'); i > 0 {
			if f := strings.Fields(string(stat[i+1:])); len(f) > 1 {
				parent[pid], _ = strconv.Atoi(f[1])
			}
		}
	}
	for _, shim := range shims {
		for pid := range parent {
			for a := pid; a > 1; a = parent[a] {
				if a == shim && pid != shim {
					_ = syscall.Kill(pid, syscall.SIGKILL)
					break
				}
			}
		}
		_ = syscall.Kill(shim, syscall.SIGKILL)
	}
}

// unmountUnder detaches every mount below dir, deepest first: the kubelet's
// bind mount of its root dir, volumes, overlay roots, network namespaces.
func unmountUnder(dir string) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return
	}
	var points []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 4 && (fields[4] == dir || strings.HasPrefix(fields[4], dir+"/")) {
			points = append(points, fields[4])
		}
	}
	f.Close()
	sort.Slice(points, func(i, j int) bool { return len(points[i]) > len(points[j]) })
	for _, p := range points {
		_ = syscall.Unmount(p, syscall.MNT_DETACH)
	}
}

// removeCgroups removes the kubelet's kubepods cgroups once empty, deepest first;
// rmdir fails on a cgroup that still has processes, so a live pod keeps its own.
func removeCgroups() {
	roots, _ := filepath.Glob("/sys/fs/cgroup/*/kubepods")
	for _, root := range roots {
		var dirs []string
		_ = filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, p)
			}
			return nil
		})
		for i := len(dirs) - 1; i >= 0; i-- {
			_ = syscall.Rmdir(dirs[i])
		}
	}
}

// LockPath is the file a running real node holds locked: one machine has one
// bridge and one block of addresses for it.
const LockPath = "/run/slotsync-realnode.lock"

// Lock claims the real node of this machine for the caller until release, or says
// which process holds it.
func Lock() (release func(), err error) {
	f, err := os.OpenFile(LockPath, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lock the real node: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		holder, _ := os.ReadFile(LockPath)
		f.Close()
		return nil, fmt.Errorf("the real node is in use by process %s (%s is locked): one per machine", strings.TrimSpace(string(holder)), LockPath)
	}
	_ = f.Truncate(0)
	_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	return func() { f.Close() }, nil
}

// ContainerPID is the host PID of a running container's first process; id is
// the container's ID as a pod's status gives it, with or without "containerd://".
func (n *Node) ContainerPID(ctx context.Context, id string) (int, error) {
	id = strings.TrimPrefix(id, "containerd://")
	out, err := n.ctr(ctx, "task", "ls")
	if err != nil {
		return 0, fmt.Errorf("ctr task ls: %w: %s", err, out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if f := strings.Fields(line); len(f) >= 3 && f[0] == id {
			return strconv.Atoi(f[1])
		}
	}
	return 0, fmt.Errorf("no running task for container %s", id)
}
