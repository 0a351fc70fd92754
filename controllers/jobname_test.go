package controllers_test

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	inventoryv1alpha1 "github.com/slotsync/slotsync/api/v1alpha1"
)

// TestJobNamesOfTwoSchedulesNeverCollide: schedule "shop-eu" with window "today"
// and schedule "shop" with window "eu-today" live in one namespace and fall due
// together. Each must get a Job of its own for each run; a shared Job name would
// make the second adopt the first's Job and never run.
func TestJobNamesOfTwoSchedulesNeverCollide(t *testing.T) {
	// Joined with '-', these two pairs would share names (finding F1 in
	// docs/reliability.md): the hash in every name keeps them apart.
	h := start(t, t0)
	window := func(name string) func(*inventoryv1alpha1.SyncSchedule) {
		return func(ss *inventoryv1alpha1.SyncSchedule) {
			ss.Spec.Windows = []inventoryv1alpha1.Window{{Name: name, Days: 1, Every: metav1.Duration{Duration: 15 * time.Minute}}}
		}
	}
	h.schedule(t, "shop-eu", window("today"))
	h.waitJobs(t, "shop-eu", 1, nil)
	h.schedule(t, "shop", window("eu-today"))
	h.waitJobs(t, "shop", 1, nil)
	for _, name := range []string{"shop-eu", "shop"} {
		for _, j := range h.jobs(t, name) {
			if len(j.OwnerReferences) != 1 || j.OwnerReferences[0].Name != name {
				t.Errorf("Job %s listed for schedule %s is owned by %+v", j.Name, name, j.OwnerReferences)
			}
		}
	}
}
