package devenv

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/slotsync/slotsync/internal/imagebuild"
	"github.com/slotsync/slotsync/internal/localnode"
	"github.com/slotsync/slotsync/internal/realnode"
)

// The kinds of node Options.Node chooses from.
const (
	NodeProcess = "process" // virtual-kubelet running pods as host processes
	NodeReal    = "real"    // containerd and a kubelet built from source
	NodeAuto    = "auto"    // real where this machine allows it, else process
)

// NodeEnv names the environment variable that picks the node when Options.Node
// is empty.
const NodeEnv = "SLOTSYNC_DEV_NODE"

// RealNodeName is the real node's Node name: the process node's, so that what
// checks "the local node" holds for either.
const RealNodeName = localnode.DefaultNodeName

// claimRealNode says why the real node cannot run here, or claims it for this
// environment (released by Stop).
func (e *Env) claimRealNode() error {
	if err := realnode.Unavailable(filepath.Join(e.opts.K8sBin, "kubelet")); err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(e.opts.K8sBin, "kube-proxy")); err != nil {
		return fmt.Errorf("kube-proxy missing in %s: run `make real-node-binaries`", e.opts.K8sBin)
	}
	release, err := realnode.Lock()
	if err != nil {
		return err
	}
	e.releaseRealNode = release
	return nil
}

// chooseNode settles Options.Node into NodeProcess or NodeReal, saying why auto
// fell back to the process node.
func (e *Env) chooseNode() error {
	if e.opts.Node == "" {
		// Lets `make e2e` run on either node without a flag of its own.
		e.opts.Node = os.Getenv(NodeEnv)
	}
	switch e.opts.Node {
	case NodeProcess:
		e.NodeKind = NodeProcess
	case NodeReal:
		if err := e.claimRealNode(); err != nil {
			return fmt.Errorf("--node real: %w", err)
		}
		e.NodeKind = NodeReal
	case "", NodeAuto:
		if err := e.claimRealNode(); err != nil {
			e.step("real node unavailable, using the process node: %v", err)
			e.NodeKind = NodeProcess
		} else {
			e.NodeKind = NodeReal
		}
	default:
		return fmt.Errorf("node %q: want %s, %s or %s", e.opts.Node, NodeProcess, NodeReal, NodeAuto)
	}
	return nil
}

// realEnv is what the real node adds to the environment.
type realEnv struct {
	pki         realnode.PKI
	node        *realnode.Node
	stopForward context.CancelFunc
}

// configureRealNodeAPIServer makes the API server reachable from pods and able to
// call the kubelet; the bridge and certificates must exist before it starts.
func (e *Env) configureRealNodeAPIServer(control *envtest.Environment) error {
	if e.NodeKind != NodeReal {
		return nil
	}
	if err := realnode.BridgeUp(context.Background()); err != nil {
		return err
	}
	pki, err := realnode.NewPKI(filepath.Join(e.opts.Root, "pki"))
	if err != nil {
		return err
	}
	e.real = &realEnv{pki: pki, stopForward: func() {}}
	return realnode.ConfigureControlPlane(control, pki, filepath.Join(e.opts.Root, "apiserver"))
}

func (e *Env) realNodeControllerFlags() []string {
	if e.real == nil {
		return nil
	}
	rootCA, controllers := e.real.pki.ControllerManagerFlags()
	return []string{rootCA, "--controllers=" + strings.Join(controllers, ",")}
}

func (e *Env) stopRealNode() {
	if e.real != nil {
		e.real.stopForward()
		if e.real.node != nil {
			e.real.node.Stop()
		}
	}
	if e.releaseRealNode != nil {
		e.releaseRealNode()
	}
}

// exposeToPods points the database and partner URLs at forwarders on the gateway:
// Postgres and the simulator listen on 127.0.0.1, which a pod cannot reach. Host
// processes use the same URLs.
func (e *Env) exposeToPods() error {
	ctx, cancel := context.WithCancel(context.Background())
	e.real.stopForward = cancel
	for _, u := range []*string{&e.DatabaseURL, &e.SimURL} {
		parsed, err := url.Parse(*u)
		if err != nil {
			return err
		}
		if parsed.Host, err = realnode.Forward(ctx, parsed.Host); err != nil {
			return err
		}
		*u = parsed.String()
	}
	return nil
}

func (e *Env) startRealNode(ctx context.Context) error {
	images := filepath.Join(e.opts.Root, "images.tar")
	if err := imagebuild.DevArchive(ctx, e.opts.RepoRoot, e.opts.Slotsync, images); err != nil {
		return err
	}
	// system:masters too: only RBAC authorizes here, and it binds nothing to system:nodes.
	user, err := e.control.AddUser(envtest.User{Name: "system:node:" + RealNodeName, Groups: []string{"system:nodes", "system:masters"}}, nil)
	if err != nil {
		return err
	}
	kc, err := user.KubeConfig()
	if err != nil {
		return err
	}
	kcPath := filepath.Join(e.opts.Root, "kubeconfig-node")
	if err := os.WriteFile(kcPath, kc, 0o600); err != nil {
		return err
	}
	port, err := freePort()
	if err != nil {
		return err
	}
	healthz, err := freePort()
	if err != nil {
		return err
	}
	node, err := realnode.Start(ctx, realnode.Config{
		Dir: filepath.Join(e.opts.Root, "node"), Kubelet: filepath.Join(e.opts.K8sBin, "kubelet"), Kubeconfig: kcPath,
		NodeName: RealNodeName, ClientCA: e.real.pki.CA, Images: []string{images}, Port: port, HealthzPort: healthz,
		KubeProxy: filepath.Join(e.opts.K8sBin, "kube-proxy"),
	})
	if err != nil {
		return err
	}
	e.real.node = node
	if err := node.WaitReady(ctx, e.Client, 2*time.Minute); err != nil {
		return err
	}
	return e.exposeToPods()
}

func freePort() (int, error) {
	addr, err := freeAddr()
	if err != nil {
		return 0, err
	}
	var port int
	if _, err := fmt.Sscanf(addr, "127.0.0.1:%d", &port); err != nil {
		return 0, errors.New("free port: " + addr)
	}
	return port, nil
}

// PodURL is hostURL, a server on 127.0.0.1 that a test starts, as pods reach it:
// unchanged on the process node, through a forwarder on the bridge's gateway on the
// real node (stopped with the environment).
func (e *Env) PodURL(hostURL string) (string, error) {
	if e.real == nil {
		return hostURL, nil
	}
	u, err := url.Parse(hostURL)
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithCancel(context.Background())
	prev := e.real.stopForward
	e.real.stopForward = func() { prev(); cancel() }
	if u.Host, err = realnode.Forward(ctx, u.Host); err != nil {
		cancel()
		return "", err
	}
	return u.String(), nil
}
