package api_test

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/slotsync/slotsync/internal/api"
)

// fetch sends a GET on a connection of its own, never one kept alive from an
// earlier request: a client of the Service that kube-proxy still sends to the
// pod dials anew. Answers of the REST port are checked against the OpenAPI
// document.
func (e *apiEnv) fetch(base, path string) (response, error) {
	e.t.Helper()
	req, err := http.NewRequest(http.MethodGet, base+path, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	c := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Do(req)
	if err != nil {
		return response{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return response{}, err
	}
	r := response{status: resp.StatusCode, header: resp.Header, body: body}
	if base == e.url {
		checkOpenAPI(e.t, req, r)
	}
	return r, nil
}

// waitServed waits, within a generous bound, for Serve to return after its
// context ended, and returns how long it took since since.
func (e *apiEnv) waitServed(since time.Time, bound time.Duration) time.Duration {
	e.t.Helper()
	select {
	case <-e.serveDone:
	case <-time.After(bound):
		e.t.Fatalf("Serve has not returned %s after its context ended", bound)
	}
	if e.serveErr != nil {
		e.t.Errorf("Serve returned %v after its context ended, want nil", e.serveErr)
	}
	return time.Since(since)
}

// refused checks that nothing accepts connections at the address of url any more.
func refused(t *testing.T, url string) {
	t.Helper()
	addr := strings.TrimPrefix(url, "http://")
	if c, err := net.DialTimeout("tcp", addr, 5*time.Second); err == nil {
		c.Close()
		t.Errorf("%s accepts connections after Serve returned", addr)
	}
}

// TestShutdownDelayDrains: once Serve's context ends, as on SIGTERM, /readyz
// answers 503 at once while the REST routes, /healthz and the metrics port go
// on answering as before, on new connections, for the shutdown delay, each
// answer closing its connection; only after the delay do the listeners close.
func TestShutdownDelayDrains(t *testing.T) {
	t.Parallel()
	// Far longer than the few requests below take, however loaded the machine.
	const delay = 10 * time.Second
	e := newAPIEnv(t, options{shutdownDelay: delay, metricsPort: true})
	e.sync([]int64{14}, 0, 6)
	const datesPath = "/api/v1/experience/14/dates"

	before := map[string]response{}
	for _, u := range []struct{ base, path string }{
		{e.url, datesPath}, {e.url, "/healthz"}, {e.url, "/readyz"}, {e.metricsURL, "/metrics"},
	} {
		r, err := e.fetch(u.base, u.path)
		if err != nil {
			t.Fatalf("GET %s before the shutdown: %v", u.path, err)
		}
		before[u.path] = r
	}
	for _, path := range []string{datesPath, "/healthz", "/readyz"} {
		if r := before[path]; r.status != http.StatusOK {
			t.Fatalf("GET %s before the shutdown: %d %s, want 200", path, r.status, r.body)
		}
	}

	stopped := time.Now()
	e.stop()
	// The first answer after the context ended may still be a 200: Serve sees
	// the end of its context a moment later.
	var ready response
	eventually(t, delay/2, func() error {
		r, err := e.fetch(e.url, "/readyz")
		if err != nil {
			return fmt.Errorf("GET /readyz while draining: %v", err)
		}
		if ready = r; r.status != http.StatusServiceUnavailable {
			return fmt.Errorf("GET /readyz while draining: %d %s, want 503", r.status, r.body)
		}
		return nil
	})
	if msg := ready.errorMessage(t); !strings.Contains(msg, "shutting down") {
		t.Errorf("/readyz while draining says %q, want it to say it is shutting down", msg)
	}
	if ready.header.Get("Retry-After") == "" {
		t.Error("/readyz while draining: 503 without Retry-After")
	}

	for _, u := range []struct{ base, path string }{
		{e.url, datesPath}, {e.url, "/healthz"}, {e.metricsURL, "/metrics"},
	} {
		r, err := e.fetch(u.base, u.path)
		if err != nil {
			t.Errorf("GET %s on a new connection while draining: %v, want the answer of before the shutdown", u.path, err)
			continue
		}
		if want := before[u.path]; r.status != want.status || (u.path == datesPath && string(r.body) != string(want.body)) {
			t.Errorf("GET %s while draining: %d %s, want %d %s", u.path, r.status, truncate(r.body), want.status, truncate(want.body))
		}
	}
	// A client that keeps connections alive is told to dial anew.
	if resp, err := e.client.Get(e.url + "/healthz"); err != nil {
		t.Errorf("GET /healthz while draining: %v", err)
	} else {
		resp.Body.Close()
		if !resp.Close {
			t.Error("GET /healthz while draining: the answer keeps its connection alive, want Connection: close")
		}
	}
	select {
	case <-e.serveDone:
		t.Errorf("Serve returned %s after its context ended, within the shutdown delay of %s", time.Since(stopped), delay)
	default:
	}
	if logs := e.logs.all(); strings.Count(logs, "draining") != 1 {
		t.Errorf("want one log line saying the API is draining, got:\n%s", logs)
	}

	if took := e.waitServed(stopped, delay+time.Minute); took < delay {
		t.Errorf("Serve returned %s after its context ended, before the shutdown delay of %s", took, delay)
	}
	refused(t, e.url)
	refused(t, e.metricsURL)
}

// TestNoShutdownDelayShutsDownAtOnce: with no shutdown delay Serve closes its
// listeners as soon as its context ends and returns once the requests in
// flight are done, as it did before the delay existed: zero does not fall
// back to the default of `slotsync api`.
func TestNoShutdownDelayShutsDownAtOnce(t *testing.T) {
	t.Parallel()
	e := newAPIEnv(t, options{metricsPort: true})
	if r, err := e.fetch(e.url, "/readyz"); err != nil || r.status != http.StatusOK {
		t.Fatalf("GET /readyz: %v %d, want 200", err, r.status)
	}
	stopped := time.Now()
	e.stop()
	// An idle server shuts down in milliseconds; the bound is only generous.
	if took := e.waitServed(stopped, time.Minute); took >= api.DefaultShutdownDelay {
		t.Errorf("Serve returned %s after its context ended, want at once (less than %s)", took, api.DefaultShutdownDelay)
	}
	refused(t, e.url)
	refused(t, e.metricsURL)
	if logs := e.logs.all(); strings.Contains(logs, "draining") {
		t.Errorf("without a shutdown delay the API logged that it drains:\n%s", logs)
	}
}
