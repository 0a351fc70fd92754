// Package kubeauth asks the Kubernetes API server who sent a request, by its
// bearer token (TokenReview), and whether they may do what they ask
// (SubjectAccessReview). It needs client-go alone: k8s.io/apiserver's
// delegating authenticator and authorizer, which controller-runtime's metrics
// filter uses, would nearly double the size of the binary.
package kubeauth

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	authenticationv1client "k8s.io/client-go/kubernetes/typed/authentication/v1"
	authorizationv1client "k8s.io/client-go/kubernetes/typed/authorization/v1"
)

// What BearerToken finds wrong with a request's Authorization header.
var (
	ErrNoToken        = errors.New("no bearer token")
	ErrManyHeaders    = errors.New("more than one Authorization header")
	ErrNotBearer      = errors.New("the Authorization header is not a bearer token")
	ErrMalformedToken = errors.New("the bearer token is empty or malformed")
)

// BearerToken reads the request's one Authorization header, which must be a
// bearer token. Its errors are those above; they never contain the token.
func BearerToken(r *http.Request) (string, error) {
	values := r.Header.Values("Authorization")
	switch len(values) {
	case 0:
		return "", ErrNoToken
	case 1:
	default:
		return "", ErrManyHeaders
	}
	scheme, token, ok := strings.Cut(values[0], " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", ErrNotBearer
	}
	token = strings.TrimSpace(token)
	if token == "" || strings.ContainsAny(token, " \t") {
		return "", ErrMalformedToken
	}
	return token, nil
}

// Review is what the API server says of a bearer token.
type Review struct {
	// Authenticated: the API server accepts the token, for one of the
	// audiences asked when any were.
	Authenticated bool
	// WrongAudience: an authenticator that ignores the audiences asked
	// accepted the token for none of them; Authenticated is false.
	WrongAudience bool
	// User is the token's user when Authenticated.
	User authenticationv1.UserInfo
	// Error is the API server's description of a refused token, for logs
	// only: it may describe the token.
	Error string
}

// ReviewToken asks the API server, with a TokenReview, whose token this is.
// With no audiences the API server checks the token against its own (those
// of its service account tokens); with some, the token must be made for one
// of them. err is set only when the review could not be made.
func ReviewToken(ctx context.Context, c authenticationv1client.TokenReviewsGetter, token string, audiences ...string) (Review, error) {
	tr, err := c.TokenReviews().Create(ctx, &authenticationv1.TokenReview{
		Spec: authenticationv1.TokenReviewSpec{Token: token, Audiences: audiences},
	}, metav1.CreateOptions{})
	if err != nil {
		return Review{}, err
	}
	if !tr.Status.Authenticated {
		return Review{Error: tr.Status.Error}, nil
	}
	// An authenticator that ignores the requested audiences answers with
	// others, or none.
	if len(audiences) > 0 && !slices.ContainsFunc(tr.Status.Audiences, func(a string) bool { return slices.Contains(audiences, a) }) {
		return Review{WrongAudience: true}, nil
	}
	return Review{Authenticated: true, User: tr.Status.User}, nil
}

// Allowed asks a SubjectAccessReview whether user may do what spec says
// (ResourceAttributes or NonResourceAttributes); the subject of spec is set
// from user. reason is the authorizer's reason and evaluation error, for logs.
func Allowed(ctx context.Context, c authorizationv1client.SubjectAccessReviewsGetter, user authenticationv1.UserInfo, spec authorizationv1.SubjectAccessReviewSpec) (allowed bool, reason string, err error) {
	spec.User, spec.UID, spec.Groups = user.Username, user.UID, user.Groups
	spec.Extra = make(map[string]authorizationv1.ExtraValue, len(user.Extra))
	for k, v := range user.Extra {
		spec.Extra[k] = authorizationv1.ExtraValue(v)
	}
	sar, err := c.SubjectAccessReviews().Create(ctx, &authorizationv1.SubjectAccessReview{Spec: spec}, metav1.CreateOptions{})
	if err != nil {
		return false, "", err
	}
	return sar.Status.Allowed, strings.TrimSpace(sar.Status.Reason + " " + sar.Status.EvaluationError), nil
}
