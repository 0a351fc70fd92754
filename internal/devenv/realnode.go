package devenv

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/slotsync/slotsync/internal/imagebuild"
	"github.com/slotsync/slotsync/internal/realnode"
)

// The kinds of node Options.Node chooses from.
const (
	NodeProcess = "process" // virtual-kubelet running pods as host processes
	NodeReal    = "real"    // containerd and a kubelet built from source
	NodeAuto    = "auto"    // real where this machine allows it, else process
)

// RealNodeName is the real node's Node name.
const RealNodeName = "slotsync-dev"

// chooseNode settles Options.Node into NodeProcess or NodeReal, saying why auto
// fell back to the process node.
func (e *Env) chooseNode() error {
	switch e.opts.Node {
	case "", NodeProcess:
		e.NodeKind = NodeProcess
	case NodeReal:
		if err := realnode.Unavailable(filepath.Join(e.opts.K8sBin, "kubelet")); err != nil {
			return fmt.Errorf("--node real: %w", err)
		}
		e.NodeKind = NodeReal
	case NodeAuto:
		if err := realnode.Unavailable(filepath.Join(e.opts.K8sBin, "kubelet")); err != nil {
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

// configureRealNodeAPIServer gives the API server what a kubelet needs of it; the
// certificates must exist before it starts.
func (e *Env) configureRealNodeAPIServer(control *envtest.Environment) error {
	if e.NodeKind != NodeReal {
		return nil
	}
	pki, err := realnode.NewPKI(filepath.Join(e.opts.Root, "pki"))
	if err != nil {
		return err
	}
	e.realPKI = pki
	args := control.ControlPlane.GetAPIServer().Configure()
	for k, v := range pki.APIServerFlags() {
		args.Set(k, v)
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
		NodeName: RealNodeName, ClientCA: e.realPKI.CA, Images: []string{images}, Port: port, HealthzPort: healthz,
	})
	if err != nil {
		return err
	}
	e.realNode = node
	return node.WaitReady(ctx, e.Client, 2*time.Minute)
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
