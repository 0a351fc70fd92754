package api

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	authorizationv1 "k8s.io/api/authorization/v1"

	"github.com/slotsync/slotsync/internal/version"
)

// metricsPath is the non-resource URL a scraper needs get on, as for the
// API server's own /metrics.
const metricsPath = "/metrics"

// metrics live in a registry of the server's own, so that two servers in one
// process (tests) never collide. Route labels are mux patterns, never raw
// paths, so their number is bounded by the routes.
type metrics struct {
	registry    *prometheus.Registry
	requests    *prometheus.CounterVec
	duration    *prometheus.HistogramVec
	cacheHits   prometheus.Counter
	cacheMisses prometheus.Counter
}

func newMetrics() *metrics {
	m := &metrics{
		registry: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "slotsync_api_requests_total",
			Help: "Requests served by the REST API, by route pattern and status code.",
		}, []string{"route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "slotsync_api_request_duration_seconds",
			Help:    "Time to serve a request of the REST API, by route pattern.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"route"}),
		cacheHits: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "slotsync_api_cache_hits_total",
			Help: "Slots and dates answers served from the read cache.",
		}),
		cacheMisses: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "slotsync_api_cache_misses_total",
			Help: "Slots and dates answers read from the database because the read cache had none.",
		}),
	}
	m.registry.MustRegister(m.collectors()...)
	return m
}

func (m *metrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.requests, m.duration, m.cacheHits, m.cacheMisses, version.NewCollector(),
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})}
}

// Collectors returns a fresh, unregistered set of the collectors a Server
// serves; tests check dashboards and alerts against their names.
func Collectors() []prometheus.Collector { return newMetrics().collectors() }

func (m *metrics) observe(route string, code int, elapsed time.Duration) {
	m.requests.WithLabelValues(route, strconv.Itoa(code)).Inc()
	m.duration.WithLabelValues(route).Observe(elapsed.Seconds())
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{})
}

// serveMetrics answers a scrape by a caller whose token (for the API's
// audience, like every other) may get /metrics: the same checks as
// controller-runtime's metrics filter, through the API's own authenticator
// so that the audience binding holds here too.
func (s *Server) serveMetrics(w http.ResponseWriter, r *http.Request) error {
	if s.reviews == nil {
		return unavailable(errors.New("no Kubernetes client"), "%s is not configured on this server: it needs a Kubernetes client to review tokens", metricsPath)
	}
	user, err := s.authenticate(r.Context(), r)
	if err != nil {
		return err
	}
	err = s.checkAccess(r.Context(), user, authorizationv1.SubjectAccessReviewSpec{
		NonResourceAttributes: &authorizationv1.NonResourceAttributes{Path: metricsPath, Verb: verbGet},
	}, func() string {
		return fmt.Sprintf("%q may not get %s: bind it to the ClusterRole slotsync-metrics-reader (see docs/rest-api.md)", user.Username, metricsPath)
	})
	if err != nil {
		return err
	}
	s.metrics.handler().ServeHTTP(w, r)
	return nil
}

// MetricsHandler serves the metrics without authentication, for callers in
// the same process (tests, benchmarks); the metrics port of Serve asks for a
// token allowed to get them.
func (s *Server) MetricsHandler() http.Handler { return s.metrics.handler() }
