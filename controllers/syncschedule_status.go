package controllers

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	inventoryv1alpha1 "github.com/slotsync/slotsync/api/v1alpha1"
)

// statusBuilder carries what one reconcile learned for the status it writes.
type statusBuilder struct {
	ss       *inventoryv1alpha1.SyncSchedule
	now      time.Time
	jobs     []*batchv1.Job
	invalid  string
	heldBack bool
	// queued are the windows whose manual run waits for their active Job.
	queued   []string
	replaced []string
	// refused says why no Job may be created; accessChecked, whether refuse
	// ran in this reconcile.
	refused       *refusal
	accessChecked bool
}

// observe derives the status from the children: per window the last and next runs,
// the active Job and the counts of the last finished run; then the conditions.
func (r *SyncScheduleReconciler) observe(ctx context.Context, ss *inventoryv1alpha1.SyncSchedule, st *statusBuilder) error {
	prev := map[string]inventoryv1alpha1.WindowStatus{}
	for _, w := range ss.Status.Windows {
		prev[w.Name] = w
	}
	var windows []inventoryv1alpha1.WindowStatus
	var degraded []string
	degradedReason := ""
	var unauthorized []string // windows whose last run had the key rejected
	active, awaiting := 0, 0
	var blocked []string // why active Jobs' pods cannot start
	for _, band := range ss.Bands() {
		ws := prev[band.Window]
		ws.Name, ws.FromDay, ws.ToDay = band.Window, band.FromDay, band.ToDay
		ws.ActiveJob = ""
		var lastFinished *batchv1.Job
		for _, j := range st.jobs {
			if j.Labels[inventoryv1alpha1.LabelWindow] != band.Window {
				continue
			}
			if t, ok := jobScheduledAt(j); ok && (ws.LastScheduleTime == nil || t.After(ws.LastScheduleTime.Time)) {
				ws.LastScheduleTime = &metav1.Time{Time: t}
			}
			finished, succeeded := jobFinished(j)
			if !finished {
				if j.DeletionTimestamp == nil {
					ws.ActiveJob = j.Name
					problem, err := r.podProblem(ctx, j)
					if err != nil {
						return err
					}
					if problem != "" {
						blocked = append(blocked, fmt.Sprintf("window %s, Job %s: %s", band.Window, j.Name, problem))
					}
				}
				continue
			}
			// The scheduled time, not the completion: a run fetches nothing
			// older than its scheduled time, so that is how fresh its data is.
			if at, ok := jobScheduledAt(j); ok && succeeded {
				if ws.LastSuccessfulTime == nil || at.After(ws.LastSuccessfulTime.Time) {
					ws.LastSuccessfulTime = &metav1.Time{Time: at}
				}
			}
			if lastFinished == nil || jobFinishedAt(j).After(jobFinishedAt(lastFinished)) {
				lastFinished = j
			}
		}
		if lastFinished != nil && (ws.LastRun == nil || !countsComplete(lastFinished, *ws.LastRun)) {
			counts, err := r.countRun(ctx, lastFinished)
			if err != nil {
				return err
			}
			switch {
			case ws.LastRun == nil || ws.LastRun.Job != lastFinished.Name:
				ws.LastRun = &counts
				recordRun(ss, band.Window, counts.Result)
			case counts.PodsCounted > ws.LastRun.PodsCounted:
				// Never fewer: pods deleted since (pod GC) would undo counts.
				ws.LastRun = &counts
			}
		}
		if ws.ActiveJob != "" {
			active++
		}
		switch {
		case ws.LastRun == nil:
			awaiting++
		case ws.LastRun.Result != inventoryv1alpha1.RunSucceeded:
			degraded = append(degraded, describeRun(band.Window, *ws.LastRun))
			if degradedReason == "" || ws.LastRun.Reason == inventoryv1alpha1.ReasonPartnerUnauthorized {
				degradedReason = ws.LastRun.Reason
			}
			if ws.LastRun.Reason == inventoryv1alpha1.ReasonPartnerUnauthorized {
				unauthorized = append(unauthorized, describeRun(band.Window, *ws.LastRun))
			}
		}
		if !ss.IsPaused() && st.invalid == "" {
			ws.NextScheduleTime = &metav1.Time{Time: nextDue(st.now, band.Every)}
		} else {
			ws.NextScheduleTime = nil
		}
		if ws.LastSuccessfulTime != nil {
			if ss.Status.LastSyncTime == nil || ws.LastSuccessfulTime.After(ss.Status.LastSyncTime.Time) {
				ss.Status.LastSyncTime = ws.LastSuccessfulTime.DeepCopy()
			}
		}
		windows = append(windows, ws)
	}
	ss.Status.Windows = windows
	if err := r.observeBudget(ctx, ss); err != nil {
		return err
	}

	// Read before this reconcile's conditions replace what the last one concluded.
	ran := generationRan(ss, st.jobs)
	gen := ss.Generation
	set := func(t string, status metav1.ConditionStatus, reason, msg string) {
		apimeta.SetStatusCondition(&ss.Status.Conditions, metav1.Condition{
			Type: t, Status: status, Reason: reason, Message: msg, ObservedGeneration: gen,
		})
	}
	if ss.IsPaused() {
		set(inventoryv1alpha1.ConditionPaused, metav1.ConditionTrue, inventoryv1alpha1.ReasonUserPaused, "spec.paused is true: no new runs, active Jobs suspended")
	} else {
		set(inventoryv1alpha1.ConditionPaused, metav1.ConditionFalse, inventoryv1alpha1.ReasonResumed, "runs are scheduled")
	}
	queued := ""
	if len(st.queued) > 0 {
		queued = fmt.Sprintf("the manual run requested by %s waits for the active Job of window(s) %s to finish (concurrencyPolicy Forbid)",
			inventoryv1alpha1.AnnotationRequestedAt, strings.Join(st.queued, ", "))
	}
	switch {
	case queued != "":
		set(inventoryv1alpha1.ConditionSyncing, metav1.ConditionTrue, inventoryv1alpha1.ReasonManualRunQueued, fmt.Sprintf("%d window(s) have an active Job; %s", active, queued))
	case active > 0:
		set(inventoryv1alpha1.ConditionSyncing, metav1.ConditionTrue, inventoryv1alpha1.ReasonJobActive, fmt.Sprintf("%d window(s) have an active Job", active))
	default:
		set(inventoryv1alpha1.ConditionSyncing, metav1.ConditionFalse, inventoryv1alpha1.ReasonIdle, "no Job is active")
	}
	if len(blocked) > 0 {
		// A pod that cannot start never finishes: say why now rather than after the deadline.
		degraded = append(blocked, degraded...)
		degradedReason = inventoryv1alpha1.ReasonSecretMissing
	}
	if len(degraded) > 0 {
		set(inventoryv1alpha1.ConditionDegraded, metav1.ConditionTrue, degradedReason, strings.Join(degraded, "; "))
	} else {
		set(inventoryv1alpha1.ConditionDegraded, metav1.ConditionFalse, inventoryv1alpha1.ReasonJobsSucceeded, "the last run of every window succeeded or none has finished yet")
	}
	// Ready keeps its reason; its message also says that a manual run waits.
	ready := func(status metav1.ConditionStatus, reason, msg string) {
		if queued != "" {
			msg += "; " + queued
		}
		set(inventoryv1alpha1.ConditionReady, status, reason, msg)
	}
	switch {
	case st.invalid != "":
		ready(metav1.ConditionFalse, inventoryv1alpha1.ReasonInvalidSpec, st.invalid)
	case st.refused != nil:
		ready(metav1.ConditionFalse, st.refused.reason, st.refused.message)
	case len(degraded) > 0:
		ready(metav1.ConditionFalse, degradedReason, strings.Join(degraded, "; "))
	case awaiting > 0:
		ready(metav1.ConditionFalse, inventoryv1alpha1.ReasonAwaitingFirstRun, fmt.Sprintf("%d window(s) have not finished a run yet", awaiting))
	default:
		ready(metav1.ConditionTrue, inventoryv1alpha1.ReasonJobsSucceeded, "the last run of every window succeeded")
	}
	var stalled *refusal
	switch {
	case st.invalid != "":
		stalled = &refusal{inventoryv1alpha1.ReasonInvalidSpec, st.invalid}
	case st.refused != nil:
		stalled = st.refused
	case len(blocked) > 0:
		stalled = &refusal{inventoryv1alpha1.ReasonSecretMissing, strings.Join(blocked, "; ")}
	case len(unauthorized) > 0:
		// Every run gets the same 401 until someone replaces the key.
		stalled = &refusal{inventoryv1alpha1.ReasonPartnerUnauthorized, strings.Join(unauthorized, "; ") + "; replace the key in spec.partner.apiKeySecretRef"}
	}
	setHealth(ss, stalled, ran, len(degraded) > 0, active)
	// The generation counts as handled only once everything above went through.
	ss.Status.ObservedGeneration = gen
	return nil
}

// setHealth sets the kstatus conditions, present only while True as Flux does:
// Stalled when only a human can make the schedule work, else Reconciling while
// the current generation has no successful run yet or a failed run is retried.
// Without them kstatus, which does not read Ready, calls every schedule Current.
func setHealth(ss *inventoryv1alpha1.SyncSchedule, stalled *refusal, ran, failed bool, active int) {
	conds := &ss.Status.Conditions
	if stalled != nil {
		apimeta.RemoveStatusCondition(conds, inventoryv1alpha1.ConditionReconciling)
		apimeta.SetStatusCondition(conds, metav1.Condition{Type: inventoryv1alpha1.ConditionStalled, Status: metav1.ConditionTrue,
			Reason: stalled.reason, Message: stalled.message, ObservedGeneration: ss.Generation})
		return
	}
	apimeta.RemoveStatusCondition(conds, inventoryv1alpha1.ConditionStalled)
	ready := apimeta.FindStatusCondition(*conds, inventoryv1alpha1.ConditionReady)
	var msg string
	switch {
	case ss.IsPaused():
		// Paused is what the owner asked for: no run is coming to wait for.
	case !ran:
		msg = fmt.Sprintf("no run of generation %d has succeeded yet", ss.Generation)
		if active > 0 {
			msg += fmt.Sprintf("; %d window(s) have an active Job", active)
		}
	case ready == nil || ready.Status != metav1.ConditionTrue:
		msg = "the schedule is not Ready"
	}
	if msg == "" {
		apimeta.RemoveStatusCondition(conds, inventoryv1alpha1.ConditionReconciling)
		return
	}
	reason := inventoryv1alpha1.ReasonProgressing
	if failed {
		reason = inventoryv1alpha1.ReasonProgressingWithRetry
	}
	if ready != nil && ready.Status != metav1.ConditionTrue {
		msg += "; " + ready.Message
	}
	apimeta.SetStatusCondition(conds, metav1.Condition{Type: inventoryv1alpha1.ConditionReconciling, Status: metav1.ConditionTrue,
		Reason: reason, Message: msg, ObservedGeneration: ss.Generation})
}

// generationRan tells whether a run of the schedule's current generation has
// succeeded: one of the Jobs does, or the last reconcile of this generation
// had concluded so (no Reconciling, Ready) before that Job was pruned or when
// it predates the generation annotation.
func generationRan(ss *inventoryv1alpha1.SyncSchedule, jobs []*batchv1.Job) bool {
	gen := strconv.FormatInt(ss.Generation, 10)
	for _, j := range jobs {
		if j.Annotations[inventoryv1alpha1.AnnotationScheduleGeneration] != gen {
			continue
		}
		if _, succeeded := jobFinished(j); succeeded {
			return true
		}
	}
	return ss.Status.ObservedGeneration == ss.Generation &&
		apimeta.FindStatusCondition(ss.Status.Conditions, inventoryv1alpha1.ConditionReconciling) == nil &&
		apimeta.IsStatusConditionTrue(ss.Status.Conditions, inventoryv1alpha1.ConditionReady)
}

// stampGeneration records on a new Job the generation it runs; see generationRan.
func stampGeneration(job *batchv1.Job, ss *inventoryv1alpha1.SyncSchedule) {
	if job.Annotations == nil {
		job.Annotations = map[string]string{}
	}
	job.Annotations[inventoryv1alpha1.AnnotationScheduleGeneration] = strconv.FormatInt(ss.Generation, 10)
}

// podProblem says why an active Job's pods cannot start.
func (r *SyncScheduleReconciler) podProblem(ctx context.Context, job *batchv1.Job) (string, error) {
	var pods corev1.PodList
	if err := r.List(ctx, &pods, client.InNamespace(job.Namespace), client.MatchingLabels{batchv1.JobNameLabel: job.Name}); err != nil {
		return "", fmt.Errorf("list pods of Job %s: %w", job.Name, err)
	}
	for i := range pods.Items {
		if why := blockedReason(&pods.Items[i]); why != "" {
			return fmt.Sprintf("pod %s cannot start: %s; create it or fix spec.partner.apiKeySecretRef / spec.database.urlSecretRef", pods.Items[i].Name, why), nil
		}
	}
	return "", nil
}

// countRun reads the worker summaries of a finished Job's pods.
func (r *SyncScheduleReconciler) countRun(ctx context.Context, job *batchv1.Job) (inventoryv1alpha1.RunCounts, error) {
	var pods corev1.PodList
	if err := r.List(ctx, &pods, client.InNamespace(job.Namespace), client.MatchingLabels{batchv1.JobNameLabel: job.Name}); err != nil {
		return inventoryv1alpha1.RunCounts{}, fmt.Errorf("list pods of Job %s: %w", job.Name, err)
	}
	return runCounts(job, pods.Items), nil
}

// observeBudget sums the demand of every schedule using the same partner key and
// compares it with the key's budget.
func (r *SyncScheduleReconciler) observeBudget(ctx context.Context, ss *inventoryv1alpha1.SyncSchedule) error {
	key, err := r.partnerKeyHash(ctx, ss)
	if err != nil {
		return err
	}
	ss.Status.PartnerKeyHash = key
	siblings, err := r.schedulesOnKey(ctx, ss)
	if err != nil {
		return fmt.Errorf("list schedules sharing the partner key: %w", err)
	}
	own := scheduleDemand(ss, len(ss.Spec.Products))
	var others float64
	for i := range siblings {
		s := &siblings[i]
		if client.ObjectKeyFromObject(s) == client.ObjectKeyFromObject(ss) || s.IsPaused() {
			continue
		}
		others += scheduleDemand(s, len(s.Spec.Products))
	}
	budget := ss.BudgetPerMinute()
	usable := usableBudget(ss.Bands(), budget)
	total := own + others
	ss.Status.DemandPerMinute = strconv.FormatFloat(total, 'f', 2, 64)
	ss.Status.BudgetPerMinute = int32(math.Round(budget))
	recordBudget(ss, own, total, usable)
	cond := metav1.Condition{Type: inventoryv1alpha1.ConditionBudgetExceeded, ObservedGeneration: ss.Generation}
	fit := productsThatFit(scheduleDemand(ss, 1), usable, others)
	ref := ss.Spec.Partner.APIKeySecretRef
	keyName := fmt.Sprintf("%s (fingerprint %s)", ref.Name+"/"+ref.Key, key)
	if key == "" {
		// Its Jobs cannot start without the key, so they take no one's budget.
		keyName = fmt.Sprintf("%s (value unknown: no Secret %s that allows this schedule, or no key %s in it; no other schedule counted)", ref.Name+"/"+ref.Key, ref.Name, ref.Key)
	}
	if total > usable+1e-9 {
		cond.Status, cond.Reason = metav1.ConditionTrue, inventoryv1alpha1.ReasonOverBudget
		cond.Message = fmt.Sprintf("the schedules on partner key %s need %.2f requests/min, %.2f over the %.2f its limiter hands out (%.0f less its jitter margin and hand-overs); this schedule fits at most %d products (it has %d); sync still runs, the bands refreshed least often wait",
			keyName, total, total-usable, usable, budget, fit, len(ss.Spec.Products))
	} else {
		cond.Status, cond.Reason = metav1.ConditionFalse, inventoryv1alpha1.ReasonWithinBudget
		cond.Message = fmt.Sprintf("the schedules on partner key %s need %.2f of the %.2f requests/min its limiter hands out (%.0f less its jitter margin and hand-overs); this schedule could grow to %d products",
			keyName, total, usable, budget, fit)
	}
	cond.Message += plannedNote(ss)
	apimeta.SetStatusCondition(&ss.Status.Conditions, cond)
	return nil
}

// plannedNote says, for an Adaptive schedule, what its demand was counted
// from, so that a figure above the Uniform one can be traced to the runs.
func plannedNote(ss *inventoryv1alpha1.SyncSchedule) string {
	shares := plannedShares(ss)
	if shares == nil {
		return ""
	}
	var parts []string
	for _, b := range ss.Bands() {
		if s, ok := shares[b.Window]; ok {
			parts = append(parts, fmt.Sprintf("%s %.1f%%", b.Window, 100*s))
		} else {
			parts = append(parts, b.Window+" not yet run, counted in full")
		}
	}
	return "; Adaptive polling: the demand leaves out the share of pairs each window's last run planned out (" + strings.Join(parts, ", ") + ")"
}

// keyHashTTL is how long a partner key's fingerprint is reused before its Secret is
// read again: a run's Job and pod changes reconcile the schedule many times, and a
// rotated key is seen within it.
const keyHashTTL = time.Minute

// keyHashCache keeps partner key fingerprints by Secret and key, never the keys.
type keyHashCache struct {
	mu      sync.Mutex
	entries map[keyHashRef]keyHashEntry
}

type keyHashRef struct {
	// schedule is part of the key: whether the Secret allows it is per schedule.
	namespace, schedule string
	inventoryv1alpha1.SecretKeyRef
}

type keyHashEntry struct {
	hash string
	read time.Time
}

// partnerKeyHash is the fingerprint of the value of the schedule's partner key,
// the identity the limiter shares a budget by; empty when the Secret or its key is
// missing (the Jobs cannot start then, so they spend no budget).
func (r *SyncScheduleReconciler) partnerKeyHash(ctx context.Context, ss *inventoryv1alpha1.SyncSchedule) (string, error) {
	ref := keyHashRef{namespace: ss.Namespace, schedule: ss.Name, SecretKeyRef: ss.Spec.Partner.APIKeySecretRef}
	now := r.Clock.Now()
	c := &r.keyHashes
	c.mu.Lock()
	e, ok := c.entries[ref]
	c.mu.Unlock()
	if ok && !now.Before(e.read) && now.Sub(e.read) < keyHashTTL {
		return e.hash, nil
	}
	var secret corev1.Secret
	if err := r.APIReader.Get(ctx, client.ObjectKey{Namespace: ss.Namespace, Name: ref.Name}, &secret); err != nil {
		if apierrors.IsNotFound(err) {
			return "", nil
		}
		return "", fmt.Errorf("read partner key Secret %s/%s: %w", ss.Namespace, ref.Name, err)
	}
	// A Secret that has not opted in is not fingerprinted: status would let the
	// schedule's editors test guesses of a value they may not read.
	if !inventoryv1alpha1.SecretAllows(secret.Annotations, ss.Name) {
		return "", nil
	}
	value := secret.Data[ref.Key]
	if len(value) == 0 {
		return "", nil // the worker refuses an empty key too
	}
	hash := fingerprint(value)
	c.mu.Lock()
	if c.entries == nil {
		c.entries = map[keyHashRef]keyHashEntry{}
	}
	// Drop what has expired, so that deleted schedules' Secrets are not kept.
	for k, e := range c.entries {
		if now.Sub(e.read) >= keyHashTTL {
			delete(c.entries, k)
		}
	}
	c.entries[ref] = keyHashEntry{hash: hash, read: now}
	c.mu.Unlock()
	return hash, nil
}

// fingerprint names a partner key without revealing it: 64 bits of a SHA-256 of
// the value tell keys apart, and the prefix keeps the digest from matching other
// hashes of the same key.
func fingerprint(key []byte) string {
	sum := sha256.Sum256(append([]byte("slotsync partner key\x00"), key...))
	return hex.EncodeToString(sum[:8])
}

// emitTransitions records an event for each condition that changed.
func (r *SyncScheduleReconciler) emitTransitions(orig, ss *inventoryv1alpha1.SyncSchedule) {
	changed := func(t string) (*metav1.Condition, bool) {
		now := apimeta.FindStatusCondition(ss.Status.Conditions, t)
		before := apimeta.FindStatusCondition(orig.Status.Conditions, t)
		return now, now != nil && (before == nil || before.Status != now.Status || before.Reason != now.Reason)
	}
	if c, ok := changed(inventoryv1alpha1.ConditionPaused); ok {
		if c.Status == metav1.ConditionTrue {
			r.Recorder.Eventf(ss, nil, corev1.EventTypeNormal, "Paused", "Pause", "sync paused; active Jobs suspended")
		} else if apimeta.FindStatusCondition(orig.Status.Conditions, inventoryv1alpha1.ConditionPaused) != nil {
			r.Recorder.Eventf(ss, nil, corev1.EventTypeNormal, "Resumed", "Resume", "sync resumed")
		}
	}
	if c, ok := changed(inventoryv1alpha1.ConditionSyncing); ok && c.Reason == inventoryv1alpha1.ReasonManualRunQueued {
		r.Recorder.Eventf(ss, nil, corev1.EventTypeNormal, inventoryv1alpha1.ReasonManualRunQueued, "Queue", "%s", c.Message)
	}
	if c, ok := changed(inventoryv1alpha1.ConditionDegraded); ok && c.Status == metav1.ConditionTrue {
		r.Recorder.Eventf(ss, nil, corev1.EventTypeWarning, c.Reason, "Sync", "%s", c.Message)
	}
	if c, ok := changed(inventoryv1alpha1.ConditionBudgetExceeded); ok && c.Status == metav1.ConditionTrue {
		r.Recorder.Eventf(ss, nil, corev1.EventTypeWarning, c.Reason, "Budget", "%s", c.Message)
	}
	if c, ok := changed(inventoryv1alpha1.ConditionReady); ok {
		switch c.Reason {
		case inventoryv1alpha1.ReasonInvalidSpec:
			r.Recorder.Eventf(ss, nil, corev1.EventTypeWarning, c.Reason, "Validate", "%s", c.Message)
		case inventoryv1alpha1.ReasonSecretNotAllowed, inventoryv1alpha1.ReasonImageNotAllowed:
			r.Recorder.Eventf(ss, nil, corev1.EventTypeWarning, c.Reason, "Refuse", "%s", c.Message)
		}
	}
}

// failure is an error with the condition reason that reports it in status.
type failure struct {
	reason string
	err    error
}

func (f *failure) Error() string { return f.err.Error() }
func (f *failure) Unwrap() error { return f.err }

// withReason tags err with the condition reason that reports it.
func withReason(reason string, err error) error {
	return &failure{reason: reason, err: err}
}

// markFailed reports an error that ends a reconcile: Degraded and Ready say what
// failed until a reconcile goes through and observe derives them again. The
// generation is left unhandled.
func markFailed(ss *inventoryv1alpha1.SyncSchedule, err error) {
	reason := inventoryv1alpha1.ReasonReconcileFailed
	if f := (*failure)(nil); errors.As(err, &f) {
		reason = f.reason
	}
	msg := err.Error() + "; retrying"
	apimeta.SetStatusCondition(&ss.Status.Conditions, metav1.Condition{Type: inventoryv1alpha1.ConditionDegraded,
		Status: metav1.ConditionTrue, Reason: reason, Message: msg, ObservedGeneration: ss.Generation})
	apimeta.SetStatusCondition(&ss.Status.Conditions, metav1.Condition{Type: inventoryv1alpha1.ConditionReady,
		Status: metav1.ConditionFalse, Reason: reason, Message: msg, ObservedGeneration: ss.Generation})
	// A retry does not lift what needs a human; it does end a Current status.
	if !apimeta.IsStatusConditionTrue(ss.Status.Conditions, inventoryv1alpha1.ConditionStalled) {
		apimeta.SetStatusCondition(&ss.Status.Conditions, metav1.Condition{Type: inventoryv1alpha1.ConditionReconciling,
			Status: metav1.ConditionTrue, Reason: inventoryv1alpha1.ReasonProgressingWithRetry, Message: msg, ObservedGeneration: ss.Generation})
	}
}
