package monitoring_test

import (
	"encoding/json"
	"os"
	"regexp"
	"slices"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/yaml"

	"github.com/slotsync/slotsync/controllers"
	"github.com/slotsync/slotsync/internal/api"
)

// served are the metric names the manager's and the API's collectors describe,
// with the series names a histogram adds.
func served(t *testing.T) map[string]bool {
	t.Helper()
	names := map[string]bool{}
	// A Desc has no name accessor; its String form is stable and quotes it.
	fqName := regexp.MustCompile(`fqName: "([^"]+)"`)
	for _, c := range slices.Concat(controllers.Collectors(), api.Collectors()) {
		ch := make(chan *prometheus.Desc, 64)
		c.Describe(ch)
		close(ch)
		for d := range ch {
			m := fqName.FindStringSubmatch(d.String())
			if m == nil {
				t.Fatalf("no name in %s", d)
			}
			for _, suffix := range []string{"", "_bucket", "_count", "_sum"} {
				names[m[1]+suffix] = true
			}
		}
	}
	return names
}

// ourMetric matches slotsync's metric names in PromQL. Label values and legends
// may quote them too, which only makes the check stricter.
var ourMetric = regexp.MustCompile(`\bslotsync_[a-zA-Z0-9_]+`)

// unserved says which of expr's slotsync metrics no binary serves.
func unserved(names map[string]bool, expr string) []string {
	found := ourMetric.FindAllString(expr, -1)
	if len(found) == 0 {
		return []string{"(no slotsync metric at all)"}
	}
	var missing []string
	for _, n := range found {
		if !names[n] {
			missing = append(missing, n)
		}
	}
	return missing
}

func checkExpr(t *testing.T, names map[string]bool, where, expr string) {
	t.Helper()
	if missing := unserved(names, expr); len(missing) > 0 {
		t.Errorf("%s: %q queries %v, which neither the manager nor the API serves", where, expr, missing)
	}
}

func TestDashboardQueriesServedMetrics(t *testing.T) {
	names := served(t)
	raw, err := os.ReadFile("../../config/prometheus/dashboards/slotsync.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
		Templating struct {
			List []struct {
				Name  string `json:"name"`
				Type  string `json:"type"`
				Query any    `json:"query"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("dashboard: %v", err)
	}
	exprs := 0
	for _, p := range dash.Panels {
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			checkExpr(t, names, "panel "+p.Title, tg.Expr)
			exprs++
		}
	}
	for _, v := range dash.Templating.List {
		if v.Type != "query" {
			continue
		}
		q, ok := v.Query.(map[string]any)["query"].(string)
		if !ok {
			t.Fatalf("variable %s: query %v is no string", v.Name, v.Query)
		}
		checkExpr(t, names, "variable "+v.Name, q)
	}
	if exprs == 0 {
		t.Fatal("the dashboard has no panels with queries")
	}
}

func TestAlertsQueryServedMetrics(t *testing.T) {
	names := served(t)
	raw, err := os.ReadFile("../../config/prometheus/alerts.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var rule struct {
		Spec struct {
			Groups []struct {
				Rules []struct {
					Alert string `json:"alert"`
					Expr  string `json:"expr"`
				} `json:"rules"`
			} `json:"groups"`
		} `json:"spec"`
	}
	if err := yaml.Unmarshal(raw, &rule); err != nil {
		t.Fatalf("alerts: %v", err)
	}
	var alerts []string
	for _, g := range rule.Spec.Groups {
		for _, r := range g.Rules {
			checkExpr(t, names, "alert "+r.Alert, r.Expr)
			alerts = append(alerts, r.Alert)
		}
	}
	for _, want := range []string{"SlotsyncWindowDataStale", "SlotsyncScheduleNotReady", "SlotsyncBudgetExceeded", "SlotsyncPartnerKeyRejected", "SlotsyncRunsFailing"} {
		if !slices.Contains(alerts, want) {
			t.Errorf("alerts.yaml lacks %s", want)
		}
	}
}

// The check catches a renamed metric: without this, a regexp that matched
// nothing would pass every dashboard.
func TestCheckExprCatchesUnknownMetrics(t *testing.T) {
	names := served(t)
	for _, n := range []string{"slotsync_runs_total", "slotsync_api_request_duration_seconds_bucket", "slotsync_build_info"} {
		if !names[n] {
			t.Errorf("%s not among the served names", n)
		}
	}
	if names["slotsync_budget_demand_requests_per_minute"] {
		t.Error("the renamed slotsync_budget_demand_requests_per_minute is still served")
	}
	if got := unserved(names, "rate(slotsync_nonexistent_total[5m]) / slotsync_runs_total"); !slices.Equal(got, []string{"slotsync_nonexistent_total"}) {
		t.Errorf("unserved = %v, want [slotsync_nonexistent_total]", got)
	}
	if got := unserved(names, "up"); len(got) == 0 {
		t.Error("an expression without slotsync metrics passed")
	}
}
