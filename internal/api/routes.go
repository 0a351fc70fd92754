package api

import (
	"context"
	"net/http"
	"time"

	"github.com/go-logr/logr"
)

// route is one operation of the API. Its method and path form the ServeMux
// pattern, which is also the route label of metrics and logs.
type route struct {
	method, path string
	handler      http.Handler
	// quiet routes (probes, scrapes) log at V(1) only.
	quiet bool
}

func (r route) pattern() string { return r.method + " " + r.path }

// unmatched is the route label of requests no route matched.
const unmatched = "unmatched"

func (s *Server) routes() []route {
	return []route{
		{method: http.MethodGet, path: "/api/v1/experience/{id}/slots", handler: handlerFunc(s.slots)},
		{method: http.MethodGet, path: "/api/v1/experience/{id}/dates", handler: handlerFunc(s.dates)},
		{method: http.MethodGet, path: "/api/v1/sync/status", handler: handlerFunc(s.syncStatus)},
		{method: http.MethodPost, path: "/api/v1/sync/pause", handler: handlerFunc(s.pause)},
		{method: http.MethodPost, path: "/api/v1/sync/resume", handler: handlerFunc(s.resume)},
		{method: http.MethodGet, path: "/openapi.yaml", handler: handlerFunc(serveOpenAPI)},
		{method: http.MethodGet, path: "/healthz", handler: handlerFunc(healthz), quiet: true},
		{method: http.MethodGet, path: "/readyz", handler: handlerFunc(s.readyz), quiet: true},
	}
}

// metricsRoutes are the metrics port's. The probes stay on the REST port,
// which the kubelet may always reach; this one only scrapers.
func (s *Server) metricsRoutes() []route {
	return []route{
		{method: http.MethodGet, path: metricsPath, handler: handlerFunc(s.serveMetrics), quiet: true},
	}
}

// What a path no route matches answers, on each port.
const (
	restNotFound    = "no such route: the API serves /api/v1/experience/{id}/slots, /api/v1/experience/{id}/dates and /api/v1/sync/...; see /openapi.yaml"
	metricsNotFound = "no such route: this port serves " + metricsPath + " only"
)

func (s *Server) newHandler(routes []route, notFound string) http.Handler {
	mux := http.NewServeMux()
	quiet := map[string]bool{}
	allowed := map[string][]string{}
	for _, rt := range routes {
		mux.Handle(rt.pattern(), rt.handler)
		quiet[rt.pattern()] = rt.quiet
		allowed[rt.path] = append(allowed[rt.path], rt.method)
	}
	// The same paths without a method catch the other methods, so that a 405
	// is a problem detail like every other error; "/" catches every other path.
	for path, methods := range allowed {
		mux.Handle(path, methodNotAllowed(methods))
	}
	mux.Handle("/", handlerFunc(func(http.ResponseWriter, *http.Request) error {
		return errorf(http.StatusNotFound, "%s", notFound)
	}))
	return &instrumented{server: s, mux: mux, quiet: quiet}
}

// instrumented applies the request limits and timeout, then records every
// request in the metrics and the log under its route pattern.
type instrumented struct {
	server *Server
	mux    *http.ServeMux
	quiet  map[string]bool
}

func (h *instrumented) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rec := &recorder{ResponseWriter: w}
	w.Header().Set("X-Content-Type-Options", "nosniff")
	// Only the inventory reads may be kept (they revalidate); answers of the
	// authenticated routes, probes and errors never.
	w.Header().Set("Cache-Control", cacheNoStore)
	if h.server.draining.Load() {
		// Shutting down: the client's next request dials the Service anew
		// and reaches a pod that stays, rather than reusing this connection
		// until the listener closes under it.
		w.Header().Set("Connection", "close")
	}

	ctx, cancel := context.WithTimeout(r.Context(), h.server.requestTimeout)
	defer cancel()
	req := r.WithContext(ctx)
	pattern := unmatched
	if len(r.RequestURI) > maxURLLength || len(r.URL.RawQuery) > maxURLLength {
		writeError(rec, errorf(http.StatusRequestURITooLong,
			"the URL is %d bytes long: the API accepts at most %d", max(len(r.RequestURI), len(r.URL.RawQuery)), maxURLLength))
	} else {
		// ServeMux records the pattern it matched in the request it was given.
		h.mux.ServeHTTP(rec, req)
		// "/" is the catch-all of unknown paths.
		if req.Pattern != "" && req.Pattern != "/" {
			pattern = req.Pattern
		}
	}

	status := rec.status()
	elapsed := time.Since(start)
	h.server.metrics.observe(pattern, status, elapsed)

	log := logr.FromContextOrDiscard(r.Context())
	// Never the headers: they carry bearer tokens. The path and query hold
	// only ids, dates and schedule names.
	kv := []any{"method", r.Method, "route", pattern, "path", r.URL.Path, "status", status,
		"duration", elapsed.Seconds(), "bytes", rec.bytes}
	switch {
	case status == http.StatusServiceUnavailable:
		// A dependency is down: expected in operation, and logged by the
		// thousand during an outage, so without a stack trace.
		log.Info("request failed", append(kv, "error", errorText(rec.err))...)
	case status >= 500:
		log.Error(rec.err, "request failed", kv...)
	case h.quiet[pattern]:
		log.V(1).Info("request", kv...)
	case rec.err != nil:
		log.Info("request refused", append(kv, "reason", rec.err.Error())...)
	default:
		log.Info("request", kv...)
	}
}

func errorText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// recorder remembers the status, size and error of a response.
type recorder struct {
	http.ResponseWriter
	code  int
	bytes int
	// err is what the handler returned, for the log.
	err error
}

func (r *recorder) WriteHeader(code int) {
	if r.code == 0 {
		r.code = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(p []byte) (int, error) {
	if r.code == 0 {
		r.code = http.StatusOK
	}
	n, err := r.ResponseWriter.Write(p)
	r.bytes += n
	return n, err
}

func (r *recorder) status() int {
	if r.code == 0 {
		return http.StatusOK
	}
	return r.code
}

// Unwrap lets http.ResponseController reach the connection.
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// handlerFunc is a handler that returns its error instead of writing it: the
// error becomes the JSON answer and part of the request log.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

func (f handlerFunc) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	err := f(w, r)
	if err == nil {
		return
	}
	if rec, ok := w.(*recorder); ok {
		rec.err = err
	}
	writeError(w, err)
}

func methodNotAllowed(methods []string) http.Handler {
	allow := ""
	for i, m := range methods {
		if i > 0 {
			allow += ", "
		}
		allow += m
		if m == http.MethodGet {
			allow += ", " + http.MethodHead
		}
	}
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		w.Header().Set("Allow", allow)
		return errorf(http.StatusMethodNotAllowed, "method %s is not allowed on %s: use %s", r.Method, r.URL.Path, allow)
	})
}
