// Package v1alpha1 is the inventory.slotsync.io/v1alpha1 API: the SyncSchedule
// resource, its condition, reason, label and annotation constants, and the small
// pure functions (day bands, Job names) that the controller and the sync worker
// must agree on.
//
// It imports only Kubernetes API packages so that any client can use it.
//
// +kubebuilder:object:generate=true
// +groupName=inventory.slotsync.io
package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var (
	// GroupVersion is the group and version of every type in this package.
	GroupVersion = schema.GroupVersion{Group: "inventory.slotsync.io", Version: "v1alpha1"}

	// SchemeBuilder registers this package's types. It is the apimachinery
	// builder rather than controller-runtime's so that API clients need not
	// depend on controller-runtime.
	SchemeBuilder = runtime.NewSchemeBuilder(addKnownTypes)

	// AddToScheme adds this package's types to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)

func addKnownTypes(s *runtime.Scheme) error {
	s.AddKnownTypes(GroupVersion, &SyncSchedule{}, &SyncScheduleList{})
	metav1.AddToGroupVersion(s, GroupVersion)
	return nil
}
