package v1alpha1_test

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	inventoryv1alpha1 "github.com/slotsync/slotsync/api/v1alpha1"
)

// The +kubebuilder:default markers cannot name the Go constants: the generated
// schema must default every field to what the methods fall back to.
func TestCRDDefaultsMatchGoDefaults(t *testing.T) {
	spec := readCRD(t).Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["spec"]
	tests := []struct {
		path string
		// want is the Go default; the schema's default is decoded into a new value of its type.
		want any
	}{
		{"windows", inventoryv1alpha1.DefaultWindows()},
		{"paused", false},
		{"shards", inventoryv1alpha1.DefaultShards},
		{"timezone", inventoryv1alpha1.DefaultTimezone},
		{"concurrencyPolicy", inventoryv1alpha1.DefaultConcurrencyPolicy},
		{"successfulJobsHistoryLimit", inventoryv1alpha1.DefaultSuccessfulJobsHistoryLimit},
		{"failedJobsHistoryLimit", inventoryv1alpha1.DefaultFailedJobsHistoryLimit},
		{"partner.requestsPerMinute", inventoryv1alpha1.DefaultRequestsPerMinute},
		{"partner.timeout", metav1.Duration{Duration: inventoryv1alpha1.DefaultPartnerTimeout}},
		{"partner.rateLimitWindow", metav1.Duration{Duration: inventoryv1alpha1.DefaultRateLimitWindow}},
		{"jobTemplate.backoffLimitPerIndex", inventoryv1alpha1.DefaultBackoffLimitPerIndex},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			props := spec
			for _, name := range strings.Split(tt.path, ".") {
				p, ok := props.Properties[name]
				if !ok {
					t.Fatalf("the schema has no spec.%s", tt.path)
				}
				props = p
			}
			if props.Default == nil {
				t.Fatalf("spec.%s has no default in the schema; want %v", tt.path, tt.want)
			}
			got := reflect.New(reflect.TypeOf(tt.want))
			if err := json.Unmarshal(props.Default.Raw, got.Interface()); err != nil {
				t.Fatalf("decode the default of spec.%s, %s: %v", tt.path, props.Default.Raw, err)
			}
			if !reflect.DeepEqual(got.Elem().Interface(), tt.want) {
				t.Errorf("spec.%s defaults to %s in the schema, %v in Go", tt.path, props.Default.Raw, tt.want)
			}
		})
	}
}

func TestDefaultsOfUnsetFields(t *testing.T) {
	var zero inventoryv1alpha1.SyncSchedule
	set := inventoryv1alpha1.SyncSchedule{Spec: inventoryv1alpha1.SyncScheduleSpec{
		Shards:                     4,
		Timezone:                   "Europe/Berlin",
		SuccessfulJobsHistoryLimit: ptr(int32(0)),
		FailedJobsHistoryLimit:     ptr(int32(5)),
		Partner: inventoryv1alpha1.PartnerSpec{
			RequestsPerMinute: 60,
			Timeout:           metav1.Duration{Duration: 3 * time.Second},
			RateLimitWindow:   metav1.Duration{Duration: 2 * time.Second},
		},
		JobTemplate: inventoryv1alpha1.JobTemplateOverrides{BackoffLimitPerIndex: ptr(int32(0))},
	}}
	tests := []struct {
		name           string
		gotZero, want0 any
		gotSet, wantS  any
	}{
		{"Shards", zero.Shards(), int32(1), set.Shards(), int32(4)},
		{"Timezone", zero.Timezone(), "UTC", set.Timezone(), "Europe/Berlin"},
		{"RequestsPerMinute", zero.RequestsPerMinute(), int32(30), set.RequestsPerMinute(), int32(60)},
		{"PartnerTimeout", zero.PartnerTimeout(), 10 * time.Second, set.PartnerTimeout(), 3 * time.Second},
		{"RateLimitWindow", zero.RateLimitWindow(), time.Minute, set.RateLimitWindow(), 2 * time.Second},
		{"BudgetPerMinute", zero.BudgetPerMinute(), 30.0, set.BudgetPerMinute(), 1800.0},
		{"SuccessfulJobsHistoryLimit", zero.SuccessfulJobsHistoryLimit(), int32(3), set.SuccessfulJobsHistoryLimit(), int32(0)},
		{"FailedJobsHistoryLimit", zero.FailedJobsHistoryLimit(), int32(1), set.FailedJobsHistoryLimit(), int32(5)},
		{"BackoffLimitPerIndex", zero.BackoffLimitPerIndex(), int32(2), set.BackoffLimitPerIndex(), int32(0)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.gotZero != tt.want0 {
				t.Errorf("unset: %v, want %v", tt.gotZero, tt.want0)
			}
			if tt.gotSet != tt.wantS {
				t.Errorf("set: %v, want %v", tt.gotSet, tt.wantS)
			}
		})
	}
}
