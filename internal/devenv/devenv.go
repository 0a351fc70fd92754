// Package devenv runs slotsync on one machine with no cluster: a real control plane
// (etcd, kube-apiserver, kube-controller-manager, kube-scheduler built from source), a
// node, Postgres and the partner simulator. On the real node (containerd and a
// kubelet) it installs config/default as users do, and the manager and the API run as
// its Deployments; on the process node, which runs pods as host processes, they run
// as host processes too. `slotsync-dev dev` and the end-to-end tests use it.
//
// Host processes listen on 127.0.0.1 only; the real node's pods reach Postgres and
// the simulator through forwarders on its bridge. State lives in Options.Root and is
// wiped at each start.
package devenv

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/slotsync/slotsync/internal/kubescheme"
	"github.com/slotsync/slotsync/internal/localnode"
	"github.com/slotsync/slotsync/internal/partnersim"
	"github.com/slotsync/slotsync/internal/pgtest"
	"github.com/slotsync/slotsync/internal/store"
)

// Names of what the environment creates.
const (
	SystemNamespace = "slotsync-system"
	Namespace       = "default"
	ScheduleName    = "sample"
	PartnerKey      = "dev-key"
	WorkerImage     = "slotsync:dev"
)

// TimeScale is how much faster time runs in fast mode: a minute takes a second.
const TimeScale = 60

// Options say where things are and how to run.
type Options struct {
	// Root holds all state: kubeconfigs, logs, the node's pod directories.
	Root string
	// K8sBin holds etcd, kube-apiserver, kube-controller-manager and kube-scheduler.
	K8sBin string
	// Slotsync is the production slotsync binary, which runs the manager and the
	// API; the node runs it for the image slotsync:dev.
	Slotsync string
	// RepoRoot holds config/ (CRDs, RBAC, the sample).
	RepoRoot string
	// Fast compresses time by TimeScale: schedule intervals, the partner's rate-limit
	// window and the simulator's inventory clock.
	Fast bool
	// Progress receives one line per step.
	Progress io.Writer
	// Node is NodeProcess, NodeReal or NodeAuto; empty takes SLOTSYNC_DEV_NODE,
	// and auto when that is empty too.
	Node string
}

// Env is a running environment.
type Env struct {
	opts        Options
	Kubeconfig  string
	RESTConfig  *rest.Config
	Client      client.Client
	DatabaseURL string
	SimURL      string
	APIURL      string
	// APIMetricsURL is the API's metrics port; /metrics there takes a token
	// allowed to get it.
	APIMetricsURL string
	ManagerURL    string // the manager's health and metrics host:port base
	// APICAFile is the CA that issued the API's certificate on the real node, where
	// APIURL is the API's Service over HTTPS; empty on the process node.
	APICAFile  string
	apiCAs     *x509.CertPool
	httpClient *http.Client
	Sim        *partnersim.Server
	simBegan   time.Time
	// NodeKind is the node that runs pods: NodeProcess or NodeReal.
	NodeKind string

	control   *envtest.Environment
	pg        *pgtest.Server
	simServer *http.Server
	nodeStop  context.CancelFunc
	nodeDone  chan error
	real      *realEnv
	// releaseRealNode gives the machine's real node back; nil when not claimed.
	releaseRealNode func()
	procs           []*process
	mu              sync.Mutex
	manager         *process
	managerKC       string
	managerArgs     []string
}

func (e *Env) step(format string, args ...any) {
	if e.opts.Progress != nil {
		fmt.Fprintf(e.opts.Progress, "[%s] %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
	}
}

// startStep is one thing Start brings up.
type startStep struct {
	what string
	do   func(context.Context) error
}

// Start brings everything up and applies the sample schedule. On error it stops what
// it started.
func Start(ctx context.Context, opts Options) (_ *Env, err error) {
	e := &Env{opts: opts}
	defer func() {
		if err != nil {
			e.Stop()
		}
	}()
	if err := os.RemoveAll(opts.Root); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(e.logDir(), 0o755); err != nil {
		return nil, err
	}
	if err := e.chooseNode(); err != nil {
		return nil, err
	}
	for _, b := range []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler"} {
		if _, err := os.Stat(filepath.Join(opts.K8sBin, b)); err != nil {
			return nil, fmt.Errorf("%s missing in %s: run `make k8s-binaries`", b, opts.K8sBin)
		}
	}
	steps := []startStep{
		{"PostgreSQL", e.startPostgres},
		{"partner simulator", e.startSimulator},
		{"etcd and kube-apiserver", e.startControlPlane},
		{"kube-controller-manager and kube-scheduler", e.startControllers},
		{e.NodeKind + " node", e.startNode},
	}
	if e.NodeKind == NodeReal {
		steps = append(steps,
			startStep{"config/default with the image set, and the Secrets it reads", e.install},
			startStep{"the manager and API Deployments, and the API's Service", e.waitDeployments})
	} else {
		steps = append(steps,
			startStep{"CRDs, RBAC and Secrets from config/", e.install},
			startStep{"manager", e.startManager},
			startStep{"REST API", e.startAPI})
	}
	steps = append(steps, startStep{"sample SyncSchedule", e.applySample})
	for _, s := range steps {
		began := time.Now()
		if err := s.do(ctx); err != nil {
			return nil, fmt.Errorf("start %s: %w", s.what, err)
		}
		e.step("%s up (%.1fs)", s.what, time.Since(began).Seconds())
	}
	return e, nil
}

// SimTime is the simulator's clock at the real instant t: the same in normal mode,
// TimeScale times faster since the start in fast mode.
func (e *Env) SimTime(t time.Time) time.Time {
	if !e.opts.Fast {
		return t
	}
	return e.simBegan.Add(t.Sub(e.simBegan) * TimeScale)
}

func (e *Env) logDir() string { return filepath.Join(e.opts.Root, "logs") }

func (e *Env) startPostgres(ctx context.Context) error {
	pg, err := pgtest.Start(ctx)
	if err != nil {
		return err
	}
	e.pg = pg
	e.DatabaseURL = pg.URL("postgres")
	return store.Migrate(ctx, e.DatabaseURL)
}

func (e *Env) startSimulator(context.Context) error {
	e.simBegan = time.Now()
	e.Sim = partnersim.New(e.SimulatorConfig(1, PartnerKey))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	e.SimURL = "http://" + l.Addr().String()
	e.simServer = &http.Server{Handler: e.Sim.Handler(), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = e.simServer.Serve(l) }()
	return nil
}

// SimulatorConfig is a partner simulator on the environment's clocks (inventory
// time and rate-limit window, both compressed in fast mode) that accepts only key;
// a test starts a second partner with another seed and key from it.
func (e *Env) SimulatorConfig(seed int64, key string) partnersim.Config {
	cfg := partnersim.Config{Seed: seed, Keys: []string{key}, Limit: 30, Window: time.Minute,
		InventoryNow: func() time.Time { return e.SimTime(time.Now()) }}
	if e.opts.Fast {
		cfg.Window = time.Minute / TimeScale
	}
	return cfg
}

func (e *Env) startControlPlane(context.Context) error {
	scheme, err := kubescheme.New()
	if err != nil {
		return err
	}
	e.control = &envtest.Environment{
		BinaryAssetsDirectory:    e.opts.K8sBin,
		CRDDirectoryPaths:        []string{filepath.Join(e.opts.RepoRoot, "config", "crd", "bases")},
		ErrorIfCRDPathMissing:    true,
		Scheme:                   scheme,
		ControlPlaneStartTimeout: 2 * time.Minute,
	}
	if err := e.configureRealNodeAPIServer(e.control); err != nil {
		return err
	}
	if _, err := e.control.Start(); err != nil {
		return err
	}
	admin, err := e.control.AddUser(envtest.User{Name: "slotsync-dev-admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return err
	}
	e.RESTConfig = admin.Config()
	kc, err := admin.KubeConfig()
	if err != nil {
		return err
	}
	e.Kubeconfig = filepath.Join(e.opts.Root, "kubeconfig")
	if err := os.WriteFile(e.Kubeconfig, kc, 0o600); err != nil {
		return err
	}
	e.Client, err = client.New(e.RESTConfig, client.Options{Scheme: scheme})
	return err
}

func (e *Env) startControllers(ctx context.Context) error {
	kcmArgs := append([]string{"--kubeconfig=" + e.Kubeconfig, "--leader-elect=false", "--secure-port=0", "--bind-address=127.0.0.1",
		"--controllers=job-controller,garbage-collector-controller,ttl-after-finished-controller,serviceaccount-controller,deployment-controller,replicaset-controller",
		"--concurrent-job-syncs=10"}, e.realNodeControllerFlags()...)
	kcm, err := startProcess(e.logDir(), "kube-controller-manager", nil, filepath.Join(e.opts.K8sBin, "kube-controller-manager"), kcmArgs...)
	if err != nil {
		return err
	}
	e.procs = append(e.procs, kcm)
	sched, err := startProcess(e.logDir(), "kube-scheduler", nil, filepath.Join(e.opts.K8sBin, "kube-scheduler"),
		"--kubeconfig="+e.Kubeconfig, "--leader-elect=false", "--secure-port=0", "--bind-address=127.0.0.1")
	if err != nil {
		return err
	}
	e.procs = append(e.procs, sched)
	// Both stay up or fail fast on bad flags.
	for _, p := range []*process{kcm, sched} {
		if err := p.waitFor(ctx, 3*time.Second, func() error { return errors.New("watching") }); err != nil && !strings.Contains(err.Error(), "not ready") {
			return err
		}
	}
	return nil
}

func (e *Env) startNode(ctx context.Context) error {
	if e.NodeKind == NodeReal {
		return e.startRealNode(ctx)
	}
	node, err := localnode.New(localnode.Config{
		RESTConfig: e.RESTConfig,
		WorkDir:    filepath.Join(e.opts.Root, "node"),
		Binaries:   map[string]string{"slotsync": e.opts.Slotsync},
	})
	if err != nil {
		return err
	}
	nodeCtx, cancel := context.WithCancel(logr.NewContext(context.Background(), logr.Discard()))
	e.nodeStop = cancel
	e.nodeDone = make(chan error, 1)
	go func() { e.nodeDone <- node.Run(nodeCtx) }()
	readyCtx, cancelReady := context.WithTimeout(ctx, time.Minute)
	defer cancelReady()
	return node.WaitReady(readyCtx)
}

// install applies config/default and creates the Secrets the sample schedule
// reads. On the real node that is the users' install, Deployments included, plus
// the API's Secrets; on the process node the manager and the API run as local
// processes with their ServiceAccounts' tokens instead, so the Deployments are
// left out.
func (e *Env) install(ctx context.Context) error {
	out, err := e.manifests(ctx)
	if err != nil {
		return err
	}
	var keep []string
	for _, doc := range strings.Split(string(out), "\n---\n") {
		deployment := strings.Contains(doc, "\nkind: Deployment\n") || strings.HasPrefix(doc, "kind: Deployment\n")
		if deployment && e.NodeKind != NodeReal {
			continue
		}
		keep = append(keep, doc)
	}
	if _, err := e.kubectl(ctx, []byte(strings.Join(keep, "\n---\n")), "apply", "--server-side", "-f", "-"); err != nil {
		return err
	}
	secrets := []*corev1.Secret{
		ScheduleSecret("slotsync-partner", map[string]string{"apiKey": PartnerKey}),
		ScheduleSecret("slotsync-database", map[string]string{"url": e.DatabaseURL}),
	}
	for _, s := range secrets {
		if err := e.Client.Create(ctx, s); err != nil {
			return fmt.Errorf("create Secret %s: %w", s.Name, err)
		}
	}
	if e.NodeKind == NodeReal {
		return e.apiSecrets(ctx)
	}
	return nil
}

// Kubectl runs kubectl against the environment, as its admin.
func (e *Env) Kubectl(ctx context.Context, stdin []byte, args ...string) ([]byte, error) {
	return e.kubectl(ctx, stdin, args...)
}

func (e *Env) kubectl(ctx context.Context, stdin []byte, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, "kubectl", append([]string{"--kubeconfig=" + e.Kubeconfig}, args...)...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, fmt.Errorf("kubectl %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}

// Stop ends everything Start started, newest first.
func (e *Env) Stop() {
	e.mu.Lock()
	procs := append([]*process(nil), e.procs...)
	if e.manager != nil {
		procs = append(procs, e.manager)
	}
	e.mu.Unlock()
	for i := len(procs) - 1; i >= 0; i-- {
		procs[i].Stop(10 * time.Second)
	}
	if e.nodeStop != nil {
		e.nodeStop()
		select {
		case <-e.nodeDone:
		case <-time.After(30 * time.Second):
		}
	}
	e.stopRealNode()
	if e.control != nil {
		_ = e.control.Stop()
	}
	if e.simServer != nil {
		_ = e.simServer.Close()
	}
	if e.Sim != nil {
		e.Sim.Close()
	}
	if e.pg != nil {
		e.pg.Stop()
	}
}

// Logs returns the tail of every component's log, for failure reports.
func (e *Env) Logs() string {
	var b strings.Builder
	if e.real != nil {
		b.WriteString(e.podLogs())
	}
	entries, _ := os.ReadDir(e.logDir())
	for _, ent := range entries {
		data, _ := os.ReadFile(filepath.Join(e.logDir(), ent.Name()))
		if len(data) > 6000 {
			data = data[len(data)-6000:]
		}
		fmt.Fprintf(&b, "===== %s =====\n%s\n", ent.Name(), data)
	}
	return b.String()
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}
