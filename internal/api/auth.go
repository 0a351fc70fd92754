package api

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	inventoryv1alpha1 "github.com/slotsync/slotsync/api/v1alpha1"
)

// syncSchedulesResource is the resource a caller needs permission on.
const syncSchedulesResource = "syncschedules"

const tokenHint = "send Authorization: Bearer <token>, e.g. a service account token from `kubectl create token`"

// authorize checks the caller's bearer token with a TokenReview, then asks a
// SubjectAccessReview whether that user may verb the schedule. It returns the
// user for the log; the token never leaves this function but to the API server.
func (s *Server) authorize(ctx context.Context, r *http.Request, verb string, schedule types.NamespacedName) (authenticationv1.UserInfo, error) {
	token, err := bearerToken(r)
	if err != nil {
		return authenticationv1.UserInfo{}, err
	}
	tr, err := s.reviews.AuthenticationV1().TokenReviews().Create(ctx, &authenticationv1.TokenReview{
		Spec: authenticationv1.TokenReviewSpec{Token: token},
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
	user := tr.Status.User

	extra := make(map[string]authorizationv1.ExtraValue, len(user.Extra))
	for k, v := range user.Extra {
		extra[k] = authorizationv1.ExtraValue(v)
	}
	sar, err := s.reviews.AuthorizationV1().SubjectAccessReviews().Create(ctx, &authorizationv1.SubjectAccessReview{
		Spec: authorizationv1.SubjectAccessReviewSpec{
			User:   user.Username,
			UID:    user.UID,
			Groups: user.Groups,
			Extra:  extra,
			ResourceAttributes: &authorizationv1.ResourceAttributes{
				Namespace: schedule.Namespace,
				Verb:      verb,
				Group:     inventoryv1alpha1.GroupVersion.Group,
				Version:   inventoryv1alpha1.GroupVersion.Version,
				Resource:  syncSchedulesResource,
				Name:      schedule.Name,
			},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		return user, kubeError(err, "review the caller's permissions")
	}
	if !sar.Status.Allowed {
		e := errorf(http.StatusForbidden,
			"%q may not %s %s.%s %q in namespace %q: bind it to a Role that allows %s on %s (see docs/rest-api.md)",
			user.Username, verb, syncSchedulesResource, inventoryv1alpha1.GroupVersion.Group, schedule.Name,
			schedule.Namespace, verb, syncSchedulesResource)
		if sar.Status.Reason != "" || sar.Status.EvaluationError != "" {
			e.cause = fmt.Errorf("subject access review: %s %s", sar.Status.Reason, sar.Status.EvaluationError)
		}
		return user, e
	}
	return user, nil
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
