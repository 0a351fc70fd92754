package api_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/slotsync/slotsync/internal/api"
	"github.com/slotsync/slotsync/internal/pki"
	"github.com/slotsync/slotsync/internal/store"
)

// testCA is a certificate authority of the test's own.
type testCA struct {
	*pki.Cert
	pool *x509.CertPool
}

func newCA(t *testing.T, name string) *testCA {
	t.Helper()
	ca, err := pki.New(pki.Template{Subject: pkix.Name{CommonName: name}, Lifetime: time.Hour,
		IsCA: true, KeyUsage: x509.KeyUsageCertSign}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return &testCA{Cert: ca, pool: ca.Pool()}
}

// issue writes a serving certificate for localhost signed by ca to the files,
// as a mounted kubernetes.io/tls Secret holds them; it replaces them whole, as
// the kubelet's atomic writer does.
func (ca *testCA) issue(t *testing.T, certFile, keyFile string) {
	t.Helper()
	leaf, err := pki.New(pki.Template{Subject: pkix.Name{CommonName: "slotsync-api"}, Lifetime: time.Hour,
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}, ca.Cert)
	if err != nil {
		t.Fatal(err)
	}
	keyPEM, err := leaf.KeyPEM()
	if err != nil {
		t.Fatal(err)
	}
	for file, b := range map[string][]byte{certFile: leaf.CertPEM(), keyFile: keyPEM} {
		tmp := file + ".tmp"
		if err := os.WriteFile(tmp, b, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, file); err != nil {
			t.Fatal(err)
		}
	}
}

// serveTLS serves cfg over HTTPS with a certificate of ca, on a REST port and
// a metrics port, and returns their addresses. The store is one that cannot
// connect: the routes these tests call never read the database.
func serveTLS(t *testing.T, ca *testCA, cfg api.Config) (rest, metrics string, _ api.Config) {
	t.Helper()
	dir := t.TempDir()
	cfg.TLSCertFile, cfg.TLSKeyFile = filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	ca.issue(t, cfg.TLSCertFile, cfg.TLSKeyFile)
	ctx := context.Background()
	db, err := store.Open(ctx, "postgres://nobody@127.0.0.1:1/none?sslmode=disable")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	cfg.Store = db
	srv, err := api.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var lns [2]net.Listener
	for i := range lns {
		if lns[i], err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
	}
	sctx, stop := context.WithCancel(logr.NewContext(ctx, logr.Discard()))
	served := make(chan error, 1)
	go func() { served <- srv.Serve(sctx, lns[0], lns[1]) }()
	t.Cleanup(func() {
		stop()
		if err := <-served; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return lns[0].Addr().String(), lns[1].Addr().String(), cfg
}

func trusting(pool *x509.CertPool) *http.Client {
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
}

func status(c *http.Client, url, token string) (int, error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

// TestServesHTTPS: with certificate files the API answers HTTPS, which a
// client trusting the CA accepts; plain HTTP and clients that do not trust the
// CA get nothing; a renewed certificate is served without a restart.
func TestServesHTTPS(t *testing.T) {
	t.Parallel()
	ca := newCA(t, "slotsync test CA")
	addr, _, cfg := serveTLS(t, ca, api.Config{CacheSize: 0})

	if code, err := status(trusting(ca.pool), "https://"+addr+"/healthz", ""); err != nil || code != http.StatusOK {
		t.Fatalf("GET /healthz over TLS trusting the CA: %d %v, want 200", code, err)
	}
	if _, err := status(trusting(x509.NewCertPool()), "https://"+addr+"/healthz", ""); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("a client that does not trust the CA: %v, want a certificate error", err)
	}
	if code, err := status(&http.Client{Timeout: 10 * time.Second}, "http://"+addr+"/healthz", ""); err == nil && code == http.StatusOK {
		t.Error("plain HTTP answered 200")
	}

	// The Secret is renewed by another CA: clients of the new one get through.
	renewed := newCA(t, "slotsync renewed CA")
	renewed.issue(t, cfg.TLSCertFile, cfg.TLSKeyFile)
	eventually(t, 30*time.Second, func() error {
		// A fresh client each time: no connection kept from the old certificate.
		code, err := status(trusting(renewed.pool), "https://"+addr+"/healthz", "")
		if err != nil || code != http.StatusOK {
			return fmt.Errorf("after renewal, GET /healthz trusting the new CA: %d %v", code, err)
		}
		return nil
	})
}

// TestMetricsNeedATokenAllowedToGetThem: /metrics is served on the metrics
// port alone, over the same TLS: it answers 401 without a token, 403 to a
// user RBAC does not allow get on /metrics, and the metrics to one it does.
// The REST port answers 404 for it even to that user, so that a
// NetworkPolicy on the metrics port is the only way in.
func TestMetricsNeedATokenAllowedToGetThem(t *testing.T) {
	t.Parallel()
	k := startKube(t)
	ctx := context.Background()
	cs, err := kubernetes.NewForConfig(k.Config)
	if err != nil {
		t.Fatal(err)
	}
	ns := k.Namespace(t)
	nobody := serviceAccountToken(t, k, cs, ns, "nobody")
	scraper := serviceAccountToken(t, k, cs, ns, "prometheus")
	// As config/rbac's metrics-reader, bound cluster-wide as the scraper's is.
	role := &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: ns + "-metrics-reader"},
		Rules:      []rbacv1.PolicyRule{{NonResourceURLs: []string{"/metrics"}, Verbs: []string{"get"}}},
	}
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: ns + "-metrics-reader"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role.Name},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: "prometheus", Namespace: ns}},
	}
	for _, o := range []client.Object{role, binding} {
		if err := k.Client.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = k.Client.Delete(context.Background(), o) })
	}

	ca := newCA(t, "slotsync test CA")
	rest, metrics, _ := serveTLS(t, ca, api.Config{Kube: k.Client, Reviews: cs, Schedule: types.NamespacedName{Namespace: ns, Name: "nightly"}})
	c, url := trusting(ca.pool), "https://"+metrics+"/metrics"
	eventually(t, 30*time.Second, func() error {
		code, err := status(c, url, scraper)
		if err != nil || code != http.StatusOK {
			return fmt.Errorf("/metrics for a user allowed to get it: %d %v, want 200", code, err)
		}
		return nil
	})
	for name, tt := range map[string]struct {
		token string
		want  int
	}{
		"no token":                               {"", http.StatusUnauthorized},
		"a user without get /metrics":            {nobody, http.StatusForbidden},
		"the scraper's token for the API server": {tokenFor(t, cs, ns, "prometheus"), http.StatusUnauthorized},
	} {
		if code, err := status(c, url, tt.token); err != nil || code != tt.want {
			t.Errorf("/metrics with %s: %d %v, want %d", name, code, err, tt.want)
		}
	}
	if code, err := status(&http.Client{Timeout: 10 * time.Second}, "http://"+metrics+"/metrics", scraper); err == nil && code == http.StatusOK {
		t.Error("the metrics port answered plain HTTP")
	}

	// Each port serves only its own routes.
	for _, tt := range []struct{ port, addr, path string }{
		{"REST", rest, "/metrics"},
		{"metrics", metrics, "/healthz"},
		{"metrics", metrics, "/api/v1/sync/status"},
	} {
		if code, err := status(c, "https://"+tt.addr+tt.path, scraper); err != nil || code != http.StatusNotFound {
			t.Errorf("%s on the %s port: %d %v, want 404", tt.path, tt.port, code, err)
		}
	}
	if code, err := status(c, "https://"+rest+"/healthz", ""); err != nil || code != http.StatusOK {
		t.Errorf("/healthz on the REST port: %d %v, want 200", code, err)
	}
}
