package api_test

import (
	"context"
	"testing"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/slotsync/slotsync/internal/kubetest"
	"github.com/slotsync/slotsync/internal/pgtest"
)

// This package needs both a Postgres server and an API server, each started on
// first use and stopped after all tests.
func TestMain(m *testing.M) {
	ctrllog.SetLogger(logr.Discard())
	pgtest.Main(m, kubetest.Stop)
}

// newDatabase returns the URL of a fresh, migrated database. It fails, never
// skips, without Postgres.
func newDatabase(t *testing.T) string {
	t.Helper()
	return pgtest.NewDatabase(t)
}

// startKube returns the package's envtest API server with slotsync's CRDs. It
// fails, never skips, without the envtest binaries.
func startKube(t *testing.T) *kubetest.Env {
	t.Helper()
	return kubetest.Start(t)
}

// startKubeWithSchedule starts the API server with the schedule "nightly" of a
// fresh namespace, applied from Git by manager without spec.paused, and a
// clientset for the token and access reviews.
func startKubeWithSchedule(t *testing.T, manager string) (*kubetest.Env, kubernetes.Interface, types.NamespacedName) {
	t.Helper()
	k := startKube(t)
	cs, err := kubernetes.NewForConfig(k.Config)
	if err != nil {
		t.Fatal(err)
	}
	key := types.NamespacedName{Namespace: k.Namespace(t), Name: "nightly"}
	if err := applyAs(context.Background(), k.Client, gitSchedule(key.Namespace, key.Name, nil), manager, true); err != nil {
		t.Fatal(err)
	}
	return k, cs, key
}
