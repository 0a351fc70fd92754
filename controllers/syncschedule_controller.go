// Package controllers holds the SyncSchedule reconciler: it turns each schedule's
// windows into sharded Indexed Jobs, keeps them paused or running, prunes their
// history and reports what they did.
package controllers

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	inventoryv1alpha1 "github.com/slotsync/slotsync/api/v1alpha1"
)

// SyncScheduleReconciler reconciles SyncSchedule objects.
type SyncScheduleReconciler struct {
	client.Client
	Scheme   *runtime.Scheme
	Clock    clock.PassiveClock
	Recorder recorder.EventRecorder
	// WorkerImage runs the Jobs of schedules that set no spec.jobTemplate.image.
	WorkerImage string
	// AllowedImages are the images beside WorkerImage that a schedule may set
	// in spec.jobTemplate.image.
	AllowedImages AllowedImages
	// APIReader reads the Secrets schedules name from the API server. Through
	// the cache they would be every Secret of the watched namespaces, kept in
	// memory, and need list and watch on all of them.
	APIReader client.Reader

	keyHashes keyHashCache
}

// +kubebuilder:rbac:groups=inventory.slotsync.io,resources=syncschedules,verbs=get;list;watch
// +kubebuilder:rbac:groups=inventory.slotsync.io,resources=syncschedules/status,verbs=patch
// +kubebuilder:rbac:groups=inventory.slotsync.io,resources=syncschedules/finalizers,verbs=update
// +kubebuilder:rbac:groups=batch,resources=jobs,verbs=get;list;watch;create;patch;delete
// +kubebuilder:rbac:groups="",resources=pods,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Reconcile brings one schedule's Jobs in line with its spec and the clock.
func (r *SyncScheduleReconciler) Reconcile(ctx context.Context, req ctrl.Request) (result ctrl.Result, retErr error) {
	logger := log.FromContext(ctx)
	var ss inventoryv1alpha1.SyncSchedule
	if err := r.Get(ctx, req.NamespacedName, &ss); err != nil {
		if apierrors.IsNotFound(err) {
			forgetSchedule(req.Namespace, req.Name)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	reconcileTotal.Inc()
	orig := ss.DeepCopy()
	now := r.Clock.Now()

	// One status patch on every way out, so that a failure shows in the conditions
	// and events, not only in the log; the error still goes back to
	// controller-runtime, which retries with backoff.
	defer func() {
		// A conflict only means a read was stale: the retry sees the fresh object.
		if retErr != nil && !apierrors.IsConflict(retErr) {
			markFailed(&ss, retErr)
		}
		r.emitTransitions(orig, &ss)
		observeSchedule(&ss)
		if err := r.Status().Patch(ctx, &ss, client.MergeFrom(orig)); client.IgnoreNotFound(err) != nil {
			result, retErr = ctrl.Result{}, errors.Join(retErr, fmt.Errorf("patch status of %s: %w", req, err))
		}
		if retErr == nil && result.RequeueAfter > 0 {
			logger.V(1).Info("waiting for the next run", "after", result.RequeueAfter.String())
		}
	}()

	var jobList batchv1.JobList
	if err := r.List(ctx, &jobList, client.InNamespace(ss.Namespace),
		client.MatchingLabels{inventoryv1alpha1.LabelSchedule: ss.Name}); err != nil {
		return ctrl.Result{}, fmt.Errorf("list Jobs of %s: %w", req, err)
	}
	jobs := ownedJobs(&ss, jobList.Items)

	st := &statusBuilder{ss: &ss, now: now}
	requeue, err := r.reconcileRuns(ctx, &ss, jobs, st, now)
	if err != nil {
		return ctrl.Result{}, err
	}
	if err := r.pruneHistory(ctx, &ss, jobs); err != nil {
		return ctrl.Result{}, err
	}
	if err := r.observe(ctx, &ss, st); err != nil {
		return ctrl.Result{}, err
	}
	return ctrl.Result{RequeueAfter: requeue}, nil
}

// reconcileRuns suspends or resumes active Jobs and creates the Jobs of due runs. It
// returns how long until the next run is due (zero when paused).
func (r *SyncScheduleReconciler) reconcileRuns(ctx context.Context, ss *inventoryv1alpha1.SyncSchedule, jobs []*batchv1.Job, st *statusBuilder, now time.Time) (time.Duration, error) {
	if err := r.setSuspended(ctx, jobs, ss.IsPaused()); err != nil {
		return 0, err
	}
	// st.jobs grows with every Job this reconcile creates: a manual run's Jobs
	// count as their windows' runs below, or Forbid would see a second Job.
	st.jobs = slices.Clone(jobs)
	if msg := specProblem(ss); msg != "" {
		st.invalid = msg
		return 0, nil
	}
	if ss.IsPaused() {
		return 0, nil
	}
	if value, pending := ss.PendingRunRequest(); pending {
		started, err := r.startManualRun(ctx, ss, jobs, value, st, now)
		if err != nil {
			return 0, err
		}
		// A run held back by Forbid stays pending: the request is handled only once
		// every window has started it.
		if started {
			ss.Status.LastHandledRequest = value
		}
	}
	var requeue time.Duration
	for _, band := range ss.Bands() {
		due := dueTime(now, band.Every)
		if !ranSince(st.jobs, band.Window, due, now, ss.Status) {
			created, err := r.startRun(ctx, ss, st.jobs, band, due, "", st)
			if err != nil {
				return 0, err
			}
			if created != nil {
				st.jobs = append(st.jobs, created)
			}
		}
		wait := nextDue(now, band.Every).Sub(now)
		if requeue == 0 || wait < requeue {
			requeue = wait
		}
	}
	if st.refused != nil {
		requeue = min(requeue, accessRecheck)
	}
	return requeue, nil
}

// ranSince tells whether the window has a run scheduled between due and now, as a
// Job or, when its Jobs were already pruned, in status. A run scheduled after now
// was scheduled before the clock was set back: it does not count, or runs would be
// skipped until the clock caught up.
func ranSince(jobs []*batchv1.Job, window string, due, now time.Time, status inventoryv1alpha1.SyncScheduleStatus) bool {
	within := func(t time.Time) bool { return !t.Before(due) && !t.After(now) }
	for _, j := range jobs {
		if j.Labels[inventoryv1alpha1.LabelWindow] != window {
			continue // a manual run after due counts: it fetched the same days
		}
		if t, ok := jobScheduledAt(j); ok && within(t) {
			return true
		}
	}
	for _, w := range status.Windows {
		if w.Name == window && w.LastScheduleTime != nil && within(w.LastScheduleTime.Time) {
			return true
		}
	}
	return false
}

// startRun applies the concurrency policy and creates the run's Job; request is
// the manual-run request value, empty for a scheduled run. It returns the Job
// created, or nil when the policy holds the run back.
func (r *SyncScheduleReconciler) startRun(ctx context.Context, ss *inventoryv1alpha1.SyncSchedule, jobs []*batchv1.Job, band inventoryv1alpha1.Band, scheduled time.Time, request string, st *statusBuilder) (*batchv1.Job, error) {
	logger := log.FromContext(ctx)
	name := ss.JobName(band.Window, scheduled)
	if request != "" {
		name = ss.ManualJobName(band.Window, request)
	}
	for _, j := range activeJobs(jobs, band.Window) {
		if j.Name == name {
			return nil, nil
		}
		if ss.Spec.ConcurrencyPolicy == inventoryv1alpha1.ReplaceConcurrent {
			if err := r.Delete(ctx, j, client.PropagationPolicy("Background")); client.IgnoreNotFound(err) != nil {
				return nil, withReason(inventoryv1alpha1.ReasonJobDeleteFailed, fmt.Errorf("replace Job %s: %w", j.Name, err))
			}
			r.Recorder.Eventf(ss, j, corev1.EventTypeNormal, "JobReplaced", "Replace", "Job %s replaced by the run due at %s", j.Name, scheduled.Format(time.RFC3339))
			st.replaced = append(st.replaced, j.Name)
			continue
		}
		// Forbid: the due run starts once the active one has finished.
		logger.V(1).Info("run held back by an active Job", "window", band.Window, "active", j.Name)
		st.heldBack = true
		return nil, nil
	}
	// Checked at each Job created, uncached: an opt-in withdrawn stops the next run.
	if !st.accessChecked {
		refused, err := r.refuse(ctx, ss)
		if err != nil {
			return nil, err
		}
		st.refused, st.accessChecked = refused, true
	}
	if st.refused != nil {
		return nil, nil
	}
	in := jobSpecInput{Band: band, Scheduled: scheduled, Name: name, DefaultImage: r.WorkerImage}
	if request != "" {
		in.Request = requestHash(request)
	}
	job := buildJob(ss, in)
	stampGeneration(job, ss)
	if err := controllerutil.SetControllerReference(ss, job, r.Scheme); err != nil {
		return nil, withReason(inventoryv1alpha1.ReasonJobCreateFailed, fmt.Errorf("own Job %s: %w", name, err))
	}
	if err := r.Create(ctx, job); err != nil {
		if apierrors.IsAlreadyExists(err) {
			// An earlier attempt (or another controller) created it: adopt, never duplicate.
			existing := &batchv1.Job{}
			if err := r.Get(ctx, client.ObjectKeyFromObject(job), existing); err != nil {
				return nil, withReason(inventoryv1alpha1.ReasonJobCreateFailed, fmt.Errorf("adopt Job %s: %w", name, err))
			}
			if !metav1.IsControlledBy(existing, ss) {
				return nil, withReason(inventoryv1alpha1.ReasonJobCreateFailed, fmt.Errorf("create Job %s: the name is taken by a Job this schedule does not own", name))
			}
			return existing, nil
		}
		return nil, withReason(inventoryv1alpha1.ReasonJobCreateFailed, fmt.Errorf("create Job %s: %w", name, err))
	}
	jobsCreated.WithLabelValues(runKind(request)).Inc()
	logger.Info("created Job", "job", name, "window", band.Window, "scheduledAt", scheduled)
	r.Recorder.Eventf(ss, job, corev1.EventTypeNormal, inventoryv1alpha1.ReasonJobCreated, "Create",
		"Job %s for window %s (days %d-%d), scheduled at %s", name, band.Window, band.FromDay, band.ToDay, scheduled.Format(time.RFC3339))
	return job, nil
}

func runKind(request string) string {
	if request != "" {
		return "manual"
	}
	return "scheduled"
}

// startManualRun runs every band once now for an annotation request value,
// except the bands that have started it already: their window status records the
// request, or (when that status write was lost) a Job carries its hash. It
// reports whether every band has started it.
func (r *SyncScheduleReconciler) startManualRun(ctx context.Context, ss *inventoryv1alpha1.SyncSchedule, jobs []*batchv1.Job, value string, st *statusBuilder, now time.Time) (bool, error) {
	hash := requestHash(value)
	all := true
	for _, band := range ss.Bands() {
		// Status, not Jobs: history pruning deletes the Jobs of windows that ran
		// while another window waits behind its active Job.
		if windowStatus(ss, band.Window).LastHandledRequest == value {
			continue
		}
		if slices.ContainsFunc(jobs, func(j *batchv1.Job) bool {
			return j.Labels[labelRequest] == hash && j.Labels[inventoryv1alpha1.LabelWindow] == band.Window
		}) {
			windowStatus(ss, band.Window).LastHandledRequest = value
			continue
		}
		created, err := r.startRun(ctx, ss, jobs, band, now.Truncate(time.Second), value, st)
		if err != nil {
			return false, err
		}
		if st.refused != nil {
			return false, nil // pending until the schedule may run
		}
		if created == nil {
			all = false
			st.queued = append(st.queued, band.Window)
			continue
		}
		windowStatus(ss, band.Window).LastHandledRequest = value
		st.jobs = append(st.jobs, created)
	}
	return all, nil
}

// windowStatus is the status of window, added when missing; observe fills in
// the rest.
func windowStatus(ss *inventoryv1alpha1.SyncSchedule, window string) *inventoryv1alpha1.WindowStatus {
	i := slices.IndexFunc(ss.Status.Windows, func(w inventoryv1alpha1.WindowStatus) bool { return w.Name == window })
	if i < 0 {
		ss.Status.Windows = append(ss.Status.Windows, inventoryv1alpha1.WindowStatus{Name: window})
		i = len(ss.Status.Windows) - 1
	}
	return &ss.Status.Windows[i]
}

// setSuspended suspends every active Job when paused and lifts it otherwise.
func (r *SyncScheduleReconciler) setSuspended(ctx context.Context, jobs []*batchv1.Job, paused bool) error {
	for _, j := range jobs {
		if finished, _ := jobFinished(j); finished {
			continue
		}
		if j.Spec.Suspend != nil && *j.Spec.Suspend == paused {
			continue
		}
		patch := client.MergeFrom(j.DeepCopy())
		j.Spec.Suspend = &paused
		if err := r.Patch(ctx, j, patch); client.IgnoreNotFound(err) != nil {
			return withReason(inventoryv1alpha1.ReasonJobSuspendFailed, fmt.Errorf("set suspend=%t on Job %s: %w", paused, j.Name, err))
		}
	}
	return nil
}

// pruneHistory deletes the oldest finished Jobs beyond the history limits, counted per
// window so that a rarely-run window keeps its last run beside a busy one.
func (r *SyncScheduleReconciler) pruneHistory(ctx context.Context, ss *inventoryv1alpha1.SyncSchedule, jobs []*batchv1.Job) error {
	ok, failed := map[string][]*batchv1.Job{}, map[string][]*batchv1.Job{}
	for _, j := range jobs {
		if j.DeletionTimestamp != nil {
			continue
		}
		window := j.Labels[inventoryv1alpha1.LabelWindow]
		switch finished, succeeded := jobFinished(j); {
		case finished && succeeded:
			ok[window] = append(ok[window], j)
		case finished:
			failed[window] = append(failed[window], j)
		}
	}
	beyond := func(list []*batchv1.Job, limit int32) []*batchv1.Job {
		n := int(max(0, limit))
		if len(list) <= n {
			return nil
		}
		slices.SortFunc(list, func(a, b *batchv1.Job) int { return jobFinishedAt(b).Compare(jobFinishedAt(a)) })
		return list[n:]
	}
	var prune []*batchv1.Job
	for _, list := range ok {
		prune = append(prune, beyond(list, ss.SuccessfulJobsHistoryLimit())...)
	}
	for _, list := range failed {
		prune = append(prune, beyond(list, ss.FailedJobsHistoryLimit())...)
	}
	for _, j := range prune {
		if err := r.Delete(ctx, j, client.PropagationPolicy("Background")); client.IgnoreNotFound(err) != nil {
			return withReason(inventoryv1alpha1.ReasonJobDeleteFailed, fmt.Errorf("prune Job %s: %w", j.Name, err))
		}
	}
	return nil
}

// ownedJobs keeps the Jobs this schedule controls: a Job that merely carries our label
// is not ours to suspend or delete.
func ownedJobs(ss *inventoryv1alpha1.SyncSchedule, items []batchv1.Job) []*batchv1.Job {
	var jobs []*batchv1.Job
	for i := range items {
		if metav1.IsControlledBy(&items[i], ss) {
			jobs = append(jobs, &items[i])
		}
	}
	return jobs
}

func activeJobs(jobs []*batchv1.Job, window string) []*batchv1.Job {
	var active []*batchv1.Job
	for _, j := range jobs {
		if j.Labels[inventoryv1alpha1.LabelWindow] != window || j.DeletionTimestamp != nil {
			continue
		}
		if finished, _ := jobFinished(j); !finished {
			active = append(active, j)
		}
	}
	return active
}

// specProblem finds what the schema cannot check; the message says how to fix it.
func specProblem(ss *inventoryv1alpha1.SyncSchedule) string {
	if tz := ss.Spec.Timezone; tz != "" {
		if _, err := time.LoadLocation(tz); err != nil {
			return fmt.Sprintf("spec.timezone %q is not a known IANA time zone; use a name like Europe/Berlin or UTC", tz)
		}
	}
	if len(ss.Bands()) == 0 {
		return "spec.windows yields no day to sync; give at least one window with days >= 1"
	}
	return ""
}

// SetupWithManager registers the reconciler: it wakes on spec changes, manual-run
// annotations and Job changes, never on its own status writes.
func (r *SyncScheduleReconciler) SetupWithManager(mgr ctrl.Manager, concurrency int) error {
	if err := mgr.GetFieldIndexer().IndexField(context.Background(), &inventoryv1alpha1.SyncSchedule{}, partnerKeyIndex,
		func(o client.Object) []string {
			if ss, ok := o.(*inventoryv1alpha1.SyncSchedule); ok {
				if key := partnerKeyOf(ss); key != "" {
					return []string{key}
				}
			}
			return nil
		}); err != nil {
		return fmt.Errorf("index SyncSchedules by partner key: %w", err)
	}
	return ctrl.NewControllerManagedBy(mgr).
		For(&inventoryv1alpha1.SyncSchedule{}, builder.WithPredicates(
			predicate.Or(predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{}))).
		Owns(&batchv1.Job{}).
		// A sibling's products, pause and key change the budget shared through the key.
		Watches(&inventoryv1alpha1.SyncSchedule{}, r.siblingEvents(),
			builder.WithPredicates(predicate.Or[client.Object](predicate.GenerationChangedPredicate{}, partnerKeyChanged()))).
		// A pod that cannot start changes no Job status, and a pod's termination
		// message may reach the cache after its Job's completion: watch pods directly.
		Watches(&corev1.Pod{}, handler.EnqueueRequestsFromMapFunc(scheduleOfPod),
			builder.WithPredicates(podChanges())).
		Named("syncschedule").
		WithOptions(controller.Options{MaxConcurrentReconciles: max(concurrency, 1)}).
		Complete(r)
}

func scheduleOfPod(_ context.Context, o client.Object) []reconcile.Request {
	name := o.GetLabels()[inventoryv1alpha1.LabelSchedule]
	if name == "" {
		return nil
	}
	return []reconcile.Request{{NamespacedName: client.ObjectKey{Namespace: o.GetNamespace(), Name: name}}}
}

// podChanges passes the pod events that change a schedule's status: a pod that
// cannot start, and a worker that has just terminated (its summary is in the
// termination message).
func podChanges() predicate.Funcs {
	return predicate.Funcs{
		CreateFunc: func(e event.CreateEvent) bool { return podBlocked(e.Object) || workerTerminated(e.Object) },
		UpdateFunc: func(e event.UpdateEvent) bool {
			return podBlocked(e.ObjectNew) || (workerTerminated(e.ObjectNew) && !workerTerminated(e.ObjectOld))
		},
		DeleteFunc:  func(e event.DeleteEvent) bool { return podBlocked(e.Object) },
		GenericFunc: func(e event.GenericEvent) bool { return podBlocked(e.Object) },
	}
}

func podBlocked(o client.Object) bool {
	pod, ok := o.(*corev1.Pod)
	return ok && blockedReason(pod) != ""
}

func workerTerminated(o client.Object) bool {
	pod, ok := o.(*corev1.Pod)
	return ok && slices.ContainsFunc(pod.Status.ContainerStatuses, func(cs corev1.ContainerStatus) bool {
		return cs.Name == workerContainer && cs.State.Terminated != nil
	})
}

// blockedReason is why a pod cannot start: the kubelet reports a missing Secret or
// key as CreateContainerConfigError, naming the Secret, never its data.
func blockedReason(pod *corev1.Pod) string {
	for _, cs := range append(pod.Status.InitContainerStatuses, pod.Status.ContainerStatuses...) {
		if w := cs.State.Waiting; w != nil && w.Reason == "CreateContainerConfigError" {
			return w.Message
		}
	}
	return ""
}

// siblingEvents wakes the schedules that share a partner key with one whose
// demand or key changed; on a change of key, those of the old key too.
func (r *SyncScheduleReconciler) siblingEvents() handler.Funcs {
	enqueue := func(ctx context.Context, q workqueue.TypedRateLimitingInterface[reconcile.Request], objs ...client.Object) {
		for _, o := range objs {
			for _, req := range r.siblingsOnKey(ctx, o) {
				q.Add(req)
			}
		}
	}
	return handler.Funcs{
		CreateFunc: func(ctx context.Context, e event.CreateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			enqueue(ctx, q, e.Object)
		},
		UpdateFunc: func(ctx context.Context, e event.UpdateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			enqueue(ctx, q, e.ObjectOld, e.ObjectNew)
		},
		DeleteFunc: func(ctx context.Context, e event.DeleteEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			enqueue(ctx, q, e.Object)
		},
	}
}

// partnerKeyChanged passes updates that change a schedule's partner key: its
// status, where the key is recorded, changes no generation.
func partnerKeyChanged() predicate.Funcs {
	return predicate.Funcs{
		CreateFunc: func(event.CreateEvent) bool { return false },
		UpdateFunc: func(e event.UpdateEvent) bool {
			old, okOld := e.ObjectOld.(*inventoryv1alpha1.SyncSchedule)
			cur, okNew := e.ObjectNew.(*inventoryv1alpha1.SyncSchedule)
			return okOld && okNew && partnerKeyOf(old) != partnerKeyOf(cur)
		},
		DeleteFunc:  func(event.DeleteEvent) bool { return false },
		GenericFunc: func(event.GenericEvent) bool { return false },
	}
}

func (r *SyncScheduleReconciler) siblingsOnKey(ctx context.Context, o client.Object) []reconcile.Request {
	ss, ok := o.(*inventoryv1alpha1.SyncSchedule)
	if !ok {
		return nil
	}
	siblings, err := r.schedulesOnKey(ctx, ss)
	if err != nil {
		log.FromContext(ctx).Error(err, "list schedules sharing a partner key")
		return nil
	}
	var reqs []reconcile.Request
	for i := range siblings {
		if key := client.ObjectKeyFromObject(&siblings[i]); key != client.ObjectKeyFromObject(ss) {
			reqs = append(reqs, reconcile.Request{NamespacedName: key})
		}
	}
	return reqs
}

// schedulesOnKey lists the schedules of every watched namespace that use the same
// partner key as ss (ss included, as last recorded in their status), by the
// partnerKeyIndex of the manager's cache: the client must read SyncSchedules
// through that cache (the API server knows no such field). A schedule whose key
// is unknown shares it with none. The schedules returned share their maps and
// slices with the cache: callers must not modify them.
func (r *SyncScheduleReconciler) schedulesOnKey(ctx context.Context, ss *inventoryv1alpha1.SyncSchedule) ([]inventoryv1alpha1.SyncSchedule, error) {
	key := partnerKeyOf(ss)
	if key == "" {
		return nil, nil
	}
	var list inventoryv1alpha1.SyncScheduleList
	// Every caller only reads the list: from the cache it shares the cached objects
	// instead of deep-copying every schedule on the key on each reconcile, which
	// made the allocations grow with the square of the schedules.
	if err := r.List(ctx, &list, client.MatchingFields{partnerKeyIndex: key}, client.UnsafeDisableDeepCopy); err != nil {
		return nil, err
	}
	return list.Items, nil
}

// partnerKeyIndex is the cache index of SyncSchedules by partnerKeyOf.
const partnerKeyIndex = "status.partnerKeyHash"

// partnerKeyOf identifies the partner key of a schedule: the fingerprint of its
// value that observeBudget records, empty while unknown. Schedules with the same
// value share one budget, as the limiter shares it (by the key itself, in every
// namespace); the field index and the budget both use it.
func partnerKeyOf(ss *inventoryv1alpha1.SyncSchedule) string {
	return ss.Status.PartnerKeyHash
}

// CacheOptions keeps only our Jobs and their pods in the manager's memory, not every
// Job and pod of the cluster, and drops from cached objects what the reconciler
// never reads:
//
//   - managedFields of every cached object: the reconciler patches with merge
//     patches, never server-side apply, and they are the largest part of a small
//     object's metadata;
//   - a Job's pod template (spec.template): the reconciler reads a Job's metadata,
//     spec.suspend and status, and builds new Jobs from the schedule, never from
//     an existing Job;
//   - a pod's spec: the reconciler reads a pod's metadata and status (why it cannot
//     start, the worker's termination message), and each Job leaves pods behind
//     for its history, so pods would otherwise be most of the cache.
//
// Objects read from the cache therefore lack these fields: never Update such an
// object (patch the fields you change, as setSuspended does), and read the API
// server (mgr.GetAPIReader) for a Job's template or a pod's spec.
func CacheOptions() cache.Options {
	ours, _ := labels.NewRequirement(inventoryv1alpha1.LabelSchedule, selection.Exists, nil)
	selector := labels.NewSelector().Add(*ours)
	return cache.Options{
		DefaultTransform: cache.TransformStripManagedFields(),
		ByObject: map[client.Object]cache.ByObject{
			&batchv1.Job{}: {Label: selector, Transform: stripJob},
			&corev1.Pod{}:  {Label: selector, Transform: stripPod},
		},
	}
}

// stripJob is the cache transform of Jobs; see CacheOptions.
func stripJob(in any) (any, error) {
	if j, ok := in.(*batchv1.Job); ok {
		j.ManagedFields = nil
		j.Spec.Template = corev1.PodTemplateSpec{}
	}
	return in, nil
}

// stripPod is the cache transform of pods; see CacheOptions.
func stripPod(in any) (any, error) {
	if p, ok := in.(*corev1.Pod); ok {
		p.ManagedFields = nil
		p.Spec = corev1.PodSpec{}
	}
	return in, nil
}
