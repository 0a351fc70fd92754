package main

import (
	"fmt"
	"os"

	"github.com/go-logr/logr"
	"github.com/spf13/cobra"
	ctrl "sigs.k8s.io/controller-runtime"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/slotsync/slotsync/controllers"
)

func newManagerCmd() *cobra.Command {
	var (
		metricsAddr, probeAddr string
		metricsSecure          bool
		metricsCertDir         string
		pprofAddr              string
		leaderElect            bool
		leaderElectionNS       string
		workerImage            string
		allowedImages          []string
		concurrency            int
	)
	cmd := &cobra.Command{
		Use:   "manager",
		Short: "Run the SyncSchedule controller",
		Long: `manager runs the operator: it reconciles SyncSchedule resources into sharded
Indexed Jobs that run 'slotsync sync', suspends them while a schedule is paused, prunes
their history and reports runs, freshness and partner budget in each schedule's status.

It reads the cluster from the in-cluster config or $KUBECONFIG. Leader election is on
by default so that two replicas never both create Jobs.

It never lends its rights: a schedule's Jobs get only the Secrets of its namespace
that name it in their inventory.slotsync.io/allowed-schedules annotation, and run
only --worker-image or an image --allowed-worker-images lists.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			ctrl.SetLogger(logr.FromContextOrDiscard(ctx))
			if workerImage == "" {
				return fmt.Errorf("--worker-image (or SLOTSYNC_WORKER_IMAGE) is required: the image Jobs run when a schedule sets none")
			}
			cfg, err := ctrl.GetConfig()
			if err != nil {
				return fmt.Errorf("find the cluster: %w", err)
			}
			metrics := metricsserver.Options{BindAddress: metricsAddr}
			if metricsSecure {
				metrics = controllers.SecureMetrics(metricsAddr, metricsCertDir)
			}
			mgr, err := controllers.NewManager(cfg, controllers.ManagerOptions{
				Manager: ctrl.Options{
					Metrics:                 metrics,
					HealthProbeBindAddress:  probeAddr,
					PprofBindAddress:        pprofAddr,
					LeaderElection:          leaderElect,
					LeaderElectionNamespace: leaderElectionNS,
					// The process exits as soon as Start returns, so handing the
					// lease over on SIGTERM is safe, and a rolling update or a
					// deleted pod lets the other replica lead at once instead of
					// after the lease expires.
					LeaderElectionReleaseOnCancel: true,
				},
				WorkerImage:   workerImage,
				AllowedImages: allowedImages,
				Concurrency:   concurrency,
			})
			if err != nil {
				return fmt.Errorf("create manager: %w", err)
			}
			return mgr.Start(ctx)
		},
	}
	f := cmd.Flags()
	f.StringVar(&metricsAddr, "metrics-bind-address", ":8443", "address of the Prometheus metrics endpoint (0 disables it)")
	f.BoolVar(&metricsSecure, "metrics-secure", true, "serve metrics over HTTPS to callers whose token may get /metrics (TokenReview and SubjectAccessReview); false serves plain HTTP to anyone")
	f.StringVar(&metricsCertDir, "metrics-cert-path", "", "directory with the metrics server's tls.crt and tls.key, reloaded when they change (default: a self-signed certificate made at start)")
	f.StringVar(&probeAddr, "health-probe-bind-address", ":8081", "address of /healthz and /readyz")
	f.StringVar(&pprofAddr, "pprof-bind-address", "", "address of Go's /debug/pprof endpoints, e.g. 127.0.0.1:6060 (empty, the default, disables them)")
	f.BoolVar(&leaderElect, "leader-elect", true, "elect a leader so that only one replica reconciles")
	f.StringVar(&leaderElectionNS, "leader-election-namespace", "", "namespace of the leader lease (default: the pod's namespace)")
	f.StringVar(&workerImage, "worker-image", os.Getenv("SLOTSYNC_WORKER_IMAGE"), "image of the sync Jobs when a schedule sets none (default $SLOTSYNC_WORKER_IMAGE)")
	f.StringSliceVar(&allowedImages, "allowed-worker-images", nil, "images beside --worker-image that a schedule may set in spec.jobTemplate.image: exact references, or prefixes ending in * right after '/', ':' or '@' (registry.example.com/slotsync:*); comma-separated or repeated (default: none)")
	f.IntVar(&concurrency, "concurrency", 4, "schedules reconciled at once")
	return cmd
}
