package v1alpha1_test

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
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
		{"polling", inventoryv1alpha1.DefaultPolling},
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
		Polling:     inventoryv1alpha1.AdaptivePolling,
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
		{"Polling", zero.Polling(), inventoryv1alpha1.UniformPolling, set.Polling(), inventoryv1alpha1.AdaptivePolling},
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

func TestJobResources(t *testing.T) {
	q := resource.MustParse
	tests := []struct {
		name        string
		in          corev1.ResourceRequirements
		wantRequest string
		wantLimit   string
	}{
		{name: "unset", wantRequest: "64Mi", wantLimit: "256Mi"},
		{name: "request set", in: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceEphemeralStorage: q("100Mi")}}, wantRequest: "100Mi", wantLimit: "256Mi"},
		{name: "request above the default limit", in: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceEphemeralStorage: q("1Gi")}}, wantRequest: "1Gi", wantLimit: "1Gi"},
		{name: "limit below the default request", in: corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceEphemeralStorage: q("32Mi")}}, wantRequest: "32Mi", wantLimit: "32Mi"},
		{name: "both set", in: corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceEphemeralStorage: q("10Mi"), corev1.ResourceMemory: q("64Mi")},
			Limits:   corev1.ResourceList{corev1.ResourceEphemeralStorage: q("20Mi")},
		}, wantRequest: "10Mi", wantLimit: "20Mi"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ss := &inventoryv1alpha1.SyncSchedule{}
			ss.Spec.JobTemplate.Resources = *tt.in.DeepCopy()
			got := ss.JobResources()
			if r := got.Requests[corev1.ResourceEphemeralStorage]; r.Cmp(q(tt.wantRequest)) != 0 {
				t.Errorf("request = %s, want %s", r.String(), tt.wantRequest)
			}
			if l := got.Limits[corev1.ResourceEphemeralStorage]; l.Cmp(q(tt.wantLimit)) != 0 {
				t.Errorf("limit = %s, want %s", l.String(), tt.wantLimit)
			}
			if !reflect.DeepEqual(ss.Spec.JobTemplate.Resources, tt.in) {
				t.Errorf("JobResources changed the spec: %+v", ss.Spec.JobTemplate.Resources)
			}
			for k, v := range tt.in.Requests {
				if k != corev1.ResourceEphemeralStorage && got.Requests[k] != v {
					t.Errorf("request %s = %v, want %v kept", k, got.Requests[k], v)
				}
			}
		})
	}
}
