package bench

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	inventoryv1alpha1 "github.com/slotsync/slotsync/api/v1alpha1"
	"github.com/slotsync/slotsync/internal/kubetest"
)

// apiServer is envtest's etcd and kube-apiserver with slotsync's CRDs.
type apiServer struct {
	env    *envtest.Environment
	cfg    *rest.Config
	scheme *runtime.Scheme
	// c talks to the API server directly, with no cache and no client-side
	// rate limit: the benchmark polls it.
	c client.Client
}

func startAPIServer() (*apiServer, error) {
	if err := kubetest.CheckAssets(os.Getenv("KUBEBUILDER_ASSETS")); err != nil {
		return nil, err
	}
	crds, err := findCRDs()
	if err != nil {
		return nil, err
	}
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return nil, err
	}
	if err := inventoryv1alpha1.AddToScheme(scheme); err != nil {
		return nil, err
	}
	env := &envtest.Environment{
		CRDDirectoryPaths:        []string{crds},
		ErrorIfCRDPathMissing:    true,
		Scheme:                   scheme,
		ControlPlaneStartTimeout: 2 * time.Minute,
		ControlPlaneStopTimeout:  time.Minute,
	}
	cfg, err := env.Start()
	if err != nil {
		return nil, fmt.Errorf("start envtest: %w", err)
	}
	cfg = rest.CopyConfig(cfg)
	cfg.QPS, cfg.Burst = -1, 0
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		_ = env.Stop()
		return nil, fmt.Errorf("create client: %w", err)
	}
	return &apiServer{env: env, cfg: cfg, scheme: scheme, c: c}, nil
}

func (a *apiServer) stop() {
	_ = a.env.Stop()
}

// kubeconfig writes a kubeconfig of a cluster admin to dir, for a process of
// its own, and returns its path.
func (a *apiServer) kubeconfig(dir string) (string, error) {
	user, err := a.env.AddUser(envtest.User{Name: "slotsync-bench", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return "", fmt.Errorf("add envtest user: %w", err)
	}
	b, err := user.KubeConfig()
	if err != nil {
		return "", fmt.Errorf("make kubeconfig: %w", err)
	}
	path := filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		return "", fmt.Errorf("write kubeconfig: %w", err)
	}
	return path, nil
}

// findCRDs looks for config/crd/bases from the working directory up: the
// benchmark runs from the repository, as `make bench` does.
func findCRDs() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		p := filepath.Join(dir, "config", "crd", "bases")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no config/crd/bases in or above the working directory: run the benchmark from the repository")
		}
		dir = parent
	}
}
