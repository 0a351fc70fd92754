package controllers

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	inventoryv1alpha1 "github.com/slotsync/slotsync/api/v1alpha1"
	"github.com/slotsync/slotsync/internal/version"
)

// Metrics live on controller-runtime's registry, served by the manager. Labels stay
// bounded: run kinds, outcomes, condition types and reasons are fixed sets; schedules
// and windows are the user's own, few, objects. Rates are per second, as Prometheus
// expects of base units (docs/monitoring.md lists the renames).
var (
	reconcileTotal = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "slotsync_schedule_reconciles_total",
		Help: "Reconciles of SyncSchedules.",
	})
	jobsCreated = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "slotsync_jobs_created_total",
		Help: "Sync Jobs created, by kind (scheduled or manual).",
	}, []string{"kind"})
	runsTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "slotsync_runs_total",
		Help: "Finished sync runs of each schedule's window, by outcome (Succeeded, Partial, Failed).",
	}, []string{"namespace", "schedule", "window", "outcome"})
	scheduleState = newScheduleCollector()
	budgetDemand  = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "slotsync_budget_demand_requests_per_second",
		Help: "Partner requests per second each schedule needs to meet its windows.",
	}, []string{"namespace", "schedule"})
	budgetKeyDemand = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "slotsync_budget_key_demand_requests_per_second",
		Help: "Partner requests per second that every unpaused schedule on this schedule's partner key needs together.",
	}, []string{"namespace", "schedule"})
	budgetUsable = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "slotsync_budget_usable_requests_per_second",
		Help: "Partner requests per second of the key's budget that this schedule's windows can use; BudgetExceeded is key demand above it.",
	}, []string{"namespace", "schedule"})

	collectors = []prometheus.Collector{reconcileTotal, jobsCreated, runsTotal, scheduleState,
		budgetDemand, budgetKeyDemand, budgetUsable, version.NewCollector()}
)

func init() {
	metrics.Registry.MustRegister(collectors...)
}

// Collectors are the manager's own collectors, registered on controller-runtime's
// registry; tests check dashboards and alerts against their names.
func Collectors() []prometheus.Collector { return collectors }

// observeSchedule records the status a reconcile computed. Run counters of each
// window start at zero, so that increase() sees a window's first failure.
func observeSchedule(ss *inventoryv1alpha1.SyncSchedule) {
	scheduleState.observe(ss)
	for _, w := range ss.Spec.Windows {
		for _, o := range []inventoryv1alpha1.RunResult{inventoryv1alpha1.RunSucceeded, inventoryv1alpha1.RunPartial, inventoryv1alpha1.RunFailed} {
			runsTotal.WithLabelValues(ss.Namespace, ss.Name, w.Name, string(o))
		}
	}
}

// recordRun counts a run once, when status first sees it finished.
func recordRun(ss *inventoryv1alpha1.SyncSchedule, window string, outcome inventoryv1alpha1.RunResult) {
	runsTotal.WithLabelValues(ss.Namespace, ss.Name, window, string(outcome)).Inc()
}

// recordBudget takes requests per minute, the unit of the spec and status.
func recordBudget(ss *inventoryv1alpha1.SyncSchedule, ownPerMinute, keyPerMinute, usablePerMinute float64) {
	budgetDemand.WithLabelValues(ss.Namespace, ss.Name).Set(ownPerMinute / 60)
	budgetKeyDemand.WithLabelValues(ss.Namespace, ss.Name).Set(keyPerMinute / 60)
	budgetUsable.WithLabelValues(ss.Namespace, ss.Name).Set(usablePerMinute / 60)
}

// forgetSchedule drops every series of a schedule that is gone. Run counters
// go too: a schedule created again under the same name starts from zero,
// which rate() reads as a counter reset.
func forgetSchedule(namespace, name string) {
	scheduleState.forget(namespace, name)
	match := prometheus.Labels{"namespace": namespace, "schedule": name}
	runsTotal.DeletePartialMatch(match)
	budgetDemand.DeletePartialMatch(match)
	budgetKeyDemand.DeletePartialMatch(match)
	budgetUsable.DeletePartialMatch(match)
}

// scheduleCollector reports each schedule's conditions and windows as the last
// reconcile computed them; the data age is computed at scrape time, not at the
// last reconcile, which may be a whole interval ago. Whole-state replacement on
// each observe means a condition whose reason changed leaves no stale series.
type scheduleCollector struct {
	age, lastSuccess, interval, condition *prometheus.Desc

	mu        sync.Mutex
	schedules map[[2]string]scheduleSnapshot
}

type scheduleSnapshot struct {
	windows    []windowSnapshot
	conditions [][3]string // type, status, reason
}

type windowSnapshot struct {
	name        string
	every       time.Duration
	lastSuccess time.Time // zero before the first success
}

func newScheduleCollector() *scheduleCollector {
	window := []string{"namespace", "schedule", "window"}
	return &scheduleCollector{
		age: prometheus.NewDesc("slotsync_window_data_age_seconds",
			"Seconds since the scheduled time of the last successful run of each schedule's window.", window, nil),
		lastSuccess: prometheus.NewDesc("slotsync_window_last_success_timestamp_seconds",
			"Unix time of the scheduled time of the last successful run of each schedule's window.", window, nil),
		interval: prometheus.NewDesc("slotsync_window_interval_seconds",
			"How often each schedule's window is due.", window, nil),
		condition: prometheus.NewDesc("slotsync_schedule_condition",
			"1 for each condition a SyncSchedule has, by type, status and reason.",
			[]string{"namespace", "schedule", "type", "status", "reason"}, nil),
		schedules: map[[2]string]scheduleSnapshot{},
	}
}

// observe records the status the reconcile computed for ss.
func (c *scheduleCollector) observe(ss *inventoryv1alpha1.SyncSchedule) {
	var snap scheduleSnapshot
	every := map[string]time.Duration{}
	for _, b := range ss.Bands() {
		every[b.Window] = b.Every
	}
	for _, w := range ss.Status.Windows {
		ws := windowSnapshot{name: w.Name, every: every[w.Name]}
		if w.LastSuccessfulTime != nil {
			ws.lastSuccess = w.LastSuccessfulTime.Time
		}
		snap.windows = append(snap.windows, ws)
	}
	for _, cond := range ss.Status.Conditions {
		snap.conditions = append(snap.conditions, [3]string{cond.Type, string(cond.Status), cond.Reason})
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.schedules[[2]string{ss.Namespace, ss.Name}] = snap
}

func (c *scheduleCollector) forget(namespace, name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.schedules, [2]string{namespace, name})
}

func (c *scheduleCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.age
	ch <- c.lastSuccess
	ch <- c.interval
	ch <- c.condition
}

func (c *scheduleCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := time.Now()
	for k, s := range c.schedules {
		for _, w := range s.windows {
			if w.every > 0 {
				ch <- prometheus.MustNewConstMetric(c.interval, prometheus.GaugeValue, w.every.Seconds(), k[0], k[1], w.name)
			}
			if w.lastSuccess.IsZero() {
				continue
			}
			ch <- prometheus.MustNewConstMetric(c.age, prometheus.GaugeValue, now.Sub(w.lastSuccess).Seconds(), k[0], k[1], w.name)
			ch <- prometheus.MustNewConstMetric(c.lastSuccess, prometheus.GaugeValue,
				float64(w.lastSuccess.UnixNano())/1e9, k[0], k[1], w.name)
		}
		for _, cond := range s.conditions {
			ch <- prometheus.MustNewConstMetric(c.condition, prometheus.GaugeValue, 1, k[0], k[1], cond[0], cond[1], cond[2])
		}
	}
}
