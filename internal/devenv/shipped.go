package devenv

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/slotsync/slotsync/controllers"
	"github.com/slotsync/slotsync/internal/imagebuild"
	"github.com/slotsync/slotsync/internal/pki"
)

// What config/default names, as the real node's install relies on.
const (
	apiService       = "slotsync-api"
	apiPort          = "8080"
	apiTLSSecret     = "slotsync-api-tls"
	apiDBSecret      = "slotsync-api-database"
	managerComponent = "manager"
)

// apiHost is the name clients of the API's Service use, in its certificate.
const apiHost = apiService + "." + SystemNamespace + ".svc"

// manifests is config/default as kustomize renders it. On the real node it is the
// users' install: a copy of config/ with only the image set, as `kustomize edit
// set image` would.
func (e *Env) manifests(ctx context.Context) ([]byte, error) {
	if e.NodeKind != NodeReal {
		return e.kubectl(ctx, nil, "kustomize", filepath.Join(e.opts.RepoRoot, "config", "default"))
	}
	cfg := filepath.Join(e.opts.Root, "config")
	if out, err := exec.CommandContext(ctx, "cp", "-R", filepath.Join(e.opts.RepoRoot, "config"), cfg).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("copy config/: %w: %s", err, out)
	}
	kustomization := filepath.Join(cfg, "default", "kustomization.yaml")
	data, err := os.ReadFile(kustomization)
	if err != nil {
		return nil, err
	}
	name, tag, _ := strings.Cut(imagebuild.SlotsyncImage, ":")
	data = append(data, fmt.Sprintf("images:\n- name: slotsync\n  newName: %s\n  newTag: %s\n", name, tag)...)
	if err := os.WriteFile(kustomization, data, 0o644); err != nil {
		return nil, err
	}
	return e.kubectl(ctx, nil, "kustomize", filepath.Join(cfg, "default"))
}

// apiSecrets creates what docs/install.md asks users to create for the API: its
// database URL and its serving certificate, issued by a CA of this environment
// for the Service's name and address.
func (e *Env) apiSecrets(ctx context.Context) error {
	var svc corev1.Service
	if err := e.Client.Get(ctx, client.ObjectKey{Namespace: SystemNamespace, Name: apiService}, &svc); err != nil {
		return fmt.Errorf("the API's Service: %w", err)
	}
	ca, err := pki.New(pki.Template{Subject: pkix.Name{CommonName: "slotsync-dev API CA"}, IsCA: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}, nil)
	if err != nil {
		return err
	}
	serving, err := pki.New(pki.Template{Subject: pkix.Name{CommonName: apiService},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:    []string{apiHost, apiHost + ".cluster.local", apiService + "." + SystemNamespace},
		IPAddresses: []net.IP{net.ParseIP(svc.Spec.ClusterIP)}}, ca)
	if err != nil {
		return err
	}
	key, err := serving.KeyPEM()
	if err != nil {
		return err
	}
	e.APICAFile = filepath.Join(e.opts.Root, "api-ca.crt")
	if err := os.WriteFile(e.APICAFile, ca.CertPEM(), 0o644); err != nil {
		return err
	}
	e.apiCAs = ca.Pool()
	e.APIURL = "https://" + net.JoinHostPort(svc.Spec.ClusterIP, apiPort)
	secrets := []*corev1.Secret{
		{ObjectMeta: objectMeta(apiTLSSecret, SystemNamespace), Type: corev1.SecretTypeTLS,
			Data: map[string][]byte{corev1.TLSCertKey: serving.CertPEM(), corev1.TLSPrivateKeyKey: key}},
		{ObjectMeta: objectMeta(apiDBSecret, SystemNamespace), StringData: map[string]string{"url": e.DatabaseURL}},
	}
	for _, s := range secrets {
		if err := e.Client.Create(ctx, s); err != nil {
			return fmt.Errorf("create Secret %s: %w", s.Name, err)
		}
	}
	return nil
}

// HTTPClient is the client for the API: on the real node, where the API serves
// HTTPS as shipped, it trusts the API's certificate.
func (e *Env) HTTPClient() *http.Client {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.httpClient == nil {
		transport := http.DefaultTransport.(*http.Transport).Clone()
		if e.apiCAs != nil {
			transport.TLSClientConfig = &tls.Config{RootCAs: e.apiCAs, MinVersion: tls.VersionTLS12}
		}
		e.httpClient = &http.Client{Timeout: 30 * time.Second, Transport: transport}
	}
	return e.httpClient
}

// waitDeployments waits until every Deployment of slotsync-system has all the
// replicas its manifest asks for Available, then for the API to answer through
// its Service (kube-proxy follows the EndpointSlices a moment later).
func (e *Env) waitDeployments(ctx context.Context) error {
	timeout := 3 * time.Minute
	var last string
	err := wait.PollUntilContextTimeout(ctx, time.Second, timeout, true, func(ctx context.Context) (bool, error) {
		var list appsv1.DeploymentList
		if err := e.Client.List(ctx, &list, client.InNamespace(SystemNamespace)); err != nil || len(list.Items) == 0 {
			last = fmt.Sprintf("no Deployments (%v)", err)
			return false, nil
		}
		for _, d := range list.Items {
			if !deploymentAvailable(&d) {
				last = fmt.Sprintf("Deployment %s: %d of %d replicas available", d.Name, d.Status.AvailableReplicas, *d.Spec.Replicas)
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		out, _ := e.kubectl(ctx, nil, "-n", SystemNamespace, "get", "deploy,pods", "-o", "wide")
		return fmt.Errorf("%s after %v: %w\n%s", last, timeout, err, out)
	}
	ready := httpOK(e.HTTPClient(), e.APIURL+"/readyz")
	var lastErr error
	err = wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, time.Minute, true, func(context.Context) (bool, error) {
		lastErr = ready()
		return lastErr == nil, nil
	})
	if err != nil {
		return fmt.Errorf("the API through its Service %s: %v", e.APIURL, lastErr)
	}
	return nil
}

func deploymentAvailable(d *appsv1.Deployment) bool {
	want := int32(1)
	if d.Spec.Replicas != nil {
		want = *d.Spec.Replicas
	}
	return d.Status.ObservedGeneration >= d.Generation && d.Status.UpdatedReplicas == want &&
		d.Status.AvailableReplicas == want && d.Status.Replicas == want
}

// ManagerLeader is the pod that holds the manager's leader lease.
func (e *Env) ManagerLeader(ctx context.Context) (string, error) {
	var lease coordinationv1.Lease
	if err := e.Client.Get(ctx, client.ObjectKey{Namespace: SystemNamespace, Name: controllers.LeaderElectionID}, &lease); err != nil {
		return "", err
	}
	if lease.Spec.HolderIdentity == nil || *lease.Spec.HolderIdentity == "" {
		return "", errors.New("nobody holds the lease")
	}
	// controller-runtime's identity is the host name, the pod's name, then a UUID.
	pod, _, _ := strings.Cut(*lease.Spec.HolderIdentity, "_")
	return pod, nil
}

// deleteManagerLeader deletes the leader's pod as a drain or an eviction would
// (with its grace period) and waits for another replica to lead and for the
// Deployment to be whole again.
func (e *Env) deleteManagerLeader(ctx context.Context) error {
	leader, err := e.ManagerLeader(ctx)
	if err != nil {
		return err
	}
	if err := e.Client.Delete(ctx, &corev1.Pod{ObjectMeta: objectMeta(leader, SystemNamespace)}); err != nil {
		return fmt.Errorf("delete the leader %s: %w", leader, err)
	}
	deleted := time.Now()
	e.step("deleted the manager's leader pod %s", leader)
	var last, next string
	err = wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		if next == "" {
			holder, err := e.ManagerLeader(ctx)
			if err != nil || holder == leader {
				last = fmt.Sprintf("leader %q (%v)", holder, err)
				return false, nil
			}
			next = holder
			e.step("pod %s leads, %s after the deletion", next, time.Since(deleted).Round(100*time.Millisecond))
		}
		var d appsv1.Deployment
		if err := e.Client.Get(ctx, client.ObjectKey{Namespace: SystemNamespace, Name: "slotsync-" + managerComponent}, &d); err != nil || !deploymentAvailable(&d) {
			last = fmt.Sprintf("new leader %s, Deployment not whole yet (%v)", next, err)
			return false, nil
		}
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("after deleting the leader %s: %s: %w", leader, last, err)
	}
	return nil
}

// podLogs is the tail of every slotsync-system pod's log, for failure reports.
func (e *Env) podLogs() string {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var b strings.Builder
	for _, args := range [][]string{
		{"get", "nodes,deploy,pods,svc,endpointslices", "-A", "-o", "wide"},
		{"-n", SystemNamespace, "logs", "-l", "app.kubernetes.io/name=slotsync", "--all-containers", "--prefix", "--tail=60"},
		{"get", "events", "-A", "--sort-by=.lastTimestamp"},
	} {
		out, err := e.kubectl(ctx, nil, args...)
		fmt.Fprintf(&b, "===== kubectl %s =====\n%s\n", strings.Join(args, " "), out)
		if err != nil {
			fmt.Fprintln(&b, err)
		}
	}
	if e.real.node != nil {
		for _, name := range []string{"containerd", "kubelet", "kube-proxy"} {
			data, _ := os.ReadFile(e.real.node.LogPath(name))
			if len(data) > 4000 {
				data = data[len(data)-4000:]
			}
			fmt.Fprintf(&b, "===== %s =====\n%s\n", name, data)
		}
	}
	return b.String()
}

// ContainerPID is the host PID of a container running on the real node, so a
// test can read what the kernel enforces on it under /proc.
func (e *Env) ContainerPID(ctx context.Context, containerID string) (int, error) {
	if e.real == nil || e.real.node == nil {
		return 0, errors.New("no real node: pods run as host processes")
	}
	return e.real.node.ContainerPID(ctx, containerID)
}
