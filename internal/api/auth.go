package api

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	inventoryv1alpha1 "github.com/slotsync/slotsync/api/v1alpha1"
)

// syncSchedulesResource is the resource a caller needs permission on.
const syncSchedulesResource = "syncschedules"

// The verbs callers need on a SyncSchedule. pause and resume are RBAC verbs of
// their own, like approve on certificatesigningrequests: patch would let the
// same caller rewrite the whole spec (image, partner URL, Secret references),
// while the API only ever applies spec.paused, with its own identity.
const (
	verbGet    = "get"
	verbPause  = "pause"
	verbResume = "resume"
)

const tokenHint = "send Authorization: Bearer <token>, e.g. a service account token from `kubectl create token NAME --audience " + DefaultTokenAudience + "`"

// authorize checks the caller's bearer token with a TokenReview, then asks a
// SubjectAccessReview whether that user may verb the schedule. It returns the
// user for the log; the token never leaves this function but to the API server.
func (s *Server) authorize(ctx context.Context, r *http.Request, verb string, schedule types.NamespacedName) (authenticationv1.UserInfo, error) {
	user, err := s.authenticate(ctx, r)
	if err != nil {
		return user, err
	}
	return user, s.checkAccess(ctx, user, authorizationv1.SubjectAccessReviewSpec{
		ResourceAttributes: &authorizationv1.ResourceAttributes{
			Namespace: schedule.Namespace,
			Verb:      verb,
			Group:     inventoryv1alpha1.GroupVersion.Group,
			Version:   inventoryv1alpha1.GroupVersion.Version,
			Resource:  syncSchedulesResource,
			Name:      schedule.Name,
		},
	}, func() string {
		return fmt.Sprintf("%q may not %s %s.%s %q in namespace %q: bind it to a Role that allows %s on %s (see docs/rest-api.md)",
			user.Username, verb, syncSchedulesResource, inventoryv1alpha1.GroupVersion.Group, schedule.Name,
			schedule.Namespace, verb, syncSchedulesResource)
	})
}

// authenticate reviews the bearer token and returns its user. The token must
// be meant for the API's audience: one made for the API server (a pod's
// default token) is refused, so a token handed to slotsync cannot be replayed
// against the API server, nor one for the API server against slotsync.
func (s *Server) authenticate(ctx context.Context, r *http.Request) (authenticationv1.UserInfo, error) {
	token, err := bearerToken(r)
	if err != nil {
		return authenticationv1.UserInfo{}, err
	}
	tr, err := s.reviews.AuthenticationV1().TokenReviews().Create(ctx, &authenticationv1.TokenReview{
		Spec: authenticationv1.TokenReviewSpec{Token: token, Audiences: []string{s.audience}},
	}, metav1.CreateOptions{})
	if err != nil {
		return authenticationv1.UserInfo{}, kubeError(err, "review the bearer token")
	}
	if !tr.Status.Authenticated {
		// Status.Error may describe the token; it goes to the log only.
		e := errorf(http.StatusUnauthorized, "the bearer token is not valid (unknown, expired or for another audience): %s", tokenHint)
		if tr.Status.Error != "" {
			e.cause = fmt.Errorf("token review: %s", tr.Status.Error)
		}
		return authenticationv1.UserInfo{}, e
	}
	// An authenticator that ignores the requested audiences answers with
	// others, or none.
	if !slices.Contains(tr.Status.Audiences, s.audience) {
		return authenticationv1.UserInfo{}, unauthorized("the bearer token is not for the audience %q: %s", s.audience, tokenHint)
	}
	return tr.Status.User, nil
}

// checkAccess asks a SubjectAccessReview whether user may do what spec says;
// denied says why not, for the caller.
func (s *Server) checkAccess(ctx context.Context, user authenticationv1.UserInfo, spec authorizationv1.SubjectAccessReviewSpec, denied func() string) error {
	spec.User, spec.UID, spec.Groups = user.Username, user.UID, user.Groups
	spec.Extra = make(map[string]authorizationv1.ExtraValue, len(user.Extra))
	for k, v := range user.Extra {
		spec.Extra[k] = authorizationv1.ExtraValue(v)
	}
	sar, err := s.reviews.AuthorizationV1().SubjectAccessReviews().Create(ctx,
		&authorizationv1.SubjectAccessReview{Spec: spec}, metav1.CreateOptions{})
	if err != nil {
		return kubeError(err, "review the caller's permissions")
	}
	if !sar.Status.Allowed {
		e := errorf(http.StatusForbidden, "%s", denied())
		if sar.Status.Reason != "" || sar.Status.EvaluationError != "" {
			e.cause = fmt.Errorf("subject access review: %s %s", sar.Status.Reason, sar.Status.EvaluationError)
		}
		return e
	}
	return nil
}

// bearerToken reads the one Authorization header, which must be a bearer token.
func bearerToken(r *http.Request) (string, error) {
	values := r.Header.Values("Authorization")
	switch len(values) {
	case 0:
		return "", unauthorized("no bearer token: %s", tokenHint)
	case 1:
	default:
		return "", unauthorized("%d Authorization headers: %s, once", len(values), tokenHint)
	}
	scheme, token, ok := strings.Cut(values[0], " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", unauthorized("the Authorization header is not a bearer token: %s", tokenHint)
	}
	token = strings.TrimSpace(token)
	if token == "" || strings.ContainsAny(token, " \t") {
		return "", unauthorized("the bearer token is empty or malformed: %s", tokenHint)
	}
	return token, nil
}

func unauthorized(format string, args ...any) *apiError {
	return errorf(http.StatusUnauthorized, format, args...)
}
