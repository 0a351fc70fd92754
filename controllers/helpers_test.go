package controllers_test

import (
	"fmt"

	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	inventoryv1alpha1 "github.com/slotsync/slotsync/api/v1alpha1"
)

func errorf(format string, args ...any) error { return fmt.Errorf(format, args...) }

func findCondition(ss *inventoryv1alpha1.SyncSchedule, t string) *metav1.Condition {
	return apimeta.FindStatusCondition(ss.Status.Conditions, t)
}
