package controllers

import (
	"context"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	inventoryv1alpha1 "github.com/slotsync/slotsync/api/v1alpha1"
)

// accessRecheck is how soon a refused schedule is checked again: the controller
// does not watch Secrets (it may only get them), so an opt-in added later is
// seen then, or at once when the schedule changes.
const accessRecheck = 30 * time.Second

// refusal is why the controller creates no Job for a schedule.
type refusal struct {
	reason, message string
}

// AllowedImages is the platform admin's list of worker images a schedule may
// set in spec.jobTemplate.image: exact references, or prefixes ending in "*"
// right after a '/', ':' or '@' (registry.example.com/slotsync/*,
// registry.example.com/slotsync:*).
type AllowedImages []string

// Validate rejects patterns that would allow more than they seem to: a "*"
// anywhere but at the end of a repository path, tag or digest would let
// registry.example.com/slotsync* match registry.example.com/slotsync-evil.
func (a AllowedImages) Validate() error {
	for _, p := range a {
		if p == "" {
			return fmt.Errorf("allowed worker image: empty pattern")
		}
		i := strings.Index(p, "*")
		if i < 0 {
			continue
		}
		if i != len(p)-1 || i == 0 || !strings.ContainsRune("/:@", rune(p[i-1])) {
			return fmt.Errorf("allowed worker image %q: a * may only end the pattern, right after '/', ':' or '@'", p)
		}
	}
	return nil
}

// Allows reports whether image matches a pattern.
func (a AllowedImages) Allows(image string) bool {
	for _, p := range a {
		if prefix, ok := strings.CutSuffix(p, "*"); ok {
			if strings.HasPrefix(image, prefix) && len(image) > len(prefix) {
				return true
			}
		} else if image == p {
			return true
		}
	}
	return false
}

// refuse says why ss may not run, nil when it may: an image the admin does
// not allow, or a Secret that has not opted in to this schedule. The controller
// never lends its rights: a schedule gets only what its editors could get
// without it.
func (r *SyncScheduleReconciler) refuse(ctx context.Context, ss *inventoryv1alpha1.SyncSchedule) (*refusal, error) {
	if img := ss.Spec.JobTemplate.Image; img != "" && img != r.WorkerImage && !r.AllowedImages.Allows(img) {
		allowed := append([]string{r.WorkerImage}, r.AllowedImages...)
		return &refusal{inventoryv1alpha1.ReasonImageNotAllowed, fmt.Sprintf(
			"spec.jobTemplate.image %q is not a worker image the platform admin allows (%s, set by the manager's --worker-image and --allowed-worker-images); no Job is created: remove the field to run the default image, or ask the admin to allow it",
			img, strings.Join(allowed, ", "))}, nil
	}
	for _, ref := range []struct {
		field string
		ref   inventoryv1alpha1.SecretKeyRef
	}{
		{"spec.partner.apiKeySecretRef", ss.Spec.Partner.APIKeySecretRef},
		{"spec.database.urlSecretRef", ss.Spec.Database.URLSecretRef},
	} {
		// Metadata only: a Secret that has not opted in is never read.
		var secret metav1.PartialObjectMetadata
		secret.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Secret"))
		key := client.ObjectKey{Namespace: ss.Namespace, Name: ref.ref.Name}
		if err := r.APIReader.Get(ctx, key, &secret); err != nil {
			if !apierrors.IsNotFound(err) {
				return nil, fmt.Errorf("read Secret %s of %s: %w", key, ref.field, err)
			}
			return &refusal{inventoryv1alpha1.ReasonSecretNotAllowed, fmt.Sprintf(
				"Secret %s (%s) does not exist; no Job is created: create it in the schedule's namespace and allow this schedule to use it: kubectl -n %s annotate secret %s %s='%s'",
				ref.ref.Name, ref.field, ss.Namespace, ref.ref.Name, inventoryv1alpha1.AnnotationAllowedSchedules, ss.Name)}, nil
		}
		if !inventoryv1alpha1.SecretAllows(secret.Annotations, ss.Name) {
			return &refusal{inventoryv1alpha1.ReasonSecretNotAllowed, fmt.Sprintf(
				"Secret %s (%s) does not allow this schedule to use it; no Job is created: someone who may update the Secret allows it with: kubectl -n %s annotate secret %s --overwrite %s='%s'",
				ref.ref.Name, ref.field, ss.Namespace, ref.ref.Name, inventoryv1alpha1.AnnotationAllowedSchedules,
				inventoryv1alpha1.AllowingSchedule(secret.Annotations, ss.Name))}, nil
		}
	}
	return nil, nil
}
