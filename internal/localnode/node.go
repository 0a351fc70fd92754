package localnode

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	vklog "github.com/virtual-kubelet/virtual-kubelet/log"
	vknode "github.com/virtual-kubelet/virtual-kubelet/node"
	"github.com/virtual-kubelet/virtual-kubelet/node/api"
	"github.com/virtual-kubelet/virtual-kubelet/node/nodeutil"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
)

// Node is a local node, set up by New and run by Run.
type Node struct {
	cfg      Config
	client   kubernetes.Interface
	prov     *provider
	vk       *nodeutil.Node
	listener net.Listener
	tlsCert  tls.Certificate
	certPEM  []byte
	handler  http.Handler
	ran      atomic.Bool
	// ready is closed once the node is registered, untainted and running
	// pods; done when Run returns.
	ready, done chan struct{}
}

// Run sets up a local node and runs it until ctx ends; see New and Node.Run.
func Run(ctx context.Context, cfg Config) error {
	n, err := New(cfg)
	if err != nil {
		return err
	}
	return n.Run(ctx)
}

// New checks cfg, makes the serving certificate and binds the kubelet port,
// so that a port in use fails here, before the node registers.
func New(cfg Config) (*Node, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("local node config: %w", err)
	}
	client, err := kubernetes.NewForConfig(cfg.RESTConfig)
	if err != nil {
		return nil, fmt.Errorf("local node client: %w", err)
	}
	cert, certPEM, err := selfSignedCert(cfg.NodeName, net.ParseIP(cfg.Address))
	if err != nil {
		return nil, fmt.Errorf("local node serving certificate: %w", err)
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(cfg.Address, strconv.Itoa(cfg.Port)))
	if err != nil {
		return nil, fmt.Errorf("listen for the kubelet API: %w", err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	n := &Node{
		cfg: cfg, client: client, listener: ln, tlsCert: cert, certPEM: certPEM,
		ready: make(chan struct{}), done: make(chan struct{}),
	}

	newProvider := func(pc nodeutil.ProviderConfig) (nodeutil.Provider, vknode.NodeProvider, error) {
		n.prov = &provider{
			cfg:     cfg,
			client:  client,
			pods:    pc.Pods,
			runs:    map[string]*podRun{},
			resolve: resolver{binaries: cfg.Binaries, resolveImage: cfg.ResolveImage},
			env: envResolver{
				secrets:     pc.Secrets,
				configMaps:  pc.ConfigMaps,
				address:     cfg.Address,
				allocatable: pc.Node.Status.Allocatable,
			},
		}
		n.handler = api.PodHandler(api.PodHandlerConfig{
			GetContainerLogs: n.prov.GetContainerLogs,
			GetPods:          n.prov.GetPods,
			GetPodsFromKubernetes: func(context.Context) ([]*corev1.Pod, error) {
				return pc.Pods.List(labels.Everything())
			},
		}, false)
		return n.prov, nil, nil
	}
	vk, err := nodeutil.NewNode(cfg.NodeName, newProvider, func(nc *nodeutil.NodeConfig) error {
		nc.Client = client
		nc.NodeSpec = *nodeObject(cfg, int32(port))
		nc.HTTPListenAddr = ln.Addr().String()
		// We serve the kubelet API ourselves on the listener bound above.
		// The library starts no server when it has a TLS config but no
		// handler (with no TLS config it would warn that it has none).
		nc.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
		nc.Handler = nil
		// Env is resolved here, in order and with the node's address for
		// status.podIP, rather than by the library.
		nc.SkipDownwardAPIResolution = true
		nc.NumWorkers = 4
		return nil
	})
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("set up local node %s: %w", cfg.NodeName, err)
	}
	n.vk = vk
	return n, nil
}

// Name is the Node's name.
func (n *Node) Name() string { return n.cfg.NodeName }

// KubeletAddr is host:port of the kubelet API (HTTPS).
func (n *Node) KubeletAddr() string { return n.listener.Addr().String() }

// ServingCertPEM is the kubelet API's self-signed certificate, for clients
// that verify it.
func (n *Node) ServingCertPEM() []byte { return n.certPEM }

// WaitReady waits until the node is registered, Ready and running pods.
func (n *Node) WaitReady(ctx context.Context) error {
	select {
	case <-n.ready:
		return nil
	case <-n.done:
		return errors.New("local node stopped before it was ready")
	case <-ctx.Done():
		return fmt.Errorf("wait for local node %s: %w", n.cfg.NodeName, ctx.Err())
	}
}

// Run registers the node, runs pods bound to it and serves the kubelet API
// until ctx ends. Then it stops every process (SIGTERM, SIGKILL after
// ShutdownGrace) and returns once none is left; it returns nil after a
// cancelled ctx. A Node runs once.
func (n *Node) Run(ctx context.Context) error {
	if !n.ran.CompareAndSwap(false, true) {
		return errors.New("local node: Run called twice")
	}
	defer close(n.done)
	log := logr.FromContextOrDiscard(ctx).WithName("localnode").WithValues("node", n.cfg.NodeName)
	ctx = logr.NewContext(ctx, log)
	n.prov.ctx = ctx

	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			vkctx := vklog.WithLogger(req.Context(), vkLogger{l: log.WithName("kubelet-api")})
			n.handler.ServeHTTP(w, req.WithContext(vkctx))
		}),
		ReadHeaderTimeout: 10 * time.Second,
	}
	tlsLn := tls.NewListener(n.listener, &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{n.tlsCert},
	})
	srvDone := make(chan error, 1)
	go func() { srvDone <- srv.Serve(tlsLn) }()
	log.Info("local node starting", "kubeletAPI", "https://"+n.KubeletAddr(), "workDir", n.cfg.WorkDir)

	vkctx, cancel := context.WithCancel(vklog.WithLogger(ctx, vkLogger{l: log.WithName("virtual-kubelet")}))
	defer cancel()
	untaintDone := make(chan error, 1)
	go func() {
		select {
		case <-n.vk.Ready():
		case <-n.vk.Done():
			untaintDone <- nil
			return
		}
		if err := n.untaint(ctx); err != nil {
			untaintDone <- err
			cancel()
			return
		}
		log.Info("local node ready")
		close(n.ready)
		untaintDone <- nil
	}()
	runErr := n.vk.Run(vkctx)
	cancel()
	untaintErr := <-untaintDone

	// The processes go first: they are what must not be left behind.
	stopErr := n.prov.shutdown(log)
	if err := n.markNotReady(ctx); err != nil {
		log.V(1).Info("node status not updated at stop", "error", err.Error())
	}
	_ = srv.Close()
	if err := <-srvDone; err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Error(err, "kubelet API server stopped")
	}
	if untaintErr != nil && ctx.Err() == nil {
		runErr = untaintErr
	} else if ctx.Err() != nil && (runErr == nil || errors.Is(runErr, context.Canceled)) {
		runErr = nil
	}
	if runErr != nil {
		runErr = fmt.Errorf("run local node %s: %w", n.cfg.NodeName, runErr)
	}
	return errors.Join(runErr, stopErr)
}
