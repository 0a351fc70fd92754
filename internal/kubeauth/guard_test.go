package kubeauth

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	authenticationv1client "k8s.io/client-go/kubernetes/typed/authentication/v1"
	authorizationv1client "k8s.io/client-go/kubernetes/typed/authorization/v1"
)

// fakeServer answers TokenReviews from users (token -> username) and
// SubjectAccessReviews from allowed (username -> "verb path"), counting both.
type fakeServer struct {
	mu                   sync.Mutex
	users                map[string]string
	allowed              map[string]string
	down                 bool
	tokenCalls, sarCalls int
	lastSAR              authorizationv1.SubjectAccessReviewSpec
	lastAudiences        []string
}

func (f *fakeServer) TokenReviews() authenticationv1client.TokenReviewInterface { return fakeTokens{f} }
func (f *fakeServer) SubjectAccessReviews() authorizationv1client.SubjectAccessReviewInterface {
	return fakeAccess{f}
}

type fakeTokens struct{ f *fakeServer }

func (t fakeTokens) Create(_ context.Context, tr *authenticationv1.TokenReview, _ metav1.CreateOptions) (*authenticationv1.TokenReview, error) {
	f := t.f
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tokenCalls++
	f.lastAudiences = tr.Spec.Audiences
	if f.down {
		return nil, errors.New("connection refused")
	}
	out := tr.DeepCopy()
	if name, ok := f.users[tr.Spec.Token]; ok {
		out.Status = authenticationv1.TokenReviewStatus{Authenticated: true, User: authenticationv1.UserInfo{
			Username: name, UID: "uid-" + name, Groups: []string{"group-" + name},
			Extra: map[string]authenticationv1.ExtraValue{"scope": {"x"}},
		}}
	} else {
		out.Status = authenticationv1.TokenReviewStatus{Error: "invalid bearer token"}
	}
	return out, nil
}

type fakeAccess struct{ f *fakeServer }

func (a fakeAccess) Create(_ context.Context, sar *authorizationv1.SubjectAccessReview, _ metav1.CreateOptions) (*authorizationv1.SubjectAccessReview, error) {
	f := a.f
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sarCalls++
	f.lastSAR = sar.Spec
	if f.down {
		return nil, errors.New("connection refused")
	}
	out := sar.DeepCopy()
	nr := sar.Spec.NonResourceAttributes
	out.Status.Allowed = nr != nil && f.allowed[sar.Spec.User] == nr.Verb+" "+nr.Path
	return out, nil
}

func (f *fakeServer) calls() (int, int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.tokenCalls, f.sarCalls
}

type fakeClock struct{ now time.Time }

func (c *fakeClock) Now() time.Time { return c.now }

func newTestGuard(opts GuardOptions) (*fakeServer, *fakeClock, http.Handler) {
	f := &fakeServer{
		users:   map[string]string{"reader-token": "reader", "nosy-token": "nosy"},
		allowed: map[string]string{"reader": "get /metrics"},
	}
	clock := &fakeClock{now: time.Unix(1700000000, 0)}
	opts.Clock = clock
	g := NewGuard(f, f, opts)
	h := g.Wrap(logr.Discard(), http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("metrics"))
	}))
	return f, clock, h
}

func do(h http.Handler, method, path, token string) int {
	r := httptest.NewRequest(method, path, nil)
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w.Code
}

func TestGuardDecides(t *testing.T) {
	f, _, h := newTestGuard(GuardOptions{})
	for _, tc := range []struct {
		name, method, path, token string
		want                      int
	}{
		{"no token", http.MethodGet, "/metrics", "", http.StatusUnauthorized},
		{"unknown token", http.MethodGet, "/metrics", "forged", http.StatusUnauthorized},
		{"user without access", http.MethodGet, "/metrics", "nosy-token", http.StatusForbidden},
		{"reader", http.MethodGet, "/metrics", "reader-token", http.StatusOK},
		{"reader, another path", http.MethodGet, "/debug/pprof/", "reader-token", http.StatusForbidden},
		{"reader, another verb", http.MethodPost, "/metrics", "reader-token", http.StatusForbidden},
	} {
		if got := do(h, tc.method, tc.path, tc.token); got != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, got, tc.want)
		}
	}
	// The review is for the API server's own audiences, and names the user
	// the token review found, with the lowercase verb and the path.
	if f.lastAudiences != nil {
		t.Errorf("token review audiences %q, want none (the API server's)", f.lastAudiences)
	}
	s := f.lastSAR
	if s.User != "reader" || s.UID != "uid-reader" || len(s.Groups) != 1 || s.Groups[0] != "group-reader" ||
		len(s.Extra["scope"]) != 1 || s.NonResourceAttributes == nil ||
		s.NonResourceAttributes.Verb != "post" || s.NonResourceAttributes.Path != "/metrics" || s.ResourceAttributes != nil {
		t.Errorf("last subject access review %+v, want reader's post on /metrics", s)
	}
}

func TestGuardRemembersDecisions(t *testing.T) {
	f, clock, h := newTestGuard(GuardOptions{AllowTTL: time.Minute, DenyTTL: 10 * time.Second})
	expect := func(step string, token string, want, wantTokens, wantSARs int) {
		t.Helper()
		if got := do(h, http.MethodGet, "/metrics", token); got != want {
			t.Errorf("%s: %d, want %d", step, got, want)
		}
		if tokens, sars := f.calls(); tokens != wantTokens || sars != wantSARs {
			t.Errorf("%s: %d token reviews and %d access reviews so far, want %d and %d", step, tokens, sars, wantTokens, wantSARs)
		}
	}
	expect("first scrape", "reader-token", http.StatusOK, 1, 1)
	expect("second scrape", "reader-token", http.StatusOK, 1, 1)
	clock.now = clock.now.Add(59 * time.Second)
	expect("scrape within the allow TTL", "reader-token", http.StatusOK, 1, 1)
	clock.now = clock.now.Add(2 * time.Second)
	expect("scrape after the allow TTL", "reader-token", http.StatusOK, 2, 2)

	expect("denied", "nosy-token", http.StatusForbidden, 3, 3)
	expect("denied again", "nosy-token", http.StatusForbidden, 3, 3)
	expect("refused token", "forged", http.StatusUnauthorized, 4, 3)
	expect("refused token again", "forged", http.StatusUnauthorized, 4, 3)
	// A grant takes effect once the denial expires.
	f.mu.Lock()
	f.allowed["nosy"] = "get /metrics"
	f.mu.Unlock()
	clock.now = clock.now.Add(11 * time.Second)
	expect("granted after the deny TTL", "nosy-token", http.StatusOK, 5, 4)

	// Errors are not remembered: the next request asks again.
	f.mu.Lock()
	f.down = true
	f.mu.Unlock()
	expect("API server down", "new-token", http.StatusInternalServerError, 6, 4)
	f.mu.Lock()
	f.down = false
	f.users["new-token"] = "reader"
	f.mu.Unlock()
	expect("API server back", "new-token", http.StatusOK, 7, 5)
}

func TestGuardCacheIsBounded(t *testing.T) {
	f, _, h := newTestGuard(GuardOptions{CacheSize: 2})
	f.users["a"], f.users["b"], f.users["c"] = "reader", "reader", "reader"
	for _, token := range []string{"a", "b", "c"} {
		if got := do(h, http.MethodGet, "/metrics", token); got != http.StatusOK {
			t.Fatalf("token %s: %d, want 200", token, got)
		}
	}
	// c and b are remembered; a, the least recently used, was dropped.
	do(h, http.MethodGet, "/metrics", "c")
	do(h, http.MethodGet, "/metrics", "b")
	if tokens, _ := f.calls(); tokens != 3 {
		t.Errorf("%d token reviews, want 3: b and c remembered", tokens)
	}
	do(h, http.MethodGet, "/metrics", "a")
	if tokens, _ := f.calls(); tokens != 4 {
		t.Errorf("%d token reviews, want 4: a forgotten with a cache of 2", tokens)
	}
}

func TestBearerToken(t *testing.T) {
	for _, tc := range []struct {
		name    string
		headers []string
		want    string
		err     error
	}{
		{"none", nil, "", ErrNoToken},
		{"bearer", []string{"Bearer abc"}, "abc", nil},
		{"lowercase scheme", []string{"bearer abc"}, "abc", nil},
		{"two headers", []string{"Bearer abc", "Bearer def"}, "", ErrManyHeaders},
		{"basic", []string{"Basic dXNlcjpwdw=="}, "", ErrNotBearer},
		{"empty", []string{"Bearer  "}, "", ErrMalformedToken},
		{"spaces", []string{"Bearer a b"}, "", ErrMalformedToken},
	} {
		r := httptest.NewRequest(http.MethodGet, "/metrics", nil)
		for _, h := range tc.headers {
			r.Header.Add("Authorization", h)
		}
		got, err := BearerToken(r)
		if got != tc.want || !errors.Is(err, tc.err) {
			t.Errorf("%s: %q, %v; want %q, %v", tc.name, got, err, tc.want, tc.err)
		}
	}
}
