// Package kubetest starts a real kube-apiserver and etcd (envtest) with slotsync's
// CRDs for tests. It fails, never skips, when the binaries are missing: a controller
// that was not checked against an API server must not look green.
package kubetest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/slotsync/slotsync/internal/kubescheme"
)

const hint = "run `make envtest-assets` and set KUBEBUILDER_ASSETS=$(pwd)/bin/k8s (make test does both)"

// Env is a running API server with the CRDs installed.
type Env struct {
	Config *rest.Config
	Scheme *runtime.Scheme
	// Client talks to the API server directly, with no cache: tests poll it.
	Client  client.Client
	control *envtest.Environment
}

var shared struct {
	once sync.Once
	env  *Env
	err  error
}

// Main runs the package's tests, then stops the API server if a test started one.
func Main(m *testing.M) {
	ctrllog.SetLogger(logr.Discard())
	code := m.Run()
	Stop()
	os.Exit(code)
}

// Stop stops the package's API server if a test started one; for a TestMain that
// also needs other servers (see pgtest.Main).
func Stop() {
	if shared.env != nil {
		if err := shared.env.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "stop envtest: %v\n", err)
		}
	}
}

// Start returns the package's API server, starting it on first use.
func Start(t testing.TB) *Env {
	t.Helper()
	shared.once.Do(func() { shared.env, shared.err = New() })
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	return shared.env
}

// New starts an API server of its own, for callers outside a test (the benchmarks);
// Stop ends it. Tests use Start, which shares one per package.
func New() (*Env, error) {
	if err := CheckAssets(os.Getenv("KUBEBUILDER_ASSETS")); err != nil {
		return nil, err
	}
	root, err := repoRoot()
	if err != nil {
		return nil, err
	}
	scheme, err := kubescheme.New()
	if err != nil {
		return nil, err
	}
	env := &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join(root, "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
		Scheme:                scheme,
		// The machines that run this are small and often busy compiling.
		ControlPlaneStartTimeout: 2 * time.Minute,
	}
	cfg, err := env.Start()
	if err != nil {
		return nil, fmt.Errorf("start envtest: %w", err)
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		_ = env.Stop()
		return nil, err
	}
	return &Env{Config: cfg, Scheme: scheme, Client: c, control: env}, nil
}

// Stop ends the API server and etcd.
func (e *Env) Stop() error { return e.control.Stop() }

// AdminKubeconfig is a kubeconfig of a cluster admin, for a process of its own.
func (e *Env) AdminKubeconfig(name string) ([]byte, error) {
	user, err := e.control.AddUser(envtest.User{Name: name, Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return nil, fmt.Errorf("add envtest user: %w", err)
	}
	return user.KubeConfig()
}

// CheckAssets says what is wrong with a KUBEBUILDER_ASSETS directory, and how to fix it.
func CheckAssets(dir string) error {
	if dir == "" {
		return fmt.Errorf("KUBEBUILDER_ASSETS is not set: %s", hint)
	}
	for _, bin := range []string{"etcd", "kube-apiserver"} {
		info, err := os.Stat(filepath.Join(dir, bin))
		if err != nil {
			return fmt.Errorf("envtest binary %s missing in KUBEBUILDER_ASSETS=%s: %s", bin, dir, hint)
		}
		if info.Mode()&0o111 == 0 {
			return fmt.Errorf("envtest binary %s in %s is not executable: %s", bin, dir, hint)
		}
	}
	return nil
}

// RepoRoot is the module root, found from the test's working directory.
func RepoRoot(t testing.TB) string {
	t.Helper()
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// repoRoot finds the module root from the test's working directory.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod above the test's directory")
		}
		dir = parent
	}
}

// Namespace creates a namespace of the test's own and deletes it afterwards.
func (e *Env) Namespace(t testing.TB) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "test-"}}
	if err := e.Client.Create(context.Background(), ns); err != nil {
		t.Fatalf("create namespace: %v", err)
	}
	t.Cleanup(func() { _ = e.Client.Delete(context.Background(), ns) })
	return ns.Name
}

// Eventually polls check until it returns nil, failing the test with its last error
// after timeout.
func Eventually(t testing.TB, timeout time.Duration, check func() error) {
	t.Helper()
	var last error
	err := wait.PollUntilContextTimeout(context.Background(), 50*time.Millisecond, timeout, true, func(context.Context) (bool, error) {
		last = check()
		return last == nil, nil
	})
	if err != nil {
		t.Fatalf("after %v: %v", timeout, last)
	}
}
