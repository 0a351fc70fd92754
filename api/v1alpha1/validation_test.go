package v1alpha1_test

import (
	"context"
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	inventoryv1alpha1 "github.com/slotsync/slotsync/api/v1alpha1"
	"github.com/slotsync/slotsync/internal/fixture"
	"github.com/slotsync/slotsync/internal/kubetest"
)

// readCRD decodes the generated SyncSchedule CRD strictly, so that a field the
// apiextensions types do not know fails the test instead of vanishing.
func readCRD(t *testing.T) apiextensionsv1.CustomResourceDefinition {
	t.Helper()
	b, err := os.ReadFile("../../config/crd/bases/inventory.slotsync.io_syncschedules.yaml")
	if err != nil {
		t.Fatalf("read CRD (run `make manifests`): %v", err)
	}
	var crd apiextensionsv1.CustomResourceDefinition
	if err := yaml.UnmarshalStrict(b, &crd); err != nil {
		t.Fatalf("decode CRD: %v", err)
	}
	return crd
}

func TestMain(m *testing.M) { kubetest.Main(m) }

// apiServer returns a client of a real kube-apiserver with the CRDs of
// config/crd/bases installed, started by the first test that needs it so that the
// pure tests of this package run on their own merits.
func apiServer(t *testing.T) client.Client {
	t.Helper()
	return kubetest.Start(t).Client
}

// newNamespace creates a namespace of the test's own.
func newNamespace(t *testing.T, c client.Client) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "cel-"}}
	if err := c.Create(context.Background(), ns); err != nil {
		t.Fatalf("create namespace: %v", err)
	}
	t.Cleanup(func() { _ = c.Delete(context.Background(), ns) })
	return ns.Name
}

// minimalSpec is the smallest spec the schema accepts; the rest is defaults.
// Specs are unstructured so that the tests can send what typed clients cannot
// (zeros that omitempty drops, wrong types, unknown enum values).
func minimalSpec() map[string]any {
	return map[string]any{
		"products": []any{int64(14), int64(15)},
		"partner": map[string]any{
			"baseURL":         "http://partner-sim.slotsync-system.svc:8081",
			"apiKeySecretRef": map[string]any{"name": "slotsync-partner", "key": "apiKey"},
		},
		"database": map[string]any{
			"urlSecretRef": map[string]any{"name": "slotsync-database", "key": "url"},
		},
	}
}

func newSchedule(ns, name string, spec map[string]any) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{"spec": spec}}
	u.SetGroupVersionKind(inventoryv1alpha1.GroupVersion.WithKind("SyncSchedule"))
	u.SetNamespace(ns)
	u.SetName(name)
	return u
}

// modifiedSchedule is a schedule of minimalSpec changed by modify, named name,
// or fallback when name is empty.
func modifiedSchedule(ns, name, fallback string, modify func(map[string]any)) *unstructured.Unstructured {
	spec := minimalSpec()
	modify(spec)
	if name == "" {
		name = fallback
	}
	return newSchedule(ns, name, spec)
}

// createAndGet creates obj, failing the test with what on an error, and returns
// the schedule as the API server stored it.
func createAndGet(t *testing.T, c client.Client, obj client.Object, what string) inventoryv1alpha1.SyncSchedule {
	t.Helper()
	if err := c.Create(context.Background(), obj); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	var got inventoryv1alpha1.SyncSchedule
	if err := c.Get(context.Background(), client.ObjectKeyFromObject(obj), &got); err != nil {
		t.Fatalf("get schedule: %v", err)
	}
	return got
}

func set(path string, v any) func(map[string]any) {
	return func(spec map[string]any) {
		keys := strings.Split(path, ".")
		if err := unstructured.SetNestedField(spec, v, keys...); err != nil {
			panic(fmt.Sprintf("set %s: %v", path, err))
		}
	}
}

func unset(path string) func(map[string]any) {
	return func(spec map[string]any) {
		unstructured.RemoveNestedField(spec, strings.Split(path, ".")...)
	}
}

func window(name string, days int64, every string) map[string]any {
	return map[string]any{"name": name, "days": days, "every": every}
}

func productList(n int) []any {
	ps := make([]any, n)
	for i := range ps {
		ps[i] = int64(i + 1)
	}
	return ps
}

func TestSchemaRejectsBadSpecs(t *testing.T) {
	c := apiServer(t)
	ns := newNamespace(t, c)

	tests := []struct {
		name   string
		modify func(map[string]any)
		// objName overrides the object's name.
		objName string
		// want are substrings of the API server's error, the field path and
		// the hint on how to fix it.
		want []string
	}{
		{name: "products missing", modify: unset("products"), want: []string{"spec.products", "Required value"}},
		{name: "products empty", modify: set("products", []any{}), want: []string{"spec.products", "products must list at least one partner product ID"}},
		{name: "duplicate product", modify: set("products", []any{int64(14), int64(15), int64(14)}), want: []string{"spec.products[2]", "Duplicate value: 14"}},
		{name: "product 0", modify: set("products", []any{int64(0)}), want: []string{"spec.products[0]", "should be greater than or equal to 1"}},
		{name: "negative product", modify: set("products", []any{int64(14), int64(-15)}), want: []string{"spec.products[1]", "should be greater than or equal to 1"}},
		{name: "too many products", modify: set("products", productList(1001)), want: []string{"spec.products", "must have at most 1000 items"}},
		{name: "windows empty", modify: set("windows", []any{}), want: []string{"spec.windows", "windows must list at least one window; omit the field to get the defaults"}},
		{name: "duplicate window name", modify: set("windows", []any{window("today", 1, "15m"), window("today", 7, "4h")}), want: []string{"spec.windows", "window names must be unique"}},
		{name: "duplicate window days", modify: set("windows", []any{window("today", 7, "15m"), window("week", 7, "4h")}), want: []string{"spec.windows", "each window must cover a different number of days"}},
		{name: "window days 0", modify: set("windows", []any{window("today", 0, "15m")}), want: []string{"spec.windows[0].days", "should be greater than or equal to 1"}},
		{name: "window days 367", modify: set("windows", []any{window("year", 367, "24h")}), want: []string{"spec.windows[0].days", "should be less than or equal to 366"}},
		{name: "window name upper case", modify: set("windows", []any{window("Today", 1, "15m")}), want: []string{"spec.windows[0].name", "should match"}},
		{name: "window name too long", modify: set("windows", []any{window("a-very-long-window-name", 1, "15m")}), want: []string{"spec.windows[0].name", "may not be more than 20 bytes"}},
		{name: "every 500ms", modify: set("windows", []any{window("today", 1, "500ms")}), want: []string{"spec.windows[0].every", "every must be at least 1s"}},
		{name: "every 0s", modify: set("windows", []any{window("today", 1, "0s")}), want: []string{"spec.windows[0].every", "every must be at least 1s"}},
		{name: "every not a duration", modify: set("windows", []any{window("today", 1, "hourly")}), want: []string{"spec.windows[0].every", "every must be a duration such as 15m"}},
		{name: "every negative", modify: set("windows", []any{window("today", 1, "-15m")}), want: []string{"spec.windows[0].every", "every must be a duration such as 15m"}},
		{name: "every missing", modify: set("windows", []any{map[string]any{"name": "today", "days": int64(1)}}), want: []string{"spec.windows[0].every", "Required value"}},
		{name: "shards 0", modify: set("shards", int64(0)), want: []string{"spec.shards", "should be greater than or equal to 1"}},
		{name: "shards 65", modify: set("shards", int64(65)), want: []string{"spec.shards", "should be less than or equal to 64"}},
		{name: "timezone with spaces", modify: set("timezone", "Central European Time"), want: []string{"spec.timezone", "timezone must be an IANA time zone name such as UTC or Europe/Berlin"}},
		{name: "baseURL without scheme", modify: set("partner.baseURL", "partner.example.com"), want: []string{"spec.partner.baseURL", "baseURL must be an absolute http or https URL"}},
		{name: "baseURL ftp", modify: set("partner.baseURL", "ftp://partner.example.com"), want: []string{"spec.partner.baseURL", "baseURL must be an absolute http or https URL"}},
		{name: "baseURL without host", modify: set("partner.baseURL", "https://"), want: []string{"spec.partner.baseURL", "baseURL must be an absolute http or https URL"}},
		{name: "baseURL missing", modify: unset("partner.baseURL"), want: []string{"spec.partner.baseURL", "Required value"}},
		{name: "requestsPerMinute 0", modify: set("partner.requestsPerMinute", int64(0)), want: []string{"spec.partner.requestsPerMinute", "should be greater than or equal to 1"}},
		{name: "timeout 100ms", modify: set("partner.timeout", "100ms"), want: []string{"spec.partner.timeout", "timeout must be at least 1s"}},
		{name: "timeout not a duration", modify: set("partner.timeout", "10"), want: []string{"spec.partner.timeout", "timeout must be a duration such as 10s"}},
		{name: "apiKeySecretRef without key", modify: unset("partner.apiKeySecretRef.key"), want: []string{"spec.partner.apiKeySecretRef.key", "Required value"}},
		{name: "apiKeySecretRef bad name", modify: set("partner.apiKeySecretRef.name", "Slotsync_Partner"), want: []string{"spec.partner.apiKeySecretRef.name", "should match"}},
		{name: "database missing", modify: unset("database"), want: []string{"spec.database", "Required value"}},
		{name: "database url key empty", modify: set("database.urlSecretRef.key", ""), want: []string{"spec.database.urlSecretRef.key", "should be at least 1 chars long"}},
		{name: "unknown concurrencyPolicy", modify: set("concurrencyPolicy", "Allow"), want: []string{"spec.concurrencyPolicy", `Unsupported value: "Allow"`, `"Forbid", "Replace"`}},
		{name: "unknown polling", modify: set("polling", "adaptive"), want: []string{"spec.polling", `Unsupported value: "adaptive"`, `"Uniform", "Adaptive"`}},
		{name: "negative successfulJobsHistoryLimit", modify: set("successfulJobsHistoryLimit", int64(-1)), want: []string{"spec.successfulJobsHistoryLimit", "should be greater than or equal to 0"}},
		{name: "negative failedJobsHistoryLimit", modify: set("failedJobsHistoryLimit", int64(-1)), want: []string{"spec.failedJobsHistoryLimit", "should be greater than or equal to 0"}},
		{name: "negative backoffLimitPerIndex", modify: set("jobTemplate.backoffLimitPerIndex", int64(-1)), want: []string{"spec.jobTemplate.backoffLimitPerIndex", "should be greater than or equal to 0"}},
		{name: "activeDeadlineSeconds 0", modify: set("jobTemplate.activeDeadlineSeconds", int64(0)), want: []string{"spec.jobTemplate.activeDeadlineSeconds", "should be greater than or equal to 1"}},
		{name: "unknown imagePullPolicy", modify: set("jobTemplate.imagePullPolicy", "Sometimes"), want: []string{"spec.jobTemplate.imagePullPolicy", `Unsupported value: "Sometimes"`}},
		{name: "reserved pod label", modify: set("jobTemplate.podLabels", map[string]any{"inventory.slotsync.io/window": "today"}), want: []string{"spec.jobTemplate.podLabels", "podLabels must not use keys under inventory.slotsync.io/"}},
		{name: "name longer than 63", objName: strings.Repeat("s", 64), modify: func(map[string]any) {}, want: []string{"metadata.name must be at most 63 characters"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := c.Create(context.Background(), modifiedSchedule(ns, tt.objName, "bad", tt.modify))
			if err == nil {
				t.Fatalf("the API server accepted the spec; want an error containing %q", tt.want)
			}
			if !apierrors.IsInvalid(err) {
				t.Fatalf("want an Invalid error, got %v", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not contain %q:\n%v", w, err)
				}
			}
		})
	}
}

func TestSchemaAcceptsValidSpecs(t *testing.T) {
	c := apiServer(t)
	ns := newNamespace(t, c)

	tests := []struct {
		name    string
		objName string
		modify  func(map[string]any)
	}{
		{name: "minimal", modify: func(map[string]any) {}},
		{name: "custom windows", modify: set("windows", []any{window("now", 1, "1s"), window("soon", 3, "1h30m"), window("later", 366, "168h")})},
		{name: "longer window fresher than shorter", modify: set("windows", []any{window("today", 1, "1h"), window("week", 7, "15m")})},
		{name: "max products", modify: set("products", productList(1000))},
		{name: "shards 64", modify: set("shards", int64(64))},
		{name: "nested timezone", modify: set("timezone", "America/Argentina/Buenos_Aires")},
		{name: "etc timezone", modify: set("timezone", "Etc/GMT+5")},
		{name: "https baseURL with path", modify: set("partner.baseURL", "https://partner.example.com/base")},
		{name: "fractional timeout", modify: set("partner.timeout", "1.5s")},
		{name: "adaptive polling", modify: set("polling", "Adaptive")},
		{name: "replace and no history", modify: func(spec map[string]any) {
			set("concurrencyPolicy", "Replace")(spec)
			set("successfulJobsHistoryLimit", int64(0))(spec)
			set("failedJobsHistoryLimit", int64(0))(spec)
		}},
		{name: "job template", modify: set("jobTemplate", map[string]any{
			"image":                   "registry.example.com/slotsync:v1",
			"imagePullPolicy":         "IfNotPresent",
			"serviceAccountName":      "slotsync-worker",
			"backoffLimitPerIndex":    int64(0),
			"activeDeadlineSeconds":   int64(3600),
			"ttlSecondsAfterFinished": int64(0),
			"resources": map[string]any{
				"requests": map[string]any{"cpu": "50m", "memory": "64Mi"},
				"limits":   map[string]any{"memory": "128Mi"},
			},
			"podLabels":      map[string]any{"team": "inventory"},
			"podAnnotations": map[string]any{"example.com/note": "x"},
		})},
		{name: "name of 63 characters", objName: strings.Repeat("s", 63), modify: func(map[string]any) {}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := c.Create(context.Background(), modifiedSchedule(ns, tt.objName, fmt.Sprintf("ok-%d", i), tt.modify)); err != nil {
				t.Fatalf("the API server rejected a valid spec: %v", err)
			}
		})
	}
}

func TestSchemaDefaults(t *testing.T) {
	c := apiServer(t)
	ns := newNamespace(t, c)
	ctx := context.Background()

	s := createAndGet(t, c, newSchedule(ns, "defaults", minimalSpec()), "create minimal schedule").Spec
	check := func(field string, got, want any) {
		t.Helper()
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s defaulted to %#v, want %#v", field, got, want)
		}
	}
	check("windows", s.Windows, inventoryv1alpha1.DefaultWindows())
	check("paused", s.Paused, false)
	check("shards", s.Shards, int32(1))
	check("timezone", s.Timezone, "UTC")
	check("concurrencyPolicy", s.ConcurrencyPolicy, inventoryv1alpha1.ForbidConcurrent)
	check("polling", s.Polling, inventoryv1alpha1.UniformPolling)
	check("successfulJobsHistoryLimit", s.SuccessfulJobsHistoryLimit, ptr(int32(3)))
	check("failedJobsHistoryLimit", s.FailedJobsHistoryLimit, ptr(int32(1)))
	check("partner.requestsPerMinute", s.Partner.RequestsPerMinute, int32(30))
	check("partner.timeout", s.Partner.Timeout, metav1.Duration{Duration: 10 * time.Second})
	check("jobTemplate.backoffLimitPerIndex", s.JobTemplate.BackoffLimitPerIndex, ptr(int32(2)))
	check("jobTemplate.ttlSecondsAfterFinished", s.JobTemplate.TTLSecondsAfterFinished, (*int32)(nil))
	check("jobTemplate.activeDeadlineSeconds", s.JobTemplate.ActiveDeadlineSeconds, (*int64)(nil))

	// A typed client omits zero values (omitempty, omitzero), so a Go caller
	// that leaves them out gets the same defaults.
	typed := fixture.SyncSchedule("typed", ns)
	if err := c.Create(ctx, typed); err != nil {
		t.Fatalf("create typed schedule with zero values: %v", err)
	}
	check("typed windows", typed.Spec.Windows, inventoryv1alpha1.DefaultWindows())
	check("typed partner.timeout", typed.Spec.Partner.Timeout, metav1.Duration{Duration: 10 * time.Second})
	check("typed jobTemplate.backoffLimitPerIndex", typed.Spec.JobTemplate.BackoffLimitPerIndex, ptr(int32(2)))
}

func TestStatusSubresource(t *testing.T) {
	c := apiServer(t)
	ns := newNamespace(t, c)
	ctx := context.Background()

	s := createAndGet(t, c, newSchedule(ns, "status", minimalSpec()), "create schedule")
	now := metav1.NewTime(time.Now().Truncate(time.Second))
	meta.SetStatusCondition(&s.Status.Conditions, metav1.Condition{
		Type: inventoryv1alpha1.ConditionReady, Status: metav1.ConditionTrue,
		Reason: inventoryv1alpha1.ReasonJobsSucceeded, Message: "all windows synced",
	})
	s.Status.ObservedGeneration = s.Generation
	s.Status.LastSyncTime = &now
	s.Status.DemandPerMinute = "0.22"
	s.Status.BudgetPerMinute = 30
	s.Status.Windows = []inventoryv1alpha1.WindowStatus{{
		Name: "today", FromDay: 0, ToDay: 0, LastSuccessfulTime: &now, NextScheduleTime: &now,
		LastRun: &inventoryv1alpha1.RunCounts{Job: "status-today-1", Result: inventoryv1alpha1.RunSucceeded, Requests: 2, PairsTotal: 2, PairsOK: 2},
	}}
	if err := c.Status().Update(ctx, &s); err != nil {
		t.Fatalf("update status: %v", err)
	}
	var got inventoryv1alpha1.SyncSchedule
	if err := c.Get(ctx, client.ObjectKeyFromObject(&s), &got); err != nil {
		t.Fatalf("get schedule: %v", err)
	}
	if !reflect.DeepEqual(got.Status, s.Status) {
		t.Errorf("status did not round-trip:\n got %+v\nwant %+v", got.Status, s.Status)
	}
	if got.Generation != s.Generation {
		t.Errorf("a status update changed metadata.generation from %d to %d", s.Generation, got.Generation)
	}
}

// TestSampleIsValid keeps config/samples applicable as the CRD evolves.
func TestSampleIsValid(t *testing.T) {
	c := apiServer(t)
	ns := newNamespace(t, c)
	b, err := os.ReadFile("../../config/samples/inventory_v1alpha1_syncschedule.yaml")
	if err != nil {
		t.Fatalf("read sample: %v", err)
	}
	u := &unstructured.Unstructured{}
	if err := yaml.Unmarshal(b, &u.Object); err != nil {
		t.Fatalf("decode sample: %v", err)
	}
	u.SetNamespace(ns)
	got := createAndGet(t, c, u, "the API server rejected the sample")
	if want := []int64{14, 15}; !reflect.DeepEqual(got.Spec.Products, want) {
		t.Errorf("sample products %v, want %v", got.Spec.Products, want)
	}
}

// TestCRDDescriptions keeps `kubectl explain` useful: every field of the
// schema has a description, and the fields of our own types start theirs with
// the field's JSON name.
func TestCRDDescriptions(t *testing.T) {
	crd := readCRD(t)
	if n := len(crd.Spec.Versions); n != 1 {
		t.Fatalf("CRD has %d versions, want 1", n)
	}
	root := crd.Spec.Versions[0].Schema.OpenAPIV3Schema
	if root.Description == "" {
		t.Error("the SyncSchedule kind has no description")
	}
	// Embedded Kubernetes types keep their upstream wording.
	upstream := map[string]bool{
		"metadata": true, "spec.jobTemplate.resources": true, "status.conditions": true,
		"spec.jobTemplate.tolerations": true, "spec.jobTemplate.affinity": true,
	}
	var walk func(path string, s *apiextensionsv1.JSONSchemaProps, ours bool)
	walk = func(path string, s *apiextensionsv1.JSONSchemaProps, ours bool) {
		for name, p := range s.Properties {
			child := strings.TrimPrefix(path+"."+name, ".")
			if child == "metadata" {
				continue // the API server owns metadata's schema
			}
			if p.Description == "" {
				t.Errorf("%s has no description", child)
			}
			childOurs := ours && !upstream[child]
			if childOurs && path != "" && !strings.HasPrefix(p.Description, name+" ") {
				t.Errorf("%s: description should start with %q: %q", child, name, p.Description)
			}
			walk(child, &p, childOurs)
		}
		if s.Items != nil && s.Items.Schema != nil {
			walk(path, s.Items.Schema, ours)
		}
	}
	walk("", root, true)
}

func TestCRDShape(t *testing.T) {
	crd := readCRD(t)
	if got, want := crd.Spec.Names.ShortNames, []string{"ss"}; !reflect.DeepEqual(got, want) {
		t.Errorf("short names %v, want %v", got, want)
	}
	if crd.Spec.Scope != apiextensionsv1.NamespaceScoped {
		t.Errorf("scope %s, want Namespaced", crd.Spec.Scope)
	}
	v := crd.Spec.Versions[0]
	if v.Subresources == nil || v.Subresources.Status == nil {
		t.Error("no status subresource")
	}
	var columns []string
	for _, c := range v.AdditionalPrinterColumns {
		if c.Priority == 0 {
			columns = append(columns, c.Name)
		}
	}
	if want := []string{"Products", "Shards", "Paused", "Ready", "Last Sync", "Age"}; !reflect.DeepEqual(columns, want) {
		t.Errorf("printer columns %v, want %v", columns, want)
	}
}

func ptr[T any](v T) *T { return &v }

// TestDefaultsSurviveATypedUpdate: the schema's defaults are written the way Go
// writes them back (durations as "15m0s", not "15m"), so a client that reads a
// defaulted schedule into the Go type and updates it, changing only metadata,
// leaves the spec and its generation alone; otherwise every such update reads
// as a new generation to GitOps health checks.
func TestDefaultsSurviveATypedUpdate(t *testing.T) {
	c := apiServer(t)
	ns := newNamespace(t, c)
	ss := createAndGet(t, c, newSchedule(ns, "typed", minimalSpec()), "create minimal schedule")
	ss.Annotations = map[string]string{"example.com/touched": "yes"}
	if err := c.Update(context.Background(), &ss); err != nil {
		t.Fatal(err)
	}
	if ss.Generation != 1 {
		t.Errorf("generation %d after a metadata-only typed update, want 1: a default is not written as Go writes it", ss.Generation)
	}
}
