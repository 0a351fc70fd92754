package security_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// portSet lists a policy rule set's ports as "443/TCP"; a rule without ports
// (every port) is "*".
func portSet(rules [][]networkingv1.NetworkPolicyPort) []string {
	var out []string
	for _, ports := range rules {
		if len(ports) == 0 {
			out = append(out, "*")
		}
		for _, p := range ports {
			proto := corev1.ProtocolTCP
			if p.Protocol != nil {
				proto = *p.Protocol
			}
			out = append(out, fmt.Sprintf("%s/%s", p.Port.String(), proto))
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// peers describes the clients an ingress rule admits: empty for every client,
// the namespace's name for exactly all pods of one namespace (by its
// kubernetes.io/metadata.name label, which the API server sets and no one else
// can), else the peers themselves.
func peers(from []networkingv1.NetworkPolicyPeer) string {
	if len(from) == 0 {
		return ""
	}
	if len(from) == 1 && from[0].PodSelector == nil && from[0].IPBlock == nil && from[0].NamespaceSelector != nil &&
		len(from[0].NamespaceSelector.MatchExpressions) == 0 && len(from[0].NamespaceSelector.MatchLabels) == 1 {
		if ns, ok := from[0].NamespaceSelector.MatchLabels[corev1.LabelMetadataName]; ok {
			return ns
		}
	}
	return fmt.Sprintf("%+v", from)
}

func containerPorts(spec corev1.PodSpec) []string {
	var out []string
	for _, c := range spec.Containers {
		for _, p := range c.Ports {
			out = append(out, fmt.Sprintf("%d/%s", p.ContainerPort, p.Protocol))
		}
	}
	slices.Sort(out)
	return out
}

// TestNetworkPolicies checks the NetworkPolicies config/default installs against
// the pods they are for: the manager's and the API's from config/, and a sync
// Job's as the controller builds it. Each pod is selected by its own policy and
// no other; ingress is only on the ports its containers serve (none for Jobs),
// the manager's and the API's metrics from the namespace monitoring only,
// their probes (and the API's routes) from anywhere; egress only to the ports
// it needs. The API server accepts the policies.
func TestNetworkPolicies(t *testing.T) {
	objs := kustomize(t, "default")
	e := startController(t, logr.Discard())
	job := e.schedule(t, "netpol")[0]

	pods := map[string]struct {
		labels  map[string]string
		ingress []string
		// from names, for the ingress ports open to one namespace only, that
		// namespace; the others are open to every client.
		from   map[string]string
		egress []string
	}{
		"manager": {
			labels:  deployment(t, objs, "slotsync-manager").Spec.Template.Labels,
			ingress: containerPorts(deployment(t, objs, "slotsync-manager").Spec.Template.Spec),
			// Metrics to Prometheus only; probes from the kubelet, wherever it is.
			from:   map[string]string{"8443/TCP": "monitoring"},
			egress: []string{"443/TCP", "53/TCP", "53/UDP", "6443/TCP"},
		},
		"api": {
			labels:  deployment(t, objs, "slotsync-api").Spec.Template.Labels,
			ingress: containerPorts(deployment(t, objs, "slotsync-api").Spec.Template.Spec),
			// Metrics to Prometheus only; routes and probes from anywhere.
			from:   map[string]string{"8443/TCP": "monitoring"},
			egress: []string{"443/TCP", "53/TCP", "53/UDP", "5432/TCP", "6443/TCP"},
		},
		"sync job": {
			labels:  job.Spec.Template.Labels,
			ingress: nil,
			egress:  []string{"443/TCP", "53/TCP", "53/UDP", "5432/TCP", "80/TCP"},
		},
	}
	if got := pods["manager"].ingress; !slices.Equal(got, []string{"8081/TCP", "8443/TCP"}) {
		t.Errorf("the manager serves %v, want probes 8081 and metrics 8443", got)
	}
	// The probes are on the port open to all, not on the metrics port.
	mc := deployment(t, objs, "slotsync-manager").Spec.Template.Spec.Containers[0]
	for _, p := range []*corev1.Probe{mc.LivenessProbe, mc.ReadinessProbe} {
		if p == nil || p.HTTPGet == nil || (p.HTTPGet.Port.String() != "health" && p.HTTPGet.Port.String() != "8081") {
			t.Errorf("manager probe %+v, want HTTP on port health (8081)", p)
		}
	}
	if got := pods["api"].ingress; !slices.Equal(got, []string{"8080/TCP", "8443/TCP"}) {
		t.Errorf("the API serves %v, want routes and probes 8080 and metrics 8443", got)
	}
	// The ports the policy names are those the API listens on, each for its own
	// use: metrics alone on 8443, probes on 8080 with the routes.
	ac := deployment(t, objs, "slotsync-api").Spec.Template.Spec.Containers[0]
	flags := map[string]string{}
	for _, a := range ac.Args {
		name, value, _ := strings.Cut(a, "=")
		flags[name] = value
	}
	if flags["--listen"] != ":8080" || flags["--metrics-bind-address"] != ":8443" {
		t.Errorf("the API listens on %q and serves metrics on %q, want :8080 and :8443", flags["--listen"], flags["--metrics-bind-address"])
	}
	for _, p := range []*corev1.Probe{ac.LivenessProbe, ac.ReadinessProbe} {
		if p == nil || p.HTTPGet == nil || (p.HTTPGet.Port.String() != "https" && p.HTTPGet.Port.String() != "8080") {
			t.Errorf("API probe %+v, want HTTPS on port https (8080)", p)
		}
	}

	var policies []networkingv1.NetworkPolicy
	for _, u := range objs {
		if u.GetKind() == "NetworkPolicy" {
			var np networkingv1.NetworkPolicy
			typed(t, objs, "NetworkPolicy", u.GetName(), &np)
			policies = append(policies, np)
		}
	}
	if len(policies) != len(pods) {
		t.Fatalf("config/default has %d NetworkPolicies, want one per kind of pod (%d)", len(policies), len(pods))
	}
	selected := map[string][]string{}
	for _, np := range policies {
		sel, err := metav1.LabelSelectorAsSelector(&np.Spec.PodSelector)
		if err != nil {
			t.Fatalf("policy %s: %v", np.Name, err)
		}
		if sel.Empty() {
			t.Errorf("policy %s selects every pod of the namespace", np.Name)
		}
		if !slices.Contains(np.Spec.PolicyTypes, networkingv1.PolicyTypeIngress) || !slices.Contains(np.Spec.PolicyTypes, networkingv1.PolicyTypeEgress) {
			t.Errorf("policy %s restricts %v, want both Ingress and Egress", np.Name, np.Spec.PolicyTypes)
		}
		if np.Namespace != "slotsync-system" {
			t.Errorf("policy %s is in namespace %q, want slotsync-system", np.Name, np.Namespace)
		}
		for name, pod := range pods {
			if !sel.Matches(labels.Set(pod.labels)) {
				continue
			}
			selected[name] = append(selected[name], np.Name)
			var in, out [][]networkingv1.NetworkPolicyPort
			from := map[string]string{}
			for _, r := range np.Spec.Ingress {
				in = append(in, r.Ports)
				for _, port := range portSet([][]networkingv1.NetworkPolicyPort{r.Ports}) {
					from[port] = peers(r.From)
				}
			}
			for _, port := range pod.ingress {
				if got, want := from[port], pod.from[port]; got != want {
					t.Errorf("policy %s lets into the %s on %s from %q, want %q (empty: every client)", np.Name, name, port, got, want)
				}
			}
			for _, r := range np.Spec.Egress {
				out = append(out, r.Ports)
			}
			if got := portSet(in); !slices.Equal(got, pod.ingress) {
				t.Errorf("policy %s lets into the %s %v, want %v", np.Name, name, got, pod.ingress)
			}
			if got := portSet(out); !slices.Equal(got, pod.egress) {
				t.Errorf("policy %s lets the %s out to %v, want %v", np.Name, name, got, pod.egress)
			}
		}
	}
	for name := range pods {
		if len(selected[name]) != 1 {
			t.Errorf("the %s pod is selected by policies %v, want exactly one", name, selected[name])
		}
	}
	// Other pods of the namespace (say, a debugging pod) are left alone.
	for _, np := range policies {
		sel, _ := metav1.LabelSelectorAsSelector(&np.Spec.PodSelector)
		if sel.Matches(labels.Set{"app": "debug"}) {
			t.Errorf("policy %s selects unrelated pods", np.Name)
		}
	}

	// The API server validates them.
	ctx := context.Background()
	for _, np := range policies {
		np.Namespace, np.ResourceVersion = e.ns, ""
		if err := e.c.Create(ctx, &np, client.DryRunAll); err != nil {
			t.Errorf("the API server rejects policy %s: %v", np.Name, err)
		}
	}
}
