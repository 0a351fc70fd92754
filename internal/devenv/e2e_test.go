//go:build e2e

package devenv_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"

	inventoryv1alpha1 "github.com/slotsync/slotsync/api/v1alpha1"
	"github.com/slotsync/slotsync/internal/api"
	"github.com/slotsync/slotsync/internal/devenv"
	"github.com/slotsync/slotsync/internal/kubetest"
	"github.com/slotsync/slotsync/internal/partner"
	"github.com/slotsync/slotsync/internal/partnersim"
)

// step bounds every wait of the end-to-end run.
const step = 3 * time.Minute

type e2e struct {
	t   *testing.T
	env *devenv.Env
	ctx context.Context
}

// TestE2E drives `slotsync-dev dev --fast` the way users do: kubectl and HTTP.
func TestE2E(t *testing.T) {
	root := kubetest.RepoRoot(t)
	bin := filepath.Join(root, "bin", "slotsync")
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("%s missing: run `make build` (make e2e does)", bin)
	}
	ctx := context.Background()
	env, err := devenv.Start(ctx, devenv.Options{
		Root: t.TempDir(), K8sBin: filepath.Join(root, "bin", "k8s"), Slotsync: bin, RepoRoot: root, Fast: true, Progress: testWriter{t},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer env.Stop()
	e := &e2e{t: t, env: env, ctx: ctx}
	defer func() {
		if t.Failed() {
			t.Log(env.Logs())
		}
	}()
	type scenario struct {
		name string
		run  func()
	}
	var realNode []scenario
	restart := "manager killed mid-run: no second Job, the run completes"
	if env.NodeKind == devenv.NodeReal {
		realNode = []scenario{
			{"config/default: both Deployments Available on the containerd node, probes pass, a leader elected", e.shippedDeployments},
			{"the shipped security context, as the kernel enforces it: no writes outside volumes", e.securityContextEnforced},
			{"in-cluster config with projected tokens; sync pods get no token", e.projectedTokens},
		}
		restart = "the manager's leader pod deleted mid-run: the other replica leads, no second Job, the run completes"
	}
	scenarios := append([]scenario{
		{"apply: Indexed Jobs run on the node and the schedule turns Ready", e.firstRun},
	}, realNode...)
	scenarios = append(scenarios, []scenario{
		{"API answers equal the partner, before and after its inventory changes", e.answersEqualPartner},
		{"pause and resume with kubectl", e.pauseWithKubectl},
		{"pause and resume over REST, guarded by RBAC", e.pauseOverREST},
		{"pause and resume over REST as a subject bound only to the shipped pauser role", e.pauseAsPauser},
		{"GitOps re-apply keeps a pause made through the API", e.reapplyKeepsPause},
		{restart, e.managerRestart},
		{"fault burst: failed pairs reported, snapshots intact, next run heals", e.faultBurst},
		{"revoked key: Jobs fail at once by their pod failure policy, no retries, a new key heals", e.revokedKey},
		{"re-pointed at another partner: the next run fetches every pair from it", e.otherPartner},
	}...)
	if env.NodeKind == devenv.NodeReal {
		scenarios = append(scenarios,
			scenario{"an API pod deleted: the Service answers every request", e.apiReplicaDeleted},
			scenario{"an API container killed: the Service keeps answering, the kubelet restarts it", e.apiReplicaKilled})
	}
	for _, s := range scenarios {
		began := time.Now()
		if !t.Run(s.name, func(t *testing.T) { e.t = t; s.run() }) {
			return
		}
		t.Logf("%s: %.1fs", s.name, time.Since(began).Seconds())
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

func (e *e2e) kubectl(args ...string) string {
	e.t.Helper()
	out, err := e.env.Kubectl(e.ctx, nil, args...)
	if err != nil {
		e.t.Fatal(err)
	}
	return string(out)
}

func (e *e2e) eventually(what string, check func() error) {
	e.t.Helper()
	var last error
	err := wait.PollUntilContextTimeout(context.Background(), 250*time.Millisecond, step, true, func(context.Context) (bool, error) {
		last = check()
		return last == nil, nil
	})
	if err != nil {
		e.t.Fatalf("%s: after %v: %v", what, step, last)
	}
}

func (e *e2e) schedule() *inventoryv1alpha1.SyncSchedule {
	e.t.Helper()
	var ss inventoryv1alpha1.SyncSchedule
	if err := e.env.Client.Get(e.ctx, client.ObjectKey{Namespace: devenv.Namespace, Name: devenv.ScheduleName}, &ss); err != nil {
		e.t.Fatal(err)
	}
	return &ss
}

func (e *e2e) jobs() []batchv1.Job {
	e.t.Helper()
	var list batchv1.JobList
	if err := e.env.Client.List(e.ctx, &list, client.InNamespace(devenv.Namespace), client.MatchingLabels{inventoryv1alpha1.LabelSchedule: devenv.ScheduleName}); err != nil {
		e.t.Fatal(err)
	}
	return list.Items
}

func (e *e2e) condition(t string) *metav1.Condition {
	return apimeta.FindStatusCondition(e.schedule().Status.Conditions, t)
}

func (e *e2e) firstRun() {
	e.kubectl("wait", "--for=condition=Ready", "ss/"+devenv.ScheduleName, "--timeout=180s")
	var pods corev1.PodList
	if err := e.env.Client.List(e.ctx, &pods, client.InNamespace(devenv.Namespace), client.HasLabels{inventoryv1alpha1.LabelSchedule}); err != nil {
		e.t.Fatal(err)
	}
	perJob := map[string]int{}
	succeeded := 0
	for _, p := range pods.Items {
		if p.Spec.NodeName != "localnode" {
			e.t.Errorf("pod %s ran on %q, not the local node", p.Name, p.Spec.NodeName)
		}
		perJob[p.Labels[batchv1.JobNameLabel]]++
		if p.Status.Phase == corev1.PodSucceeded {
			succeeded++
		}
	}
	if succeeded == 0 {
		e.t.Fatal("no sync pod succeeded")
	}
	for job, n := range perJob {
		if n < 2 {
			e.t.Errorf("Job %s has %d pods, want one per shard (2)", job, n)
		}
	}
	ss := e.schedule()
	for _, w := range ss.Status.Windows {
		if w.LastRun == nil || w.LastRun.Result != inventoryv1alpha1.RunSucceeded || w.LastRun.Requests == 0 || w.LastSuccessfulTime == nil {
			e.t.Errorf("window %s status %+v: want a successful run with its counts from the pods", w.Name, w.LastRun)
		}
	}
	out := e.kubectl("get", "ss")
	if !strings.Contains(out, devenv.ScheduleName) || !strings.Contains(out, "True") {
		e.t.Errorf("kubectl get ss:\n%s", out)
	}
	// kubectl logs reaches the node's log endpoint.
	logs := e.kubectl("logs", pods.Items[0].Name)
	if !strings.Contains(logs, "synced") {
		e.t.Errorf("kubectl logs %s: %q", pods.Items[0].Name, logs)
	}
}

func (e *e2e) get(url string, token string, into any) int {
	e.t.Helper()
	req, _ := http.NewRequestWithContext(e.ctx, http.MethodGet, url, nil)
	return e.do(req, token, into)
}

func (e *e2e) do(req *http.Request, token string, into any) int {
	e.t.Helper()
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := e.env.HTTPClient().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if into != nil && resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(body, into); err != nil {
			e.t.Fatalf("%s %s: %v: %s", req.Method, req.URL, err, body)
		}
	}
	return resp.StatusCode
}

// truthAt is the partner's answer as it was when a snapshot was taken. The worker
// records syncedAt just after the fetch, so the fetch saw the simulator a moment
// earlier: either instant is a faithful mirror.
func (e *e2e) truthAt(sim *partnersim.Server, product int64, date time.Time, syncedAt time.Time) [][]partner.Slot {
	return [][]partner.Slot{
		sim.Inventory(product, date, e.env.SimTime(syncedAt)),
		sim.Inventory(product, date, e.env.SimTime(syncedAt.Add(-2*time.Second))),
	}
}

// compareWithPartner checks the slots and dates answers for products 14 and 15 over
// the synced month against the environment's simulator.
func (e *e2e) compareWithPartner() {
	e.t.Helper()
	e.compareWith(e.env.Sim)
}

func (e *e2e) compareWith(sim *partnersim.Server) {
	e.t.Helper()
	today := time.Now().UTC().Truncate(24 * time.Hour)
	for _, product := range []int64{14, 15} {
		var dates api.DatesResponse
		if code := e.get(fmt.Sprintf("%s/api/v1/experience/%d/dates", e.env.APIURL, product), "", &dates); code != http.StatusOK {
			e.t.Fatalf("dates of %d: HTTP %d", product, code)
		}
		offered := map[string]api.AvailableDate{}
		for _, d := range dates.Dates {
			offered[d.Date] = d
		}
		for day := 0; day < 30; day++ {
			date := today.AddDate(0, 0, day)
			var slots api.SlotsResponse
			url := fmt.Sprintf("%s/api/v1/experience/%d/slots?date=%s", e.env.APIURL, product, date.Format(time.DateOnly))
			if code := e.get(url, "", &slots); code != http.StatusOK {
				e.t.Fatalf("GET %s: HTTP %d", url, code)
			}
			if slots.SyncedAt == nil {
				e.t.Fatalf("product %d on %s was never synced", product, date.Format(time.DateOnly))
			}
			match := false
			for _, want := range e.truthAt(sim, product, date, *slots.SyncedAt) {
				if reflect.DeepEqual(nonNil(want), nonNil(slots.Slots)) {
					match = true
					if d, ok := offered[date.Format(time.DateOnly)]; ok != (quoted(want) != "") || (ok && d.Price.FinalPrice != quoted(want)) {
						e.t.Errorf("dates answer for %d on %s is %+v, the price to quote from its slots is %q", product, date.Format(time.DateOnly), d, quoted(want))
					}
				}
			}
			if !match {
				e.t.Fatalf("slots of %d on %s differ from the partner at %s:\n got %+v", product, date.Format(time.DateOnly), slots.SyncedAt, slots.Slots)
			}
		}
	}
}

func nonNil(s []partner.Slot) []partner.Slot {
	if s == nil {
		return []partner.Slot{}
	}
	return s
}

// quoted is the price the dates route quotes for a day of slots: the lowest
// final price among passenger types with places left in slots with places
// left, of the primary type, else of an adult-like one, else of any.
func quoted(slots []partner.Slot) partner.Decimal {
	var best partner.Decimal
	bestTier, bestCents := 3, -1.0
	for _, s := range slots {
		if s.Remaining <= 0 {
			continue
		}
		for _, p := range s.PaxAvailability {
			tier := 2
			if p.IsPrimary {
				tier = 0
			} else if strings.Contains(strings.ToLower(p.Type+" "+p.Name), "adult") {
				tier = 1
			}
			var v float64 // comparison only; the answer is compared as text
			fmt.Sscan(string(p.Price.FinalPrice), &v)
			if p.Remaining > 0 && (tier < bestTier || tier == bestTier && v < bestCents) {
				best, bestTier, bestCents = p.Price.FinalPrice, tier, v
			}
		}
	}
	return best
}

// requestRun asks for a manual run of every window, as a user would, and returns
// the request's value.
func (e *e2e) requestRun() string {
	value := time.Now().Format(time.RFC3339Nano)
	e.kubectl("annotate", "ss", devenv.ScheduleName, "--overwrite", inventoryv1alpha1.AnnotationRequestedAt+"="+value)
	return value
}

// manualRun waits until every window's last finished run is the Job of the
// manual-run request, with all its shards counted, and returns those counts by
// window. A window's later scheduled run may replace its lastRun at any moment,
// so each is kept once seen.
func (e *e2e) manualRun(request string) map[string]inventoryv1alpha1.RunCounts {
	e.t.Helper()
	runs := map[string]inventoryv1alpha1.RunCounts{}
	e.eventually("the manual run finished in every window", func() error {
		ss := e.schedule()
		for _, w := range ss.Status.Windows {
			if r := w.LastRun; r != nil && r.Job == ss.ManualJobName(w.Name, request) && r.PodsCounted >= ss.Spec.Shards {
				runs[w.Name] = *r
			}
		}
		if len(runs) < len(ss.Bands()) {
			return fmt.Errorf("finished in %d of %d windows: %v", len(runs), len(ss.Bands()), runs)
		}
		return nil
	})
	return runs
}

func (e *e2e) setPaused(paused bool) {
	e.kubectl("patch", "ss", devenv.ScheduleName, "--type=merge", "-p", fmt.Sprintf(`{"spec":{"paused":%t}}`, paused))
}

// quiet pauses the schedule and waits for its Jobs to finish or be suspended, so the
// database holds still while it is compared.
func (e *e2e) quiet() {
	e.setPaused(true)
	e.eventually("no Job running", func() error {
		for _, j := range e.jobs() {
			if j.Status.Active > 0 {
				return fmt.Errorf("Job %s has %d active pods", j.Name, j.Status.Active)
			}
		}
		return nil
	})
}

func (e *e2e) answersEqualPartner() {
	e.quiet()
	e.compareWithPartner()
	// The partner's inventory moves on (60x faster), the next runs pick it up.
	before := e.schedule().Status.LastSyncTime.DeepCopy()
	e.setPaused(false)
	// The month window runs every 24 scaled minutes: ask for a run of every window now.
	e.requestRun()
	e.eventually("a later successful run of every window", func() error {
		ss := e.schedule()
		for _, w := range ss.Status.Windows {
			if w.LastSuccessfulTime == nil || !w.LastSuccessfulTime.After(before.Time) {
				return fmt.Errorf("window %s last succeeded at %v", w.Name, w.LastSuccessfulTime)
			}
		}
		return nil
	})
	e.quiet()
	e.compareWithPartner()
	e.setPaused(false)
}

// waitSuspended waits for the controller to act on a pause: Paused=True and every
// unfinished Job suspended.
func (e *e2e) waitSuspended() {
	e.t.Helper()
	e.eventually("Paused=True and every unfinished Job suspended", func() error {
		if c := e.condition(inventoryv1alpha1.ConditionPaused); c == nil || c.Status != metav1.ConditionTrue {
			return fmt.Errorf("Paused condition %+v", c)
		}
		for _, j := range e.jobs() {
			if j.Status.CompletionTime == nil && !isFailed(&j) && (j.Spec.Suspend == nil || !*j.Spec.Suspend) {
				return fmt.Errorf("Job %s is not suspended", j.Name)
			}
		}
		return nil
	})
}

func (e *e2e) pauseWithKubectl() {
	e.setPaused(true)
	e.waitSuspended()
	count := len(e.jobs())
	time.Sleep(20 * time.Second) // longer than the today window's 15s interval
	if got := len(e.jobs()); got != count {
		e.t.Fatalf("%d Jobs after 20s paused, want %d: paused schedules start nothing", got, count)
	}
	e.setPaused(false)
	e.eventually("a new Job after resume", func() error {
		if got := len(e.jobs()); got <= count {
			return fmt.Errorf("%d Jobs", got)
		}
		return nil
	})
}

func isFailed(j *batchv1.Job) bool { return jobCondition(j, batchv1.JobFailed) != nil }

// token makes a ServiceAccount, optionally allowed to patch SyncSchedules, and returns
// a token for it.
func (e *e2e) token(name string, allowed bool) string {
	e.t.Helper()
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: devenv.Namespace}}
	if err := e.env.Client.Create(e.ctx, sa); err != nil {
		e.t.Fatal(err)
	}
	if allowed {
		role := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: devenv.Namespace}, Rules: []rbacv1.PolicyRule{{
			APIGroups: []string{inventoryv1alpha1.GroupVersion.Group}, Resources: []string{"syncschedules"}, Verbs: []string{"get", "pause", "resume"},
		}}}
		binding := &rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: devenv.Namespace},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: name},
			Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Name: name, Namespace: devenv.Namespace}},
		}
		for _, o := range []client.Object{role, binding} {
			if err := e.env.Client.Create(e.ctx, o); err != nil {
				e.t.Fatal(err)
			}
		}
	}
	return strings.TrimSpace(e.kubectl("create", "token", name, "-n", devenv.Namespace, "--audience", api.DefaultTokenAudience))
}

func (e *e2e) post(path, token string) int {
	e.t.Helper()
	req, _ := http.NewRequestWithContext(e.ctx, http.MethodPost, e.env.APIURL+path, nil)
	return e.do(req, token, nil)
}

func (e *e2e) pauseOverREST() {
	allowed, denied := e.token("pauser", true), e.token("bystander", false)
	if code := e.post("/api/v1/sync/pause", denied); code != http.StatusForbidden {
		e.t.Fatalf("pause with a token RBAC does not allow: HTTP %d, want 403", code)
	}
	if code := e.post("/api/v1/sync/pause", ""); code != http.StatusUnauthorized {
		e.t.Fatalf("pause without a token: HTTP %d, want 401", code)
	}
	if e.schedule().Spec.Paused {
		e.t.Fatal("a refused pause paused the schedule")
	}
	if code := e.post("/api/v1/sync/pause", allowed); code != http.StatusOK {
		e.t.Fatalf("pause with an allowed token: HTTP %d, want 200", code)
	}
	if !e.schedule().Spec.Paused {
		e.t.Fatal("REST pause did not set spec.paused")
	}
	if code := e.post("/api/v1/sync/resume", allowed); code != http.StatusOK || e.schedule().Spec.Paused {
		e.t.Fatalf("resume: HTTP %d, paused %t", code, e.schedule().Spec.Paused)
	}
}

// pauserRole is config/rbac's syncschedule-pauser under config/default's namePrefix.
const pauserRole = "slotsync-syncschedule-pauser"

// pauseAsPauser: a ServiceAccount bound only to the shipped pauser ClusterRole
// pauses and resumes over REST with a token for the API's audience, and can do
// nothing more: the API server forbids it to patch the schedule, and each of its
// two tokens is refused where the other audience is expected.
func (e *e2e) pauseAsPauser() {
	const sa = "sync-operator"
	e.setPaused(false)
	e.kubectl("create", "serviceaccount", sa, "-n", devenv.Namespace)
	e.kubectl("create", "rolebinding", sa+"-pauser", "-n", devenv.Namespace, "--clusterrole="+pauserRole, "--serviceaccount="+devenv.Namespace+":"+sa)
	token := strings.TrimSpace(e.kubectl("create", "token", sa, "-n", devenv.Namespace, "--audience", api.DefaultTokenAudience))
	kubeconfig, apiServerToken, err := e.env.ServiceAccountKubeconfig(e.ctx, devenv.Namespace, sa)
	if err != nil {
		e.t.Fatal(err)
	}

	if out, err := e.kubectlAs(kubeconfig, "patch", "ss", devenv.ScheduleName, "--type=merge", "-p", `{"spec":{"paused":true}}`); err == nil || !strings.Contains(out, "Forbidden") {
		e.t.Fatalf("kubectl patch as %s: %v: %s; want Forbidden: pause and resume do not grant patch", sa, err, out)
	}
	if out, err := e.kubectlAs(kubeconfig, "--token="+token, "get", "ss", devenv.ScheduleName); err == nil || !strings.Contains(out, "Unauthorized") {
		e.t.Fatalf("kubectl get with the token for the audience %s: %v: %s; want Unauthorized", api.DefaultTokenAudience, err, out)
	}
	if code := e.post("/api/v1/sync/pause", apiServerToken); code != http.StatusUnauthorized {
		e.t.Fatalf("pause with a token for the API server's audience: HTTP %d, want 401", code)
	}
	if e.schedule().Spec.Paused {
		e.t.Fatal("a refused request paused the schedule")
	}
	var state api.ScheduleState
	if code := e.get(e.env.APIURL+"/api/v1/sync/status", token, &state); code != http.StatusOK || state.Paused {
		e.t.Fatalf("status as %s: HTTP %d, paused %t", sa, code, state.Paused)
	}

	// Slow answers keep the longest band's run active long enough to watch its Job
	// suspended and resumed.
	if err := e.env.Sim.SetFaults(partnersim.Faults{SlowRate: 1, SlowDelay: time.Second}); err != nil {
		e.t.Fatal(err)
	}
	defer func() { _ = e.env.Sim.SetFaults(partnersim.Faults{}) }()
	e.requestRun()
	bands := e.schedule().Bands()
	running := e.activeJob(bands[len(bands)-1].Window)

	req, _ := http.NewRequestWithContext(e.ctx, http.MethodPost, e.env.APIURL+"/api/v1/sync/pause", nil)
	if code := e.do(req, token, &state); code != http.StatusOK || !state.Paused {
		e.t.Fatalf("pause as %s: HTTP %d, paused %t", sa, code, state.Paused)
	}
	if !e.schedule().Spec.Paused {
		e.t.Fatal("REST pause did not set spec.paused")
	}
	e.waitSuspended()
	e.eventually("the running Job suspended, its pods gone", func() error {
		j := e.job(running.Name)
		if j.Spec.Suspend == nil || !*j.Spec.Suspend || j.Status.Active > 0 {
			return fmt.Errorf("Job %s: suspend %v, %d active pods", j.Name, j.Spec.Suspend, j.Status.Active)
		}
		return nil
	})

	req, _ = http.NewRequestWithContext(e.ctx, http.MethodPost, e.env.APIURL+"/api/v1/sync/resume", nil)
	if code := e.do(req, token, &state); code != http.StatusOK || state.Paused {
		e.t.Fatalf("resume as %s: HTTP %d, paused %t", sa, code, state.Paused)
	}
	if e.schedule().Spec.Paused {
		e.t.Fatal("REST resume did not clear spec.paused")
	}
	if err := e.env.Sim.SetFaults(partnersim.Faults{}); err != nil {
		e.t.Fatal(err)
	}
	e.eventually("the suspended Job resumed and completed, Paused=False", func() error {
		if c := e.condition(inventoryv1alpha1.ConditionPaused); c == nil || c.Status != metav1.ConditionFalse {
			return fmt.Errorf("Paused condition %+v", c)
		}
		j := e.job(running.Name)
		if j.Spec.Suspend != nil && *j.Spec.Suspend || j.Status.CompletionTime == nil {
			return fmt.Errorf("Job %s: suspend %v, completed %v", j.Name, j.Spec.Suspend, j.Status.CompletionTime)
		}
		return nil
	})
}

// kubectlAs runs kubectl with kubeconfig in place of the admin's, so it acts as
// that kubeconfig's subject. The output includes kubectl's errors.
func (e *e2e) kubectlAs(kubeconfig string, args ...string) (string, error) {
	out, err := exec.CommandContext(e.ctx, "kubectl", append([]string{"--kubeconfig=" + kubeconfig}, args...)...).CombinedOutput()
	return string(out), err
}

func (e *e2e) reapplyKeepsPause() {
	allowed := strings.TrimSpace(e.kubectl("create", "token", "pauser", "-n", devenv.Namespace, "--audience", api.DefaultTokenAudience))
	if code := e.post("/api/v1/sync/pause", allowed); code != http.StatusOK {
		e.t.Fatalf("pause: HTTP %d", code)
	}
	doc, err := e.env.SampleYAML()
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.env.Kubectl(e.ctx, doc, "apply", "-f", "-"); err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.env.Kubectl(e.ctx, doc, "apply", "--server-side", "--field-manager=argocd-controller", "-f", "-"); err != nil {
		e.t.Fatal(err)
	}
	if !e.schedule().Spec.Paused {
		e.t.Fatal("re-applying the original YAML undid the pause made through the API")
	}
	if code := e.post("/api/v1/sync/resume", allowed); code != http.StatusOK {
		e.t.Fatalf("resume: HTTP %d", code)
	}
}

func (e *e2e) managerRestart() {
	running := e.activeJob("")
	before := map[string]bool{}
	for _, j := range e.jobs() {
		before[j.Name] = true
	}
	if err := e.env.RestartManager(e.ctx); err != nil {
		e.t.Fatal(err)
	}
	e.eventually("the interrupted run completes, and a new run starts under the restarted manager", func() error {
		fresh, done := false, false
		for _, j := range e.jobs() {
			fresh = fresh || !before[j.Name]
			done = done || (j.Name == running.Name && j.Status.CompletionTime != nil)
		}
		if !fresh || !done {
			return fmt.Errorf("new Job: %t, %s complete: %t", fresh, running.Name, done)
		}
		return nil
	})
	seen := map[string]string{}
	for _, j := range e.jobs() {
		run := j.Labels[inventoryv1alpha1.LabelWindow] + "@" + j.Labels[inventoryv1alpha1.LabelScheduledAt] + "#" + j.Labels["inventory.slotsync.io/request"]
		if other, dup := seen[run]; dup {
			e.t.Fatalf("Jobs %s and %s run the same scheduled run %s", other, j.Name, run)
		}
		seen[run] = j.Name
	}
	e.kubectl("wait", "--for=condition=Ready", "ss/"+devenv.ScheduleName, "--timeout=180s")
}

func (e *e2e) faultBurst() {
	e.quiet()
	date := time.Now().UTC().Truncate(24*time.Hour).AddDate(0, 0, 2)
	url := fmt.Sprintf("%s/api/v1/experience/14/slots?date=%s", e.env.APIURL, date.Format(time.DateOnly))
	var before api.SlotsResponse
	e.get(url, "", &before)

	// A 429 storm, then every answer a 5xx: retries run out and pairs fail.
	if err := e.env.Sim.SetFaults(partnersim.Faults{ErrorRate: 1, Storm429Until: time.Now().Add(2 * time.Second)}); err != nil {
		e.t.Fatal(err)
	}
	e.setPaused(false)
	e.requestRun()
	e.eventually("Degraded with failed pairs", func() error {
		if c := e.condition(inventoryv1alpha1.ConditionDegraded); c == nil || c.Status != metav1.ConditionTrue {
			return fmt.Errorf("Degraded %+v", c)
		}
		for _, w := range e.schedule().Status.Windows {
			if w.LastRun != nil && w.LastRun.PairsFailed > 0 {
				return nil
			}
		}
		return fmt.Errorf("no window reports failed pairs")
	})
	var during api.SlotsResponse
	e.get(url, "", &during)
	if during.SyncedAt != nil && during.SyncedAt.Equal(*before.SyncedAt) && !reflect.DeepEqual(during.Slots, before.Slots) {
		e.t.Fatal("a snapshot changed without a new sync")
	}
	if err := e.env.Sim.SetFaults(partnersim.Faults{}); err != nil {
		e.t.Fatal(err)
	}
	// The month window runs every 24 scaled minutes: ask for a run of every window now.
	e.requestRun()
	e.eventually("Ready again after the faults clear", func() error {
		if c := e.condition(inventoryv1alpha1.ConditionReady); c == nil || c.Status != metav1.ConditionTrue {
			return fmt.Errorf("Ready %+v", c)
		}
		return nil
	})
	e.quiet()
	e.compareWithPartner()
}

// revokedKey: the partner rejects the key. Each worker stops at its first 401 and
// exits with the code the Job's pod failure policy fails the whole Job on, so no
// index is retried (each retry would spend budget on another 401); the schedule
// says why. When the key is accepted again, the next run heals it.
func (e *e2e) revokedKey() {
	e.quiet()
	before := map[string]bool{}
	for _, j := range e.jobs() {
		before[j.Name] = true
	}
	if err := e.env.Sim.SetFaults(partnersim.Faults{RevokedKeys: []string{devenv.PartnerKey}}); err != nil {
		e.t.Fatal(err)
	}
	e.setPaused(false)
	e.requestRun()
	e.eventually("the new Jobs failed by their pod failure policy, no index retried", func() error {
		n := 0
		for _, j := range e.jobs() {
			if before[j.Name] {
				continue
			}
			n++
			c := jobCondition(&j, batchv1.JobFailed)
			if c == nil || c.Reason != batchv1.JobReasonPodFailurePolicy {
				return fmt.Errorf("Job %s: failed condition %+v, want reason %s", j.Name, c, batchv1.JobReasonPodFailurePolicy)
			}
			if j.Status.Failed > *j.Spec.Completions {
				return fmt.Errorf("Job %s: %d pods failed, more than its %d indexes: an index was retried", j.Name, j.Status.Failed, *j.Spec.Completions)
			}
		}
		if n == 0 {
			return fmt.Errorf("no new Job")
		}
		return nil
	})
	e.eventually("Degraded with reason PartnerUnauthorized", func() error {
		if c := e.condition(inventoryv1alpha1.ConditionDegraded); c == nil || c.Status != metav1.ConditionTrue || c.Reason != inventoryv1alpha1.ReasonPartnerUnauthorized {
			return fmt.Errorf("Degraded %+v", c)
		}
		return nil
	})
	if err := e.env.Sim.SetFaults(partnersim.Faults{}); err != nil {
		e.t.Fatal(err)
	}
	e.requestRun()
	e.eventually("Ready again with the key accepted", func() error {
		if c := e.condition(inventoryv1alpha1.ConditionReady); c == nil || c.Status != metav1.ConditionTrue {
			return fmt.Errorf("Ready %+v", c)
		}
		return nil
	})
	e.quiet()
}

// otherPartner (issue #12, defect 1): re-pointed at another partner, the next run
// fetches every pair from it, although other runs wrote them all minutes ago:
// a run skips only what an earlier attempt of itself wrote.
func (e *e2e) otherPartner() {
	const key, secret = "dev-key-2", "slotsync-partner-2"
	e.quiet()
	// Another seed, so other answers; another key, which only this partner takes.
	sim := partnersim.New(e.env.SimulatorConfig(2, key))
	var mu sync.Mutex
	asked := map[string]bool{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if id, ok := strings.CutPrefix(r.URL.Path, "/api/v1/inventory/"); ok {
			mu.Lock()
			asked[id+" "+r.URL.Query().Get("date")] = true
			mu.Unlock()
		}
		sim.Handler().ServeHTTP(w, r)
	}))
	defer srv.Close()
	defer sim.Close() // first: it releases held requests that Close would wait for

	today, at := time.Now().UTC().Truncate(24*time.Hour), e.env.SimTime(time.Now())
	differ := 0
	for day := range 30 {
		date := today.AddDate(0, 0, day)
		if !reflect.DeepEqual(sim.Inventory(14, date, at), e.env.Sim.Inventory(14, date, at)) {
			differ++
		}
	}
	if differ == 0 {
		e.t.Fatal("both partners answer alike: comparing with the second cannot show where the data came from")
	}

	if err := e.env.Client.Create(e.ctx, devenv.ScheduleSecret(secret, map[string]string{"apiKey": key})); err != nil {
		e.t.Fatal(err)
	}
	// Pods reach a server on 127.0.0.1 only through the environment on the real node.
	partnerURL, err := e.env.PodURL(srv.URL)
	if err != nil {
		e.t.Fatal(err)
	}
	e.setPartner(partnerURL, secret)
	request := e.requestRun()
	e.setPaused(false)

	ss := e.schedule()
	runs := e.manualRun(request)
	for _, b := range ss.Bands() {
		r := runs[b.Window]
		want := int64(len(ss.Spec.Products)) * int64(b.ToDay-b.FromDay+1)
		if r.Result != inventoryv1alpha1.RunSucceeded || r.PairsTotal != want || r.PairsOK != want || r.PairsSkipped != 0 || r.Requests < want {
			e.t.Errorf("window %s: run %+v; want all %d pairs fetched, none skipped", b.Window, r, want)
		}
	}
	mu.Lock()
	var missing []string
	for _, product := range ss.Spec.Products {
		for day := range 30 {
			if pair := fmt.Sprintf("%d %s", product, today.AddDate(0, 0, day).Format(time.DateOnly)); !asked[pair] {
				missing = append(missing, pair)
			}
		}
	}
	mu.Unlock()
	if len(missing) > 0 {
		e.t.Errorf("the second partner was never asked for %v", missing)
	}
	if e.t.Failed() {
		return
	}
	e.quiet()
	e.compareWith(sim)

	// Back to the first partner, so that what runs after this does not depend on
	// a partner that is gone.
	sample, err := e.env.Sample()
	if err != nil {
		e.t.Fatal(err)
	}
	e.setPartner(sample.Spec.Partner.BaseURL, sample.Spec.Partner.APIKeySecretRef.Name)
	request = e.requestRun()
	e.setPaused(false)
	for w, r := range e.manualRun(request) {
		if r.Result != inventoryv1alpha1.RunSucceeded {
			e.t.Fatalf("window %s back on the first partner: run %+v", w, r)
		}
	}
}

// setPartner points the schedule at baseURL with the key in secret, as a user would.
func (e *e2e) setPartner(baseURL, secret string) {
	e.kubectl("patch", "ss", devenv.ScheduleName, "--type=merge", "-p",
		fmt.Sprintf(`{"spec":{"partner":{"baseURL":%q,"apiKeySecretRef":{"name":%q,"key":"apiKey"}}}}`, baseURL, secret))
}

// activeJob waits for a Job with running pods, of window if not empty.
func (e *e2e) activeJob(window string) batchv1.Job {
	e.t.Helper()
	var running batchv1.Job
	e.eventually("an active Job", func() error {
		for _, j := range e.jobs() {
			if j.Status.Active > 0 && (window == "" || j.Labels[inventoryv1alpha1.LabelWindow] == window) {
				running = j
				return nil
			}
		}
		return fmt.Errorf("none of %d Jobs is active", len(e.jobs()))
	})
	return running
}

func (e *e2e) job(name string) *batchv1.Job {
	e.t.Helper()
	var j batchv1.Job
	if err := e.env.Client.Get(e.ctx, client.ObjectKey{Namespace: devenv.Namespace, Name: name}, &j); err != nil {
		e.t.Fatal(err)
	}
	return &j
}

func jobCondition(j *batchv1.Job, t batchv1.JobConditionType) *batchv1.JobCondition {
	for i, c := range j.Status.Conditions {
		if c.Type == t && c.Status == corev1.ConditionTrue {
			return &j.Status.Conditions[i]
		}
	}
	return nil
}
