package controllers

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	inventoryv1alpha1 "github.com/slotsync/slotsync/api/v1alpha1"
)

// labelRequest marks the Jobs of a manual run with a hash of the request, so that a
// restarted controller finds them instead of starting the run again.
const labelRequest = "inventory.slotsync.io/request"

// workerContainer is the name of the sync container in every Job pod.
const workerContainer = "sync"

// jobSpecInput is what buildJob needs beside the schedule.
type jobSpecInput struct {
	Band      inventoryv1alpha1.Band
	Scheduled time.Time
	Name      string
	// Request is the manual-run request hash, empty for a scheduled run.
	Request string
	// DefaultImage is the worker image when the schedule sets none.
	DefaultImage string
}

// buildJob is the Indexed Job of one run of one band: one index per shard, each
// running `slotsync sync` on its share of the band's pairs.
func buildJob(ss *inventoryv1alpha1.SyncSchedule, in jobSpecInput) *batchv1.Job {
	spec := ss.Spec
	tmpl := spec.JobTemplate
	labels := map[string]string{
		inventoryv1alpha1.LabelSchedule:    ss.Name,
		inventoryv1alpha1.LabelWindow:      in.Band.Window,
		inventoryv1alpha1.LabelScheduledAt: inventoryv1alpha1.FormatScheduledAt(in.Scheduled),
	}
	if in.Request != "" {
		labels[labelRequest] = in.Request
	}
	podLabels := map[string]string{}
	for k, v := range tmpl.PodLabels {
		podLabels[k] = v
	}
	for k, v := range labels {
		podLabels[k] = v
	}
	image := tmpl.Image
	if image == "" {
		image = in.DefaultImage
	}
	shards := ss.Shards()
	products := make([]string, len(spec.Products))
	for i, p := range spec.Products {
		products[i] = strconv.FormatInt(p, 10)
	}
	args := []string{
		"sync",
		"--products=" + strings.Join(products, ","),
		"--from-day=" + strconv.Itoa(int(in.Band.FromDay)),
		"--to-day=" + strconv.Itoa(int(in.Band.ToDay)),
		"--timezone=" + ss.Timezone(),
		"--shards=" + strconv.Itoa(int(shards)),
		"--scheduled-at=" + in.Scheduled.UTC().Format(time.RFC3339),
		// One Job is one run: its retried indexes skip only what this run wrote.
		"--run-id=" + in.Name,
		"--partner-url=" + spec.Partner.BaseURL,
		"--partner-timeout=" + ss.PartnerTimeout().String(),
		"--rate-limit=" + strconv.Itoa(int(ss.RequestsPerMinute())),
		"--rate-window=" + ss.RateLimitWindow().String(),
		// Bands refreshed more often get the key's budget first.
		"--every=" + in.Band.Every.String(),
		"--migrate",
		// Named explicitly so that a node which relocates the file can find it in args.
		"--termination-log=" + corev1.TerminationMessagePathDefault,
	}
	// Only when asked, so the Jobs of Uniform schedules stay as they were.
	if ss.Polling() == inventoryv1alpha1.AdaptivePolling {
		args = append(args, "--polling=adaptive")
	}
	return &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{
			Name:      in.Name,
			Namespace: ss.Namespace,
			Labels:    labels,
			Annotations: map[string]string{
				// Human-readable twin of the label, which cannot hold colons.
				inventoryv1alpha1.LabelScheduledAt: in.Scheduled.UTC().Format(time.RFC3339),
			},
		},
		Spec: batchv1.JobSpec{
			CompletionMode:          ptr.To(batchv1.IndexedCompletion),
			Completions:             ptr.To(shards),
			Parallelism:             ptr.To(shards),
			BackoffLimitPerIndex:    ptr.To(ss.BackoffLimitPerIndex()),
			PodFailurePolicy:        podFailurePolicy(),
			ActiveDeadlineSeconds:   in.Band.ActiveDeadlineSeconds(tmpl),
			TTLSecondsAfterFinished: tmpl.TTLSecondsAfterFinished,
			Suspend:                 ptr.To(ss.IsPaused()),
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: podLabels, Annotations: tmpl.PodAnnotations},
				Spec: corev1.PodSpec{
					RestartPolicy:                corev1.RestartPolicyNever,
					ServiceAccountName:           tmpl.ServiceAccountName,
					AutomountServiceAccountToken: ptr.To(false),
					NodeSelector:                 tmpl.NodeSelector,
					Tolerations:                  tmpl.Tolerations,
					Affinity:                     tmpl.Affinity,
					PriorityClassName:            tmpl.PriorityClassName,
					SecurityContext: &corev1.PodSecurityContext{
						RunAsNonRoot: ptr.To(true),
						// The image's nonroot user, stated so that an allowed image
						// built without USER still cannot run as root.
						RunAsUser:      ptr.To[int64](65532),
						RunAsGroup:     ptr.To[int64](65532),
						SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
					},
					Containers: []corev1.Container{{
						Name:            workerContainer,
						Image:           image,
						ImagePullPolicy: tmpl.ImagePullPolicy,
						Command:         []string{"/slotsync"},
						Args:            args,
						Env: []corev1.EnvVar{
							secretEnv("PARTNER_API_KEY", spec.Partner.APIKeySecretRef),
							secretEnv("DATABASE_URL", spec.Database.URLSecretRef),
						},
						Resources:                ss.JobResources(),
						TerminationMessagePath:   corev1.TerminationMessagePathDefault,
						TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
						SecurityContext: &corev1.SecurityContext{
							RunAsNonRoot:             ptr.To(true),
							ReadOnlyRootFilesystem:   ptr.To(true),
							AllowPrivilegeEscalation: ptr.To(false),
							Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
							SeccompProfile:           &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
						},
					}},
				},
			},
		},
	}
}

func secretEnv(name string, ref inventoryv1alpha1.SecretKeyRef) corev1.EnvVar {
	return corev1.EnvVar{Name: name, ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
		LocalObjectReference: corev1.LocalObjectReference{Name: ref.Name},
		Key:                  ref.Key,
	}}}
}

// requestHash is the short, label-safe stand-in for a manual-run request value.
func requestHash(value string) string {
	sum := sha256.Sum256([]byte(value))
	return hex.EncodeToString(sum[:])[:12]
}

// jobFinished tells whether a Job is done and whether it succeeded.
func jobFinished(job *batchv1.Job) (finished bool, succeeded bool) {
	for _, c := range job.Status.Conditions {
		if c.Status != corev1.ConditionTrue {
			continue
		}
		switch c.Type {
		case batchv1.JobComplete, batchv1.JobSuccessCriteriaMet:
			return true, true
		case batchv1.JobFailed, batchv1.JobFailureTarget:
			return true, false
		}
	}
	return false, false
}

// jobScheduledAt reads the run's scheduled time from the Job's label.
func jobScheduledAt(job *batchv1.Job) (time.Time, bool) {
	t, err := inventoryv1alpha1.ParseScheduledAt(job.Labels[inventoryv1alpha1.LabelScheduledAt])
	return t, err == nil
}

// jobFinishedAt is when a finished Job finished, for ordering its history.
func jobFinishedAt(job *batchv1.Job) time.Time {
	if job.Status.CompletionTime != nil {
		return job.Status.CompletionTime.Time
	}
	for _, c := range job.Status.Conditions {
		if (c.Type == batchv1.JobFailed || c.Type == batchv1.JobComplete) && c.Status == corev1.ConditionTrue {
			return c.LastTransitionTime.Time
		}
	}
	t, _ := jobScheduledAt(job)
	return t
}

// workerSummary is the part of the worker's JSON termination message the controller
// reads (internal/syncer.Summary writes it).
type workerSummary struct {
	PairsTotal   int64  `json:"pairsTotal"`
	PairsOK      int64  `json:"pairsOK"`
	PairsSkipped int64  `json:"pairsSkipped"`
	PairsPlanned int64  `json:"pairsPlanned"`
	PairsFailed  int64  `json:"pairsFailed"`
	SlotsWritten int64  `json:"slotsWritten"`
	Requests     int64  `json:"requests"`
	RateLimited  int64  `json:"rateLimited"`
	Reason       string `json:"reason"`
}

// runCounts adds up what the pods of one finished Job reported. Requests and 429s
// count every attempt, since each spent budget; pair counts come from the last
// attempt of each index, which is what the run achieved.
func runCounts(job *batchv1.Job, pods []corev1.Pod) inventoryv1alpha1.RunCounts {
	_, succeeded := jobFinished(job)
	counts := inventoryv1alpha1.RunCounts{Job: job.Name}
	type attempt struct {
		finished time.Time
		summary  workerSummary
	}
	lastByIndex := map[string]attempt{}
	reasons := map[string]bool{}
	for i := range pods {
		pod := &pods[i]
		for _, cs := range pod.Status.ContainerStatuses {
			term := cs.State.Terminated
			if cs.Name != workerContainer || term == nil {
				continue
			}
			counts.PodsCounted++ // a crash log in place of the summary adds nothing more
			var s workerSummary
			if json.Unmarshal([]byte(term.Message), &s) != nil {
				continue // a crash before the summary: FallbackToLogsOnError put logs there
			}
			counts.Requests += s.Requests
			counts.RateLimited += s.RateLimited
			if s.Reason != "" {
				reasons[s.Reason] = true
			}
			idx := pod.Annotations[batchv1.JobCompletionIndexAnnotation]
			if prev, ok := lastByIndex[idx]; !ok || term.FinishedAt.After(prev.finished) {
				lastByIndex[idx] = attempt{finished: term.FinishedAt.Time, summary: s}
			}
		}
	}
	for _, a := range lastByIndex {
		counts.PairsTotal += a.summary.PairsTotal
		counts.PairsOK += a.summary.PairsOK
		counts.PairsSkipped += a.summary.PairsSkipped
		counts.PairsPlanned += a.summary.PairsPlanned
		counts.PairsFailed += a.summary.PairsFailed
		counts.SlotsWritten += a.summary.SlotsWritten
	}
	switch {
	case succeeded && counts.PairsFailed == 0:
		counts.Result = inventoryv1alpha1.RunSucceeded
	case counts.PairsOK > 0:
		counts.Result = inventoryv1alpha1.RunPartial
		counts.Reason = inventoryv1alpha1.ReasonRunPartial
	default:
		counts.Result = inventoryv1alpha1.RunFailed
		counts.Reason = inventoryv1alpha1.ReasonRunFailed
	}
	if reasons[inventoryv1alpha1.ReasonPartnerUnauthorized] {
		counts.Reason = inventoryv1alpha1.ReasonPartnerUnauthorized
	} else if counts.Result != inventoryv1alpha1.RunSucceeded {
		// A worker that knew why its pairs failed says more than Partial or Failed.
		for _, r := range []string{inventoryv1alpha1.ReasonDeadlineExceeded, inventoryv1alpha1.ReasonRateLimitBlocked} {
			if reasons[r] {
				counts.Reason = r
				break
			}
		}
	}
	if counts.Result != inventoryv1alpha1.RunSucceeded && counts.Reason == inventoryv1alpha1.ReasonRunFailed {
		if msg := jobFailureMessage(job); msg != "" {
			counts.Reason = msg
		}
	}
	return counts
}

// countsComplete tells whether counts include every pod the Job counted as
// finished: the Job's status can reach the cache before its pods' termination
// messages.
func countsComplete(job *batchv1.Job, counts inventoryv1alpha1.RunCounts) bool {
	return counts.Job == job.Name && counts.PodsCounted >= job.Status.Succeeded+job.Status.Failed
}

// jobFailureMessage is the Job controller's reason for a failure (e.g.
// DeadlineExceeded) when no pod said more.
func jobFailureMessage(job *batchv1.Job) string {
	i := slices.IndexFunc(job.Status.Conditions, func(c batchv1.JobCondition) bool {
		return c.Type == batchv1.JobFailed && c.Status == corev1.ConditionTrue
	})
	if i < 0 || job.Status.Conditions[i].Reason == "" {
		return ""
	}
	return job.Status.Conditions[i].Reason
}

// describeRun is the human text of a run's counts for conditions and events.
func describeRun(window string, c inventoryv1alpha1.RunCounts) string {
	return fmt.Sprintf("window %s, Job %s: %s; %d of %d pairs written, %d failed, %d requests, %d rate-limited",
		window, c.Job, c.Result, c.PairsOK, c.PairsTotal, c.PairsFailed, c.Requests, c.RateLimited)
}

// podFailurePolicy fails the whole Job when a worker says the partner rejected the
// key: every index would get the same 401, and retrying them spends the key's
// budget. Pods killed by a disruption (eviction, preemption, node drain) do not
// count against an index's retries.
func podFailurePolicy() *batchv1.PodFailurePolicy {
	return &batchv1.PodFailurePolicy{Rules: []batchv1.PodFailurePolicyRule{
		{
			Action: batchv1.PodFailurePolicyActionFailJob,
			OnExitCodes: &batchv1.PodFailurePolicyOnExitCodesRequirement{
				ContainerName: ptr.To(workerContainer),
				Operator:      batchv1.PodFailurePolicyOnExitCodesOpIn,
				Values:        []int32{inventoryv1alpha1.ExitCodePartnerUnauthorized},
			},
		},
		{
			Action: batchv1.PodFailurePolicyActionIgnore,
			OnPodConditions: []batchv1.PodFailurePolicyOnPodConditionsPattern{
				{Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue},
			},
		},
	}}
}
