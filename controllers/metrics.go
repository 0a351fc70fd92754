package controllers

import (
	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
)

// Metrics live on controller-runtime's registry, served by the manager. Labels stay
// bounded: run kinds and results are fixed sets; schedules and windows are the user's
// own, few, objects.
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
		Help: "Finished sync runs, by result (Succeeded, Partial, Failed).",
	}, []string{"result"})
	dataAge = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "slotsync_window_data_age_seconds",
		Help: "Seconds since the last successful run of each schedule's window, as of the last reconcile.",
	}, []string{"namespace", "schedule", "window"})
	budgetDemand = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "slotsync_budget_demand_requests_per_minute",
		Help: "Partner requests per minute each schedule needs to meet its windows.",
	}, []string{"namespace", "schedule"})
)

func init() {
	metrics.Registry.MustRegister(reconcileTotal, jobsCreated, runsTotal, dataAge, budgetDemand)
}
