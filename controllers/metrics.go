package controllers

import (
	"sync"
	"time"

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
	dataAge      = newDataAgeCollector()
	budgetDemand = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "slotsync_budget_demand_requests_per_minute",
		Help: "Partner requests per minute each schedule needs to meet its windows.",
	}, []string{"namespace", "schedule"})
)

func init() {
	metrics.Registry.MustRegister(reconcileTotal, jobsCreated, runsTotal, dataAge, budgetDemand)
}

// dataAgeCollector reports the age of each window's data at scrape time, not at the
// last reconcile, which may be a whole interval ago.
type dataAgeCollector struct {
	desc *prometheus.Desc
	mu   sync.Mutex
	last map[[3]string]time.Time
}

func newDataAgeCollector() *dataAgeCollector {
	return &dataAgeCollector{
		desc: prometheus.NewDesc("slotsync_window_data_age_seconds",
			"Seconds since the last successful run of each schedule's window.",
			[]string{"namespace", "schedule", "window"}, nil),
		last: map[[3]string]time.Time{},
	}
}

// observe records a window's last success.
func (c *dataAgeCollector) observe(namespace, schedule, window string, at time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.last[[3]string{namespace, schedule, window}] = at
}

// forget drops the windows of a schedule that is gone.
func (c *dataAgeCollector) forget(namespace, schedule string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k := range c.last {
		if k[0] == namespace && k[1] == schedule {
			delete(c.last, k)
		}
	}
}

func (c *dataAgeCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *dataAgeCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := time.Now()
	for k, at := range c.last {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, now.Sub(at).Seconds(), k[0], k[1], k[2])
	}
}
