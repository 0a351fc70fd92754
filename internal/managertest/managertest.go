// Package managertest runs slotsync's reconciler in a controller-runtime manager
// against a test API server (internal/kubetest), as `slotsync manager` does, for
// the tests of the controller and of its security.
package managertest

import (
	"context"
	"sync"
	"testing"

	"github.com/go-logr/logr"
	"k8s.io/client-go/rest"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/config"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/slotsync/slotsync/controllers"
	"github.com/slotsync/slotsync/internal/kubetest"
)

// Options say how the manager runs.
type Options struct {
	// Config holds the manager's credentials; nil means the API server's admin.
	Config *rest.Config
	// Namespace is the only namespace the manager's cache watches, so that tests
	// with managers of their own run side by side.
	Namespace string
	Clock     clock.PassiveClock
	// WorkerImage is the image of the Jobs' workers.
	WorkerImage string
	// AllowedImages are the other images schedules may set.
	AllowedImages controllers.AllowedImages
	// EventSource names the manager in the events it records.
	EventSource string
	// Logger, if set, is the manager's logger, also in its reconcilers' contexts.
	Logger logr.Logger
	// Adjust, if set, changes the manager's options (leader election, timings).
	Adjust func(*ctrl.Options)
}

// Manager is a manager running the reconciler.
type Manager struct {
	ctrl.Manager
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
	err    error
}

// Start runs the reconciler in a new manager until Stop or the end of the test,
// which reports the manager's error.
func Start(t *testing.T, env *kubetest.Env, o Options) *Manager {
	t.Helper()
	cfg := o.Config
	if cfg == nil {
		cfg = env.Config
	}
	opts := ctrl.Options{
		Scheme:                 env.Scheme,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Cache:                  cache.Options{DefaultNamespaces: map[string]cache.Config{o.Namespace: {}}},
		// Each test runs a manager of its own: the controller name repeats.
		Controller: config.Controller{SkipNameValidation: ptr.To(true)},
	}
	ctx := context.Background()
	if o.Logger.GetSink() != nil {
		opts.Logger = o.Logger
		ctx = logr.NewContext(ctx, o.Logger)
	}
	if o.Adjust != nil {
		o.Adjust(&opts)
	}
	mgr, err := controllers.NewManager(cfg, controllers.ManagerOptions{
		Manager: opts, Clock: o.Clock, WorkerImage: o.WorkerImage, AllowedImages: o.AllowedImages, EventSource: o.EventSource, Concurrency: 2,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(ctx)
	m := &Manager{Manager: mgr, cancel: cancel, done: make(chan error, 1)}
	go func() { m.done <- mgr.Start(ctx) }()
	t.Cleanup(func() {
		if err := m.Stop(); err != nil {
			t.Errorf("manager %s: %v", o.EventSource, err)
		}
	})
	return m
}

// Cancel tells the manager to stop and returns at once, as a killed process
// would leave the others to find out.
func (m *Manager) Cancel() { m.cancel() }

// Stop stops the manager and waits until it has, returning its error; later
// calls return the same.
func (m *Manager) Stop() error {
	m.once.Do(func() {
		m.cancel()
		m.err = <-m.done
	})
	return m.err
}
