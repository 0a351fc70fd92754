package bench

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"

	inventoryv1alpha1 "github.com/slotsync/slotsync/api/v1alpha1"
	"github.com/slotsync/slotsync/internal/childproc"
	"github.com/slotsync/slotsync/internal/fixture"
)

// controllerGoal is how long 1,000 schedules may take to get their first Jobs.
const controllerGoal = 60 * time.Second

// controllerRun is one burst of schedules against a fresh API server and manager.
type controllerRun struct {
	schedules    int
	create       time.Duration // to create every schedule
	toJobs       time.Duration // from the first create until every schedule has its Jobs
	reconciles   float64       // during toJobs
	errors       float64
	peakRSSMiB   float64
	fileRSSMiB   float64 // of the RSS at the end, the binary's own pages (RssFile)
	settledRSS   float64
	jobsExpected int
}

func runController(ctx context.Context, h *harness, r *Report) error {
	r.Title = "Controller scale"
	sizes := []int{100, 300, 1000}
	bigRepeats := 2
	if h.opts.Quick {
		sizes, bigRepeats = []int{20, 50}, 1
	}
	big := sizes[len(sizes)-1]
	r.Intro = prose("controller.intro", map[string]any{"Sizes": sizes})
	r.Repeats = fmt.Sprintf("%d for %d schedules, 1 for each smaller size", bigRepeats, big)

	var runs []controllerRun
	for _, n := range sizes {
		reps := 1
		if n == big {
			reps = bigRepeats
		}
		for range reps {
			run, err := controllerOnce(ctx, h, n)
			if err != nil {
				return fmt.Errorf("%d schedules: %w", n, err)
			}
			runs = append(runs, run)
		}
	}
	pick := func(n int, f func(controllerRun) float64) []float64 {
		var out []float64
		for _, run := range runs {
			if run.schedules == n {
				out = append(out, f(run))
			}
		}
		return out
	}
	s := r.section(fmt.Sprintf("%d SyncSchedules at once", big), "")
	s.add("time until every schedule has its 3 Jobs", "s", pick(big, func(c controllerRun) float64 { return c.toJobs.Seconds() }), AtMost(controllerGoal.Seconds()))
	s.add("reconciles per second", "1/s", pick(big, func(c controllerRun) float64 { return c.reconciles / c.toJobs.Seconds() }), nil)
	s.add("reconciles in that time", "count", pick(big, func(c controllerRun) float64 { return c.reconciles }), nil)
	s.add("reconcile errors in that time", "count", pick(big, func(c controllerRun) float64 { return c.errors }), nil)
	s.add("manager peak RSS (VmHWM)", "MiB", pick(big, func(c controllerRun) float64 { return c.peakRSSMiB }), AtMost(150))
	s.add("of its RSS at the end: the binary's mapped pages (RssFile)", "MiB", pick(big, func(c controllerRun) float64 { return c.fileRSSMiB }), nil)
	s.add("time to create the schedules", "s", pick(big, func(c controllerRun) float64 { return c.create.Seconds() }), nil)

	g := r.section("Growth", "One run per size (the largest: its median). Jobs per second = 3 × schedules ÷ time until every schedule has its Jobs.")
	chart := Chart{Title: "Controller: time to Jobs and peak RSS by schedule count", XLabel: "SyncSchedules created at once",
		YLabel: "seconds / MiB ÷ 10"}
	tj := Series{Name: "time until all Jobs (s)", Color: "#1f77b4"}
	rss := Series{Name: "manager peak RSS (MiB ÷ 10)", Color: "#ff7f0e"}
	for _, n := range sizes {
		toJobs := Summarize(pick(n, func(c controllerRun) float64 { return c.toJobs.Seconds() })).Median
		peak := Summarize(pick(n, func(c controllerRun) float64 { return c.peakRSSMiB })).Median
		g.add(fmt.Sprintf("%d schedules: time until all Jobs", n), "s", pick(n, func(c controllerRun) float64 { return c.toJobs.Seconds() }), nil)
		g.add(fmt.Sprintf("%d schedules: Jobs per second", n), "1/s", pick(n, func(c controllerRun) float64 { return float64(c.jobsExpected) / c.toJobs.Seconds() }), nil)
		g.add(fmt.Sprintf("%d schedules: reconciles per second", n), "1/s", pick(n, func(c controllerRun) float64 { return c.reconciles / c.toJobs.Seconds() }), nil)
		g.add(fmt.Sprintf("%d schedules: manager peak RSS", n), "MiB", pick(n, func(c controllerRun) float64 { return c.peakRSSMiB }), nil)
		tj.Points = append(tj.Points, Point{X: float64(n), Y: toJobs})
		rss.Points = append(rss.Points, Point{X: float64(n), Y: peak / 10})
	}
	chart.Series = []Series{tj, rss}
	r.plot("controller.svg", "Time until every schedule has its Jobs, and the manager's peak RSS, against the number of schedules.", chart.SVG())
	r.proseNote("controller.checks", nil)
	r.proseNote("controller.peak-rss", nil)
	r.proseNote("controller.no-job-controller", nil)
	r.proseNote("controller.own-keys", nil)
	return nil
}

func controllerOnce(ctx context.Context, h *harness, n int) (controllerRun, error) {
	run := controllerRun{schedules: n, jobsExpected: 3 * n}
	dir, err := os.MkdirTemp("", "slotsync-bench-controller-")
	if err != nil {
		return run, fmt.Errorf("create temporary directory: %w", err)
	}
	defer os.RemoveAll(dir)
	api, err := startAPIServer()
	if err != nil {
		return run, err
	}
	defer api.stop()
	kubeconfig, err := api.kubeconfig(dir)
	if err != nil {
		return run, err
	}
	mgr, err := startManager(ctx, h.opts.Manager, kubeconfig, dir)
	if err != nil {
		return run, err
	}
	defer mgr.stop()

	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "bench"}}
	if err := api.c.Create(ctx, ns); err != nil {
		return run, fmt.Errorf("create namespace: %w", err)
	}
	if err := createSecrets(ctx, api.c, ns.Name, n); err != nil {
		return run, err
	}
	before, err := mgr.reconciles()
	if err != nil {
		return run, err
	}

	began := time.Now()
	if err := createSchedules(ctx, api.c, ns.Name, n); err != nil {
		return run, err
	}
	run.create = time.Since(began)
	err = wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, time.Until(began.Add(5*time.Minute)), true,
		func(ctx context.Context) (bool, error) {
			done, err := schedulesHaveJobs(ctx, api.c, ns.Name, n)
			if err != nil || done {
				return done, err
			}
			return false, mgr.alive()
		})
	if wait.Interrupted(err) && ctx.Err() == nil {
		return run, fmt.Errorf("not every schedule had its Jobs after %s", time.Since(began).Round(time.Second))
	}
	if err != nil {
		return run, err
	}
	run.toJobs = time.Since(began)
	after, err := mgr.reconciles()
	if err != nil {
		return run, err
	}
	run.reconciles = after.total - before.total
	run.errors = after.errors - before.errors
	run.peakRSSMiB, err = mgr.statusMiB("VmHWM")
	if err != nil {
		return run, err
	}
	run.fileRSSMiB, err = mgr.statusMiB("RssFile")
	if err != nil {
		return run, err
	}
	if err := checkScheduleJobs(ctx, api.c, ns.Name, n); err != nil {
		return run, err
	}
	return run, nil
}

// createSecrets creates the Secrets createSchedules' schedules use, each
// allowing every schedule: a partner key each and one database URL. Without
// them the controller creates no Job.
func createSecrets(ctx context.Context, c client.Client, ns string, n int) error {
	secret := func(name string, data map[string]string) *corev1.Secret {
		return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns,
			Annotations: map[string]string{inventoryv1alpha1.AnnotationAllowedSchedules: "*"}}, StringData: data}
	}
	if err := c.Create(ctx, secret("db", map[string]string{"url": "postgres://bench@db.example/bench"})); err != nil {
		return fmt.Errorf("create Secret db: %w", err)
	}
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(16)
	for i := range n {
		if ctx.Err() != nil {
			break
		}
		g.Go(func() error {
			s := secret(fmt.Sprintf("partner-%05d", i), map[string]string{"apiKey": fmt.Sprintf("bench-key-%05d", i)})
			if err := c.Create(ctx, s); err != nil {
				return fmt.Errorf("create Secret %s: %w", s.Name, err)
			}
			return nil
		})
	}
	return g.Wait()
}

func createSchedules(ctx context.Context, c client.Client, ns string, n int) error {
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(16) // clients creating at once
	for i := range n {
		if ctx.Err() != nil {
			break // a create failed: the group returns its error
		}
		g.Go(func() error {
			ss := fixture.SyncSchedule(fmt.Sprintf("s%05d", i), ns, fixture.WithShards(2),
				fixture.WithKeySecret(fmt.Sprintf("partner-%05d", i), "apiKey"))
			if err := c.Create(ctx, ss); err != nil {
				return fmt.Errorf("create schedule %s: %w", ss.Name, err)
			}
			return nil
		})
	}
	return g.Wait()
}

// schedulesHaveJobs reports whether every schedule has 3 Jobs, from a live list
// of the Jobs' metadata.
func schedulesHaveJobs(ctx context.Context, c client.Client, ns string, n int) (bool, error) {
	var jobs metav1.PartialObjectMetadataList
	jobs.SetGroupVersionKind(batchv1.SchemeGroupVersion.WithKind("JobList"))
	if err := c.List(ctx, &jobs, client.InNamespace(ns)); err != nil {
		return false, fmt.Errorf("list Jobs: %w", err)
	}
	per := map[string]int{}
	for _, j := range jobs.Items {
		per[j.Labels[inventoryv1alpha1.LabelSchedule]]++
	}
	complete := 0
	for name, k := range per {
		if k > 3 {
			return false, fmt.Errorf("schedule %s has %d Jobs, want 3", name, k)
		}
		if k == 3 {
			complete++
		}
	}
	return complete == n, nil
}

// checkScheduleJobs checks that each schedule controls exactly its 3 Jobs, one per band.
func checkScheduleJobs(ctx context.Context, c client.Client, ns string, n int) error {
	var list inventoryv1alpha1.SyncScheduleList
	if err := c.List(ctx, &list, client.InNamespace(ns)); err != nil {
		return fmt.Errorf("list schedules: %w", err)
	}
	if len(list.Items) != n {
		return fmt.Errorf("%d schedules, want %d", len(list.Items), n)
	}
	uids := map[types.UID]string{}
	for _, ss := range list.Items {
		uids[ss.UID] = ss.Name
	}
	var jobs batchv1.JobList
	if err := c.List(ctx, &jobs, client.InNamespace(ns)); err != nil {
		return fmt.Errorf("list Jobs: %w", err)
	}
	if len(jobs.Items) != 3*n {
		return fmt.Errorf("%d Jobs, want %d", len(jobs.Items), 3*n)
	}
	seen := map[string]bool{}
	for _, j := range jobs.Items {
		owner := metav1.GetControllerOf(&j)
		if owner == nil || uids[owner.UID] == "" || uids[owner.UID] != j.Labels[inventoryv1alpha1.LabelSchedule] {
			return fmt.Errorf("Job %s is not controlled by its schedule", j.Name)
		}
		key := uids[owner.UID] + "/" + j.Labels[inventoryv1alpha1.LabelWindow]
		if seen[key] {
			return fmt.Errorf("schedule %s has two Jobs for window %s", uids[owner.UID], j.Labels[inventoryv1alpha1.LabelWindow])
		}
		seen[key] = true
		if *j.Spec.Completions != 2 {
			return fmt.Errorf("Job %s has %d completions, want 2 shards", j.Name, *j.Spec.Completions)
		}
	}
	for _, ss := range list.Items {
		for _, w := range []string{"today", "week", "month"} {
			if !seen[ss.Name+"/"+w] {
				return fmt.Errorf("schedule %s has no Job for window %s", ss.Name, w)
			}
		}
	}
	return nil
}

// managerProc is `slotsync manager` running in a process of its own.
type managerProc struct {
	proc    *childproc.Process
	metrics string
	logPath string
}

func startManager(ctx context.Context, binary, kubeconfig, dir string) (*managerProc, error) {
	metricsAddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	probeAddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	logPath := filepath.Join(dir, "manager.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("create manager log: %w", err)
	}
	defer logFile.Close()
	// Plain HTTP metrics: the benchmark scrapes its reconcile counts without a token.
	cmd := exec.Command(binary, "manager", "--leader-elect=false", "--worker-image=x", "--metrics-secure=false",
		"--metrics-bind-address="+metricsAddr, "--health-probe-bind-address="+probeAddr)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	p, err := childproc.Start(cmd)
	if err != nil {
		return nil, fmt.Errorf("start %s manager: %w", binary, err)
	}
	m := &managerProc{proc: p, metrics: "http://" + metricsAddr + "/metrics", logPath: logPath}
	// Ready once the controller's workers run, which is after its caches synced.
	var b []byte
	var exited error
	err = wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, time.Minute, true, func(context.Context) (bool, error) {
		b, _ = os.ReadFile(logPath)
		if bytes.Contains(b, []byte(`"Starting workers"`)) && bytes.Contains(b, []byte(`syncschedule`)) {
			return true, nil
		}
		exited = m.alive()
		return false, exited
	})
	switch {
	case err == nil:
		return m, nil
	case exited != nil:
		return nil, exited
	case ctx.Err() != nil:
		m.stop()
		return nil, ctx.Err()
	default:
		m.stop()
		return nil, fmt.Errorf("manager not started after a minute:\n%s", tail(b, 20))
	}
}

func (m *managerProc) alive() error {
	if done, err := m.proc.Exited(); done {
		b, _ := os.ReadFile(m.logPath)
		return fmt.Errorf("manager exited: %v\n%s", err, tail(b, 20))
	}
	return nil
}

func (m *managerProc) stop() { m.proc.Stop(20 * time.Second) }

// statusMiB is a memory figure of the manager's /proc/PID/status (VmHWM: peak
// RSS; RssFile: the RSS of mapped files, mostly the binary itself) in MiB.
func (m *managerProc) statusMiB(field string) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", m.proc.Pid()))
	if err != nil {
		return 0, fmt.Errorf("read manager status: %w", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == field+":" {
			kb, err := strconv.ParseFloat(f[1], 64)
			if err != nil {
				return 0, fmt.Errorf("parse %s %q: %w", field, line, err)
			}
			return kb / 1024, nil
		}
	}
	return 0, fmt.Errorf("no %s in /proc/%d/status", field, m.proc.Pid())
}

type reconcileCounts struct{ total, errors float64 }

func (m *managerProc) reconciles() (reconcileCounts, error) {
	var rc reconcileCounts
	resp, err := http.Get(m.metrics)
	if err != nil {
		return rc, fmt.Errorf("scrape manager metrics: %w", err)
	}
	defer resp.Body.Close()
	vals, err := parseMetrics(resp.Body)
	if err != nil {
		return rc, err
	}
	for name, v := range vals {
		if !strings.Contains(name, `controller="syncschedule"`) {
			continue
		}
		switch {
		case strings.HasPrefix(name, "controller_runtime_reconcile_total{"):
			rc.total += v
		case strings.HasPrefix(name, "controller_runtime_reconcile_errors_total{"):
			rc.errors += v
		}
	}
	return rc, nil
}

// parseMetrics reads the Prometheus text format into series (name with labels)
// and values.
func parseMetrics(r io.Reader) (map[string]float64, error) {
	out := map[string]float64{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		out[line[:i]] = v
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read metrics: %w", err)
	}
	return out, nil
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("find a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func tail(b []byte, lines int) string {
	all := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	return strings.Join(all, "\n")
}
