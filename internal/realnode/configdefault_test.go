//go:build realnode

package realnode_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/slotsync/slotsync/internal/childproc"
	"github.com/slotsync/slotsync/internal/imagebuild"
	"github.com/slotsync/slotsync/internal/kubetest"
	"github.com/slotsync/slotsync/internal/pgtest"
	"github.com/slotsync/slotsync/internal/realnode"
	"github.com/slotsync/slotsync/internal/store"
)

// TestConfigDefault installs config/default the way users do, with only the image
// set, on a control plane that pods reach through the kubernetes Service (API
// server on the bridge's gateway, kube-proxy, ServiceAccount admission), and
// waits for its Deployments to become Available.
func TestConfigDefault(t *testing.T) {
	began := time.Now()
	root := kubetest.RepoRoot(t)
	k8sBin := filepath.Join(root, "bin", "k8s")
	for _, b := range []string{"kubelet", "kube-proxy", "kube-controller-manager", "kube-scheduler"} {
		if _, err := os.Stat(filepath.Join(k8sBin, b)); err != nil {
			t.Fatalf("%s missing: run `make real-node-binaries`", b)
		}
	}
	if err := realnode.Unavailable(filepath.Join(k8sBin, "kubelet")); err != nil {
		t.Fatalf("the real node cannot run here: %v", err)
	}
	ctx := context.Background()
	dir := shortTempDir(t)
	images := filepath.Join(dir, "images.tar")
	if err := imagebuild.DevArchive(ctx, root, filepath.Join(root, "bin", "slotsync"), images); err != nil {
		t.Fatal(err)
	}
	// The API server listens on the gateway, which must exist first.
	if err := realnode.BridgeUp(ctx); err != nil {
		t.Fatal(err)
	}
	c, kubeconfig, nodeKC, pki := startControlPlane(t, k8sBin, dir, func(control *envtest.Environment, pki realnode.PKI) error {
		return realnode.ConfigureControlPlane(control, pki, filepath.Join(dir, "apiserver"))
	})

	rootCA, controllers := pki.ControllerManagerFlags()
	logs := filepath.Join(dir, "logs")
	_ = os.MkdirAll(logs, 0o755)
	for name, args := range map[string][]string{
		"kube-controller-manager": {"--kubeconfig=" + kubeconfig, "--leader-elect=false", "--secure-port=0",
			rootCA, "--controllers=job-controller,garbage-collector-controller,serviceaccount-controller,deployment-controller,replicaset-controller," + strings.Join(controllers, ",")},
		"kube-scheduler": {"--kubeconfig=" + kubeconfig, "--leader-elect=false", "--secure-port=0"},
	} {
		f, err := os.Create(filepath.Join(logs, name+".log"))
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(filepath.Join(k8sBin, name), args...)
		cmd.Stdout, cmd.Stderr = f, f
		p, err := childproc.Start(cmd)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		defer p.Stop(10 * time.Second)
	}

	node, err := realnode.Start(ctx, realnode.Config{
		Dir: filepath.Join(dir, "node"), Kubelet: filepath.Join(k8sBin, "kubelet"), KubeProxy: filepath.Join(k8sBin, "kube-proxy"),
		Kubeconfig: nodeKC, NodeName: "slotsync-dev", ClientCA: pki.CA, Images: []string{images},
		Port: freePort(t), HealthzPort: freePort(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer node.Stop()
	kubectl := func(stdin string, args ...string) string {
		cmd := exec.CommandContext(ctx, "kubectl", append([]string{"--kubeconfig=" + kubeconfig}, args...)...)
		cmd.Stdin = strings.NewReader(stdin)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Logf("kubectl %s: %v", strings.Join(args, " "), err)
		}
		return string(out)
	}
	defer func() {
		if t.Failed() {
			t.Log(kubectl("", "get", "nodes,pods,deploy,svc,endpointslices", "-A", "-o", "wide"))
			t.Log(kubectl("", "-n", "slotsync-system", "describe", "pods"))
			t.Log(kubectl("", "-n", "slotsync-system", "logs", "-l", "app.kubernetes.io/name=slotsync", "--all-containers", "--tail=30", "--prefix"))
			t.Log(kubectl("", "get", "events", "-A"))
			logTails(t, node, 5000, "kubelet", "kube-proxy")
		}
	}()
	if err := node.WaitReady(ctx, c, 3*time.Minute); err != nil {
		t.Fatal(err)
	}
	t.Logf("control plane and node Ready after %s", time.Since(began).Round(100*time.Millisecond))

	// config/default as users apply it, with the image set as they would.
	cfg := filepath.Join(dir, "config")
	if out, err := exec.Command("cp", "-R", filepath.Join(root, "config"), cfg).CombinedOutput(); err != nil {
		t.Fatalf("copy config: %v: %s", err, out)
	}
	kz := filepath.Join(cfg, "default", "kustomization.yaml")
	data, err := os.ReadFile(kz)
	if err != nil {
		t.Fatal(err)
	}
	name, tag, _ := strings.Cut(imagebuild.SlotsyncImage, ":")
	data = append(data, fmt.Sprintf("images:\n- name: slotsync\n  newName: %s\n  newTag: %s\n", name, tag)...)
	if err := os.WriteFile(kz, data, 0o644); err != nil {
		t.Fatal(err)
	}
	manifests := kubectl("", "kustomize", filepath.Join(cfg, "default"))
	if out := kubectl(manifests, "apply", "--server-side", "-f", "-"); !strings.Contains(out, "serverside-applied") {
		t.Fatalf("apply config/default: %s", out)
	}
	// What the install instructions ask users to create. Postgres stays a host
	// process on 127.0.0.1; pods reach it through a forwarder on the gateway.
	pg, err := pgtest.Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Stop()
	if err := store.Migrate(ctx, pg.URL("postgres")); err != nil {
		t.Fatal(err)
	}
	pgURL, err := url.Parse(pg.URL("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	fwdCtx, stopForward := context.WithCancel(ctx)
	defer stopForward()
	if pgURL.Host, err = realnode.Forward(fwdCtx, pgURL.Host); err != nil {
		t.Fatal(err)
	}
	kubectl("", "-n", "slotsync-system", "create", "secret", "generic", "slotsync-api-database", "--from-literal=url="+pgURL.String())
	crt, key := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	const apiHost = "slotsync-api.slotsync-system.svc"
	if out, err := exec.Command("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
		"-subj", "/CN=slotsync-api", "-addext", "subjectAltName=DNS:"+apiHost, "-days", "1", "-keyout", key, "-out", crt).CombinedOutput(); err != nil {
		t.Fatalf("openssl: %v: %s", err, out)
	}
	kubectl("", "-n", "slotsync-system", "create", "secret", "tls", "slotsync-api-tls", "--cert="+crt, "--key="+key)

	applied := time.Now()
	err = wait.PollUntilContextTimeout(ctx, time.Second, 3*time.Minute, true, func(ctx context.Context) (bool, error) {
		var list appsv1.DeploymentList
		if err := c.List(ctx, &list, client.InNamespace("slotsync-system")); err != nil || len(list.Items) == 0 {
			return false, nil
		}
		for _, d := range list.Items {
			if d.Status.AvailableReplicas < *d.Spec.Replicas {
				return false, nil
			}
		}
		return true, nil
	})
	t.Log(kubectl("", "-n", "slotsync-system", "get", "deploy,pods", "-o", "wide"))
	if err != nil {
		t.Fatalf("Deployments in slotsync-system not Available %s after apply", time.Since(applied).Round(time.Second))
	}
	t.Logf("every Deployment Available %s after apply", time.Since(applied).Round(time.Second))

	// The API through its Service: kube-proxy's rules on this host.
	svcIP := strings.TrimSpace(kubectl("", "-n", "slotsync-system", "get", "svc", "slotsync-api", "-o", "jsonpath={.spec.clusterIP}"))
	pemCrt, err := os.ReadFile(crt)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pemCrt)
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, ServerName: apiHost}}}
	var last error
	// kube-proxy follows the EndpointSlices a little after the pods turn Ready.
	err = wait.PollUntilContextTimeout(ctx, time.Second, 30*time.Second, true, func(context.Context) (bool, error) {
		resp, err := hc.Get("https://" + net.JoinHostPort(svcIP, "8080") + "/readyz")
		if err != nil {
			last = err
			return false, nil
		}
		resp.Body.Close()
		last = fmt.Errorf("GET /readyz: %s", resp.Status)
		return resp.StatusCode == http.StatusOK, nil
	})
	if err != nil {
		nat, _ := exec.Command("iptables", "-t", "nat", "-S").CombinedOutput()
		t.Fatalf("the API through its Service %s: %v\n%s", svcIP, last, nat)
	}
	t.Logf("the API answers through its Service %s", svcIP)
}
