package security_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	inventoryv1alpha1 "github.com/slotsync/slotsync/api/v1alpha1"
	"github.com/slotsync/slotsync/internal/api"
	"github.com/slotsync/slotsync/internal/kubetest"
	"github.com/slotsync/slotsync/internal/partner"
	"github.com/slotsync/slotsync/internal/partnersim"
	"github.com/slotsync/slotsync/internal/pgtest"
	"github.com/slotsync/slotsync/internal/store"
	"github.com/slotsync/slotsync/internal/syncer"
	"github.com/slotsync/slotsync/internal/syncertest"
)

// Distinctive secrets: any trace of them in an output is a leak.
const (
	partnerKey = "pk-LEAKCHECK-7f3a9c51e2"
	dbPassword = "pw-LEAKCHECK-4d8b1a67"
)

// outputs collects everything slotsync shows to anyone but the secret's owner.
type outputs struct {
	mu   sync.Mutex
	seen map[string]*strings.Builder
}

func (o *outputs) add(what, text string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.seen == nil {
		o.seen = map[string]*strings.Builder{}
	}
	b := o.seen[what]
	if b == nil {
		b = &strings.Builder{}
		o.seen[what] = b
	}
	b.WriteString(text)
	b.WriteString("\n")
}

func (o *outputs) addJSON(what string, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	o.add(what, string(b))
}

// logger writes every log line, at any verbosity, to the output named what.
func (o *outputs) logger(what string) logr.Logger {
	return funcr.New(func(prefix, args string) { o.add(what, prefix+" "+args) }, funcr.Options{Verbosity: 10})
}

// withPassword puts dbPassword into a database URL: the test server trusts
// every local connection, so the password is carried but never checked, as it
// would be by a real server that does check it.
func withPassword(t *testing.T, raw string) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword(u.User.Username(), dbPassword)
	return u.String()
}

// TestSecretsNeverLeak runs a sync (the real worker against the simulator, with
// faults, a revoked key and an unreachable database), the REST API (answers,
// errors, metrics) and the controller (the Job it builds, status and events
// from the worker's real summaries, its metrics), all with a distinctive
// partner key and database password, and searches every output for them.
func TestSecretsNeverLeak(t *testing.T) {
	var out outputs
	ctx := context.Background()
	dbURL := withPassword(t, pgtest.NewDatabase(t))
	downURL := "postgres://slotsync:" + dbPassword + "@127.0.0.1:1/slotsync?sslmode=disable&connect_timeout=2"
	secrets := []string{partnerKey, dbPassword, url.QueryEscape(dbPassword), dbURL, downURL}

	// The partner, which knows the key.
	sim := partnersim.New(partnersim.Config{Seed: 5, Limit: -1, Keys: []string{partnerKey}})
	simURL := syncertest.Serve(t, sim, nil)

	// Sync runs: clean, faulty, with a revoked key, and with the database down.
	var summaries []syncer.Summary
	runSync := func(what, databaseURL string, faults partnersim.Faults, scheduledAt time.Time) {
		t.Helper()
		if err := sim.SetFaults(faults); err != nil {
			t.Fatal(err)
		}
		w, err := syncertest.Workers{DB: pgtest.OpenStore(t, databaseURL), URL: simURL, Key: partnerKey, Limit: 600, Window: time.Minute,
			Options: []partner.Option{partner.WithTimeout(300 * time.Millisecond), partner.WithRetry(2, time.Millisecond, 5*time.Millisecond)}}.New()
		if err != nil {
			t.Fatal(err)
		}
		lctx := logr.NewContext(ctx, out.logger("worker log"))
		sum, err := w.Run(lctx, syncer.Config{Products: []int64{14, 15}, FromDay: 0, ToDay: 3, ShardCount: 1,
			ScheduledAt: scheduledAt})
		out.add("worker summary line", sum.Line())
		if err != nil {
			out.add("worker error", err.Error())
		}
		path := filepath.Join(t.TempDir(), "termination-log")
		if err := sum.WriteTerminationMessage(path); err != nil {
			t.Fatal(err)
		}
		msg, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		out.add("termination message", string(msg))
		summaries = append(summaries, sum)
		t.Logf("%s: %s", what, sum.Line())
	}
	runSync("clean", dbURL, partnersim.Faults{}, time.Time{})
	runSync("faulty", dbURL, partnersim.Faults{ErrorRate: 0.3, MalformedRate: 0.2, DuplicateRate: 0.2, TimeoutRate: 0.2}, time.Time{})
	runSync("revoked key", dbURL, partnersim.Faults{RevokedKeys: []string{partnerKey}}, time.Time{})
	runSync("database down", downURL, partnersim.Faults{}, time.Time{})
	runSync("database down, retried index", downURL, partnersim.Faults{}, time.Now().Add(-time.Minute))

	// Errors from the parts on their own.
	for _, raw := range []string{
		"postgres://slotsync:" + dbPassword + "@[::1", // malformed
		"postgres://slotsync:" + dbPassword + "@127.0.0.1:5432/db?sslmode=bogus",
		"host=127.0.0.1 password=" + dbPassword + " port=notaport",
	} {
		if _, err := store.Open(ctx, raw); err != nil {
			out.add("store errors", err.Error())
		}
	}
	mctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	if err := store.Migrate(mctx, downURL); err != nil {
		out.add("store errors", err.Error())
	}
	cancel()
	if db, err := store.Open(ctx, downURL); err == nil {
		if err := db.Ping(ctx); err != nil {
			out.add("store errors", err.Error())
		}
		if _, err := db.ReadSnapshot(ctx, 14, time.Now()); err != nil {
			out.add("store errors", err.Error())
		}
		db.Close()
	}
	for _, base := range []string{
		"http://[::1" + partnerKey,
		"ftp://partner.example.com/" + partnerKey,
		"http://partner.example.com/?key=" + partnerKey,
	} {
		if _, err := partner.New(base, partnerKey); err != nil {
			out.add("partner errors", err.Error())
		}
	}
	for _, base := range []string{
		"http://user:" + partnerKey + "@127.0.0.1:1", // refused, with the key in the URL's user info
		simURL,
	} {
		c, err := partner.New(base, partnerKey, partner.WithRetry(1, time.Millisecond, time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.FetchInventory(ctx, 14, time.Now()); err != nil {
			out.add("partner errors", err.Error())
		}
	}
	if err := sim.SetFaults(partnersim.Faults{}); err != nil {
		t.Fatal(err)
	}

	// The REST API, on the synced database and on the unreachable one.
	for _, u := range []string{dbURL, downURL} {
		serveAPI(t, &out, u)
	}

	// The controller: the Job it builds from a schedule whose Secrets hold the
	// values, and what it makes of the worker's real summaries.
	kubeLog := out.logger("manager log")
	e := startController(t, kubeLog)
	for name, data := range map[string]map[string]string{"partner": {"apiKey": partnerKey}, "database": {"url": dbURL}} {
		e.secret(t, name, data)
	}
	jobs := e.schedule(t, "leakcheck")
	job := jobs[0]
	out.addJSON("Job", job)
	failJob(t, e, &job, summaries)
	var ss inventoryv1alpha1.SyncSchedule
	kubetest.Eventually(t, wait, func() error {
		if err := e.c.Get(ctx, types.NamespacedName{Namespace: e.ns, Name: "leakcheck"}, &ss); err != nil {
			return err
		}
		for _, c := range ss.Status.Conditions {
			if c.Type == inventoryv1alpha1.ConditionDegraded && c.Status == metav1.ConditionTrue {
				return nil
			}
		}
		return fmt.Errorf("the schedule is not Degraded yet: %+v", ss.Status.Conditions)
	})
	out.addJSON("SyncSchedule", ss)
	var events eventsv1.EventList
	kubetest.Eventually(t, wait, func() error {
		if err := e.c.List(ctx, &events, client.InNamespace(e.ns)); err != nil {
			return err
		}
		if len(events.Items) == 0 {
			return fmt.Errorf("no events yet")
		}
		return nil
	})
	out.addJSON("events", events)
	out.add("controller metrics", scrape(t, promhttp.HandlerFor(metrics.Registry, promhttp.HandlerOpts{})))

	// Nothing anywhere holds a secret; every output was seen.
	for _, what := range []string{"worker log", "worker summary line", "worker error", "termination message", "store errors",
		"partner errors", "API log", "API answers", "API metrics", "manager log", "Job", "SyncSchedule", "events", "controller metrics"} {
		text := out.seen[what]
		if text == nil || text.Len() == 0 {
			t.Errorf("nothing captured from %s: the search would prove nothing", what)
			continue
		}
		for _, s := range secrets {
			if i := strings.Index(text.String(), s); i >= 0 {
				t.Errorf("%s contains a secret: ...%s...", what, excerpt(text.String(), i, len(s)))
			}
		}
		t.Logf("%-20s %7d bytes, no secret", what, text.Len())
	}
	// The worker did see errors worth leaking.
	if !strings.Contains(out.seen["termination message"].String(), "401") || !strings.Contains(out.seen["store errors"].String(), "127.0.0.1:1") {
		t.Error("the runs produced no 401 or database errors to search")
	}
}

// serveAPI serves the REST API on databaseURL, calls every route, good and
// bad, and records its answers, logs and metrics.
func serveAPI(t *testing.T, out *outputs, databaseURL string) {
	t.Helper()
	ctx := context.Background()
	srv, err := api.New(api.Config{Store: pgtest.OpenStore(t, databaseURL), CacheSize: 10, QueryTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sctx, stop := context.WithCancel(logr.NewContext(ctx, out.logger("API log")))
	served := make(chan error, 1)
	go func() { served <- srv.Serve(sctx, ln, nil) }()
	defer func() {
		stop()
		<-served
	}()
	base := "http://" + ln.Addr().String()
	day := time.Now().UTC().Format(time.DateOnly)
	for _, r := range []struct{ method, path, token string }{
		{"GET", "/api/v1/experience/14/slots?date=" + day, ""},
		{"GET", "/api/v1/experience/14/dates", ""},
		{"GET", "/api/v1/experience/999/slots?date=" + day, ""},
		{"GET", "/api/v1/experience/14/slots?date=2026-02-30", ""},
		{"GET", "/api/v1/sync/status", partnerKey},
		{"POST", "/api/v1/sync/pause", partnerKey},
		{"GET", "/readyz", ""},
		{"GET", "/healthz", ""},
	} {
		req, _ := http.NewRequest(r.method, base+r.path, nil)
		if r.token != "" {
			// A caller that sends the partner key as its token must not see it echoed.
			req.Header.Set("Authorization", "Bearer "+r.token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		out.add("API answers", fmt.Sprintf("%s %s -> %d %s", r.method, r.path, resp.StatusCode, body))
	}
	out.add("API metrics", scrape(t, srv.MetricsHandler(), "/metrics"))
}

// failJob plays the Job controller and the kubelet: one pod per summary, each
// terminated with the summary as its message, then the Job failed.
func failJob(t *testing.T, e *controllerEnv, job *batchv1.Job, summaries []syncer.Summary) {
	t.Helper()
	ctx := context.Background()
	now := metav1.Now()
	for i, s := range summaries {
		msg, _ := json.Marshal(s)
		labels := map[string]string{batchv1.JobNameLabel: job.Name}
		for k, v := range job.Spec.Template.Labels {
			labels[k] = v
		}
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("%s-%d", job.Name, i), Namespace: job.Namespace, Labels: labels,
				Annotations: map[string]string{batchv1.JobCompletionIndexAnnotation: fmt.Sprint(i % 2)}},
			Spec: *job.Spec.Template.Spec.DeepCopy(),
		}
		if err := e.c.Create(ctx, pod); err != nil {
			t.Fatal(err)
		}
		pod.Status = corev1.PodStatus{Phase: corev1.PodFailed, ContainerStatuses: []corev1.ContainerStatus{{
			Name: "sync", Image: workerImage,
			State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
				ExitCode: 1, Message: string(msg), StartedAt: now, FinishedAt: metav1.NewTime(now.Add(time.Duration(i) * time.Second)),
			}},
		}}}
		if err := e.c.Status().Update(ctx, pod); err != nil {
			t.Fatal(err)
		}
	}
	kubetest.Eventually(t, wait, func() error {
		var j batchv1.Job
		if err := e.c.Get(ctx, client.ObjectKeyFromObject(job), &j); err != nil {
			return err
		}
		j.Status.StartTime = &now
		j.Status.Failed = *j.Spec.Completions
		j.Status.FailedIndexes = ptrTo(fmt.Sprintf("0-%d", *j.Spec.Completions-1))
		j.Status.Conditions = []batchv1.JobCondition{
			{Type: batchv1.JobFailureTarget, Status: corev1.ConditionTrue, LastTransitionTime: now, Reason: "FailedIndexes"},
			{Type: batchv1.JobFailed, Status: corev1.ConditionTrue, LastTransitionTime: now, Reason: "FailedIndexes"},
		}
		return e.c.Status().Update(ctx, &j)
	})
}

func ptrTo[T any](v T) *T { return &v }

// scrape is the text a Prometheus scrape of h at path gets.
func scrape(t *testing.T, h http.Handler, path ...string) string {
	t.Helper()
	p := "/metrics"
	if len(path) > 0 {
		p = path[0]
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, p, nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("scrape %s: %d", p, rec.Code)
	}
	return rec.Body.String()
}

func excerpt(s string, i, n int) string {
	from, to := max(0, i-60), min(len(s), i+n+60)
	return s[from:to]
}
