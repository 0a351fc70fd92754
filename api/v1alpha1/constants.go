package v1alpha1

// Condition types of a SyncSchedule. Ready summarises the others, so that
// `kubectl wait --for=condition=Ready` works.
const (
	// ConditionReady is True when the schedule is valid, its Secrets exist,
	// the controller could reconcile it and the last run of every window
	// succeeded.
	ConditionReady = "Ready"
	// ConditionPaused is True while spec.paused is true.
	ConditionPaused = "Paused"
	// ConditionSyncing is True while some window has an active Job; its reason
	// is ManualRunQueued while a manual run waits for one to finish.
	ConditionSyncing = "Syncing"
	// ConditionDegraded is True when the last finished run of some window
	// failed or was partial, or when the controller failed to create, suspend
	// or delete a Job (it retries).
	ConditionDegraded = "Degraded"
	// ConditionBudgetExceeded is True when the demand of all schedules sharing
	// the partner key exceeds the key's requestsPerMinute.
	ConditionBudgetExceeded = "BudgetExceeded"
	// ConditionReconciling is True while the schedule has yet to show that its
	// current generation works: no run of it has succeeded yet (a new
	// schedule's first run included), or the last run of some window failed
	// and the next one retries. Absent otherwise and while paused. kstatus
	// (Flux, cli-utils) reads it as InProgress.
	ConditionReconciling = "Reconciling"
	// ConditionStalled is True when only a human can make the schedule work:
	// its spec cannot be run, a Secret is missing or does not allow it, its
	// image is not allowed, or the partner rejected its key. Absent otherwise.
	// kstatus reads it as Failed.
	ConditionStalled = "Stalled"
)

// Condition reasons: CamelCase, one word per cause a human can act on.
const (
	// ReasonJobCreated: a run's Job was created.
	ReasonJobCreated = "JobCreated"
	// ReasonJobActive: a run's Job is active.
	ReasonJobActive = "JobActive"
	// ReasonManualRunQueued: a manual run waits for the active Job of some
	// window to finish (concurrencyPolicy Forbid), and starts then.
	ReasonManualRunQueued = "ManualRunQueued"
	// ReasonIdle: no Job is active; the next run is due later.
	ReasonIdle = "Idle"
	// ReasonJobsSucceeded: the last run of every window succeeded.
	ReasonJobsSucceeded = "JobsSucceeded"
	// ReasonAwaitingFirstRun: no run of some window has finished yet.
	ReasonAwaitingFirstRun = "AwaitingFirstRun"
	// ReasonRunFailed: the last run of some window failed.
	ReasonRunFailed = "RunFailed"
	// ReasonRunPartial: the last run of some window wrote some pairs but not all.
	ReasonRunPartial = "RunPartial"
	// ReasonPartnerUnauthorized: the partner rejected the API key (401).
	ReasonPartnerUnauthorized = "PartnerUnauthorized"
	// ReasonRateLimitBlocked: the partner kept answering 429, so some pairs of
	// the run were not fetched.
	ReasonRateLimitBlocked = "RateLimitBlocked"
	// ReasonDeadlineExceeded: the run did not finish within its deadline
	// (RunDeadlineIntervals of its band's intervals after its scheduled time).
	ReasonDeadlineExceeded = "DeadlineExceeded"
	// ReasonUserPaused: spec.paused is true.
	ReasonUserPaused = "UserPaused"
	// ReasonResumed: spec.paused went back to false.
	ReasonResumed = "Resumed"
	// ReasonWithinBudget: the key's demand fits its requestsPerMinute.
	ReasonWithinBudget = "WithinBudget"
	// ReasonOverBudget: the key's demand exceeds its requestsPerMinute.
	ReasonOverBudget = "OverBudget"
	// ReasonInvalidSpec: the spec passed schema validation but cannot be run,
	// e.g. an unknown time zone.
	ReasonInvalidSpec = "InvalidSpec"
	// ReasonSecretMissing: a pod of an active Job cannot start because its
	// Secret or key does not exist (removed after the Job was created, or a
	// key the Secret lacks).
	ReasonSecretMissing = "SecretMissing"
	// ReasonSecretNotAllowed: a referenced Secret does not exist or does not
	// name this schedule in its AnnotationAllowedSchedules, so no Job is
	// created; the message says the command that allows it.
	ReasonSecretNotAllowed = "SecretNotAllowed"
	// ReasonImageNotAllowed: spec.jobTemplate.image is not among the worker
	// images the manager allows (--allowed-worker-images), so no Job is
	// created.
	ReasonImageNotAllowed = "ImageNotAllowed"
	// ReasonJobCreateFailed: the API server refused a run's Job, e.g. over a
	// ResourceQuota; the controller retries.
	ReasonJobCreateFailed = "JobCreateFailed"
	// ReasonJobSuspendFailed: suspending or resuming an active Job failed.
	ReasonJobSuspendFailed = "JobSuspendFailed"
	// ReasonJobDeleteFailed: deleting a Job (replaced, or beyond the history
	// limits) failed.
	ReasonJobDeleteFailed = "JobDeleteFailed"
	// ReasonProgressing: Reconciling; no run of the schedule's current
	// generation has succeeded yet.
	ReasonProgressing = "Progressing"
	// ReasonProgressingWithRetry: Reconciling; the last run of some window
	// failed, or the controller failed to reconcile, and it tries again.
	ReasonProgressingWithRetry = "ProgressingWithRetry"
	// ReasonReconcileFailed: the controller could not read what it needs (Jobs,
	// pods, the schedules sharing the key); it retries.
	ReasonReconcileFailed = "ReconcileFailed"
)

// Labels and annotations. Label keys are what the controller selects its Jobs
// by, so users must not set them (podLabels rejects the prefix).
const (
	// LabelSchedule is set on Jobs and their pods to the SyncSchedule's name.
	LabelSchedule = "inventory.slotsync.io/schedule"
	// LabelWindow is set on Jobs and their pods to the window's name.
	LabelWindow = "inventory.slotsync.io/window"
	// LabelScheduledAt is set on Jobs and their pods to the run's scheduled
	// time in Unix seconds (see FormatScheduledAt); label values cannot hold
	// RFC 3339's colons.
	LabelScheduledAt = "inventory.slotsync.io/scheduled-at"
	// AnnotationRequestedAt on a SyncSchedule requests a manual run of every
	// window. Any new value (conventionally the current time) requests one
	// more run; status.lastHandledRequest records the last value handled.
	AnnotationRequestedAt = "inventory.slotsync.io/requested-at"
	// AnnotationAllowedSchedules on a Secret lists, comma-separated, the
	// SyncSchedules of its namespace that may pass it to their Jobs, or "*"
	// for all of them. The controller creates no Job whose Secrets do not
	// name its schedule: setting it takes update on the Secret, so editing a
	// schedule never reaches a Secret its editor could not read.
	AnnotationAllowedSchedules = "inventory.slotsync.io/allowed-schedules"
	// AnnotationScheduleGeneration on a Job is the metadata.generation of the
	// SyncSchedule that created it: only a run of the current generation
	// shows that the current spec works (see ConditionReconciling).
	AnnotationScheduleGeneration = "inventory.slotsync.io/schedule-generation"
)

// ExitCodePartnerUnauthorized is the sync worker's exit code when the partner
// rejected the API key. Every index of the run would get the same answer, so the
// Job's pod failure policy fails the whole Job on it instead of retrying each
// index, which would spend the key's budget on 401s.
const ExitCodePartnerUnauthorized int32 = 3
