package bench

import (
	"fmt"
	"os"
	"path/filepath"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/slotsync/slotsync/internal/kubetest"
)

// apiServer is envtest's etcd and kube-apiserver with slotsync's CRDs. Run the
// benchmark from the repository, as `make bench` does: the CRDs are read from
// config/crd/bases.
type apiServer struct {
	env    *kubetest.Env
	cfg    *rest.Config
	scheme *runtime.Scheme
	// c talks to the API server directly, with no cache and no client-side
	// rate limit: the benchmark polls it.
	c client.Client
}

func startAPIServer() (*apiServer, error) {
	env, err := kubetest.New()
	if err != nil {
		return nil, err
	}
	cfg := rest.CopyConfig(env.Config)
	cfg.QPS, cfg.Burst = -1, 0
	c, err := client.New(cfg, client.Options{Scheme: env.Scheme})
	if err != nil {
		_ = env.Stop()
		return nil, fmt.Errorf("create client: %w", err)
	}
	return &apiServer{env: env, cfg: cfg, scheme: env.Scheme, c: c}, nil
}

func (a *apiServer) stop() {
	_ = a.env.Stop()
}

// kubeconfig writes a kubeconfig of a cluster admin to dir, for a process of
// its own, and returns its path.
func (a *apiServer) kubeconfig(dir string) (string, error) {
	b, err := a.env.AdminKubeconfig("slotsync-bench")
	if err != nil {
		return "", fmt.Errorf("make kubeconfig: %w", err)
	}
	path := filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		return "", fmt.Errorf("write kubeconfig: %w", err)
	}
	return path, nil
}
