package main

import (
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/slotsync/slotsync/internal/api"
	"github.com/slotsync/slotsync/internal/kubescheme"
)

func newAPICmd() *cobra.Command {
	var (
		listen         string
		metricsAddr    string
		schedule       string
		timezone       string
		cacheSize      int
		requestTimeout time.Duration
		queryTimeout   time.Duration
		shutdownDelay  time.Duration
		migrate        bool
		tokenAudience  string
		tlsCertFile    string
		tlsKeyFile     string
		insecureHTTP   bool
	)
	cmd := &cobra.Command{
		Use:   "api",
		Short: "Serve slots, dates and pause/resume over REST",
		Long: `api serves the REST API of slotsync (its OpenAPI document is at /openapi.yaml):

  GET  /api/v1/experience/{id}/slots?date=YYYY-MM-DD   slots, availability, prices
  GET  /api/v1/experience/{id}/dates                    dates with places, lowest price
  GET  /api/v1/sync/status                              the schedule's state (RBAC: get)
  POST /api/v1/sync/pause, /api/v1/sync/resume          set spec.paused (RBAC: pause, resume)
  GET  /healthz, /readyz
  GET  /metrics on --metrics-bind-address               Prometheus (RBAC: get /metrics)

The sync routes act on --schedule, or on ?schedule=NAME in its namespace. They take a
Kubernetes bearer token made for --token-audience (kubectl create token NAME --audience
slotsync), checked with a TokenReview and a SubjectAccessReview, and set spec.paused by
server-side apply as the field manager slotsync-api. /metrics is on a port of its own so
that a NetworkPolicy can admit only Prometheus there; it takes the same kind of token,
whose user may get the non-resource URL /metrics.

Answers of the slots and dates routes are cached (--cache-size entries) and dropped
when the sync worker commits a new snapshot of that product and date, which Postgres
notifies; while that notification channel is down the cache is off.

It serves HTTPS with --tls-cert-file and --tls-key-file on both ports (config/api mounts
them from a Secret; a renewed certificate is picked up without a restart), and plain HTTP only
with --insecure-http, for local development: bearer tokens must not cross the network
in clear.

On SIGTERM it drains for --shutdown-delay: /readyz answers 503 at once while every
route goes on serving, so that clients the Service still sends to the pod before its
endpoints are updated are answered; then it stops accepting connections and lets the
requests in flight finish. The pod's terminationGracePeriodSeconds must cover the delay,
the request timeout and a margin (config/api/api.yaml).

It reads the cluster from the in-cluster config or $KUBECONFIG.

Environment:
  DATABASE_URL   the Postgres URL (required)`,
		Example: `  DATABASE_URL=postgres://localhost/slotsync slotsync api --schedule default/sample \
    --tls-cert-file=tls.crt --tls-key-file=tls.key
  curl --cacert ca.crt 'https://localhost:8080/api/v1/experience/14/slots?date=2026-12-01'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			log := logr.FromContextOrDiscard(ctx)
			ctrl.SetLogger(log)
			if err := checkTLSFlags(tlsCertFile, tlsKeyFile, insecureHTTP); err != nil {
				return err
			}
			dbURL, err := envSecret("DATABASE_URL")
			if err != nil {
				return err
			}
			ns, name, ok := strings.Cut(schedule, "/")
			if !ok || ns == "" || name == "" || strings.Contains(name, "/") {
				return fmt.Errorf("--schedule %q: want namespace/name of a SyncSchedule, e.g. default/sample", schedule)
			}
			loc, err := time.LoadLocation(timezone)
			if err != nil {
				return fmt.Errorf("--timezone %q: %w", timezone, err)
			}
			if cacheSize < 0 {
				return fmt.Errorf("--cache-size %d: want 0 (off) or more", cacheSize)
			}
			if tokenAudience == "" {
				return fmt.Errorf("--token-audience is empty: callers' tokens must be bound to an audience, e.g. %s", api.DefaultTokenAudience)
			}
			if requestTimeout <= 0 || queryTimeout <= 0 {
				return fmt.Errorf("--request-timeout and --query-timeout must be positive")
			}
			if shutdownDelay < 0 {
				return fmt.Errorf("--shutdown-delay %s: want 0 (close the listeners at once) or more", shutdownDelay)
			}

			cfg, err := ctrl.GetConfig()
			if err != nil {
				return fmt.Errorf("find the cluster: %w", err)
			}
			// Every sync request costs two reviews; the defaults (5/s) would queue them.
			cfg.QPS, cfg.Burst = 50, 100
			scheme, err := kubescheme.New()
			if err != nil {
				return err
			}
			// A direct client: a cache would need list and watch on every
			// schedule, and the API only gets one and applies spec.paused.
			kube, err := client.New(cfg, client.Options{Scheme: scheme})
			if err != nil {
				return fmt.Errorf("create Kubernetes client: %w", err)
			}
			reviews, err := kubernetes.NewForConfig(cfg)
			if err != nil {
				return fmt.Errorf("create Kubernetes clientset: %w", err)
			}

			db, err := openStore(ctx, dbURL, migrate)
			if err != nil {
				return err
			}
			defer db.Close()

			srv, err := api.New(api.Config{
				Store:          db,
				Kube:           kube,
				Reviews:        reviews,
				TokenAudience:  tokenAudience,
				Schedule:       types.NamespacedName{Namespace: ns, Name: name},
				Location:       loc,
				CacheSize:      cacheSize,
				RequestTimeout: requestTimeout,
				QueryTimeout:   queryTimeout,
				ShutdownDelay:  shutdownDelay,
				TLSCertFile:    tlsCertFile,
				TLSKeyFile:     tlsKeyFile,
			})
			if err != nil {
				return err
			}
			ln, err := net.Listen("tcp", listen)
			if err != nil {
				return fmt.Errorf("--listen %s: %w", listen, err)
			}
			var metricsLn net.Listener
			if metricsAddr != "0" {
				if metricsLn, err = net.Listen("tcp", metricsAddr); err != nil {
					ln.Close()
					return fmt.Errorf("--metrics-bind-address %s: %w", metricsAddr, err)
				}
			}
			return srv.Serve(ctx, ln, metricsLn)
		},
	}
	f := cmd.Flags()
	f.StringVar(&listen, "listen", ":8080", "address to serve the REST routes and probes on")
	f.StringVar(&metricsAddr, "metrics-bind-address", ":8443", "address to serve /metrics on, over the same TLS as --listen (0: no metrics)")
	f.StringVar(&schedule, "schedule", "", "namespace/name of the SyncSchedule the sync routes act on (required)")
	f.StringVar(&timezone, "timezone", "UTC", "IANA time zone whose calendar defines today for the dates route of products whose sync recorded no zone")
	f.IntVar(&cacheSize, "cache-size", api.DefaultCacheSize, "slots and dates answers kept in the read cache (0: no cache)")
	f.DurationVar(&requestTimeout, "request-timeout", api.DefaultRequestTimeout, "time limit of a whole request")
	f.DurationVar(&queryTimeout, "query-timeout", api.DefaultQueryTimeout, "time limit of one database query")
	f.DurationVar(&shutdownDelay, "shutdown-delay", api.DefaultShutdownDelay, "after SIGTERM, how long to go on serving with /readyz answering 503 before closing the listeners (0: close them at once)")
	f.BoolVar(&migrate, "migrate", false, "apply pending schema migrations first")
	f.StringVar(&tokenAudience, "token-audience", api.DefaultTokenAudience, "audience callers' bearer tokens must be made for (kubectl create token NAME --audience ...)")
	f.StringVar(&tlsCertFile, "tls-cert-file", "", "PEM certificate (chain) to serve HTTPS with, e.g. tls.crt of a mounted kubernetes.io/tls Secret")
	f.StringVar(&tlsKeyFile, "tls-key-file", "", "PEM private key of --tls-cert-file")
	f.BoolVar(&insecureHTTP, "insecure-http", false, "serve plain HTTP without TLS: bearer tokens cross the network in clear (local development only)")
	_ = cmd.MarkFlagRequired("schedule")
	return cmd
}

// checkTLSFlags refuses to serve without TLS unless asked to in so many words.
func checkTLSFlags(certFile, keyFile string, insecureHTTP bool) error {
	switch {
	case insecureHTTP && (certFile != "" || keyFile != ""):
		return fmt.Errorf("--insecure-http and --tls-cert-file/--tls-key-file: choose one")
	case insecureHTTP:
		return nil
	case certFile == "" && keyFile == "":
		return fmt.Errorf("no TLS certificate: set --tls-cert-file and --tls-key-file (config/api mounts them from the Secret slotsync-api-tls), " +
			"or --insecure-http to serve plain HTTP for local development")
	case certFile == "" || keyFile == "":
		return fmt.Errorf("--tls-cert-file and --tls-key-file go together: set both")
	}
	return nil
}
