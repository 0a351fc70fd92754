package controllers_test

import (
	"os"
	"strings"
	"testing"

	"github.com/google/cel-go/cel"
	lua "github.com/yuin/gopher-lua"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/yaml"
)

// The health checks docs/gitops.md ships, read from the files it shows.
const (
	argoHealthScript  = "../docs/gitops/health.lua"
	fluxKustomization = "../docs/gitops/flux-kustomization.yaml"
	gitopsDoc         = "../docs/gitops.md"
)

// argoHealth runs the Argo CD health script on obj as Argo CD does: obj is a
// global table, the script returns {status, message}.
func argoHealth(t *testing.T, obj map[string]any) (string, string) {
	t.Helper()
	script, err := os.ReadFile(argoHealthScript)
	if err != nil {
		t.Fatal(err)
	}
	L := lua.NewState()
	defer L.Close()
	L.SetGlobal("obj", toLua(L, obj))
	if err := L.DoString(string(script)); err != nil {
		t.Fatalf("run %s: %v", argoHealthScript, err)
	}
	hs, ok := L.Get(-1).(*lua.LTable)
	if !ok {
		t.Fatalf("%s returned %s, want a table", argoHealthScript, L.Get(-1).Type())
	}
	return hs.RawGetString("status").String(), hs.RawGetString("message").String()
}

// toLua converts decoded JSON as Argo CD does: objects and arrays become
// tables (arrays from index 1), numbers Lua numbers.
func toLua(L *lua.LState, v any) lua.LValue {
	switch v := v.(type) {
	case map[string]any:
		t := L.NewTable()
		for k, e := range v {
			t.RawSetString(k, toLua(L, e))
		}
		return t
	case []any:
		t := L.NewTable()
		for _, e := range v {
			t.Append(toLua(L, e))
		}
		return t
	case string:
		return lua.LString(v)
	case bool:
		return lua.LBool(v)
	case int64:
		return lua.LNumber(v)
	case float64:
		return lua.LNumber(v)
	case nil:
		return lua.LNil
	}
	panic("unexpected JSON value")
}

type fluxCheck struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	InProgress string `json:"inProgress"`
	Failed     string `json:"failed"`
	Current    string `json:"current"`
}

func fluxChecks(t *testing.T) fluxCheck {
	t.Helper()
	b, err := os.ReadFile(fluxKustomization)
	if err != nil {
		t.Fatal(err)
	}
	var ks struct {
		Spec struct {
			HealthCheckExprs []fluxCheck `json:"healthCheckExprs"`
		} `json:"spec"`
	}
	if err := yaml.Unmarshal(b, &ks); err != nil {
		t.Fatal(err)
	}
	if len(ks.Spec.HealthCheckExprs) != 1 || ks.Spec.HealthCheckExprs[0].Kind != "SyncSchedule" {
		t.Fatalf("%s: want one healthCheckExprs entry for SyncSchedule, got %+v", fluxKustomization, ks.Spec.HealthCheckExprs)
	}
	return ks.Spec.HealthCheckExprs[0]
}

// fluxHealth evaluates the healthCheckExprs on obj as Flux does: the object's
// top-level fields are the variables; inProgress, failed, then current; none
// true, or an error (a field not there yet), leaves it InProgress. It also
// fails the test when more than one expression holds: the order must not matter.
func fluxHealth(t *testing.T, obj map[string]any) status.Status {
	t.Helper()
	check := fluxChecks(t)
	env, err := cel.NewEnv(
		cel.Variable("apiVersion", cel.DynType), cel.Variable("kind", cel.DynType),
		cel.Variable("metadata", cel.DynType), cel.Variable("spec", cel.DynType), cel.Variable("status", cel.DynType))
	if err != nil {
		t.Fatal(err)
	}
	vars := map[string]any{}
	for k, v := range obj {
		vars[k] = v
	}
	var matched []status.Status
	for _, e := range []struct {
		expr string
		st   status.Status
	}{{check.InProgress, status.InProgressStatus}, {check.Failed, status.FailedStatus}, {check.Current, status.CurrentStatus}} {
		ast, iss := env.Compile(e.expr)
		if iss.Err() != nil {
			t.Fatalf("compile %q: %v", e.expr, iss.Err())
		}
		prg, err := env.Program(ast)
		if err != nil {
			t.Fatal(err)
		}
		out, _, err := prg.Eval(vars)
		if err != nil {
			continue
		}
		if b, ok := out.Value().(bool); !ok {
			t.Fatalf("%q gives %v, want a bool", e.expr, out)
		} else if b {
			matched = append(matched, e.st)
		}
	}
	switch len(matched) {
	case 0:
		return status.InProgressStatus
	case 1:
		return matched[0]
	}
	t.Errorf("more than one of the Flux health expressions holds: %v", matched)
	return matched[0]
}

// TestGitOpsHealthOfHandWrittenObjects covers what the envtest scenarios cannot
// reach: a status the controller has not written yet, or not for this spec.
func TestGitOpsHealthOfHandWrittenObjects(t *testing.T) {
	cond := func(typ, st string) map[string]any {
		return map[string]any{"type": typ, "status": st, "reason": "R", "message": typ + " " + st}
	}
	obj := func(gen, observed int64, conds ...map[string]any) map[string]any {
		o := map[string]any{
			"apiVersion": "inventory.slotsync.io/v1alpha1", "kind": "SyncSchedule",
			"metadata": map[string]any{"name": "s", "namespace": "ns", "generation": gen},
			"spec":     map[string]any{},
		}
		if observed >= 0 {
			var cs []any
			for _, c := range conds {
				cs = append(cs, c)
			}
			st := map[string]any{"observedGeneration": observed}
			if cs != nil {
				st["conditions"] = cs
			}
			o["status"] = st
		}
		return o
	}
	I, F, C := status.InProgressStatus, status.FailedStatus, status.CurrentStatus
	tests := []struct {
		name          string
		obj           map[string]any
		kstatus, flux status.Status
		argo          string
	}{
		// kstatus cannot tell a status not written yet from one without
		// conditions; the controller writes both with its first reconcile.
		{"no status yet", obj(1, -1), C, I, "Progressing"},
		{"no conditions yet", obj(1, 1), C, I, "Progressing"},
		{"status of an older spec", obj(2, 1, cond("Ready", "True")), I, I, "Progressing"},
		{"healthy", obj(3, 3, cond("Ready", "True"), cond("Paused", "False")), C, C, "Healthy"},
		{"reconciling", obj(3, 3, cond("Ready", "True"), cond("Reconciling", "True")), I, I, "Progressing"},
		{"stalled", obj(3, 3, cond("Ready", "False"), cond("Stalled", "True")), F, F, "Degraded"},
		{"stalled and paused", obj(3, 3, cond("Paused", "True"), cond("Stalled", "True")), F, F, "Degraded"},
		{"paused", obj(3, 3, cond("Ready", "True"), cond("Paused", "True")), C, C, "Suspended"},
		// kstatus falls back to Ready; the expressions take Paused as done.
		{"paused before its first run", obj(3, 3, cond("Ready", "False"), cond("Paused", "True")), I, C, "Suspended"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := healthOf(t, tt.obj)
			if h.kstatus != tt.kstatus || h.flux != tt.flux || h.argo != tt.argo {
				t.Errorf("health %+v, want kstatus %s, Flux %s, Argo CD %s", h, tt.kstatus, tt.flux, tt.argo)
			}
		})
	}
}

// health is what each tool makes of a schedule.
type health struct {
	kstatus, flux  status.Status
	argo, argoMsg  string
	kstatusMessage string
}

func healthOf(t *testing.T, obj map[string]any) health {
	t.Helper()
	res, err := status.Compute(&unstructured.Unstructured{Object: obj})
	if err != nil {
		t.Fatalf("kstatus: %v", err)
	}
	h := health{kstatus: res.Status, kstatusMessage: res.Message, flux: fluxHealth(t, obj)}
	h.argo, h.argoMsg = argoHealth(t, obj)
	return h
}

// TestGitOpsDocShowsTheTestedChecks: docs/gitops.md shows the Lua and the
// expressions these tests run, not a copy that could drift.
func TestGitOpsDocShowsTheTestedChecks(t *testing.T) {
	doc, err := os.ReadFile(gitopsDoc)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []struct {
		path, indent string
	}{{argoHealthScript, "    "}, {fluxKustomization, ""}} {
		b, err := os.ReadFile(f.path)
		if err != nil {
			t.Fatal(err)
		}
		var want strings.Builder
		for _, line := range strings.SplitAfter(string(b), "\n") {
			if strings.TrimSpace(line) != "" {
				want.WriteString(f.indent)
			}
			want.WriteString(line)
		}
		if !strings.Contains(string(doc), want.String()) {
			t.Errorf("%s does not show %s as it is (indented by %q)", gitopsDoc, f.path, f.indent)
		}
	}
}
