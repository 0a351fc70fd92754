package api

import (
	"context"
	"fmt"
	"net/http"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	"k8s.io/apimachinery/pkg/types"

	inventoryv1alpha1 "github.com/slotsync/slotsync/api/v1alpha1"
	"github.com/slotsync/slotsync/internal/kubeauth"
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
	token, err := kubeauth.BearerToken(r)
	if err != nil {
		return authenticationv1.UserInfo{}, unauthorized("%s: %s", err, tokenHint)
	}
	rev, err := kubeauth.ReviewToken(ctx, s.reviews.AuthenticationV1(), token, s.audience)
	if err != nil {
		return authenticationv1.UserInfo{}, kubeError(err, "review the bearer token")
	}
	switch {
	case rev.WrongAudience:
		return authenticationv1.UserInfo{}, unauthorized("the bearer token is not for the audience %q: %s", s.audience, tokenHint)
	case !rev.Authenticated:
		// Review.Error may describe the token; it goes to the log only.
		e := errorf(http.StatusUnauthorized, "the bearer token is not valid (unknown, expired or for another audience): %s", tokenHint)
		if rev.Error != "" {
			e.cause = fmt.Errorf("token review: %s", rev.Error)
		}
		return authenticationv1.UserInfo{}, e
	}
	return rev.User, nil
}

// checkAccess asks a SubjectAccessReview whether user may do what spec says;
// denied says why not, for the caller.
func (s *Server) checkAccess(ctx context.Context, user authenticationv1.UserInfo, spec authorizationv1.SubjectAccessReviewSpec, denied func() string) error {
	allowed, reason, err := kubeauth.Allowed(ctx, s.reviews.AuthorizationV1(), user, spec)
	if err != nil {
		return kubeError(err, "review the caller's permissions")
	}
	if !allowed {
		e := errorf(http.StatusForbidden, "%s", denied())
		if reason != "" {
			e.cause = fmt.Errorf("subject access review: %s", reason)
		}
		return e
	}
	return nil
}

func unauthorized(format string, args ...any) *apiError {
	return errorf(http.StatusUnauthorized, format, args...)
}
