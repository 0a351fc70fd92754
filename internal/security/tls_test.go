package security_test

import (
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// TestAPIServesHTTPSAsInstalled: config/default runs the API on a mounted
// certificate over HTTPS, never --insecure-http, and config/default with the
// cert-manager component renders a certificate for the API Service into the
// Secret the Deployment mounts.
func TestAPIServesHTTPSAsInstalled(t *testing.T) {
	t.Parallel()
	objs := kustomize(t, "default")
	d := deployment(t, objs, "slotsync-api")
	c := d.Spec.Template.Spec.Containers[0]
	flags := map[string]string{}
	for _, a := range c.Args {
		name, value, _ := strings.Cut(a, "=")
		flags[name] = value
	}
	if _, ok := flags["--insecure-http"]; ok {
		t.Error("the API Deployment serves plain HTTP")
	}
	certFile, keyFile := flags["--tls-cert-file"], flags["--tls-key-file"]
	if certFile == "" || keyFile == "" || path.Dir(certFile) != path.Dir(keyFile) {
		t.Fatalf("the API Deployment has no certificate and key files: %v", c.Args)
	}
	var secret string
	for _, m := range c.VolumeMounts {
		if m.MountPath != path.Dir(certFile) {
			continue
		}
		for _, v := range d.Spec.Template.Spec.Volumes {
			if v.Name == m.Name && v.Secret != nil {
				secret = v.Secret.SecretName
			}
		}
	}
	if secret == "" {
		t.Fatalf("no Secret is mounted at %s", path.Dir(certFile))
	}
	for _, p := range []*corev1.Probe{c.LivenessProbe, c.ReadinessProbe} {
		if p == nil || p.HTTPGet == nil || p.HTTPGet.Scheme != corev1.URISchemeHTTPS {
			t.Errorf("a probe of the API is not HTTPS: %+v", p)
		}
	}
	var svc corev1.Service
	typed(t, objs, "Service", "slotsync-api", &svc)

	// config/default with its components: line uncommented, built from a
	// copy whose relative paths still lead to config/.
	text, err := os.ReadFile(repoPath("config", "default", "kustomization.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	uncomment := regexp.MustCompile(`(?m)^#(components:|- \.\./components/cert-manager)$`)
	if len(uncomment.FindAll(text, -1)) != 2 {
		t.Fatal("config/default/kustomization.yaml lacks the commented lines #components: and #- ../components/cert-manager")
	}
	dir := t.TempDir()
	config, err := filepath.Abs(repoPath("config"))
	if err != nil {
		t.Fatal(err)
	}
	rel, err := filepath.Rel(dir, config)
	if err != nil {
		t.Fatal(err)
	}
	text = uncomment.ReplaceAll(text, []byte("$1"))
	text = []byte(strings.ReplaceAll(string(text), "../", filepath.ToSlash(rel)+"/"))
	if err := os.WriteFile(filepath.Join(dir, "kustomization.yaml"), text, 0o600); err != nil {
		t.Fatal(err)
	}
	withCerts := kustomizePath(t, dir)

	issuers := map[string]*unstructured.Unstructured{}
	var serving *unstructured.Unstructured
	caSecrets := map[string]bool{}
	for _, u := range withCerts {
		switch u.GetKind() {
		case "Issuer":
			issuers[u.GetName()] = u
		case "Certificate":
			if name, _, _ := unstructured.NestedString(u.Object, "spec", "secretName"); name == secret {
				serving = u
			}
			if isCA, _, _ := unstructured.NestedBool(u.Object, "spec", "isCA"); isCA {
				name, _, _ := unstructured.NestedString(u.Object, "spec", "secretName")
				caSecrets[name] = true
			}
		}
	}
	if serving == nil {
		t.Fatalf("no Certificate issues the Secret %s that the API mounts", secret)
	}
	if serving.GetNamespace() != d.Namespace {
		t.Errorf("the API's Certificate is in %s, the Deployment in %s", serving.GetNamespace(), d.Namespace)
	}
	dnsNames, _, _ := unstructured.NestedStringSlice(serving.Object, "spec", "dnsNames")
	if want := svc.Name + "." + svc.Namespace + ".svc"; !slices.Contains(dnsNames, want) {
		t.Errorf("the API's certificate is for %v, not %s", dnsNames, want)
	}
	for _, cert := range withCerts {
		if cert.GetKind() != "Certificate" {
			continue
		}
		ref, _, _ := unstructured.NestedString(cert.Object, "spec", "issuerRef", "name")
		issuer, ok := issuers[ref]
		if !ok || issuer.GetNamespace() != cert.GetNamespace() {
			t.Errorf("Certificate %s refers to Issuer %s, which is not in its namespace", cert.GetName(), ref)
			continue
		}
		if caSecret, ok, _ := unstructured.NestedString(issuer.Object, "spec", "ca", "secretName"); ok && !caSecrets[caSecret] {
			t.Errorf("Issuer %s signs with the Secret %s, which no CA Certificate issues", ref, caSecret)
		}
	}
}
