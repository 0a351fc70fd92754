package v1alpha1

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// MaxJobNameLength bounds the names JobName returns. An Indexed Job's pods get
// the hostname <job>-<index> and a generated name with a further suffix, so the
// Job name keeps the same margin below 63 that CronJob keeps for its Jobs.
const MaxJobNameLength = 52

// jobNameHashLength is how many hex digits of a SHA-256 stand in for a name
// too long or not shaped like a DNS label; 40 bits make a collision between
// two of one namespace's (schedule, window) pairs negligible.
const jobNameHashLength = 10

// IsPaused reports whether the schedule is paused: no new runs, active Jobs
// suspended.
func (s *SyncSchedule) IsPaused() bool {
	return s != nil && s.Spec.Paused
}

// Band is the part of a window's days that no shorter window covers: what the
// window's runs actually fetch.
type Band struct {
	// Window is the name of the window the band belongs to.
	Window string
	// FromDay and ToDay are the first and last day of the band, both inclusive;
	// day 0 is today in the schedule's time zone.
	FromDay, ToDay int32
	// Every is how often the band is due: the shortest interval among the
	// windows that cover all of its days.
	Every time.Duration
}

// Days is how many days the band covers.
func (b Band) Days() int32 {
	return b.ToDay - b.FromDay + 1
}

// RunDeadlineIntervals is how many of its band's intervals a run may take from
// its scheduled time. Past the first interval a run is overdue and takes turns
// with the other bands on the key instead of yielding to them, so an over-budget
// band still progresses; past the second it is stuck (a partner that keeps
// refusing, a hung connection) and ends, so that it does not hold back the
// band's later runs for good.
const RunDeadlineIntervals = 2

// RunDeadline is when a run of the band scheduled at scheduled must end.
func (b Band) RunDeadline(scheduled time.Time) time.Time {
	return scheduled.Add(RunDeadlineIntervals * b.Every)
}

// ActiveDeadlineSeconds is the activeDeadlineSeconds of the band's Jobs: the
// jobTemplate's, else RunDeadlineIntervals intervals. Counted from the Job's
// start, which is never before the run's scheduled time, it fires after the
// worker's own deadline (RunDeadline), so the worker can still say why it
// stopped; it is the backstop for a worker that cannot.
func (b Band) ActiveDeadlineSeconds(t JobTemplateOverrides) *int64 {
	if t.ActiveDeadlineSeconds != nil {
		return t.ActiveDeadlineSeconds
	}
	secs := int64((RunDeadlineIntervals*b.Every + time.Second - 1) / time.Second)
	return &secs
}

// Bands cuts windows into non-overlapping bands of days so that a day is
// fetched by one window only: sorted by days (then by name), each window gets
// the days after the previous window's last day. With the defaults: today is
// [0,0], week [1,6] and month [7,29].
//
// A band's Every is the shortest interval among the windows covering it, not
// only its own window's: a longer window that asks for fresher data than a
// shorter one still gets its promise kept on the shorter window's days.
//
// A window whose days are all covered by shorter ones (same days as another,
// or days < 1) yields no band. The schema rejects such specs; Bands skips them
// so that it never returns overlapping bands.
func Bands(windows []Window) []Band {
	sorted := slices.Clone(windows)
	slices.SortFunc(sorted, func(a, b Window) int {
		return cmp.Or(cmp.Compare(a.Days, b.Days), strings.Compare(a.Name, b.Name))
	})
	// minEvery[i] is the shortest Every of sorted[i:], the windows covering
	// every day of the band sorted[i] would start.
	minEvery := make([]time.Duration, len(sorted))
	for i := len(sorted) - 1; i >= 0; i-- {
		minEvery[i] = sorted[i].Every.Duration
		if i+1 < len(sorted) {
			minEvery[i] = min(minEvery[i], minEvery[i+1])
		}
	}
	var bands []Band
	var covered int32 // days [0, covered) already belong to a band
	for i, w := range sorted {
		if w.Days <= covered {
			continue
		}
		bands = append(bands, Band{Window: w.Name, FromDay: covered, ToDay: w.Days - 1, Every: minEvery[i]})
		covered = w.Days
	}
	return bands
}

// Bands returns the day bands of the schedule's windows; see Bands.
func (s *SyncSchedule) Bands() []Band {
	return Bands(s.Spec.Windows)
}

// JobName is the name of the Job that runs window of schedule at scheduled. It
// is deterministic, so a restarted or duplicated controller computes the same
// name and the API server's AlreadyExists stops a second Job for one run.
//
// It is <schedule>-<window>, cut to fit, then a hash of the pair and the Unix
// seconds. The hash is always there: without it ("shop-eu", "today") and ("shop",
// "eu-today") would share names, and one schedule would take the other's Job for
// its own run.
func JobName(schedule, window string, scheduled time.Time) string {
	// Seconds, not minutes: compressed-time schedules run more than once a minute.
	return jobName(schedule, window, strconv.FormatInt(scheduled.Unix(), 10))
}

// ManualJobName is the name of the Job that runs window of schedule for the
// manual-run request value (the AnnotationRequestedAt annotation). It depends
// on the request only, not on when the Job is created: a window held back by an
// active Job gets the same name on every later reconcile. Like JobName it is
// <schedule>-<window>, cut to fit, and a hash of the pair; then "m" and a hash of
// the request, which no scheduled run's Unix seconds can equal.
func ManualJobName(schedule, window, request string) string {
	sum := sha256.Sum256([]byte(request))
	return jobName(schedule, window, "m"+hex.EncodeToString(sum[:])[:jobNameHashLength])
}

// jobName is <schedule>-<window>, cut to fit, a hash of the pair, and stamp.
func jobName(schedule, window, stamp string) string {
	sum := sha256.Sum256([]byte(schedule + "\x00" + window))
	hash := hex.EncodeToString(sum[:])[:jobNameHashLength]
	keep := MaxJobNameLength - len(stamp) - len(hash) - 2
	prefix := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			return r
		}
		return '-'
	}, strings.ToLower(schedule+"-"+window))
	prefix = strings.Trim(prefix[:min(len(prefix), keep)], "-")
	if prefix == "" {
		return hash + "-" + stamp
	}
	return prefix + "-" + hash + "-" + stamp
}

// JobName is the name of the Job that runs window at scheduled; see JobName.
func (s *SyncSchedule) JobName(window string, scheduled time.Time) string {
	return JobName(s.Name, window, scheduled)
}

// ManualJobName is the name of the Job that runs window for a manual-run
// request; see ManualJobName.
func (s *SyncSchedule) ManualJobName(window, request string) string {
	return ManualJobName(s.Name, window, request)
}

// FormatScheduledAt is the LabelScheduledAt value for a run scheduled at t:
// Unix seconds.
func FormatScheduledAt(t time.Time) string {
	return strconv.FormatInt(t.Unix(), 10)
}

// ParseScheduledAt reads a LabelScheduledAt value written by
// FormatScheduledAt.
func ParseScheduledAt(v string) (time.Time, error) {
	sec, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("parse %s label %q: want Unix seconds", LabelScheduledAt, v)
	}
	return time.Unix(sec, 0).UTC(), nil
}

// PendingRunRequest returns the value of the AnnotationRequestedAt annotation
// and whether it asks for a run not handled yet: it is set and differs from
// status.lastHandledRequest.
func (s *SyncSchedule) PendingRunRequest() (string, bool) {
	v := s.Annotations[AnnotationRequestedAt]
	return v, v != "" && v != s.Status.LastHandledRequest
}

// SecretAllows reports whether a Secret with these annotations may be used by
// the SyncSchedule named schedule of its namespace: its
// AnnotationAllowedSchedules names the schedule or is "*".
func SecretAllows(annotations map[string]string, schedule string) bool {
	for _, name := range strings.Split(annotations[AnnotationAllowedSchedules], ",") {
		if name = strings.TrimSpace(name); name != "" && (name == "*" || name == schedule) {
			return true
		}
	}
	return false
}

// AllowingSchedule is the AnnotationAllowedSchedules value that allows
// schedule beside what annotations already allow.
func AllowingSchedule(annotations map[string]string, schedule string) string {
	old := strings.TrimSpace(annotations[AnnotationAllowedSchedules])
	if old == "" {
		return schedule
	}
	return old + "," + schedule
}
