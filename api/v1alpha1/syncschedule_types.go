package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ConcurrencyPolicy says what happens when a window's run is due while its
// previous run is still active.
// +kubebuilder:validation:Enum=Forbid;Replace
type ConcurrencyPolicy string

const (
	// ForbidConcurrent skips the due run while the previous one is active; the
	// window runs again at its next due time after that.
	ForbidConcurrent ConcurrencyPolicy = "Forbid"
	// ReplaceConcurrent deletes the active run's Job and starts the due one.
	ReplaceConcurrent ConcurrencyPolicy = "Replace"
)

// Polling says which (product, date) pairs a run fetches.
// +kubebuilder:validation:Enum=Uniform;Adaptive
type Polling string

const (
	// UniformPolling fetches every pair of a band on every run of its window.
	UniformPolling Polling = "Uniform"
	// AdaptivePolling lets the workers skip pairs that a plan learned from the
	// partner's past answers says need not be fetched yet; see
	// SyncScheduleSpec.Polling for the guarantees.
	AdaptivePolling Polling = "Adaptive"
)

// RunResult is how a finished run of a window ended.
// +kubebuilder:validation:Enum=Succeeded;Partial;Failed
type RunResult string

const (
	// RunSucceeded means every (product, date) pair of the run was written.
	RunSucceeded RunResult = "Succeeded"
	// RunPartial means some pairs were written and some failed.
	RunPartial RunResult = "Partial"
	// RunFailed means no pair was written, or the Job failed as a whole.
	RunFailed RunResult = "Failed"
)

// SyncScheduleSpec is what to sync from the partner, how often, and how.
type SyncScheduleSpec struct {
	// products lists the partner product IDs to sync, each a positive integer
	// that appears once. Their order does not matter. At most 1000: one partner
	// key keeps about 276 products fresh with the default windows (the
	// BudgetExceeded condition says how many fit), and every Job gets all the IDs
	// in one command-line argument, which Linux caps at 128 KiB (1000 IDs of 19
	// digits take 20 KB; 10,000 did not fit). Split a larger catalogue over
	// several schedules and partner keys.
	// +required
	// +listType=set
	// +kubebuilder:validation:MaxItems=1000
	// +kubebuilder:validation:items:Minimum=1
	// +kubebuilder:validation:XValidation:rule="self.size() > 0",message="products must list at least one partner product ID, e.g. [14, 15]"
	Products []int64 `json:"products"`

	// windows are the freshness targets: a window covers today and the following
	// days-1 days and refetches them at least every `every`. A longer window does
	// not refetch the days of a shorter one: the windows are cut into
	// non-overlapping day bands (with the defaults: today; days 1-6; days 7-29),
	// and each band runs as its own Job on its own interval. Defaults to today
	// (1 day) every 15m, week (7 days) every 4h, month (30 days) every 24h.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=10
	// +kubebuilder:default={{name: "today", days: 1, every: "15m0s"}, {name: "week", days: 7, every: "4h0m0s"}, {name: "month", days: 30, every: "24h0m0s"}}
	// +kubebuilder:validation:XValidation:rule="self.size() > 0",message="windows must list at least one window; omit the field to get the defaults (today 15m, week 4h, month 24h)"
	// +kubebuilder:validation:XValidation:rule="self.all(w, self.exists_one(x, x.name == w.name))",message="window names must be unique; rename or remove the repeated window"
	// +kubebuilder:validation:XValidation:rule="self.all(w, self.exists_one(x, x.days == w.days))",message="each window must cover a different number of days: two windows with the same days refetch the same dates; merge them or change days"
	Windows []Window `json:"windows,omitempty"`

	// paused stops new runs when true and suspends the Jobs of active runs,
	// without deleting them or any data. Setting it back to false resumes the
	// suspended Jobs and the schedule. Defaults to false.
	// +optional
	// +kubebuilder:default=false
	Paused bool `json:"paused,omitempty"`

	// shards is how many indexes each run's Indexed Job has; the (product,
	// date) pairs of a run are dealt round-robin over them. All shards share the
	// partner budget, so more shards shorten a run only when the budget is not
	// the bottleneck. Defaults to 1.
	// +optional
	// +kubebuilder:default=1
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=64
	Shards int32 `json:"shards,omitempty"`

	// timezone is the IANA time zone name (such as UTC or Europe/Berlin) whose
	// calendar decides what "today" is for the windows. Runs fall on multiples
	// of each window's interval since the Unix epoch, whatever the zone. Use the
	// products' local zone: the partner's dates are local dates.
	// Defaults to UTC.
	// +optional
	// +kubebuilder:default="UTC"
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:XValidation:rule="self.matches('^[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+)*$')",message="timezone must be an IANA time zone name such as UTC or Europe/Berlin"
	Timezone string `json:"timezone,omitempty"`

	// partner is the inventory API to fetch from and the budget of its key.
	// +required
	Partner PartnerSpec `json:"partner"`

	// database is where fetched inventory is written.
	// +required
	Database DatabaseSpec `json:"database"`

	// jobTemplate overrides parts of the Jobs that runs create.
	// +optional
	// +kubebuilder:default={}
	JobTemplate JobTemplateOverrides `json:"jobTemplate,omitzero"`

	// concurrencyPolicy says what to do when a window's run is due while its
	// previous run is still active: Forbid holds the due run back and starts it,
	// once, when the active one has finished; Replace deletes the active Job and
	// starts the due one. It applies per window; different windows always run
	// side by side. Defaults to Forbid.
	// +optional
	// +kubebuilder:default=Forbid
	ConcurrencyPolicy ConcurrencyPolicy `json:"concurrencyPolicy,omitempty"`

	// successfulJobsHistoryLimit is how many successful finished Jobs to keep
	// per window; older ones are deleted. Defaults to 3.
	// +optional
	// +kubebuilder:default=3
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	SuccessfulJobsHistoryLimit *int32 `json:"successfulJobsHistoryLimit,omitempty"`

	// failedJobsHistoryLimit is how many failed finished Jobs to keep per
	// window; older ones are deleted. Defaults to 1.
	// +optional
	// +kubebuilder:default=1
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	FailedJobsHistoryLimit *int32 `json:"failedJobsHistoryLimit,omitempty"`

	// polling is Uniform (every run fetches every (product, date) pair of its
	// band) or Adaptive (the workers learn from the answers stored in Postgres
	// which weekdays a product has no slots on, and leave out dates on those
	// weekdays while they were checked lately). Adaptive guarantees, while the
	// runs keep to their intervals: a date that had slots, or is on a weekday
	// with slots, is fetched as its window says, so its changes show within
	// the window's interval; a date left out is fetched again at most 24h
	// after its last check, so one that gains its first slots on a weekday
	// learned closed shows within 24h (windows refreshed every 12h or less
	// often leave nothing out); one answer with slots on a weekday opens that
	// weekday again at once. Runs count the dates they left out as
	// pairsPlanned, and the BudgetExceeded condition counts the demand the
	// last runs were seen to have. On the simulator's mixed catalogue one key
	// keeps 459 products fresh under Adaptive against at most 276 under
	// Uniform; on a catalogue open every day both fetch alike. Uniform is the default: within
	// its budget it also shows first slots within the window's interval, and
	// a catalogue whose weekdays open unannounced needs that. Defaults to
	// Uniform.
	// +optional
	// +kubebuilder:default=Uniform
	Polling Polling `json:"polling,omitempty"`
}

// Window is a freshness target: the dates from today through days-1 days ahead
// are refetched at least every `every`.
type Window struct {
	// name identifies the window in status, Job names and Job labels: lower case
	// letters, digits and '-', at most 20 characters, e.g. "today".
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=20
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	Name string `json:"name"`

	// days is how many calendar days the window covers: today and the
	// following days-1 days (1 is today only, 7 is a week), at most 366.
	// +required
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=366
	Days int32 `json:"days"`

	// every is the longest time between two fetches of the window's dates, as
	// a duration such as 15m, 4h or 1h30m; at least 1s.
	// +required
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]+([.][0-9]+)?(ns|us|ms|s|m|h))+$')",message="every must be a duration such as 15m, 4h or 1h30m"
	// +kubebuilder:validation:XValidation:rule="!self.matches('^([0-9]+([.][0-9]+)?(ns|us|ms|s|m|h))+$') || duration(self) >= duration('1s')",message="every must be at least 1s"
	Every metav1.Duration `json:"every"`
}

// PartnerSpec is the partner inventory API and the budget of its key.
type PartnerSpec struct {
	// baseURL is the partner API's http or https URL without the
	// /api/v1/inventory path, e.g. https://partner.example.com.
	// +required
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:XValidation:rule="isURL(self) && url(self).getScheme() in ['http', 'https'] && url(self).getHostname() != ''",message="baseURL must be an absolute http or https URL such as https://partner.example.com"
	BaseURL string `json:"baseURL"`

	// apiKeySecretRef selects the key of a Secret in this namespace that holds
	// the partner API key. The key reaches the Jobs as an environment variable
	// from the Secret, never through this resource.
	// +required
	APIKeySecretRef SecretKeyRef `json:"apiKeySecretRef"`

	// requestsPerMinute is the partner key's budget. Every Job of every
	// SyncSchedule that uses the same key shares it, and the controller reports
	// BudgetExceeded when their combined demand is higher. Defaults to 30.
	// +optional
	// +kubebuilder:default=30
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100000
	RequestsPerMinute int32 `json:"requestsPerMinute,omitempty"`

	// timeout bounds one partner request, as a duration such as 10s; at least
	// 1s. Defaults to 10s.
	// +optional
	// +kubebuilder:default="10s"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]+([.][0-9]+)?(ns|us|ms|s|m|h))+$')",message="timeout must be a duration such as 10s or 1m"
	// +kubebuilder:validation:XValidation:rule="!self.matches('^([0-9]+([.][0-9]+)?(ns|us|ms|s|m|h))+$') || duration(self) >= duration('1s')",message="timeout must be at least 1s"
	Timeout metav1.Duration `json:"timeout,omitzero"`

	// rateLimitWindow is the span of time in which the partner counts
	// requestsPerMinute; leave it at 1m for the real partner. A shorter window
	// compresses time for demos and tests against the simulator: with 2s, the
	// key may make requestsPerMinute requests every 2s. Defaults to 1m.
	// +optional
	// +kubebuilder:default="1m0s"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]+([.][0-9]+)?(ns|us|ms|s|m|h))+$')",message="rateLimitWindow must be a duration such as 1m"
	// +kubebuilder:validation:XValidation:rule="!self.matches('^([0-9]+([.][0-9]+)?(ns|us|ms|s|m|h))+$') || (duration(self) >= duration('1s') && duration(self) <= duration('1h'))",message="rateLimitWindow must be between 1s and 1h"
	RateLimitWindow metav1.Duration `json:"rateLimitWindow,omitzero"`
}

// DatabaseSpec is the Postgres database that fetched inventory is written to.
type DatabaseSpec struct {
	// urlSecretRef selects the key of a Secret in this namespace that holds the
	// Postgres URL (postgres://user:password@host:5432/db). The URL reaches the
	// Jobs as an environment variable from the Secret, never through this
	// resource.
	// +required
	URLSecretRef SecretKeyRef `json:"urlSecretRef"`
}

// SecretKeyRef selects one key of a Secret in the SyncSchedule's namespace.
type SecretKeyRef struct {
	// name of the Secret, in the SyncSchedule's namespace.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	Name string `json:"name"`

	// key within the Secret's data whose value is used.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[-._a-zA-Z0-9]+$`
	Key string `json:"key"`
}

// JobTemplateOverrides are the parts of a run's Job that users may change. The
// rest (command, arguments, environment, security context, labels the
// controller relies on) is owned by the controller.
type JobTemplateOverrides struct {
	// image runs `slotsync sync`. Defaults to the image the manager was started
	// with.
	// +optional
	// +kubebuilder:validation:MaxLength=512
	Image string `json:"image,omitempty"`

	// imagePullPolicy of the sync container: Always, IfNotPresent or Never.
	// Defaults to the Kubernetes default for the image's tag.
	// +optional
	// +kubebuilder:validation:Enum=Always;IfNotPresent;Never
	ImagePullPolicy corev1.PullPolicy `json:"imagePullPolicy,omitempty"`

	// resources of the sync container. An unset ephemeral-storage request or
	// limit defaults to 64Mi and 256Mi (the worker writes only logs).
	// +optional
	Resources corev1.ResourceRequirements `json:"resources,omitzero"`

	// serviceAccountName the Job's pods run as. The worker needs no Kubernetes
	// API access, and its pods mount no token. Defaults to the namespace's
	// default service account. To pull the image from a private registry,
	// add the pull Secret to this service account's imagePullSecrets
	// (kubectl patch serviceaccount NAME -p '{"imagePullSecrets":[{"name":"SECRET"}]}').
	// +optional
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	ServiceAccountName string `json:"serviceAccountName,omitempty"`

	// backoffLimitPerIndex is how many times a failed shard is retried before
	// it counts as failed; a retry skips the pairs its earlier attempts wrote.
	// Defaults to 2.
	// +optional
	// +kubebuilder:default=2
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	BackoffLimitPerIndex *int32 `json:"backoffLimitPerIndex,omitempty"`

	// activeDeadlineSeconds bounds how long a run's Job may be active before
	// it is failed. Unset means twice the interval of the Job's band: a run
	// overdue by a whole interval is stuck, and would hold back the band's
	// later runs.
	// +optional
	// +kubebuilder:validation:Minimum=1
	ActiveDeadlineSeconds *int64 `json:"activeDeadlineSeconds,omitempty"`

	// ttlSecondsAfterFinished deletes a finished Job that many seconds after
	// it finished. Unset leaves finished Jobs to successfulJobsHistoryLimit and
	// failedJobsHistoryLimit, which keep the last runs visible in status.
	// +optional
	// +kubebuilder:validation:Minimum=0
	TTLSecondsAfterFinished *int32 `json:"ttlSecondsAfterFinished,omitempty"`

	// nodeSelector the Jobs' pods must match to be scheduled on a node.
	// +optional
	// +kubebuilder:validation:MaxProperties=64
	NodeSelector map[string]string `json:"nodeSelector,omitempty"`

	// tolerations of the Jobs' pods, to run on tainted nodes.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=64
	Tolerations []corev1.Toleration `json:"tolerations,omitempty"`

	// affinity of the Jobs' pods: node affinity, pod affinity and anti-affinity.
	// +optional
	Affinity *corev1.Affinity `json:"affinity,omitempty"`

	// priorityClassName of the Jobs' pods. The PriorityClass must exist when
	// the pods are created, or the Job creates none.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	PriorityClassName string `json:"priorityClassName,omitempty"`

	// podAnnotations are added to the Jobs' pods.
	// +optional
	// +kubebuilder:validation:MaxProperties=64
	PodAnnotations map[string]string `json:"podAnnotations,omitempty"`

	// podLabels are added to the Jobs' pods. Keys under inventory.slotsync.io/
	// are reserved for the controller.
	// +optional
	// +kubebuilder:validation:MaxProperties=64
	// +kubebuilder:validation:XValidation:rule="self.all(k, !k.startsWith('inventory.slotsync.io/'))",message="podLabels must not use keys under inventory.slotsync.io/: the controller sets them to find its Jobs"
	PodLabels map[string]string `json:"podLabels,omitempty"`
}

// SyncScheduleStatus is what the controller observed, derived from the Jobs it
// owns.
type SyncScheduleStatus struct {
	// observedGeneration is the metadata.generation of the spec the status
	// describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// conditions: Ready summarises the others (kubectl wait
	// --for=condition=Ready); Paused, Syncing (a run is active), Degraded (the
	// last run of some window failed or was partial, or a Job could not be
	// created, suspended or deleted) and BudgetExceeded (the partner key's
	// demand exceeds requestsPerMinute) give the detail. Reconciling and
	// Stalled follow the kstatus convention that Flux and Argo CD health
	// checks read, and are present only while True: Reconciling while no run
	// of the current generation has succeeded yet or a failed run is retried,
	// Stalled when only a human can fix the schedule (invalid spec, missing or
	// refused Secret, image not allowed, key rejected by the partner).
	// +optional
	// +listType=map
	// +listMapKey=type
	// +patchStrategy=merge
	// +patchMergeKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty" patchStrategy:"merge" patchMergeKey:"type"`

	// windows is the state of each window of the spec.
	// +optional
	// +listType=map
	// +listMapKey=name
	Windows []WindowStatus `json:"windows,omitempty"`

	// demandPerMinute is the average partner requests per minute this
	// schedule's windows need over a day, as a decimal such as "12.34".
	// +optional
	DemandPerMinute string `json:"demandPerMinute,omitempty"`

	// budgetPerMinute is the partner key's requestsPerMinute that the demand
	// is compared with.
	// +optional
	BudgetPerMinute int32 `json:"budgetPerMinute,omitempty"`

	// partnerKeyHash is a short fingerprint of the partner API key's value (16
	// hex digits of a SHA-256 of it), which does not reveal the key. Schedules
	// with the same fingerprint, in any namespace, use the same key and share
	// its budget, however their Secrets are named. Empty while the Secret or its
	// key is missing: then no other schedule's demand is counted with this one's.
	// +optional
	PartnerKeyHash string `json:"partnerKeyHash,omitempty"`

	// lastHandledRequest is the last value of the
	// inventory.slotsync.io/requested-at annotation whose manual run every
	// window has started, so each request runs once.
	// +optional
	LastHandledRequest string `json:"lastHandledRequest,omitempty"`

	// lastSyncTime is the latest lastSuccessfulTime of any window: the
	// scheduled time of the most recent successful run.
	// +optional
	LastSyncTime *metav1.Time `json:"lastSyncTime,omitempty"`
}

// WindowStatus is the state of one window.
type WindowStatus struct {
	// name of the window in spec.windows.
	// +required
	Name string `json:"name"`

	// fromDay is the first day (0 is today) of the band of days this window
	// fetches: the days no shorter window covers.
	// +required
	FromDay int32 `json:"fromDay"`

	// toDay is the last day (inclusive) of the band of days this window
	// fetches.
	// +required
	ToDay int32 `json:"toDay"`

	// lastScheduleTime is the scheduled time of the window's latest run.
	// +optional
	LastScheduleTime *metav1.Time `json:"lastScheduleTime,omitempty"`

	// lastSuccessfulTime is the scheduled time (not the completion time) of
	// the window's latest run that succeeded: that run fetched each of the
	// window's dates after it, so the window's data is at least that fresh.
	// +optional
	LastSuccessfulTime *metav1.Time `json:"lastSuccessfulTime,omitempty"`

	// nextScheduleTime is when the window's next run is due.
	// +optional
	NextScheduleTime *metav1.Time `json:"nextScheduleTime,omitempty"`

	// activeJob is the name of the window's Job that is running now, if any.
	// +optional
	ActiveJob string `json:"activeJob,omitempty"`

	// lastHandledRequest is the last value of the
	// inventory.slotsync.io/requested-at annotation whose manual run this
	// window has started. A request is handled once every window has started
	// it; until then the windows that already did are not run again, even
	// after their Jobs were deleted.
	// +optional
	LastHandledRequest string `json:"lastHandledRequest,omitempty"`

	// lastRun counts what the window's latest finished run did.
	// +optional
	LastRun *RunCounts `json:"lastRun,omitempty"`
}

// RunCounts is what one finished run did, summed over its shards from the
// summaries the workers leave as termination messages.
type RunCounts struct {
	// job is the name of the run's Job.
	// +optional
	Job string `json:"job,omitempty"`

	// result is Succeeded, Partial (some pairs failed) or Failed.
	// +optional
	Result RunResult `json:"result,omitempty"`

	// reason explains a failure of the whole run, e.g. PartnerUnauthorized.
	// +optional
	Reason string `json:"reason,omitempty"`

	// requests is how many requests were sent to the partner.
	// +optional
	Requests int64 `json:"requests,omitempty"`

	// rateLimited is how many of those requests the partner answered with 429.
	// +optional
	RateLimited int64 `json:"rateLimited,omitempty"`

	// slotsWritten is how many slot rows were inserted or changed.
	// +optional
	SlotsWritten int64 `json:"slotsWritten,omitempty"`

	// pairsTotal is how many (product, date) pairs the run covered.
	// +optional
	PairsTotal int64 `json:"pairsTotal,omitempty"`

	// pairsOK is how many pairs were fetched and written.
	// +optional
	PairsOK int64 `json:"pairsOK,omitempty"`

	// pairsSkipped is how many pairs a retried shard skipped because an
	// earlier attempt of the same run had written them.
	// +optional
	PairsSkipped int64 `json:"pairsSkipped,omitempty"`

	// pairsPlanned is how many pairs spec.polling Adaptive left out of the
	// run because the plan said they need not be fetched yet.
	// +optional
	PairsPlanned int64 `json:"pairsPlanned,omitempty"`

	// pairsFailed is how many pairs could not be fetched or written.
	// +optional
	PairsFailed int64 `json:"pairsFailed,omitempty"`

	// podsCounted is how many of the run's finished pods the counts include.
	// Below the pods the Job counts as succeeded or failed, some termination
	// messages have not reached the controller yet; the counts are updated as
	// they arrive.
	// +optional
	PodsCounted int32 `json:"podsCounted,omitempty"`
}

// SyncSchedule keeps the partner inventory of some products mirrored in
// Postgres by running sharded Indexed Jobs, one band of days at a time.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=ss,categories=slotsync
// +kubebuilder:printcolumn:name="Products",type=string,JSONPath=`.spec.products`
// +kubebuilder:printcolumn:name="Shards",type=integer,JSONPath=`.spec.shards`
// +kubebuilder:printcolumn:name="Paused",type=boolean,JSONPath=`.spec.paused`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Last Sync",type=date,JSONPath=`.status.lastSyncTime`
// +kubebuilder:printcolumn:name="Demand",type=string,JSONPath=`.status.demandPerMinute`,priority=1
// +kubebuilder:printcolumn:name="Budget",type=integer,JSONPath=`.status.budgetPerMinute`,priority=1
// +kubebuilder:printcolumn:name="Polling",type=string,JSONPath=`.spec.polling`,priority=1
// +kubebuilder:printcolumn:name="Message",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].message`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:validation:XValidation:rule="self.metadata.name.size() <= 63",message="metadata.name must be at most 63 characters: it is the value of the inventory.slotsync.io/schedule label on the Jobs"
type SyncSchedule struct {
	metav1.TypeMeta `json:",inline"`

	// metadata is the standard object metadata.
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is what to sync and how often.
	// +required
	Spec SyncScheduleSpec `json:"spec"`

	// status is what the controller observed.
	// +optional
	Status SyncScheduleStatus `json:"status,omitempty"`
}

// SyncScheduleList is a list of SyncSchedules.
// +kubebuilder:object:root=true
type SyncScheduleList struct {
	metav1.TypeMeta `json:",inline"`
	// metadata is the standard list metadata.
	// +optional
	metav1.ListMeta `json:"metadata,omitempty"`
	// items are the SyncSchedules.
	Items []SyncSchedule `json:"items"`
}
