package api_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	inventoryv1alpha1 "github.com/slotsync/slotsync/api/v1alpha1"
	"github.com/slotsync/slotsync/internal/kubetest"
	"github.com/slotsync/slotsync/internal/pgtest"
)

// This package needs both a Postgres server and an API server. pgtest.Main and
// kubetest.Main each end the process, so TestMain starts and stops both itself,
// once per test binary and only if a test asks for them.
var shared struct {
	pgOnce sync.Once
	pg     *pgtest.Server
	pgErr  error

	kubeOnce sync.Once
	envtest  *envtest.Environment
	kube     *kubetest.Env
	kubeErr  error
}

func TestMain(m *testing.M) {
	ctrllog.SetLogger(logr.Discard())
	code := m.Run()
	if shared.pg != nil {
		shared.pg.Stop()
	}
	if shared.envtest != nil {
		if err := shared.envtest.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "stop envtest: %v\n", err)
		}
	}
	os.Exit(code)
}

// newDatabase returns the URL of a fresh, migrated database on the package's
// Postgres server, started on first use. It fails, never skips, without
// Postgres.
func newDatabase(t *testing.T) string {
	t.Helper()
	shared.pgOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		shared.pg, shared.pgErr = pgtest.Start(ctx)
	})
	if shared.pgErr != nil {
		t.Fatalf("pgtest: %v", shared.pgErr)
	}
	return shared.pg.NewDatabase(t)
}

// startKube returns the package's envtest API server with slotsync's CRDs,
// started on first use. It fails, never skips, without the envtest binaries.
func startKube(t *testing.T) *kubetest.Env {
	t.Helper()
	shared.kubeOnce.Do(func() { shared.kube, shared.kubeErr = startEnvtest() })
	if shared.kubeErr != nil {
		t.Fatal(shared.kubeErr)
	}
	return shared.kube
}

func startEnvtest() (*kubetest.Env, error) {
	if err := kubetest.CheckAssets(os.Getenv("KUBEBUILDER_ASSETS")); err != nil {
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
		CRDDirectoryPaths:        []string{filepath.Join("..", "..", "config", "crd", "bases")},
		ErrorIfCRDPathMissing:    true,
		Scheme:                   scheme,
		ControlPlaneStartTimeout: 2 * time.Minute,
	}
	cfg, err := env.Start()
	if err != nil {
		return nil, fmt.Errorf("start envtest: %w", err)
	}
	shared.envtest = env
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return nil, err
	}
	return &kubetest.Env{Config: cfg, Scheme: scheme, Client: c}, nil
}
