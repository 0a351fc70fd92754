package security_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/go-logr/logr"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/slotsync/slotsync/controllers"
	"github.com/slotsync/slotsync/internal/kubetest"
	"github.com/slotsync/slotsync/internal/managertest"
)

// TestManagerMetricsNeedATokenAllowedToGetThem runs the manager as `slotsync
// manager` serves its metrics (controllers.SecureMetrics), on its own service
// account's token and config/default's RBAC: over HTTPS only; 401 without a
// token or with a forged one; 403 for a valid token whose subject may not
// get /metrics; 200 for one bound to the ClusterRole slotsync-metrics-reader.
func TestManagerMetricsNeedATokenAllowedToGetThem(t *testing.T) {
	kube, admin := startWithRBAC(t)
	ctx := context.Background()
	ns := kube.Namespace(t)
	token := metricsScrapers(t, kube, admin, ns)

	addr := freeAddr(t)
	opts := managerOptions(ns, logr.Discard(), func(o *ctrl.Options) { o.Metrics = controllers.SecureMetrics(addr, "") })
	opts.Config = accountConfig(t, kube, admin, installNS, "slotsync-manager")
	managertest.Start(t, kube, opts)

	// The certificate is self-signed: what is checked here is who may read.
	httpc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	scrape := func(scheme, bearer string) (int, string, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, scheme+"://"+addr+"/metrics", nil)
		if err != nil {
			return 0, "", err
		}
		if bearer != "" {
			req.Header.Set("Authorization", "Bearer "+bearer)
		}
		resp, err := httpc.Do(req)
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body), err
	}
	// The reader's binding may take a moment to reach the authorizer; a denial
	// is cached briefly, so ask only once it can be allowed.
	kubetest.Eventually(t, wait, func() error {
		code, body, err := scrape("https", token("prometheus"))
		if err != nil {
			return err
		}
		if code != http.StatusOK || !strings.Contains(body, "slotsync_") {
			return fmt.Errorf("metrics reader: %d, want 200 with slotsync_ metrics", code)
		}
		return nil
	})
	for _, tc := range []struct {
		name, bearer string
		want         int
	}{
		{"no token", "", http.StatusUnauthorized},
		// The TokenReview of a token that is no valid JWT carries an error:
		// still a refused token, not a failure of the server.
		{"a forged token", forgedToken, http.StatusUnauthorized},
		{"a valid token without the role", token("nosy"), http.StatusForbidden},
	} {
		code, body, err := scrape("https", tc.bearer)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if code != tc.want || strings.Contains(body, "slotsync_") {
			t.Errorf("%s: %d, want %d and no metrics", tc.name, code, tc.want)
		}
	}
	if code, _, err := scrape("http", token("prometheus")); err == nil && code == http.StatusOK {
		t.Error("metrics answered over plain HTTP")
	}
}

// forgedToken looks like a service account token but is signed by no one.
const forgedToken = "eyJhbGciOiJSUzI1NiJ9.e30.c2lnbmF0dXJl"

// metricsScrapers creates the service accounts prometheus, bound to the
// ClusterRole slotsync-metrics-reader, and nosy, bound to nothing, in ns; token
// makes a token of either for the API server's audiences, as a pod's.
func metricsScrapers(t *testing.T, kube *kubetest.Env, admin kubernetes.Interface, ns string) (token func(name string) string) {
	t.Helper()
	ctx := context.Background()
	for _, name := range []string{"prometheus", "nosy"} {
		if err := kube.Client.Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}}); err != nil {
			t.Fatal(err)
		}
	}
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "prometheus-" + ns},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "slotsync-metrics-reader"},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: "prometheus", Namespace: ns}},
	}
	if err := kube.Client.Create(ctx, binding); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = kube.Client.Delete(context.Background(), binding) })
	return func(name string) string {
		t.Helper()
		tr, err := admin.CoreV1().ServiceAccounts(ns).CreateToken(ctx, name, &authenticationv1.TokenRequest{
			Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](600)},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return tr.Status.Token
	}
}

// TestMetricsFilterReviewsWithTheAPIServer checks the filter SecureMetrics
// puts before the metrics (controllers' own, on client-go: no k8s.io/apiserver
// in the binary) against a real API server, reviewing as the manager's service
// account with config/default's RBAC: 401 without a token or with a forged
// one, 403 for a valid token whose subject may not get the path (another
// path, another verb, or no slotsync-metrics-reader binding at all), 200 for a
// token bound to slotsync-metrics-reader.
func TestMetricsFilterReviewsWithTheAPIServer(t *testing.T) {
	kube, admin := startWithRBAC(t)
	ctx := context.Background()
	ns := kube.Namespace(t)
	token := metricsScrapers(t, kube, admin, ns)

	cfg := accountConfig(t, kube, admin, installNS, "slotsync-manager")
	httpClient, err := rest.HTTPClientFor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	provider := controllers.SecureMetrics("127.0.0.1:0", "").FilterProvider
	if provider == nil {
		t.Fatal("SecureMetrics sets no FilterProvider: the metrics would be open to anyone")
	}
	filter, err := provider(cfg, httpClient)
	if err != nil {
		t.Fatal(err)
	}
	handler, err := filter(logr.Discard(), http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "slotsync_metrics")
	}))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(handler)
	t.Cleanup(srv.Close)

	request := func(method, path, bearer string) (int, error) {
		req, err := http.NewRequestWithContext(ctx, method, srv.URL+path, nil)
		if err != nil {
			return 0, err
		}
		if bearer != "" {
			req.Header.Set("Authorization", "Bearer "+bearer)
		}
		resp, err := srv.Client().Do(req)
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			return 0, err
		}
		if resp.StatusCode != http.StatusOK && strings.Contains(string(body), "slotsync_metrics") {
			return 0, fmt.Errorf("%s %s answered %d with the metrics", method, path, resp.StatusCode)
		}
		return resp.StatusCode, nil
	}
	reader := token("prometheus")
	// The reader's binding may take a moment to reach the authorizer; a denial
	// is remembered briefly, so wait for the grant before the refusals.
	kubetest.Eventually(t, wait, func() error {
		code, err := request(http.MethodGet, "/metrics", reader)
		if err != nil {
			return err
		}
		if code != http.StatusOK {
			return fmt.Errorf("metrics reader: %d, want 200", code)
		}
		return nil
	})
	for _, tc := range []struct {
		name, method, path, bearer string
		want                       int
	}{
		{"no token", http.MethodGet, "/metrics", "", http.StatusUnauthorized},
		{"a forged token", http.MethodGet, "/metrics", forgedToken, http.StatusUnauthorized},
		{"a valid token without the role", http.MethodGet, "/metrics", token("nosy"), http.StatusForbidden},
		{"the reader on another path", http.MethodGet, "/debug/pprof/", reader, http.StatusForbidden},
		{"the reader posting", http.MethodPost, "/metrics", reader, http.StatusForbidden},
		{"the reader again", http.MethodGet, "/metrics", reader, http.StatusOK},
	} {
		code, err := request(tc.method, tc.path, tc.bearer)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if code != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, code, tc.want)
		}
	}
}

// freeAddr is a loopback address with a port free at the time of asking.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}
