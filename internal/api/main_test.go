package api_test

import (
	"testing"

	"github.com/go-logr/logr"
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
