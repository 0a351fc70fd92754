package security_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	inventoryv1alpha1 "github.com/slotsync/slotsync/api/v1alpha1"
	"github.com/slotsync/slotsync/internal/api"
	"github.com/slotsync/slotsync/internal/fixture"
	"github.com/slotsync/slotsync/internal/kubetest"
	"github.com/slotsync/slotsync/internal/managertest"
	"github.com/slotsync/slotsync/internal/store"
)

const (
	installNS = "slotsync-system"
	// scheduleNS is the namespace the API serves in config/default (its
	// --schedule), where its Role on SyncSchedules is bound.
	scheduleNS = "default"
)

// rbacKinds are what config/default installs for access control.
var rbacKinds = []string{"Namespace", "ServiceAccount", "Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding"}

// startWithRBAC starts an API server with config/default's RBAC installed and
// returns it with an admin clientset, for the tests that check those grants.
func startWithRBAC(t *testing.T) (*kubetest.Env, *kubernetes.Clientset) {
	t.Helper()
	kube := kubetest.Start(t)
	installRBAC(t, kube)
	cs, err := kubernetes.NewForConfig(kube.Config)
	if err != nil {
		t.Fatal(err)
	}
	return kube, cs
}

// installRBAC applies config/default's namespace, service accounts, roles and
// bindings to the API server, as `kubectl apply -k config/default` would.
func installRBAC(t *testing.T, kube *kubetest.Env) {
	t.Helper()
	ctx := context.Background()
	for _, u := range kustomize(t, "default") {
		if !slices.Contains(rbacKinds, u.GetKind()) {
			continue
		}
		err := kube.Client.Apply(ctx, client.ApplyConfigurationFromUnstructured(u), client.FieldOwner("security-test"), client.ForceOwnership)
		if err != nil {
			t.Fatalf("apply %s %s: %v", u.GetKind(), u.GetName(), err)
		}
	}
}

// accountConfig is a client config that authenticates as the service account
// with a token from the TokenRequest API, as its pods do.
func accountConfig(t *testing.T, kube *kubetest.Env, cs kubernetes.Interface, ns, name string) *rest.Config {
	t.Helper()
	tr, err := cs.CoreV1().ServiceAccounts(ns).CreateToken(context.Background(), name, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](600)},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("token for %s/%s: %v", ns, name, err)
	}
	return &rest.Config{
		Host:            kube.Config.Host,
		TLSClientConfig: rest.TLSClientConfig{CAData: kube.Config.CAData},
		BearerToken:     tr.Status.Token,
	}
}

// rulesOf lists what the account may do in ns, as "group/resource verb" (with
// "[names]" when limited to names) and "url verb", from a
// SelfSubjectRulesReview made with the account's own token.
func rulesOf(t *testing.T, cfg *rest.Config, ns string) map[string]bool {
	t.Helper()
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var review *authorizationv1.SelfSubjectRulesReview
	kubetest.Eventually(t, wait, func() error {
		review, err = cs.AuthorizationV1().SelfSubjectRulesReviews().Create(context.Background(),
			&authorizationv1.SelfSubjectRulesReview{Spec: authorizationv1.SelfSubjectRulesReviewSpec{Namespace: ns}}, metav1.CreateOptions{})
		return err
	})
	if review.Status.Incomplete {
		t.Fatalf("rules review in %s is incomplete: %s", ns, review.Status.EvaluationError)
	}
	out := map[string]bool{}
	for _, r := range review.Status.ResourceRules {
		names := ""
		if len(r.ResourceNames) > 0 {
			names = "[" + strings.Join(r.ResourceNames, ",") + "]"
		}
		for _, g := range r.APIGroups {
			for _, res := range r.Resources {
				for _, v := range r.Verbs {
					out[fmt.Sprintf("%s/%s%s %s", g, res, names, v)] = true
				}
			}
		}
	}
	for _, r := range review.Status.NonResourceRules {
		for _, u := range r.NonResourceURLs {
			for _, v := range r.Verbs {
				out[u+" "+v] = true
			}
		}
	}
	return out
}

// grants expands "group/resource verb,verb" into rule strings.
func grants(specs ...string) map[string]bool {
	out := map[string]bool{}
	for _, s := range specs {
		res, verbs, _ := strings.Cut(s, " ")
		for _, v := range strings.Split(verbs, ",") {
			out[res+" "+v] = true
		}
	}
	return out
}

func union(sets ...map[string]bool) map[string]bool {
	out := map[string]bool{}
	for _, s := range sets {
		for k := range s {
			out[k] = true
		}
	}
	return out
}

// What each account needs; any other grant beyond what every service account
// has fails the test.
var (
	managerEverywhere = grants(
		"/pods get,list,watch",                             // termination messages, pods blocked by a missing Secret
		"/secrets get",                                     // the opt-in of a schedule's Secrets; the partner key's fingerprint: schedules on one key share its budget
		"authentication.k8s.io/tokenreviews create",        // scrapers of its metrics: who they are
		"authorization.k8s.io/subjectaccessreviews create", // and whether they may get /metrics
		"batch/jobs create,delete,get,list,patch,watch",
		"events.k8s.io/events create,patch",
		"inventory.slotsync.io/syncschedules get,list,watch",
		"inventory.slotsync.io/syncschedules/finalizers update", // owner references that block deletion
		"inventory.slotsync.io/syncschedules/status patch",
	)
	managerInstallNS = grants(
		"coordination.k8s.io/leases get,create,update",
		"/events create,patch",
	)
	apiEverywhere = grants(
		"authentication.k8s.io/tokenreviews create",
		"authorization.k8s.io/subjectaccessreviews create",
	)
	// The API only gets a schedule and applies spec.paused, with a direct
	// client: no list or watch, and only where it serves.
	apiScheduleNS = grants("inventory.slotsync.io/syncschedules get,patch")
)

// TestRBACLeastPrivilege installs config/default's RBAC on a real API server and
// lists what the manager's and the API's service accounts can do, with their own
// tokens, in their namespace and in a user's: exactly what they need and what
// every service account may do, nothing more. A matrix of sensitive actions
// checks the same from the other side, with SelfSubjectAccessReviews. Then each
// runs on its token alone to show that what it has is enough.
func TestRBACLeastPrivilege(t *testing.T) {
	kube, cs := startWithRBAC(t)
	ctx := context.Background()
	userNS := kube.Namespace(t)
	// A service account bound to nothing: what every account may do anyway.
	if err := kube.Client.Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "nobody", Namespace: userNS}}); err != nil {
		t.Fatal(err)
	}
	accounts := map[string]*rest.Config{
		"manager": accountConfig(t, kube, cs, installNS, "slotsync-manager"),
		"api":     accountConfig(t, kube, cs, installNS, "slotsync-api"),
	}
	baseline := accountConfig(t, kube, cs, userNS, "nobody")
	want := map[string]map[string]map[string]bool{
		"manager": {installNS: union(managerEverywhere, managerInstallNS), userNS: managerEverywhere, scheduleNS: managerEverywhere},
		"api":     {installNS: apiEverywhere, userNS: apiEverywhere, scheduleNS: union(apiEverywhere, apiScheduleNS)},
	}
	for name, cfg := range accounts {
		for _, ns := range []string{installNS, userNS, scheduleNS} {
			base := rulesOf(t, baseline, ns)
			got := map[string]bool{}
			for r := range rulesOf(t, cfg, ns) {
				if !base[r] {
					got[r] = true
				}
			}
			var extra, missing []string
			for r := range got {
				if !want[name][ns][r] {
					extra = append(extra, r)
				}
			}
			for r := range want[name][ns] {
				if !got[r] {
					missing = append(missing, r)
				}
			}
			sort.Strings(extra)
			sort.Strings(missing)
			if len(extra) > 0 {
				t.Errorf("%s may do more than it needs in namespace %s: %v", name, ns, extra)
			}
			if len(missing) > 0 {
				t.Errorf("%s lacks in namespace %s: %v", name, ns, missing)
			}
		}
	}

	// Sensitive actions, asked by each account about itself.
	type action struct {
		ns, verb, group, resource, sub string
		manager, api                   bool
	}
	matrix := []action{
		// get by name only: the manager reads the partner key Secrets its schedules name.
		{userNS, "get", "", "secrets", "", true, false},
		{userNS, "list", "", "secrets", "", false, false},
		{userNS, "watch", "", "secrets", "", false, false},
		{installNS, "get", "", "secrets", "", true, false},
		{installNS, "list", "", "secrets", "", false, false},
		{installNS, "watch", "", "secrets", "", false, false},
		{userNS, "get", "", "configmaps", "", false, false},
		{userNS, "create", "", "pods", "", false, false},
		{userNS, "create", "", "pods", "exec", false, false},
		{userNS, "get", "", "pods", "log", false, false},
		{userNS, "delete", "", "pods", "", false, false},
		{userNS, "create", "", "serviceaccounts", "token", false, false},
		{userNS, "create", "batch", "jobs", "", true, false},
		{userNS, "delete", "batch", "jobs", "", true, false},
		{userNS, "create", "batch", "cronjobs", "", false, false},
		{userNS, "create", "apps", "deployments", "", false, false},
		{userNS, "create", "inventory.slotsync.io", "syncschedules", "", false, false},
		{userNS, "delete", "inventory.slotsync.io", "syncschedules", "", false, false},
		{userNS, "patch", "inventory.slotsync.io", "syncschedules", "", false, false},
		{userNS, "get", "inventory.slotsync.io", "syncschedules", "", true, false},
		{"", "list", "inventory.slotsync.io", "syncschedules", "", true, false},
		{"", "patch", "inventory.slotsync.io", "syncschedules", "", false, false},
		{installNS, "patch", "inventory.slotsync.io", "syncschedules", "", false, false},
		{scheduleNS, "get", "inventory.slotsync.io", "syncschedules", "", true, true},
		{scheduleNS, "patch", "inventory.slotsync.io", "syncschedules", "", false, true},
		{scheduleNS, "list", "inventory.slotsync.io", "syncschedules", "", true, false},
		{scheduleNS, "watch", "inventory.slotsync.io", "syncschedules", "", true, false},
		{scheduleNS, "update", "inventory.slotsync.io", "syncschedules", "", false, false},
		{scheduleNS, "delete", "inventory.slotsync.io", "syncschedules", "", false, false},
		{userNS, "update", "inventory.slotsync.io", "syncschedules", "", false, false},
		{userNS, "patch", "inventory.slotsync.io", "syncschedules", "status", true, false},
		{userNS, "create", "rbac.authorization.k8s.io", "rolebindings", "", false, false},
		{"", "escalate", "rbac.authorization.k8s.io", "clusterroles", "", false, false},
		{"", "bind", "rbac.authorization.k8s.io", "clusterroles", "", false, false},
		{"", "impersonate", "", "users", "", false, false},
		{"", "impersonate", "", "serviceaccounts", "", false, false},
		{"", "update", "apiextensions.k8s.io", "customresourcedefinitions", "", false, false},
		{"", "get", "", "nodes", "", false, false},
		{"", "delete", "", "namespaces", "", false, false},
		{"", "create", "authentication.k8s.io", "tokenreviews", "", true, true},
		{"", "create", "authorization.k8s.io", "subjectaccessreviews", "", true, true},
		{installNS, "update", "coordination.k8s.io", "leases", "", true, false},
		{userNS, "update", "coordination.k8s.io", "leases", "", false, false},
		{installNS, "update", "apps", "deployments", "", false, false},
	}
	for name, cfg := range accounts {
		acs, err := kubernetes.NewForConfig(cfg)
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range matrix {
			r, err := acs.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, &authorizationv1.SelfSubjectAccessReview{
				Spec: authorizationv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &authorizationv1.ResourceAttributes{
					Namespace: a.ns, Verb: a.verb, Group: a.group, Resource: a.resource, Subresource: a.sub,
				}},
			}, metav1.CreateOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if want := map[string]bool{"manager": a.manager, "api": a.api}[name]; r.Status.Allowed != want {
				t.Errorf("%s may %s %s/%s %s in %q: %v, want %v", name, a.verb, a.group, a.resource, a.sub, a.ns, r.Status.Allowed, want)
			}
		}
	}

	t.Run("the manager runs on its own account", func(t *testing.T) {
		runManagerAs(t, kube, accounts["manager"], userNS)
	})
	t.Run("the API pauses on its own account", func(t *testing.T) {
		runAPIAs(t, kube, cs, accounts["api"], scheduleNS, userNS)
	})
	t.Run("the manager runs on exactly its grants", func(t *testing.T) {
		runManagerAs(t, kube, minimalManager(t, kube, cs), kube.Namespace(t))
	})
}

// managerGrants are the manager's grants, bound to a fresh account to show they suffice.
var managerGrants = map[string][]string{
	"everywhere": {
		"/pods get,list,watch",
		"/secrets get",
		"batch/jobs create,delete,get,list,patch,watch",
		"events.k8s.io/events create,patch",
		"inventory.slotsync.io/syncschedules get,list,watch",
		"inventory.slotsync.io/syncschedules/finalizers update",
		"inventory.slotsync.io/syncschedules/status patch",
	},
	installNS: {
		"coordination.k8s.io/leases get,create,update",
		"/events create,patch",
	},
}

func policyRules(specs []string) []rbacv1.PolicyRule {
	var rules []rbacv1.PolicyRule
	for _, s := range specs {
		res, verbs, _ := strings.Cut(s, " ")
		group, resource, _ := strings.Cut(res, "/")
		rules = append(rules, rbacv1.PolicyRule{APIGroups: []string{group}, Resources: []string{resource}, Verbs: strings.Split(verbs, ",")})
	}
	return rules
}

// minimalManager binds a service account to managerGrants and returns its config.
func minimalManager(t *testing.T, kube *kubetest.Env, cs kubernetes.Interface) *rest.Config {
	t.Helper()
	ctx := context.Background()
	const name = "slotsync-manager-minimal"
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: installNS}}
	cr := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: name}, Rules: policyRules(managerGrants["everywhere"])}
	crb := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: name},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: name, Namespace: installNS}},
	}
	role := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: installNS}, Rules: policyRules(managerGrants[installNS])}
	rb := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: installNS},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: name},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: name, Namespace: installNS}},
	}
	for _, o := range []client.Object{sa, cr, crb, role, rb} {
		if err := kube.Client.Create(ctx, o); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
	}
	return accountConfig(t, kube, cs, installNS, name)
}

// runManagerAs runs the controller with cfg's credentials and leader election,
// as the manager Deployment does, through a schedule's life: Jobs created,
// status written, pods read, Jobs suspended and deleted.
func runManagerAs(t *testing.T, kube *kubetest.Env, cfg *rest.Config, ns string) {
	opts := managerOptions(ns, logr.Discard(), func(o *ctrl.Options) {
		o.LeaderElection = true
		o.LeaderElectionID = "slotsync-manager.inventory.slotsync.io"
		o.LeaderElectionNamespace = installNS
		// The next run of this test takes the lease at once.
		o.LeaderElectionReleaseOnCancel = true
	})
	opts.Config = cfg
	mgr := managertest.Start(t, kube, opts)
	defer func() {
		if err := mgr.Stop(); err != nil {
			t.Errorf("manager: %v", err)
		}
	}()
	ctx := context.Background()
	select {
	case <-mgr.Elected():
	case <-time.After(wait):
		t.Fatal("the manager's account could not take the leader lease")
	}

	c := kube.Client
	// The manager checks that both Secrets allow the schedule and fingerprints
	// the key: on its own grants.
	for name, data := range map[string]map[string]string{"partner": {"apiKey": "rbac-key"}, "database": {"url": "postgres://rbac@db.example/rbac"}} {
		if err := allowedSecret(ctx, c, ns, name, data); err != nil {
			t.Fatal(err)
		}
	}
	ss := fixture.SyncSchedule("rbac", ns, fixture.WithProducts(14), fixture.TodayOnly, fixture.WithPartnerURL(partnerURL),
		fixture.WithDatabaseSecret("database", "url"),
		func(ss *inventoryv1alpha1.SyncSchedule) { ss.Spec.SuccessfulJobsHistoryLimit = ptr.To[int32](0) })
	if err := c.Create(ctx, ss); err != nil {
		t.Fatal(err)
	}
	key := client.ObjectKeyFromObject(ss)
	var job batchv1.Job
	kubetest.Eventually(t, wait, func() error {
		var list batchv1.JobList
		if err := c.List(ctx, &list, client.InNamespace(ns), client.MatchingLabels{inventoryv1alpha1.LabelSchedule: "rbac"}); err != nil {
			return err
		}
		if len(list.Items) != 1 {
			return fmt.Errorf("%d Jobs, want 1", len(list.Items))
		}
		job = list.Items[0]
		return c.Get(ctx, key, ss)
	})
	kubetest.Eventually(t, wait, func() error {
		if err := c.Get(ctx, key, ss); err != nil {
			return err
		}
		if ss.Status.ObservedGeneration != ss.Generation || len(ss.Status.Windows) != 1 || ss.Status.PartnerKeyHash == "" {
			return fmt.Errorf("status not written: %+v", ss.Status)
		}
		return nil
	})
	// Pause: the Job is suspended.
	kubetest.Eventually(t, wait, func() error {
		if err := c.Get(ctx, key, ss); err != nil {
			return err
		}
		ss.Spec.Paused = true
		return c.Update(ctx, ss)
	})
	kubetest.Eventually(t, wait, func() error {
		if err := c.Get(ctx, client.ObjectKeyFromObject(&job), &job); err != nil {
			return err
		}
		if !ptr.Deref(job.Spec.Suspend, false) {
			return fmt.Errorf("Job %s not suspended", job.Name)
		}
		return nil
	})
	// The Job succeeds; with a history limit of 0 the manager deletes it.
	now := metav1.Now()
	job.Status = batchv1.JobStatus{
		StartTime: &now, CompletionTime: &now, Succeeded: 1, CompletedIndexes: "0",
		Conditions: []batchv1.JobCondition{
			{Type: batchv1.JobSuccessCriteriaMet, Status: corev1.ConditionTrue, LastTransitionTime: now},
			{Type: batchv1.JobComplete, Status: corev1.ConditionTrue, LastTransitionTime: now},
		},
	}
	if err := c.Status().Update(ctx, &job); err != nil {
		t.Fatal(err)
	}
	kubetest.Eventually(t, wait, func() error {
		err := c.Get(ctx, client.ObjectKeyFromObject(&job), &job)
		if apierrors.IsNotFound(err) || (err == nil && job.DeletionTimestamp != nil) {
			return nil
		}
		return fmt.Errorf("finished Job %s not pruned: %v", job.Name, err)
	})
}

// runAPIAs serves the REST API with cfg's credentials and pauses a schedule
// of ns for a caller whose own RBAC allows it; pointed at a schedule of
// otherNS, where the caller may pause too, the API's own account may not.
func runAPIAs(t *testing.T, kube *kubetest.Env, admin kubernetes.Interface, cfg *rest.Config, ns, otherNS string) {
	ctx := context.Background()
	c := kube.Client
	// ns may be shared by other runs of the test: names of this run's own.
	name := "paused-by-api-" + otherNS
	if code := pauseThroughAPI(t, kube, admin, cfg, ns, name); code != http.StatusOK {
		t.Fatalf("pause through the API on its own account in %s: %d, want 200", ns, code)
	}
	ss := &inventoryv1alpha1.SyncSchedule{}
	if err := c.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, ss); err != nil || !ss.Spec.Paused {
		t.Fatalf("spec.paused after a pause through the API: %v, %v", ss.Spec.Paused, err)
	}
	if code := pauseThroughAPI(t, kube, admin, cfg, otherNS, name); code != http.StatusInternalServerError {
		t.Errorf("pause through the API on its own account in %s: %d, want 500 (it may not get schedules there)", otherNS, code)
	}
	if err := c.Get(ctx, types.NamespacedName{Namespace: otherNS, Name: name}, ss); err != nil || ss.Spec.Paused {
		t.Fatalf("spec.paused in %s after a pause the API may not make: %v, %v", otherNS, ss.Spec.Paused, err)
	}
}

// pauseThroughAPI creates the schedule ns/name and a caller allowed to pause
// it, serves the REST API for it with cfg's credentials and returns the
// status of the caller's pause, once RBAC has seen the caller's binding.
func pauseThroughAPI(t *testing.T, kube *kubetest.Env, admin kubernetes.Interface, cfg *rest.Config, ns, name string) int {
	t.Helper()
	ctx := context.Background()
	c := kube.Client
	ss := fixture.SyncSchedule(name, ns, fixture.WithProducts(14), fixture.WithPartnerURL(partnerURL),
		fixture.WithDatabaseSecret("database", "url"))
	operator := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}}
	role := &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Rules:      []rbacv1.PolicyRule{{APIGroups: []string{inventoryv1alpha1.GroupVersion.Group}, Resources: []string{"syncschedules"}, Verbs: []string{"get", "pause", "resume"}}},
	}
	binding := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: name},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: name, Namespace: ns}},
	}
	for _, o := range []client.Object{ss, operator, role, binding} {
		if err := c.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Delete(context.Background(), o) })
	}
	tr, err := admin.CoreV1().ServiceAccounts(ns).CreateToken(ctx, name, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](600), Audiences: []string{api.DefaultTokenAudience}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	token := tr.Status.Token

	kc, err := client.New(cfg, client.Options{Scheme: kube.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	reviews, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	// The pause route never reads the database: a store that cannot connect will do.
	db, err := store.Open(ctx, "postgres://nobody@127.0.0.1:1/none?sslmode=disable")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	srv, err := api.New(api.Config{Store: db, Kube: kc, Reviews: reviews, Schedule: types.NamespacedName{Namespace: ns, Name: name}})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sctx, stop := context.WithCancel(logr.NewContext(ctx, logr.Discard()))
	served := make(chan error, 1)
	go func() { served <- srv.Serve(sctx, ln, nil) }()
	defer func() {
		stop()
		<-served
	}()
	var code int
	kubetest.Eventually(t, wait, func() error {
		req, _ := http.NewRequest(http.MethodPost, "http://"+ln.Addr().String()+"/api/v1/sync/pause", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		// 403 until RBAC has seen the caller's binding.
		if code = resp.StatusCode; code == http.StatusForbidden {
			return fmt.Errorf("pause through the API: %d", code)
		}
		return nil
	})
	return code
}

// TestPauserRole: config/rbac's syncschedule-pauser lets its subjects read,
// pause and resume SyncSchedules and nothing else, and the editor role, which
// edit and admin aggregate, carries pause and resume too.
func TestPauserRole(t *testing.T) {
	kube, cs := startWithRBAC(t)
	ctx := context.Background()
	ns := kube.Namespace(t)
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "pauser", Namespace: ns}}
	nobody := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "nobody", Namespace: ns}}
	rb := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "pauser", Namespace: ns},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "slotsync-syncschedule-pauser"},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: "pauser", Namespace: ns}},
	}
	for _, o := range []client.Object{sa, nobody, rb} {
		if err := kube.Client.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	base := rulesOf(t, accountConfig(t, kube, cs, ns, "nobody"), ns)
	got := map[string]bool{}
	for r := range rulesOf(t, accountConfig(t, kube, cs, ns, "pauser"), ns) {
		if !base[r] {
			got[r] = true
		}
	}
	want := grants("inventory.slotsync.io/syncschedules get,pause,resume")
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("slotsync-syncschedule-pauser grants %v, want %v", got, want)
	}

	var editor rbacv1.ClusterRole
	typed(t, kustomize(t, "default"), "ClusterRole", "slotsync-syncschedule-editor-role", &editor)
	for _, verb := range []string{"pause", "resume"} {
		if !slices.ContainsFunc(editor.Rules, func(r rbacv1.PolicyRule) bool {
			return slices.Contains(r.Resources, "syncschedules") && slices.Contains(r.Verbs, verb)
		}) {
			t.Errorf("the editor role lacks %s on syncschedules: %+v", verb, editor.Rules)
		}
	}
}

// TestMetricsReaderRole: config/rbac's metrics-reader allows get on /metrics,
// which the API asks scrapers for, and nothing else.
func TestMetricsReaderRole(t *testing.T) {
	kube, cs := startWithRBAC(t)
	ctx := context.Background()
	ns := kube.Namespace(t)
	crb := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: ns + "-metrics-reader"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "slotsync-metrics-reader"},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: "prometheus", Namespace: ns}},
	}
	for _, o := range []client.Object{
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "prometheus", Namespace: ns}},
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "nobody", Namespace: ns}},
		crb,
	} {
		if err := kube.Client.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { _ = kube.Client.Delete(context.Background(), crb) })
	base := rulesOf(t, accountConfig(t, kube, cs, ns, "nobody"), ns)
	got := map[string]bool{}
	for r := range rulesOf(t, accountConfig(t, kube, cs, ns, "prometheus"), ns) {
		if !base[r] {
			got[r] = true
		}
	}
	if want := map[string]bool{"/metrics get": true}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("slotsync-metrics-reader grants %v, want %v", got, want)
	}
}
