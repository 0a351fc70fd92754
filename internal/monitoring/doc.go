// Package monitoring holds the checks of config/prometheus, as tests: every
// metric its dashboard and alerts query is one the manager or the API serves.
// promtool checks the alerts themselves (hack/check-rules.sh, in make test).
package monitoring
