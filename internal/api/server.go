// Package api serves slotsync's REST API inside the cluster: the slots and
// available dates of a product read from Postgres through a read cache kept
// coherent by the sync worker's notifications, and the paused state of a
// SyncSchedule, which callers may change when Kubernetes RBAC lets them pause
// or resume it (verbs of their own, not patch).
// The routes, parameters and answers are described by the embedded OpenAPI
// document (OpenAPIDocument).
package api

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	stdlog "log"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/certwatcher"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/slotsync/slotsync/internal/store"
)

// FieldManager is the server-side-apply field manager that owns spec.paused
// once the API has paused or resumed a schedule. GitOps tools that leave fields
// of other managers alone keep their hands off the pause.
const FieldManager = "slotsync-api"

// Defaults of Config.
const (
	DefaultRequestTimeout = 10 * time.Second
	DefaultQueryTimeout   = 3 * time.Second
	DefaultCacheSize      = 10000
	// DefaultShutdownDelay is the shutdown delay of `slotsync api`: long
	// enough for kube-proxy and the other data planes to stop sending new
	// connections to a deleted pod, which they learn of at the same time as the
	// pod gets SIGTERM.
	DefaultShutdownDelay = 5 * time.Second
	// DefaultTokenAudience is the audience callers' tokens must be made for:
	// kubectl create token NAME --audience slotsync.
	DefaultTokenAudience = "slotsync"
)

// HTTP server limits. A request is a short URL and a bearer token; nothing needs
// more, and the caps keep slow or oversized clients from holding resources.
const (
	maxURLLength      = 2048
	maxHeaderBytes    = 32 << 10
	readHeaderTimeout = 5 * time.Second
	readTimeout       = 10 * time.Second
	idleTimeout       = 2 * time.Minute
	// writeSlack lets a handler that used its whole request timeout still
	// write its 503 before the server's write deadline cuts it off.
	writeSlack      = 5 * time.Second
	shutdownTimeout = 15 * time.Second
	// readyTimeout bounds the database ping of /readyz, below the usual
	// probe timeout of kubelets.
	readyTimeout = 1 * time.Second
)

// Config configures a Server.
type Config struct {
	// Store reads the inventory. Required.
	Store *store.Store
	// Kube reads SyncSchedules and applies spec.paused; Reviews checks callers'
	// bearer tokens (TokenReview) and permissions (SubjectAccessReview). When
	// either is nil the /api/v1/sync routes answer 503.
	Kube    client.Client
	Reviews kubernetes.Interface
	// TokenAudience is the audience a caller's token must be made for; empty
	// means DefaultTokenAudience.
	TokenAudience string
	// Schedule is the SyncSchedule the sync routes act on by default;
	// ?schedule=name picks another one in its namespace.
	Schedule types.NamespacedName
	// Location is the time zone whose calendar says what today is for the dates
	// route of a product whose sync recorded none (store.RecordTimeZone); nil
	// means UTC.
	Location *time.Location
	// CacheSize is how many answers the read cache holds; 0 disables it.
	CacheSize int
	// RequestTimeout bounds a whole request; QueryTimeout one database query.
	// Zero takes the defaults.
	RequestTimeout time.Duration
	QueryTimeout   time.Duration
	// ShutdownDelay is how long Serve goes on serving once its context is
	// done, with /readyz answering 503, before it closes its listeners and
	// lets the requests in flight finish, as kube-apiserver's
	// --shutdown-delay-duration: the Service's endpoints are updated at the
	// same time as the pod gets SIGTERM, and for a moment clients are still
	// sent to it. Zero, unlike the timeouts, means no delay.
	ShutdownDelay time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// TLSCertFile and TLSKeyFile, PEM files such as those of a mounted
	// kubernetes.io/tls Secret, make Serve answer HTTPS only, with the
	// certificate read again whenever the files change. Empty: plain HTTP.
	TLSCertFile string
	TLSKeyFile  string
}

// Server is the REST API. Its handler is safe for concurrent use.
type Server struct {
	store          *store.Store
	kube           client.Client
	reviews        kubernetes.Interface
	audience       string
	schedule       types.NamespacedName
	loc            *time.Location
	zones          sync.Map // IANA name -> *time.Location, loaded once
	requestTimeout time.Duration
	queryTimeout   time.Duration
	shutdownDelay  time.Duration
	now            func() time.Time
	// draining is set once Serve's context is done: /readyz answers 503 and
	// every answer closes its connection.
	draining atomic.Bool

	cache   *cache
	metrics *metrics
	handler http.Handler
	// metricsHandler serves the metrics port: /metrics alone, so that a
	// NetworkPolicy can admit scrapers there and every client on the REST port.
	metricsHandler http.Handler
	// certs is nil when serving plain HTTP.
	certs *certwatcher.CertWatcher
}

// New returns a Server for cfg. Its read cache serves nothing until
// WatchSnapshots (or Serve, which runs it) listens for snapshots.
func New(cfg Config) (*Server, error) {
	if cfg.Store == nil {
		return nil, errors.New("api: Config.Store is required")
	}
	if cfg.CacheSize < 0 {
		return nil, fmt.Errorf("api: cache size %d: want 0 (off) or more", cfg.CacheSize)
	}
	if cfg.RequestTimeout < 0 || cfg.QueryTimeout < 0 {
		return nil, errors.New("api: timeouts must not be negative")
	}
	if cfg.ShutdownDelay < 0 {
		return nil, fmt.Errorf("api: shutdown delay %s: want 0 (none) or more", cfg.ShutdownDelay)
	}
	if (cfg.Kube != nil || cfg.Reviews != nil) && (cfg.Schedule.Namespace == "" || cfg.Schedule.Name == "") {
		return nil, errors.New("api: Config.Schedule needs a namespace and a name")
	}
	var certs *certwatcher.CertWatcher
	if cfg.TLSCertFile != "" || cfg.TLSKeyFile != "" {
		if cfg.TLSCertFile == "" || cfg.TLSKeyFile == "" {
			return nil, errors.New("api: TLS needs both a certificate file and a key file")
		}
		var err error
		// Reads both files now, so that a missing or bad certificate stops
		// the start rather than every handshake.
		if certs, err = certwatcher.New(cfg.TLSCertFile, cfg.TLSKeyFile); err != nil {
			return nil, fmt.Errorf("api: load the TLS certificate: %w", err)
		}
	}
	s := &Server{
		store:          cfg.Store,
		kube:           cfg.Kube,
		reviews:        cfg.Reviews,
		audience:       cfg.TokenAudience,
		schedule:       cfg.Schedule,
		loc:            cfg.Location,
		requestTimeout: cfg.RequestTimeout,
		queryTimeout:   cfg.QueryTimeout,
		shutdownDelay:  cfg.ShutdownDelay,
		now:            cfg.Now,
		cache:          newCache(cfg.CacheSize),
		metrics:        newMetrics(),
		certs:          certs,
	}
	if s.loc == nil {
		s.loc = time.UTC
	}
	if s.audience == "" {
		s.audience = DefaultTokenAudience
	}
	if s.requestTimeout == 0 {
		s.requestTimeout = DefaultRequestTimeout
	}
	if s.queryTimeout == 0 {
		s.queryTimeout = DefaultQueryTimeout
	}
	if s.now == nil {
		s.now = time.Now
	}
	s.handler = s.newHandler(s.routes(), restNotFound)
	s.metricsHandler = s.newHandler(s.metricsRoutes(), metricsNotFound)
	return s, nil
}

// Handler is the REST port's HTTP handler (routes and probes), with its
// request limits, logs and metrics.
func (s *Server) Handler() http.Handler { return s.handler }

// Serve serves the REST routes and probes on ln and, unless metricsLn is nil,
// /metrics on metricsLn, both over TLS when the Server has a certificate; it
// keeps the read cache coherent until ctx is done. Then it drains: /readyz
// answers 503 at once while every route goes on serving, new connections
// included, for the shutdown delay; only then does it stop accepting requests
// and let those in flight finish.
func (s *Server) Serve(ctx context.Context, ln, metricsLn net.Listener) error {
	log := logr.FromContextOrDiscard(ctx)

	watchCtx, stopWatch := context.WithCancel(ctx)
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		s.WatchSnapshots(watchCtx)
	}()
	defer func() {
		stopWatch()
		<-watched
	}()

	var tlsConfig *tls.Config
	if s.certs != nil {
		certsDone := make(chan struct{})
		go func() {
			defer close(certsDone)
			// A Secret update renews the certificate without a restart.
			if err := s.certs.Start(watchCtx); err != nil {
				log.Error(err, "watching the TLS certificate files failed; serving the certificate last read")
			}
		}()
		defer func() {
			stopWatch()
			<-certsDone
		}()
		tlsConfig = &tls.Config{
			MinVersion:     tls.VersionTLS12,
			GetCertificate: s.certs.GetCertificate,
			// HTTP/1.1 only: the requests are small, and HTTP/2 brings its own
			// resource-exhaustion attacks (rapid reset) for no gain here.
			NextProtos: []string{"http/1.1"},
		}
	}

	ports := []*port{{name: "REST", ln: ln, handler: s.handler}}
	if metricsLn != nil {
		ports = append(ports, &port{name: "metrics", ln: metricsLn, handler: s.metricsHandler})
	}
	served := make(chan error, len(ports))
	for _, p := range ports {
		p.hs = s.httpServer(ctx, p.handler)
		l := p.ln
		if tlsConfig != nil {
			l = tls.NewListener(l, tlsConfig)
		}
		go func() {
			if err := p.hs.Serve(l); !errors.Is(err, http.ErrServerClosed) {
				served <- fmt.Errorf("serve the %s port: %w", p.name, err)
				return
			}
			served <- nil
		}()
		log.Info("serving", "port", p.name, "address", l.Addr().String(), "tls", tlsConfig != nil)
	}

	var errs []error
	running := len(ports)
	select {
	case err := <-served:
		// One port failing takes the other down: a pod without metrics or
		// without its API should restart rather than half-serve.
		errs = append(errs, err)
		running--
	case <-ctx.Done():
		if err, failed := s.drain(log, served); failed {
			errs = append(errs, err)
			running--
		}
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer cancel()
	for _, p := range ports {
		if err := p.hs.Shutdown(sctx); err != nil {
			errs = append(errs, fmt.Errorf("shut the %s port down: %w", p.name, err))
		}
	}
	for ; running > 0; running-- {
		errs = append(errs, <-served)
	}
	return errors.Join(errs...)
}

// drain marks the Server as draining, so that /readyz answers 503 and the
// kubelet takes the pod out of the Service's endpoints if the endpoint
// controller has not yet, then waits out the shutdown delay while the ports
// go on serving. A port failing ends the wait: its result is returned with
// failed set.
func (s *Server) drain(log logr.Logger, served <-chan error) (err error, failed bool) {
	s.draining.Store(true)
	if s.shutdownDelay == 0 {
		return nil, false
	}
	log.Info("draining: /readyz answers 503; serving until the shutdown delay is over, then closing the listeners",
		"delay", s.shutdownDelay.String())
	t := time.NewTimer(s.shutdownDelay)
	defer t.Stop()
	select {
	case <-t.C:
		return nil, false
	case err := <-served:
		return err, true
	}
}

// port is one listener of Serve with its HTTP server.
type port struct {
	name    string // REST or metrics
	ln      net.Listener
	handler http.Handler
	hs      *http.Server
}

func (s *Server) httpServer(ctx context.Context, h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      s.requestTimeout + writeSlack,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		// Requests keep the logger but not the cancellation: a shutdown lets
		// them finish.
		BaseContext: func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
		ErrorLog:    stdlog.New(logWriter{logr.FromContextOrDiscard(ctx).WithName("http")}, "", 0),
	}
}

// logWriter sends net/http's own messages (TLS handshakes, panics) to logr.
type logWriter struct{ log logr.Logger }

func (w logWriter) Write(p []byte) (int, error) {
	w.log.Info(string(trimNewline(p)))
	return len(p), nil
}

func trimNewline(p []byte) []byte {
	if n := len(p); n > 0 && p[n-1] == '\n' {
		return p[:n-1]
	}
	return p
}
