//go:build realnode

package realnode_test

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/slotsync/slotsync/internal/imagebuild"
	"github.com/slotsync/slotsync/internal/kubescheme"
	"github.com/slotsync/slotsync/internal/kubetest"
	"github.com/slotsync/slotsync/internal/realnode"
)

// shortTempDir is a directory removed when the test ends, under /tmp rather than
// t.TempDir's long path: containerd's socket path must fit in 108 bytes.
func shortTempDir(t *testing.T) string {
	dir, err := os.MkdirTemp("", "rn")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// startControlPlane starts envtest's API server with its files in dir, stopped
// when the test ends, after configure has set its flags with the PKI it writes
// there. It returns an admin client, the admin's kubeconfig and the node's.
func startControlPlane(t *testing.T, k8sBin, dir string, configure func(*envtest.Environment, realnode.PKI) error) (c client.Client, kubeconfig, nodeKubeconfig string, pki realnode.PKI) {
	pki, err := realnode.NewPKI(filepath.Join(dir, "pki"))
	if err != nil {
		t.Fatal(err)
	}
	scheme, err := kubescheme.New()
	if err != nil {
		t.Fatal(err)
	}
	control := &envtest.Environment{BinaryAssetsDirectory: k8sBin, Scheme: scheme, ControlPlaneStartTimeout: 2 * time.Minute}
	if err := configure(control, pki); err != nil {
		t.Fatal(err)
	}
	if _, err := control.Start(); err != nil {
		t.Fatal(err)
	}
	// A cleanup, registered after shortTempDir's: it runs before dir goes.
	t.Cleanup(func() { _ = control.Stop() })
	admin, err := control.AddUser(envtest.User{Name: "admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	kubeconfig = filepath.Join(dir, "kubeconfig")
	writeKubeconfig(t, admin, kubeconfig)
	nodeUser, err := control.AddUser(envtest.User{Name: "system:node:slotsync-dev", Groups: []string{"system:nodes", "system:masters"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	nodeKubeconfig = filepath.Join(dir, "kubeconfig-node")
	writeKubeconfig(t, nodeUser, nodeKubeconfig)
	c, err = client.New(admin.Config(), client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	return c, kubeconfig, nodeKubeconfig, pki
}

// logTails logs the last max bytes of each of node's component logs, to show
// why a test failed.
func logTails(t *testing.T, node *realnode.Node, max int, components ...string) {
	for _, n := range components {
		data, _ := os.ReadFile(node.LogPath(n))
		if len(data) > max {
			data = data[len(data)-max:]
		}
		t.Logf("===== %s =====\n%s", n, data)
	}
}

func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// TestShippedSecurityContextRuns runs the product image, built by imagebuild, on
// the real node with the security context config/ ships, and reads its log through
// the API server.
func TestShippedSecurityContextRuns(t *testing.T) {
	began := time.Now()
	root := kubetest.RepoRoot(t)
	k8sBin := filepath.Join(root, "bin", "k8s")
	if err := realnode.Unavailable(filepath.Join(k8sBin, "kubelet")); err != nil {
		t.Fatalf("the real node cannot run here: %v", err)
	}
	bin := filepath.Join(root, "bin", "slotsync")
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("%s missing: run `make build`", bin)
	}
	ctx := context.Background()
	dir := shortTempDir(t)

	images := filepath.Join(dir, "images.tar")
	if err := imagebuild.DevArchive(ctx, root, bin, images); err != nil {
		t.Fatal(err)
	}
	c, kubeconfig, nodeKC, pki := startControlPlane(t, k8sBin, dir, func(control *envtest.Environment, pki realnode.PKI) error {
		args := control.ControlPlane.GetAPIServer().Configure()
		for k, v := range pki.APIServerFlags() {
			args.Set(k, v)
		}
		return nil
	})
	t.Logf("control plane up after %s", time.Since(began).Round(100*time.Millisecond))

	nodeBegan := time.Now()
	node, err := realnode.Start(ctx, realnode.Config{
		Dir: filepath.Join(dir, "node"), Kubelet: filepath.Join(k8sBin, "kubelet"), Kubeconfig: nodeKC,
		NodeName: "slotsync-dev", ClientCA: pki.CA, Images: []string{images},
		Port: freePort(t), HealthzPort: freePort(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer node.Stop()
	defer func() {
		if t.Failed() {
			logTails(t, node, 8000, "containerd", "kubelet")
		}
	}()
	if err := node.WaitReady(ctx, c, 3*time.Minute); err != nil {
		t.Fatal(err)
	}
	t.Logf("node Ready %s after its start", time.Since(nodeBegan).Round(100*time.Millisecond))

	ns := "default"
	// No kube-controller-manager here to make the default ServiceAccount.
	if err := c.Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default", Namespace: ns}}); err != nil {
		t.Fatal(err)
	}
	// The security context config/manager/manager.yaml ships.
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "slotsync-help", Namespace: ns},
		Spec: corev1.PodSpec{
			NodeName:                     "slotsync-dev",
			RestartPolicy:                corev1.RestartPolicyNever,
			AutomountServiceAccountToken: ptr.To(false),
			SecurityContext: &corev1.PodSecurityContext{
				RunAsNonRoot:   ptr.To(true),
				SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
			},
			Containers: []corev1.Container{{
				Name: "slotsync", Image: imagebuild.SlotsyncImage, ImagePullPolicy: corev1.PullNever,
				Args: []string{"--help"},
				SecurityContext: &corev1.SecurityContext{
					AllowPrivilegeEscalation: ptr.To(false),
					ReadOnlyRootFilesystem:   ptr.To(true),
					RunAsNonRoot:             ptr.To(true),
					Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
				},
			}},
		},
	}
	if err := c.Create(ctx, pod); err != nil {
		t.Fatal(err)
	}
	var phase corev1.PodPhase
	err = wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		if err := c.Get(ctx, client.ObjectKeyFromObject(pod), pod); err != nil {
			return false, err
		}
		phase = pod.Status.Phase
		return phase == corev1.PodSucceeded || phase == corev1.PodFailed, nil
	})
	if err != nil || phase != corev1.PodSucceeded {
		t.Fatalf("pod phase %s (%v): %+v", phase, err, pod.Status)
	}
	logs, err := exec.CommandContext(ctx, "kubectl", "--kubeconfig="+kubeconfig, "-n", ns, "logs", pod.Name).CombinedOutput()
	if err != nil {
		t.Fatalf("kubectl logs: %v: %s", err, logs)
	}
	for _, want := range []string{"Usage:", "manager", "sync", "migrate"} {
		if !strings.Contains(string(logs), want) {
			t.Errorf("kubectl logs lacks %q:\n%s", want, logs)
		}
	}
	t.Logf("pod Succeeded and logged its help %s after the start", time.Since(began).Round(100*time.Millisecond))
}

func writeKubeconfig(t *testing.T, u *envtest.AuthenticatedUser, path string) {
	t.Helper()
	kc, err := u.KubeConfig()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, kc, 0o600); err != nil {
		t.Fatal(err)
	}
}
