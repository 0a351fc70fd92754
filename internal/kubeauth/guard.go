package kubeauth

import (
	"context"
	"crypto/sha256"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/go-logr/logr"
	authorizationv1 "k8s.io/api/authorization/v1"
	"k8s.io/apimachinery/pkg/util/cache"
	authenticationv1client "k8s.io/client-go/kubernetes/typed/authentication/v1"
	authorizationv1client "k8s.io/client-go/kubernetes/typed/authorization/v1"
)

// Defaults of GuardOptions.
const (
	DefaultAllowTTL      = time.Minute
	DefaultDenyTTL       = 10 * time.Second
	DefaultCacheSize     = 1024
	DefaultReviewTimeout = 10 * time.Second
)

// GuardOptions tune a Guard; zero values take the defaults.
type GuardOptions struct {
	// AllowTTL is how long an admission is remembered, DenyTTL a refusal (of
	// the token, or of its user's access). Errors are never remembered.
	AllowTTL, DenyTTL time.Duration
	// CacheSize bounds how many decisions are remembered; the least recently
	// used go first.
	CacheSize int
	// ReviewTimeout bounds each TokenReview and SubjectAccessReview.
	ReviewTimeout time.Duration
	// Clock is the cache's clock; nil is the real one.
	Clock cache.Clock
}

// Guard admits an HTTP request when the API server accepts its bearer token
// (for the API server's own audiences, as k8s.io/apiserver's delegating
// authenticator asks) and its user may get the request's path as a
// non-resource URL (verb: the lowercase HTTP method), like the API server's
// own /metrics. It answers 401 without a token or with one the API server
// refuses, 403 when the user may not, and 500 when the API server cannot be
// asked. Decisions are remembered briefly, so that a scraper every few seconds
// costs the API server two reviews a minute, not two a scrape.
type Guard struct {
	tokens  authenticationv1client.TokenReviewsGetter
	access  authorizationv1client.SubjectAccessReviewsGetter
	opts    GuardOptions
	answers *cache.LRUExpireCache
}

// NewGuard returns a Guard that asks tokens for TokenReviews and access for
// SubjectAccessReviews.
func NewGuard(tokens authenticationv1client.TokenReviewsGetter, access authorizationv1client.SubjectAccessReviewsGetter, opts GuardOptions) *Guard {
	if opts.AllowTTL <= 0 {
		opts.AllowTTL = DefaultAllowTTL
	}
	if opts.DenyTTL <= 0 {
		opts.DenyTTL = DefaultDenyTTL
	}
	if opts.CacheSize <= 0 {
		opts.CacheSize = DefaultCacheSize
	}
	if opts.ReviewTimeout <= 0 {
		opts.ReviewTimeout = DefaultReviewTimeout
	}
	var answers *cache.LRUExpireCache
	if opts.Clock != nil {
		answers = cache.NewLRUExpireCacheWithClock(opts.CacheSize, opts.Clock)
	} else {
		answers = cache.NewLRUExpireCache(opts.CacheSize)
	}
	return &Guard{tokens: tokens, access: access, opts: opts, answers: answers}
}

// decisionKey is what a decision depends on. The token is kept as its hash
// only: the cache must not hold credentials.
type decisionKey struct {
	token      [sha256.Size]byte
	verb, path string
}

// decision is a remembered answer: status 0 admits.
type decision struct {
	status int
	msg    string
}

// Wrap returns next behind the guard; log gets errors, and refusals at V(4).
func (g *Guard) Wrap(log logr.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d := g.decide(r.Context(), log, r)
		if d.status == 0 {
			next.ServeHTTP(w, r)
			return
		}
		if d.status == http.StatusUnauthorized {
			w.Header().Set("WWW-Authenticate", "Bearer")
		}
		http.Error(w, d.msg, d.status)
	})
}

func (g *Guard) decide(ctx context.Context, log logr.Logger, r *http.Request) decision {
	token, err := BearerToken(r)
	if err != nil {
		log.V(4).Info("Refused a request", "path", r.URL.Path, "reason", err.Error())
		return decision{http.StatusUnauthorized, "Unauthorized: " + err.Error()}
	}
	key := decisionKey{token: sha256.Sum256([]byte(token)), verb: strings.ToLower(r.Method), path: r.URL.Path}
	if d, ok := g.answers.Get(key); ok {
		return d.(decision)
	}
	d, ttl := g.review(ctx, log, token, key)
	if ttl > 0 {
		g.answers.Add(key, d, ttl)
	}
	return d
}

// review asks the API server; ttl is how long to remember the answer, 0 not
// at all.
func (g *Guard) review(ctx context.Context, log logr.Logger, token string, key decisionKey) (decision, time.Duration) {
	ctx, cancel := context.WithTimeout(ctx, g.opts.ReviewTimeout)
	defer cancel()
	rev, err := ReviewToken(ctx, g.tokens, token)
	if err != nil {
		log.Error(err, "Could not review a bearer token")
		return decision{http.StatusInternalServerError, "Authentication failed"}, 0
	}
	if !rev.Authenticated {
		log.V(4).Info("Refused a bearer token", "path", key.path, "reason", rev.Error)
		return decision{http.StatusUnauthorized, "Unauthorized: the bearer token is not valid"}, g.opts.DenyTTL
	}
	user := rev.User.Username
	allowed, reason, err := Allowed(ctx, g.access, rev.User, authorizationv1.SubjectAccessReviewSpec{
		NonResourceAttributes: &authorizationv1.NonResourceAttributes{Path: key.path, Verb: key.verb},
	})
	if err != nil {
		log.Error(err, "Could not review access", "user", user, "path", key.path)
		return decision{http.StatusInternalServerError, fmt.Sprintf("Authorization for user %s failed", user)}, 0
	}
	if !allowed {
		log.V(4).Info("Denied access", "user", user, "verb", key.verb, "path", key.path, "reason", reason)
		return decision{http.StatusForbidden, fmt.Sprintf("Authorization denied for user %s: it may not %s %s", user, key.verb, key.path)}, g.opts.DenyTTL
	}
	return decision{}, g.opts.AllowTTL
}
