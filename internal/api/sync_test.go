package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	inventoryv1alpha1 "github.com/slotsync/slotsync/api/v1alpha1"
	"github.com/slotsync/slotsync/internal/api"
	"github.com/slotsync/slotsync/internal/kubetest"
)

// gitSchedule is a SyncSchedule as a GitOps tool keeps it in Git; paused is
// left out when nil.
func gitSchedule(ns, name string, paused *bool) *unstructured.Unstructured {
	spec := map[string]any{
		"products": []any{int64(14), int64(15)},
		"partner": map[string]any{
			"baseURL":         "http://partner.example.com",
			"apiKeySecretRef": map[string]any{"name": "partner", "key": "apiKey"},
		},
		"database": map[string]any{"urlSecretRef": map[string]any{"name": "database", "key": "url"}},
	}
	if paused != nil {
		spec["paused"] = *paused
	}
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": inventoryv1alpha1.GroupVersion.String(),
		"kind":       "SyncSchedule",
		"metadata":   map[string]any{"name": name, "namespace": ns},
		"spec":       spec,
	}}
}

// applyAs server-side applies u as the field manager, as kubectl, Argo CD or
// Flux do.
func applyAs(ctx context.Context, c client.Client, u *unstructured.Unstructured, manager string, force bool) error {
	opts := []client.ApplyOption{client.FieldOwner(manager)}
	if force {
		opts = append(opts, client.ForceOwnership)
	}
	return c.Apply(ctx, client.ApplyConfigurationFromUnstructured(u.DeepCopy()), opts...)
}

// serviceAccountToken creates a service account, optionally bound to a Role
// allowing verbs on syncschedules, and returns a real token for it, made for
// the API's audience.
func serviceAccountToken(t *testing.T, k *kubetest.Env, cs kubernetes.Interface, ns, name string, verbs ...string) string {
	t.Helper()
	ctx := context.Background()
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}}
	if err := k.Client.Create(ctx, sa); err != nil {
		t.Fatal(err)
	}
	if len(verbs) > 0 {
		role := &rbacv1.Role{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
			Rules: []rbacv1.PolicyRule{{
				APIGroups: []string{inventoryv1alpha1.GroupVersion.Group},
				Resources: []string{"syncschedules"},
				Verbs:     verbs,
			}},
		}
		binding := &rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: name},
			Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: name, Namespace: ns}},
		}
		for _, o := range []client.Object{role, binding} {
			if err := k.Client.Create(ctx, o); err != nil {
				t.Fatal(err)
			}
		}
	}
	return tokenFor(t, cs, ns, name, api.DefaultTokenAudience)
}

// tokenFor returns a token of the service account for the audiences; none
// means the API server's own.
func tokenFor(t *testing.T, cs kubernetes.Interface, ns, name string, audiences ...string) string {
	t.Helper()
	expiry := int64(600)
	tr, err := cs.CoreV1().ServiceAccounts(ns).CreateToken(context.Background(), name, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &expiry, Audiences: audiences},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("token for %s: %v", name, err)
	}
	return tr.Status.Token
}

func getSchedule(t *testing.T, c client.Client, key types.NamespacedName) *inventoryv1alpha1.SyncSchedule {
	t.Helper()
	var ss inventoryv1alpha1.SyncSchedule
	if err := c.Get(context.Background(), key, &ss); err != nil {
		t.Fatal(err)
	}
	return &ss
}

// ownsPaused says whether manager's managed fields entry of the given
// operation holds spec.paused.
func ownsPaused(t *testing.T, ss *inventoryv1alpha1.SyncSchedule, manager string, op metav1.ManagedFieldsOperationType) bool {
	t.Helper()
	for _, mf := range ss.ManagedFields {
		if mf.Manager != manager || mf.Operation != op || mf.FieldsV1 == nil {
			continue
		}
		var fields struct {
			Spec map[string]json.RawMessage `json:"f:spec"`
		}
		if err := json.Unmarshal(mf.FieldsV1.Raw, &fields); err != nil {
			t.Fatal(err)
		}
		_, ok := fields.Spec["f:paused"]
		return ok
	}
	return false
}

func TestPauseResumeGuardedByRBAC(t *testing.T) {
	t.Parallel()
	// The schedule as Argo CD applies it from Git, without spec.paused.
	k, cs, key := startKubeWithSchedule(t, "argocd")
	ctx, ns := context.Background(), key.Namespace
	operator := serviceAccountToken(t, k, cs, ns, "operator", "get", "pause", "resume")
	viewer := serviceAccountToken(t, k, cs, ns, "viewer", "get")
	stranger := serviceAccountToken(t, k, cs, ns, "stranger")
	const forged = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06YWRtaW4ifQ.Zm9yZ2Vk"

	e := newAPIEnv(t, options{kube: k.Client, reviews: cs, schedule: key})
	const pause, resume, status = "/api/v1/sync/pause", "/api/v1/sync/resume", "/api/v1/sync/status"

	// 401: no token, a forged one, another scheme.
	for _, token := range []string{"", forged} {
		for _, path := range []string{pause, resume} {
			r := e.do(http.MethodPost, path, token)
			if r.status != http.StatusUnauthorized || !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("POST %s with token %.10q: %d %s, want 401 with WWW-Authenticate", path, token, r.status, r.body)
			}
			if p := r.problem(t); p.Type != api.ProblemTypeBase+"unauthenticated" {
				t.Errorf("POST %s with token %.10q: problem type %s, want unauthenticated", path, token, p.Type)
			}
		}
	}
	req, _ := http.NewRequest(http.MethodPost, e.url+pause, nil)
	req.SetBasicAuth("admin", "admin")
	if r := e.send(req); r.status != http.StatusUnauthorized {
		t.Errorf("basic auth: %d %s, want 401", r.status, r.body)
	}

	// 200 for the bound service account, once RBAC has seen its binding.
	var state api.ScheduleState
	eventually(t, 30*time.Second, func() error {
		r := e.do(http.MethodPost, pause, operator)
		if r.status != http.StatusOK {
			return fmt.Errorf("pause by the bound service account: %d %s", r.status, r.body)
		}
		r.decode(t, &state)
		return nil
	})
	if !state.Paused || state.Namespace != ns || state.Schedule != key.Name || len(state.Windows) != 3 {
		t.Errorf("pause answered %+v", state)
	}

	// 403 for a service account without a binding, and for one that may only get.
	for name, token := range map[string]string{"stranger": stranger, "viewer": viewer} {
		r := e.do(http.MethodPost, resume, token)
		if r.status != http.StatusForbidden {
			t.Errorf("resume by %s: %d %s, want 403", name, r.status, r.body)
			continue
		}
		user := "system:serviceaccount:" + ns + ":" + name
		if msg := r.errorMessage(t); !strings.Contains(msg, user) || !strings.Contains(msg, " resume ") {
			t.Errorf("403 message %q does not name the user %s and the verb resume", msg, user)
		}
	}

	// The patch landed on spec.paused, owned by slotsync-api.
	ss := getSchedule(t, k.Client, key)
	if !ss.Spec.Paused {
		t.Fatal("spec.paused is false after a pause")
	}
	if !ownsPaused(t, ss, api.FieldManager, metav1.ManagedFieldsOperationApply) {
		t.Errorf("managedFields do not show %s applying spec.paused: %+v", api.FieldManager, ss.ManagedFields)
	}
	if ownsPaused(t, ss, "argocd", metav1.ManagedFieldsOperationApply) {
		t.Error("argocd owns spec.paused, which it never set")
	}

	// Idempotent: pausing again changes nothing.
	if r := e.do(http.MethodPost, pause, operator); r.status != http.StatusOK {
		t.Fatalf("second pause: %d %s", r.status, r.body)
	}
	if again := getSchedule(t, k.Client, key); again.ResourceVersion != ss.ResourceVersion || again.Generation != ss.Generation {
		t.Errorf("a second pause changed the object: resourceVersion %s -> %s, generation %d -> %d",
			ss.ResourceVersion, again.ResourceVersion, ss.Generation, again.Generation)
	}

	// Argo CD syncs the Git version again, forcing, as it does: the pause stays.
	if err := applyAs(ctx, k.Client, gitSchedule(ns, key.Name, nil), "argocd", true); err != nil {
		t.Fatal(err)
	}
	if !getSchedule(t, k.Client, key).Spec.Paused {
		t.Fatal("a re-apply of the Git version without spec.paused dropped the pause")
	}
	// A Git version that does set paused: false conflicts instead of silently
	// resuming.
	err := applyAs(ctx, k.Client, gitSchedule(ns, key.Name, new(bool)), "flux", false)
	if !apierrors.IsConflict(err) {
		t.Errorf("applying paused: false over the API's pause without force: %v, want a conflict", err)
	}
	if !getSchedule(t, k.Client, key).Spec.Paused {
		t.Fatal("a conflicting apply dropped the pause")
	}

	// Status: get is enough; nothing is not.
	for name, token := range map[string]string{"operator": operator, "viewer": viewer} {
		r := e.do(http.MethodGet, status, token)
		var st api.ScheduleState
		r.decode(t, &st)
		if r.status != http.StatusOK || !st.Paused {
			t.Errorf("status for %s: %d %s, want 200 and paused", name, r.status, r.body)
		}
	}
	if r := e.do(http.MethodGet, status, stranger); r.status != http.StatusForbidden || !strings.Contains(r.errorMessage(t), " get ") ||
		r.problem(t).Type != api.ProblemTypeBase+"forbidden" {
		t.Errorf("status for the stranger: %d %s, want 403 naming the verb get", r.status, r.body)
	}
	if r := e.do(http.MethodGet, status, ""); r.status != http.StatusUnauthorized {
		t.Errorf("status without a token: %d, want 401", r.status)
	}

	// Resume, twice.
	for i := range 2 {
		r := e.do(http.MethodPost, resume, operator)
		var st api.ScheduleState
		r.decode(t, &st)
		if r.status != http.StatusOK || st.Paused {
			t.Fatalf("resume %d: %d %s", i+1, r.status, r.body)
		}
	}
	ss = getSchedule(t, k.Client, key)
	if ss.Spec.Paused || !ownsPaused(t, ss, api.FieldManager, metav1.ManagedFieldsOperationApply) {
		t.Errorf("after resume: spec.paused %v, owned by %s: %v", ss.Spec.Paused, api.FieldManager,
			ownsPaused(t, ss, api.FieldManager, metav1.ManagedFieldsOperationApply))
	}

	// ?schedule= picks another schedule of the namespace.
	if r := e.do(http.MethodPost, pause+"?schedule=missing", operator); r.status != http.StatusNotFound || !strings.Contains(r.errorMessage(t), "not found") {
		t.Errorf("pause of a missing schedule: %d %s, want 404", r.status, r.body)
	}
	if r := e.do(http.MethodPost, pause+"?schedule=Not_A_Name", operator); r.status != http.StatusBadRequest {
		t.Errorf("pause with a bad schedule name: %d %s, want 400", r.status, r.body)
	}
	// hourly's Git version says paused: false, so Argo CD owns the field: the
	// API's forced apply takes it over.
	hourly := types.NamespacedName{Namespace: ns, Name: "hourly"}
	if err := applyAs(ctx, k.Client, gitSchedule(ns, hourly.Name, new(bool)), "argocd", true); err != nil {
		t.Fatal(err)
	}
	if r := e.do(http.MethodPost, pause+"?schedule=hourly", operator); r.status != http.StatusOK {
		t.Errorf("pause of ?schedule=hourly: %d %s", r.status, r.body)
	}
	ss = getSchedule(t, k.Client, hourly)
	if !ss.Spec.Paused || getSchedule(t, k.Client, key).Spec.Paused {
		t.Error("?schedule=hourly paused the wrong schedule")
	}
	if ownsPaused(t, ss, "argocd", metav1.ManagedFieldsOperationApply) || !ownsPaused(t, ss, api.FieldManager, metav1.ManagedFieldsOperationApply) {
		t.Errorf("after the API's pause, spec.paused of hourly is not owned by %s alone: %+v", api.FieldManager, ss.ManagedFields)
	}
	// Git still says paused: false: a sync that does not force reports the conflict.
	if err := applyAs(ctx, k.Client, gitSchedule(ns, hourly.Name, new(bool)), "argocd", false); !apierrors.IsConflict(err) {
		t.Errorf("re-applying paused: false from Git without force: %v, want a conflict", err)
	}
	// Once paused is out of Git (docs/rest-api.md), syncs leave the pause alone.
	if err := applyAs(ctx, k.Client, gitSchedule(ns, hourly.Name, nil), "argocd", true); err != nil {
		t.Fatal(err)
	}
	if !getSchedule(t, k.Client, hourly).Spec.Paused {
		t.Error("re-applying hourly from Git without spec.paused dropped the pause")
	}

	if logs := e.logs.all(); strings.Contains(logs, operator) || strings.Contains(logs, stranger) || strings.Contains(logs, forged) {
		t.Error("a bearer token reached the logs")
	}
	if logs := e.logs.all(); !strings.Contains(logs, "system:serviceaccount:"+ns+":operator") {
		t.Error("the log does not say who paused")
	}
}

// TestTokensAreBoundToTheAPIAudience: a token of an account allowed to read
// the schedule is accepted only when made for the API's audience; one made for
// the API server, as a pod's default token is, or for another service, gets 401.
func TestTokensAreBoundToTheAPIAudience(t *testing.T) {
	t.Parallel()
	k, cs, key := startKubeWithSchedule(t, "kubectl")
	ns := key.Namespace
	bound := serviceAccountToken(t, k, cs, ns, "viewer", "get")
	e := newAPIEnv(t, options{kube: k.Client, reviews: cs, schedule: key})
	eventually(t, 30*time.Second, func() error {
		r := e.do(http.MethodGet, "/api/v1/sync/status", bound)
		if r.status != http.StatusOK {
			return fmt.Errorf("status with a token for %s: %d %s", api.DefaultTokenAudience, r.status, r.body)
		}
		// An authenticated answer is never kept.
		if cc := r.header.Get("Cache-Control"); cc != "no-store" {
			t.Errorf("status: Cache-Control %q, want no-store", cc)
		}
		return nil
	})
	for name, token := range map[string]string{
		"the API server's audience": tokenFor(t, cs, ns, "viewer"),
		"another audience":          tokenFor(t, cs, ns, "viewer", "vault"),
	} {
		r := e.do(http.MethodGet, "/api/v1/sync/status", token)
		if r.status != http.StatusUnauthorized {
			t.Errorf("status with a token for %s: %d %s, want 401", name, r.status, r.body)
			continue
		}
		if msg := r.errorMessage(t); !strings.Contains(msg, "--audience "+api.DefaultTokenAudience) {
			t.Errorf("401 message %q does not say how to make a token for the audience", msg)
		}
	}
}

// TestPauseAndResumeAreTheirOwnVerbs: the REST pause and resume need the RBAC
// verbs pause and resume, not patch. A caller with only get, pause and resume
// pauses and resumes through the API, yet cannot change the schedule itself;
// a caller that may patch the whole spec is refused by the API.
func TestPauseAndResumeAreTheirOwnVerbs(t *testing.T) {
	t.Parallel()
	k, cs, key := startKubeWithSchedule(t, "argocd")
	ctx, ns := context.Background(), key.Namespace
	pauser := serviceAccountToken(t, k, cs, ns, "pauser", "get", "pause", "resume")
	patcher := serviceAccountToken(t, k, cs, ns, "patcher", "get", "patch")
	e := newAPIEnv(t, options{kube: k.Client, reviews: cs, schedule: key})

	eventually(t, 30*time.Second, func() error {
		if r := e.do(http.MethodPost, "/api/v1/sync/pause", pauser); r.status != http.StatusOK {
			return fmt.Errorf("pause by get, pause, resume: %d %s", r.status, r.body)
		}
		return nil
	})
	if !getSchedule(t, k.Client, key).Spec.Paused {
		t.Fatal("spec.paused is false after the pauser's pause")
	}
	if r := e.do(http.MethodPost, "/api/v1/sync/resume", pauser); r.status != http.StatusOK {
		t.Fatalf("resume by get, pause, resume: %d %s", r.status, r.body)
	}
	if getSchedule(t, k.Client, key).Spec.Paused {
		t.Fatal("spec.paused is true after the pauser's resume")
	}

	// With a token of its own for the API server, the pauser changes nothing:
	// neither the spec nor spec.paused itself.
	own, err := client.New(&rest.Config{Host: k.Config.Host, TLSClientConfig: rest.TLSClientConfig{CAData: k.Config.CAData},
		BearerToken: tokenFor(t, cs, ns, "pauser")},
		client.Options{Scheme: k.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	for name, patch := range map[string]string{
		"partner URL": `{"spec":{"partner":{"baseURL":"http://attacker.example.com"}}}`,
		"paused":      `{"spec":{"paused":true}}`,
	} {
		ss := &inventoryv1alpha1.SyncSchedule{ObjectMeta: metav1.ObjectMeta{Name: key.Name, Namespace: ns}}
		if err := own.Patch(ctx, ss, client.RawPatch(types.MergePatchType, []byte(patch))); !apierrors.IsForbidden(err) {
			t.Errorf("the pauser's own patch of %s: %v, want Forbidden", name, err)
		}
	}
	if ss := getSchedule(t, k.Client, key); ss.Spec.Paused || ss.Spec.Partner.BaseURL != "http://partner.example.com" {
		t.Errorf("the pauser's direct patches changed the schedule: paused %v, baseURL %s", ss.Spec.Paused, ss.Spec.Partner.BaseURL)
	}

	// patch is not pause: the API refuses, naming the verb it needs.
	for path, verb := range map[string]string{"/api/v1/sync/pause": "pause", "/api/v1/sync/resume": "resume"} {
		r := e.do(http.MethodPost, path, patcher)
		if r.status != http.StatusForbidden {
			t.Errorf("POST %s by get, patch: %d %s, want 403", path, r.status, r.body)
			continue
		}
		if msg := r.errorMessage(t); !strings.Contains(msg, " "+verb+" ") {
			t.Errorf("403 message %q does not name the verb %s", msg, verb)
		}
	}
	if getSchedule(t, k.Client, key).Spec.Paused {
		t.Error("a refused pause paused the schedule")
	}
}

// TestStatusReportsTheController: the status route carries what the
// controller wrote into the SyncSchedule's status.
func TestStatusReportsTheController(t *testing.T) {
	t.Parallel()
	k, cs, key := startKubeWithSchedule(t, "kubectl")
	ctx, ns := context.Background(), key.Namespace
	ss := getSchedule(t, k.Client, key)
	at := metav1.NewTime(time.Date(2026, 12, 1, 6, 0, 0, 0, time.UTC))
	next := metav1.NewTime(at.Add(15 * time.Minute))
	ss.Status = inventoryv1alpha1.SyncScheduleStatus{
		ObservedGeneration: ss.Generation,
		Conditions: []metav1.Condition{{Type: inventoryv1alpha1.ConditionReady, Status: metav1.ConditionTrue,
			Reason: inventoryv1alpha1.ReasonJobsSucceeded, Message: "the last run of every window succeeded", LastTransitionTime: at}},
		Windows: []inventoryv1alpha1.WindowStatus{{Name: "today", FromDay: 0, ToDay: 0, LastScheduleTime: &at,
			LastSuccessfulTime: &at, NextScheduleTime: &next,
			LastRun: &inventoryv1alpha1.RunCounts{Job: "nightly-today-1", Result: inventoryv1alpha1.RunSucceeded, Requests: 2, PairsTotal: 2, PairsOK: 2}}},
		DemandPerMinute: "0.23",
		BudgetPerMinute: 30,
		LastSyncTime:    &at,
	}
	if err := k.Client.Status().Update(ctx, ss); err != nil {
		t.Fatal(err)
	}
	token := serviceAccountToken(t, k, cs, ns, "viewer", "get")
	e := newAPIEnv(t, options{kube: k.Client, reviews: cs, schedule: key})

	var st api.ScheduleState
	eventually(t, 30*time.Second, func() error {
		r := e.do(http.MethodGet, "/api/v1/sync/status", token)
		if r.status != http.StatusOK {
			return fmt.Errorf("status: %d %s", r.status, r.body)
		}
		r.decode(t, &st)
		return nil
	})
	if st.Paused || st.DemandPerMinute != "0.23" || st.BudgetPerMinute != 30 || st.ObservedGeneration != ss.Generation ||
		len(st.Conditions) != 1 || st.Conditions[0].Reason != inventoryv1alpha1.ReasonJobsSucceeded ||
		st.LastSyncTime == nil || !st.LastSyncTime.Equal(&at) {
		t.Errorf("status answered %+v", st)
	}
	if len(st.Windows) != 3 || st.Windows[0].Name != "today" || st.Windows[0].Every != "15m0s" ||
		st.Windows[0].NextScheduleTime == nil || !st.Windows[0].NextScheduleTime.Equal(&next) ||
		st.Windows[0].LastRun == nil || st.Windows[0].LastRun.PairsOK != 2 || st.Windows[1].LastScheduleTime != nil {
		t.Errorf("status windows: %+v", st.Windows)
	}
}
