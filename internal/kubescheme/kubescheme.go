// Package kubescheme builds the one runtime.Scheme that every Kubernetes client
// and manager of slotsync uses, so that a type added to the API is known to all
// of them at once.
package kubescheme

import (
	"fmt"

	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"

	inventoryv1alpha1 "github.com/slotsync/slotsync/api/v1alpha1"
)

// New returns a new scheme holding client-go's built-in types and the
// inventory.slotsync.io API. Each call returns its own scheme: callers may add to
// it without affecting the others.
func New() (*runtime.Scheme, error) {
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		return nil, fmt.Errorf("add client-go types to the scheme: %w", err)
	}
	if err := inventoryv1alpha1.AddToScheme(s); err != nil {
		return nil, fmt.Errorf("add %s to the scheme: %w", inventoryv1alpha1.GroupVersion, err)
	}
	return s, nil
}
