// Package realnode runs a real Kubernetes node on this machine for the local
// environment: containerd with runc, the bridge CNI plugin and a kubelet built from
// source, all with private state under one directory, registered with the local
// control plane. Nothing can be pulled, so images are imported from docker-archives.
//
// Network: pods get addresses on a bridge of their own in PodSubnet, with routes to
// Block only and no masquerade, so their traffic stays on the machine. The kubelet
// listens on 127.0.0.1.
package realnode

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/slotsync/slotsync/internal/imagebuild"
)

// The private block only this environment uses, split into Services and pods.
const (
	Block         = "10.213.0.0/16"
	ServiceSubnet = "10.213.0.0/24"
	// KubernetesServiceIP is the first of ServiceSubnet, the API server's Service.
	KubernetesServiceIP = "10.213.0.1"
	PodSubnet           = "10.213.1.0/24"
	Bridge              = "slotsync0"
	// Gateway is the bridge's address on the host: the node's InternalIP (the
	// kubelet refuses a loopback one) and where the kubelet listens.
	Gateway   = "10.213.1.1"
	CNIBinDir = "/usr/lib/cni"
)

// Config says where the node keeps its state and how it reaches the control plane.
type Config struct {
	// Dir holds every file of the node: containerd's root and state, the CNI config,
	// the kubelet's root and certificates, logs.
	Dir string
	// Kubelet is the kubelet binary.
	Kubelet string
	// Kubeconfig is the kubelet's kubeconfig.
	Kubeconfig string
	// NodeName is the Node's name.
	NodeName string
	// ClientCA is the CA whose client certificates the kubelet accepts: the API
	// server's kubelet client certificate (PKI.APIServerFlags).
	ClientCA string
	// KubeProxy, when set, is the kube-proxy binary to run for Services.
	KubeProxy string
	// Images are docker-archives to import into containerd.
	Images []string
	// Port is the kubelet's on Gateway, HealthzPort its health check's on 127.0.0.1.
	Port, HealthzPort int
}

func (c Config) path(parts ...string) string {
	return filepath.Join(append([]string{c.Dir}, parts...)...)
}

func (c Config) socket() string { return c.path("containerd", "containerd.sock") }

// containerdConfig is containerd 1.6's config (version 2) with private paths.
func (c Config) containerdConfig() string {
	cri := `"io.containerd.grpc.v1.cri"`
	return fmt.Sprintf(`version = 2
root = %q
state = %q
[grpc]
  address = %q
[ttrpc]
  address = %q
[plugins.%s]
  sandbox_image = %q
  # The sandbox may not lower oom_score_adj: without this every pod sandbox fails
  # with runc's "can't get final child's PID from pipe: EOF".
  restrict_oom_score_adj = true
  # Network namespaces under the private state dir, so cleanup finds their mounts.
  netns_mounts_under_state_dir = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  [plugins.%s.containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins.%s.containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins.%s.containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins.%s.cni]
    bin_dir = %q
    conf_dir = %q
[plugins."io.containerd.internal.v1.opt"]
  path = %q
`, c.path("containerd", "root"), c.path("containerd", "state"), c.socket(), c.socket()+".ttrpc",
		cri, imagebuild.PauseImage, cri, cri, cri, cri, CNIBinDir, c.path("cni", "net.d"), c.path("containerd", "opt"))
}

// cniConfig is the bridge network: a gateway on the host so pods reach the host
// and Services, no masquerade and a route to Block only, so nothing leaves.
func (c Config) cniConfig() ([]byte, error) {
	return json.MarshalIndent(map[string]any{
		"cniVersion": "1.0.0",
		"name":       "slotsync",
		"plugins": []any{
			map[string]any{
				"type": "bridge", "bridge": Bridge, "isGateway": true, "ipMasq": false, "hairpinMode": true,
				"ipam": map[string]any{
					"type":    "host-local",
					"ranges":  [][]map[string]string{{{"subnet": PodSubnet, "gateway": Gateway}}},
					"routes":  []map[string]string{{"dst": Block}},
					"dataDir": c.path("cni", "ipam"),
				},
			},
			map[string]any{"type": "portmap", "capabilities": map[string]bool{"portMappings": true}},
			map[string]any{"type": "loopback"},
		},
	}, "", "  ")
}

// kubeletConfig is the KubeletConfiguration that works in this sandbox.
func (c Config) kubeletConfig() ([]byte, error) {
	return json.MarshalIndent(map[string]any{
		"apiVersion": "kubelet.config.k8s.io/v1beta1",
		"kind":       "KubeletConfiguration",
		// The machine has cgroup v1 (v2 only at /sys/fs/cgroup/unified) and no systemd.
		"cgroupDriver":             "cgroupfs",
		"failCgroupV1":             false,
		"failSwapOn":               false,
		"containerRuntimeEndpoint": "unix://" + c.socket(),
		"address":                  Gateway,
		"port":                     c.Port,
		"healthzBindAddress":       "127.0.0.1",
		"healthzPort":              c.HealthzPort,
		"readOnlyPort":             0,
		// Shared disks: no eviction and no image garbage collection, which would
		// delete imported images nobody can pull again. Local storage capacity
		// stays on: without it the node reports no ephemeral storage, and the
		// shipped pods, which request some, are never scheduled.
		"localStorageCapacityIsolation": true,
		"evictionHard":                  map[string]string{},
		"imageGCHighThresholdPercent":   100,
		"imageGCLowThresholdPercent":    99,
		"authentication": map[string]any{
			"anonymous": map[string]bool{"enabled": false},
			"webhook":   map[string]bool{"enabled": true},
			"x509":      map[string]string{"clientCAFile": c.ClientCA},
		},
		"authorization": map[string]string{"mode": "Webhook"},
		"resolvConf":    "/etc/resolv.conf",
	}, "", "  ")
}

func (c Config) writeFiles() error {
	cni, err := c.cniConfig()
	if err != nil {
		return err
	}
	kubelet, err := c.kubeletConfig()
	if err != nil {
		return err
	}
	files := map[string][]byte{
		c.path("containerd", "config.toml"):            []byte(c.containerdConfig()),
		c.path("cni", "net.d", "10-slotsync.conflist"): cni,
		c.path("kubelet", "config.json"):               kubelet,
	}
	for p, data := range files {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			return err
		}
	}
	return os.MkdirAll(c.path("logs"), 0o755)
}
