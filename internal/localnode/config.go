package localnode

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/rest"
)

// Defaults for the zero values of Config.
const (
	DefaultNodeName          = "localnode"
	DefaultAddress           = "127.0.0.1"
	DefaultRestartBackoff    = 10 * time.Second
	DefaultMaxRestartBackoff = 5 * time.Minute
	DefaultShutdownGrace     = 5 * time.Second
)

// TerminationMessagePathEnv names the env var that tells a process where its
// termination message file is (see the package documentation).
const TerminationMessagePathEnv = "TERMINATION_MESSAGE_PATH"

// Config is what a local node needs. RESTConfig, WorkDir and a way to find
// executables (Binaries or ResolveImage) are required.
type Config struct {
	// RESTConfig reaches the API server. The node watches pods bound to it
	// and all Secrets and ConfigMaps, and writes nodes, leases, pod status,
	// pod deletions and events.
	RESTConfig *rest.Config

	// NodeName is the Node's name; pods run here when spec.nodeName is it.
	NodeName string

	// Address is the node's InternalIP, every pod's IP and where the kubelet
	// API listens. It must be a loopback address: that API has no
	// authentication.
	Address string

	// Port is the kubelet API's port (the node's daemonEndpoints). Zero
	// picks a free one; Node.KubeletAddr tells which.
	Port int

	// WorkDir holds a directory per pod, with a working directory, a log
	// and a termination message file per container.
	WorkDir string

	// Binaries maps a program name to a local executable, for images whose
	// repository name is the key and for commands that start with the key
	// or /…/key. {"slotsync": "/src/slotsync/bin/slotsync"}.
	Binaries map[string]string

	// ResolveImage, when set, maps the image of a container that has no
	// command to an executable; it is asked before Binaries.
	ResolveImage func(image string) (path string, ok bool)

	// Env is added to every container's environment, below the pod's own
	// env. KUBECONFIG is the usual one for programs that call the API.
	Env map[string]string

	// Capacity is the node's capacity and allocatable, which only the
	// scheduler looks at. Missing entries default to the machine's CPUs and
	// memory and 110 pods; raise them when pods request more than that.
	Capacity corev1.ResourceList

	// RestartBackoff is the delay before the first restart of a container
	// that exited; it doubles on each further restart up to
	// MaxRestartBackoff, as the kubelet's CrashLoopBackOff does.
	RestartBackoff    time.Duration
	MaxRestartBackoff time.Duration

	// ShutdownGrace is how long processes get between SIGTERM and SIGKILL
	// when the node's context ends.
	ShutdownGrace time.Duration
}

// withDefaults returns a copy of c with zero values replaced and paths made
// absolute, or an error saying what is missing.
func (c Config) withDefaults() (Config, error) {
	if c.RESTConfig == nil {
		return c, errors.New("RESTConfig is required")
	}
	if c.WorkDir == "" {
		return c, errors.New("WorkDir is required")
	}
	if len(c.Binaries) == 0 && c.ResolveImage == nil {
		return c, errors.New("Binaries or ResolveImage is required: without them no image can run")
	}
	if c.NodeName == "" {
		c.NodeName = DefaultNodeName
	}
	if c.Address == "" {
		c.Address = DefaultAddress
	}
	ip := net.ParseIP(c.Address)
	if ip == nil || !ip.IsLoopback() {
		return c, fmt.Errorf("address %q is not a loopback IP: the kubelet API of a local node has no authentication", c.Address)
	}
	if c.Port < 0 || c.Port > 65535 {
		return c, fmt.Errorf("port %d is out of range", c.Port)
	}
	if c.RestartBackoff <= 0 {
		c.RestartBackoff = DefaultRestartBackoff
	}
	if c.MaxRestartBackoff < c.RestartBackoff {
		c.MaxRestartBackoff = max(DefaultMaxRestartBackoff, c.RestartBackoff)
	}
	if c.ShutdownGrace <= 0 {
		c.ShutdownGrace = DefaultShutdownGrace
	}
	// Processes run in other directories, so relative paths would break.
	var err error
	if c.WorkDir, err = filepath.Abs(c.WorkDir); err != nil {
		return c, fmt.Errorf("resolve work dir: %w", err)
	}
	bins := make(map[string]string, len(c.Binaries))
	for name, p := range c.Binaries {
		abs, err := filepath.Abs(p)
		if err != nil {
			return c, fmt.Errorf("resolve binary %q: %w", name, err)
		}
		if _, err := os.Stat(abs); err != nil {
			return c, fmt.Errorf("binary %q: %w", name, err)
		}
		bins[name] = abs
	}
	c.Binaries = bins
	return c, nil
}

// Limitations sums up, for a command to print when it starts a local node,
// what the node does not do; the package documentation has the details.
const Limitations = `pods on the local node run as plain host processes: no isolation, no images ` +
	`(images map to local binaries), no resource limits, no volumes, no probes, no exec; ` +
	`every pod shares the host's network on 127.0.0.1; securityContext is not enforced`
