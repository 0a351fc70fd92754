package realnode

import (
	"encoding/json"
	"strings"
	"testing"

	kubeletv1beta1 "k8s.io/kubelet/config/v1beta1"
	"sigs.k8s.io/yaml"
)

func testConfig() Config {
	return Config{Dir: "/tmp/rn-x/node", NodeName: "n", ClientCA: "/ca.crt", Port: 10250, HealthzPort: 10248}
}

// The kubelet rejects unknown fields only at start, as root; catch a misspelt one here.
func TestKubeletConfigDecodesStrictly(t *testing.T) {
	data, err := testConfig().kubeletConfig()
	if err != nil {
		t.Fatal(err)
	}
	var kc kubeletv1beta1.KubeletConfiguration
	if err := yaml.UnmarshalStrict(data, &kc); err != nil {
		t.Fatalf("KubeletConfiguration: %v", err)
	}
	if kc.CgroupDriver != "cgroupfs" || kc.FailCgroupV1 == nil || *kc.FailCgroupV1 || kc.ReadOnlyPort != 0 ||
		kc.Address != Gateway || kc.Authentication.Anonymous.Enabled == nil || *kc.Authentication.Anonymous.Enabled {
		t.Errorf("KubeletConfiguration: %+v", kc)
	}
}

// Pod traffic must stay on the machine: no masquerade, routes into Block only.
func TestCNIConfigKeepsTrafficLocal(t *testing.T) {
	data, err := testConfig().cniConfig()
	if err != nil {
		t.Fatal(err)
	}
	var conf struct {
		Plugins []struct {
			Type      string
			Bridge    string
			IsGateway bool
			IPMasq    *bool
			IPAM      struct {
				Routes []struct{ Dst string }
				Ranges [][]struct{ Subnet, Gateway string }
			}
		}
	}
	if err := json.Unmarshal(data, &conf); err != nil {
		t.Fatal(err)
	}
	b := conf.Plugins[0]
	if b.Type != "bridge" || b.Bridge != Bridge || !b.IsGateway || b.IPMasq == nil || *b.IPMasq {
		t.Errorf("bridge plugin: %+v", b)
	}
	if len(b.IPAM.Routes) != 1 || b.IPAM.Routes[0].Dst != Block {
		t.Errorf("routes %+v, want only %s", b.IPAM.Routes, Block)
	}
	if r := b.IPAM.Ranges; len(r) != 1 || r[0][0].Subnet != PodSubnet || r[0][0].Gateway != Gateway {
		t.Errorf("ranges %+v", r)
	}
}

func TestContainerdConfig(t *testing.T) {
	toml := testConfig().containerdConfig()
	for _, want := range []string{
		"restrict_oom_score_adj = true",
		`sandbox_image = "registry.k8s.io/pause:3.6"`,
		`address = "/tmp/rn-x/node/containerd/containerd.sock"`,
		`bin_dir = "/usr/lib/cni"`,
		`conf_dir = "/tmp/rn-x/node/cni/net.d"`,
		`[plugins."io.containerd.grpc.v1.cri".cni]`,
	} {
		if !strings.Contains(toml, want) {
			t.Errorf("containerd config lacks %s:\n%s", want, toml)
		}
	}
}
