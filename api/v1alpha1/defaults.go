package v1alpha1

import (
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Defaults of SyncScheduleSpec. The schema applies them (the +kubebuilder:default
// markers in syncschedule_types.go, which cannot name Go constants, so a test
// compares the generated CRD with these); the methods below apply them again for
// objects that never passed the API server, such as those of unit tests.
const (
	// DefaultShards is spec.shards when unset.
	DefaultShards int32 = 1
	// DefaultTimezone is spec.timezone when unset.
	DefaultTimezone = "UTC"
	// DefaultRequestsPerMinute is spec.partner.requestsPerMinute when unset: the
	// real partner's budget per key.
	DefaultRequestsPerMinute int32 = 30
	// DefaultPartnerTimeout is spec.partner.timeout when unset.
	DefaultPartnerTimeout = 10 * time.Second
	// DefaultRateLimitWindow is spec.partner.rateLimitWindow when unset: the real
	// partner counts requests per minute.
	DefaultRateLimitWindow = time.Minute
	// DefaultConcurrencyPolicy is spec.concurrencyPolicy when unset.
	DefaultConcurrencyPolicy = ForbidConcurrent
	// DefaultSuccessfulJobsHistoryLimit is spec.successfulJobsHistoryLimit when unset.
	DefaultSuccessfulJobsHistoryLimit int32 = 3
	// DefaultFailedJobsHistoryLimit is spec.failedJobsHistoryLimit when unset.
	DefaultFailedJobsHistoryLimit int32 = 1
	// DefaultBackoffLimitPerIndex is spec.jobTemplate.backoffLimitPerIndex when unset.
	DefaultBackoffLimitPerIndex int32 = 2
	// DefaultPolling is spec.polling when unset: Uniform, which within its
	// budget shows every change, first slots included, within its window's
	// interval (see SyncScheduleSpec.Polling).
	DefaultPolling = UniformPolling
)

// DefaultWindows returns the windows the schema defaults spec.windows to:
// today every 15m, the week every 4h, the month every 24h. It returns a new
// slice on each call so callers may modify it.
func DefaultWindows() []Window {
	return []Window{
		{Name: "today", Days: 1, Every: metav1.Duration{Duration: 15 * time.Minute}},
		{Name: "week", Days: 7, Every: metav1.Duration{Duration: 4 * time.Hour}},
		{Name: "month", Days: 30, Every: metav1.Duration{Duration: 24 * time.Hour}},
	}
}

// Shards is how many indexes each run's Job has: spec.shards, at least 1.
func (s *SyncSchedule) Shards() int32 {
	if s.Spec.Shards < 1 {
		return DefaultShards
	}
	return s.Spec.Shards
}

// Timezone is the IANA name of the zone whose calendar decides what today is.
func (s *SyncSchedule) Timezone() string {
	if s.Spec.Timezone == "" {
		return DefaultTimezone
	}
	return s.Spec.Timezone
}

// RequestsPerMinute is the partner key's budget per rate-limit window.
func (s *SyncSchedule) RequestsPerMinute() int32 {
	if s.Spec.Partner.RequestsPerMinute <= 0 {
		return DefaultRequestsPerMinute
	}
	return s.Spec.Partner.RequestsPerMinute
}

// RateLimitWindow is the span in which the partner counts RequestsPerMinute.
func (s *SyncSchedule) RateLimitWindow() time.Duration {
	if s.Spec.Partner.RateLimitWindow.Duration <= 0 {
		return DefaultRateLimitWindow
	}
	return s.Spec.Partner.RateLimitWindow.Duration
}

// PartnerTimeout bounds one partner request.
func (s *SyncSchedule) PartnerTimeout() time.Duration {
	if s.Spec.Partner.Timeout.Duration <= 0 {
		return DefaultPartnerTimeout
	}
	return s.Spec.Partner.Timeout.Duration
}

// BudgetPerMinute is the key's allowance per minute of the schedule's clock:
// with a compressed rateLimitWindow the key allows RequestsPerMinute per window,
// so more per minute.
func (s *SyncSchedule) BudgetPerMinute() float64 {
	return float64(s.RequestsPerMinute()) * float64(time.Minute) / float64(s.RateLimitWindow())
}

// Polling is spec.polling, Uniform when unset.
func (s *SyncSchedule) Polling() Polling {
	if s.Spec.Polling == "" {
		return DefaultPolling
	}
	return s.Spec.Polling
}

// SuccessfulJobsHistoryLimit is how many successful finished Jobs to keep per window.
func (s *SyncSchedule) SuccessfulJobsHistoryLimit() int32 {
	return derefOr(s.Spec.SuccessfulJobsHistoryLimit, DefaultSuccessfulJobsHistoryLimit)
}

// FailedJobsHistoryLimit is how many failed finished Jobs to keep per window.
func (s *SyncSchedule) FailedJobsHistoryLimit() int32 {
	return derefOr(s.Spec.FailedJobsHistoryLimit, DefaultFailedJobsHistoryLimit)
}

// BackoffLimitPerIndex is how many times a failed shard of a run is retried.
func (s *SyncSchedule) BackoffLimitPerIndex() int32 {
	return derefOr(s.Spec.JobTemplate.BackoffLimitPerIndex, DefaultBackoffLimitPerIndex)
}

func derefOr(p *int32, def int32) int32 {
	if p == nil {
		return def
	}
	return *p
}

// Ephemeral storage of the sync container when spec.jobTemplate.resources sets
// none: the worker writes only its logs and termination message, and a bound
// keeps one pod from filling a node's disk.
var (
	DefaultJobEphemeralStorageRequest = resource.MustParse("64Mi")
	DefaultJobEphemeralStorageLimit   = resource.MustParse("256Mi")
)

// JobResources is spec.jobTemplate.resources with the ephemeral-storage request
// and limit filled in where unset. A request above the default limit raises the
// limit with it, since a limit below the request is invalid.
func (s *SyncSchedule) JobResources() corev1.ResourceRequirements {
	r := *s.Spec.JobTemplate.Resources.DeepCopy()
	if r.Requests == nil {
		r.Requests = corev1.ResourceList{}
	}
	if r.Limits == nil {
		r.Limits = corev1.ResourceList{}
	}
	req, hasReq := r.Requests[corev1.ResourceEphemeralStorage]
	lim, hasLim := r.Limits[corev1.ResourceEphemeralStorage]
	if !hasReq {
		req = DefaultJobEphemeralStorageRequest
		if hasLim && lim.Cmp(req) < 0 {
			req = lim
		}
		r.Requests[corev1.ResourceEphemeralStorage] = req
	}
	if !hasLim {
		lim = DefaultJobEphemeralStorageLimit
		if lim.Cmp(req) < 0 {
			lim = req
		}
		r.Limits[corev1.ResourceEphemeralStorage] = lim
	}
	return r
}
