package controllers

import (
	"crypto/tls"
	"fmt"
	"net/http"

	"github.com/go-logr/logr"
	authenticationv1client "k8s.io/client-go/kubernetes/typed/authentication/v1"
	authorizationv1client "k8s.io/client-go/kubernetes/typed/authorization/v1"
	"k8s.io/client-go/rest"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/slotsync/slotsync/internal/kubeauth"
	"github.com/slotsync/slotsync/internal/kubescheme"
)

// LeaderElectionID names the lease the managers of one cluster elect a leader by.
const LeaderElectionID = "slotsync-manager.inventory.slotsync.io"

// ManagerOptions say how NewManager runs the reconciler.
type ManagerOptions struct {
	// Manager holds controller-runtime's options: metrics, probes, leader
	// election. NewManager fills in the scheme when nil and the leader election ID
	// when empty, and sets the cache to CacheOptions, keeping
	// Manager.Cache.DefaultNamespaces (the namespaces watched; all when empty).
	Manager ctrl.Options
	// Clock is the reconciler's clock; nil is the real one.
	Clock clock.PassiveClock
	// WorkerImage runs the Jobs of schedules that set no image.
	WorkerImage string
	// AllowedImages are the images beside WorkerImage that schedules may set;
	// none by default.
	AllowedImages AllowedImages
	// EventSource names the manager in the events it records; empty is
	// slotsync-manager.
	EventSource string
	// Concurrency is how many schedules are reconciled at once; at least 1.
	Concurrency int
}

// NewManager creates a manager that runs the SyncSchedule reconciler and answers
// health and readiness probes; Start runs it.
func NewManager(cfg *rest.Config, o ManagerOptions) (ctrl.Manager, error) {
	if err := o.AllowedImages.Validate(); err != nil {
		return nil, err
	}
	opts := o.Manager
	if opts.Scheme == nil {
		scheme, err := kubescheme.New()
		if err != nil {
			return nil, err
		}
		opts.Scheme = scheme
	}
	if opts.LeaderElectionID == "" {
		opts.LeaderElectionID = LeaderElectionID
	}
	namespaces := opts.Cache.DefaultNamespaces
	opts.Cache = CacheOptions()
	opts.Cache.DefaultNamespaces = namespaces
	mgr, err := ctrl.NewManager(cfg, opts)
	if err != nil {
		return nil, err
	}
	if o.Clock == nil {
		o.Clock = clock.RealClock{}
	}
	if o.EventSource == "" {
		o.EventSource = "slotsync-manager"
	}
	r := &SyncScheduleReconciler{
		Client:        mgr.GetClient(),
		Scheme:        mgr.GetScheme(),
		Clock:         o.Clock,
		Recorder:      mgr.GetEventRecorder(o.EventSource),
		WorkerImage:   o.WorkerImage,
		AllowedImages: o.AllowedImages,
		APIReader:     mgr.GetAPIReader(),
	}
	if err := r.SetupWithManager(mgr, o.Concurrency); err != nil {
		return nil, fmt.Errorf("set up the SyncSchedule controller: %w", err)
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return nil, fmt.Errorf("add health check: %w", err)
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		return nil, fmt.Errorf("add readiness check: %w", err)
	}
	return mgr, nil
}

// SecureMetrics reviews scrapers' tokens and access with the API server:
// +kubebuilder:rbac:groups=authentication.k8s.io,resources=tokenreviews,verbs=create
// +kubebuilder:rbac:groups=authorization.k8s.io,resources=subjectaccessreviews,verbs=create

// SecureMetrics serves the manager's metrics at addr over HTTPS, to callers
// whose bearer token the API server accepts (TokenReview) and who may get the
// non-resource URL /metrics (SubjectAccessReview), as the ClusterRole
// slotsync-metrics-reader allows; decisions are remembered briefly (see
// kubeauth.Guard). The certificate is tls.crt and tls.key in
// certDir, reloaded when they change; with certDir empty, or the files
// missing, a self-signed one made at start.
func SecureMetrics(addr, certDir string) metricsserver.Options {
	return metricsserver.Options{
		BindAddress:    addr,
		SecureServing:  true,
		FilterProvider: metricsFilter,
		CertDir:        certDir,
		// HTTP/2 off: its stream handling had denial-of-service flaws
		// (CVE-2023-44487, CVE-2023-39325) that HTTP/1.1 scrapes do not need.
		TLSOpts: []func(*tls.Config){func(c *tls.Config) { c.NextProtos = []string{"http/1.1"} }},
	}
}

// metricsFilter is a metricsserver.FilterProvider that admits scrapers as
// controller-runtime's filters.WithAuthenticationAndAuthorization does, with
// kubeauth on client-go instead of k8s.io/apiserver, which would nearly double
// the size of the binary.
func metricsFilter(c *rest.Config, httpClient *http.Client) (metricsserver.Filter, error) {
	tokens, err := authenticationv1client.NewForConfigAndClient(c, httpClient)
	if err != nil {
		return nil, fmt.Errorf("metrics filter: %w", err)
	}
	access, err := authorizationv1client.NewForConfigAndClient(c, httpClient)
	if err != nil {
		return nil, fmt.Errorf("metrics filter: %w", err)
	}
	guard := kubeauth.NewGuard(tokens, access, kubeauth.GuardOptions{})
	return func(log logr.Logger, next http.Handler) (http.Handler, error) {
		return guard.Wrap(log, next), nil
	}, nil
}
