package v1alpha1

import (
	"reflect"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
)

func win(name string, days int32, every time.Duration) Window {
	return Window{Name: name, Days: days, Every: metav1.Duration{Duration: every}}
}

func TestBands(t *testing.T) {
	tests := []struct {
		name    string
		windows []Window
		want    []Band
	}{
		{
			name:    "defaults",
			windows: DefaultWindows(),
			want: []Band{
				{Window: "today", FromDay: 0, ToDay: 0, Every: 15 * time.Minute},
				{Window: "week", FromDay: 1, ToDay: 6, Every: 4 * time.Hour},
				{Window: "month", FromDay: 7, ToDay: 29, Every: 24 * time.Hour},
			},
		},
		{
			name:    "unsorted input is sorted by days",
			windows: []Window{win("month", 30, 24*time.Hour), win("today", 1, 15*time.Minute), win("week", 7, 4*time.Hour)},
			want: []Band{
				{Window: "today", FromDay: 0, ToDay: 0, Every: 15 * time.Minute},
				{Window: "week", FromDay: 1, ToDay: 6, Every: 4 * time.Hour},
				{Window: "month", FromDay: 7, ToDay: 29, Every: 24 * time.Hour},
			},
		},
		{
			name:    "one window",
			windows: []Window{win("all", 14, time.Hour)},
			want:    []Band{{Window: "all", FromDay: 0, ToDay: 13, Every: time.Hour}},
		},
		{
			name:    "longer window fresher than shorter one lends its interval",
			windows: []Window{win("today", 1, time.Hour), win("week", 7, 15*time.Minute)},
			want: []Band{
				{Window: "today", FromDay: 0, ToDay: 0, Every: 15 * time.Minute},
				{Window: "week", FromDay: 1, ToDay: 6, Every: 15 * time.Minute},
			},
		},
		{
			name:    "same days: the first name gets the band and the shorter interval",
			windows: []Window{win("b", 7, time.Hour), win("a", 7, 2*time.Hour)},
			want:    []Band{{Window: "a", FromDay: 0, ToDay: 6, Every: time.Hour}},
		},
		{
			name:    "window without days yields no band",
			windows: []Window{win("none", 0, time.Minute), win("today", 1, 15*time.Minute)},
			want:    []Band{{Window: "today", FromDay: 0, ToDay: 0, Every: 15 * time.Minute}},
		},
		{
			name:    "no windows",
			windows: nil,
			want:    nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := append([]Window(nil), tt.windows...)
			got := Bands(tt.windows)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Bands() = %+v, want %+v", got, tt.want)
			}
			if !reflect.DeepEqual(tt.windows, in) {
				t.Errorf("Bands() reordered its argument: %+v", tt.windows)
			}
		})
	}
}

func TestBandDays(t *testing.T) {
	if got := (Band{FromDay: 7, ToDay: 29}).Days(); got != 23 {
		t.Errorf("Days() = %d, want 23", got)
	}
}

func TestDefaultWindowsAreFresh(t *testing.T) {
	a := DefaultWindows()
	a[0].Days = 99
	if DefaultWindows()[0].Days != 1 {
		t.Error("DefaultWindows shares its slice between calls")
	}
}

func TestIsPaused(t *testing.T) {
	tests := []struct {
		name string
		s    *SyncSchedule
		want bool
	}{
		{name: "nil", s: nil, want: false},
		{name: "zero", s: &SyncSchedule{}, want: false},
		{name: "paused", s: &SyncSchedule{Spec: SyncScheduleSpec{Paused: true}}, want: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.s.IsPaused(); got != tt.want {
				t.Errorf("IsPaused() = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestJobName(t *testing.T) {
	at := time.Date(2026, 12, 1, 6, 0, 30, 0, time.UTC) // Unix second 1796104830
	tests := []struct {
		name     string
		schedule string
		window   string
		want     string
		// wantPrefix is checked instead of want for hashed names.
		wantPrefix string
	}{
		{name: "short", schedule: "sample", window: "today", want: "sample-today-29658e204c-1796104830"},
		{name: "a long name is cut before the hash", schedule: strings.Repeat("s", 52-len("-today-1796104830")), window: "today", want: strings.Repeat("s", 30) + "-728beb4c0c-1796104830"},
		{name: "one over the limit is hashed", schedule: strings.Repeat("s", 53-len("-today-1796104830")), window: "today", wantPrefix: strings.Repeat("s", 30)},
		{name: "long schedule is hashed", schedule: "inventory-for-the-whole-catalogue-of-experiences", window: "month", wantPrefix: "inventory-for-the-whole-catalo"},
		{name: "dots are not allowed in a label", schedule: "eu.sample", window: "week", wantPrefix: "eu-sample-week-"},
		{name: "cut at a dash does not leave a double dash", schedule: strings.Repeat("a", 30) + "-bbbbbbbbbbbbbbbbbbbbbbb", window: "w", wantPrefix: strings.Repeat("a", 30) + "-"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := JobName(tt.schedule, tt.window, at)
			if errs := validation.IsDNS1123Label(got); len(errs) > 0 {
				t.Errorf("JobName() = %q is not a DNS label: %v", got, errs)
			}
			if len(got) > MaxJobNameLength {
				t.Errorf("JobName() = %q has %d characters, want at most %d", got, len(got), MaxJobNameLength)
			}
			if strings.Contains(got, "--") {
				t.Errorf("JobName() = %q has a double dash", got)
			}
			if !strings.HasSuffix(got, "-1796104830") {
				t.Errorf("JobName() = %q does not end with the Unix second", got)
			}
			if tt.want != "" && got != tt.want {
				t.Errorf("JobName() = %q, want %q", got, tt.want)
			}
			if tt.wantPrefix != "" && !strings.HasPrefix(got, tt.wantPrefix) {
				t.Errorf("JobName() = %q, want prefix %q", got, tt.wantPrefix)
			}
			if again := JobName(tt.schedule, tt.window, at.Add(400*time.Millisecond)); again != got {
				t.Errorf("JobName() is not stable within a second: %q then %q", got, again)
			}
		})
	}
}

func TestManualJobName(t *testing.T) {
	tests := []struct {
		name, schedule, window, request string
	}{
		{name: "short", schedule: "sample", window: "today", request: "2026-12-01T08:01:05Z"},
		{name: "long names", schedule: strings.Repeat("s", 63), window: strings.Repeat("w", 20), request: strings.Repeat("r", 1000)},
		{name: "empty request", schedule: "sample", window: "week", request: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ManualJobName(tt.schedule, tt.window, tt.request)
			if errs := validation.IsDNS1123Label(got); len(errs) > 0 || len(got) > MaxJobNameLength {
				t.Errorf("ManualJobName() = %q: %d characters, DNS label errors %v", got, len(got), errs)
			}
			if again := ManualJobName(tt.schedule, tt.window, tt.request); again != got {
				t.Errorf("ManualJobName() is %q, then %q", got, again)
			}
			if other := ManualJobName(tt.schedule, tt.window, tt.request+"x"); other == got {
				t.Errorf("ManualJobName() = %q for two requests", got)
			}
			if got == JobName(tt.schedule, tt.window, time.Unix(1796104830, 0)) {
				t.Errorf("ManualJobName() = %q is a scheduled run's name", got)
			}
		})
	}
}

func TestJobNameDistinct(t *testing.T) {
	at := time.Date(2026, 12, 1, 6, 0, 0, 0, time.UTC)
	long := strings.Repeat("x", 60)
	pairs := [][2]string{
		{"a.b", "today"}, {"a-b", "today"},
		{long + "1", "today"}, {long + "2", "today"},
		{long, "week"}, {long, "month"},
	}
	seen := map[string][2]string{}
	for _, p := range pairs {
		n := JobName(p[0], p[1], at)
		if prev, ok := seen[n]; ok {
			t.Errorf("JobName(%q, %q) = JobName(%q, %q) = %q", p[0], p[1], prev[0], prev[1], n)
		}
		seen[n] = p
	}
	if JobName("s", "today", at) == JobName("s", "today", at.Add(time.Minute)) {
		t.Error("runs a minute apart get the same Job name")
	}
}

func TestScheduledAtLabel(t *testing.T) {
	at := time.Date(2026, 12, 1, 6, 0, 0, 0, time.FixedZone("CET", 3600))
	v := FormatScheduledAt(at)
	if errs := validation.IsValidLabelValue(v); len(errs) > 0 {
		t.Fatalf("FormatScheduledAt() = %q is not a label value: %v", v, errs)
	}
	got, err := ParseScheduledAt(v)
	if err != nil {
		t.Fatalf("ParseScheduledAt(%q): %v", v, err)
	}
	if !got.Equal(at) {
		t.Errorf("ParseScheduledAt(FormatScheduledAt(t)) = %v, want %v", got, at)
	}
	if _, err := ParseScheduledAt("2026-12-01T06:00:00Z"); err == nil {
		t.Error("ParseScheduledAt accepted an RFC 3339 time")
	}
}

func TestPendingRunRequest(t *testing.T) {
	tests := []struct {
		name        string
		annotation  string
		handled     string
		wantValue   string
		wantPending bool
	}{
		{name: "none", annotation: "", handled: "", wantValue: "", wantPending: false},
		{name: "new", annotation: "2026-12-01T06:00:00Z", handled: "", wantValue: "2026-12-01T06:00:00Z", wantPending: true},
		{name: "handled", annotation: "2026-12-01T06:00:00Z", handled: "2026-12-01T06:00:00Z", wantValue: "2026-12-01T06:00:00Z", wantPending: false},
		{name: "newer", annotation: "2", handled: "1", wantValue: "2", wantPending: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &SyncSchedule{Status: SyncScheduleStatus{LastHandledRequest: tt.handled}}
			if tt.annotation != "" {
				s.Annotations = map[string]string{AnnotationRequestedAt: tt.annotation}
			}
			v, pending := s.PendingRunRequest()
			if v != tt.wantValue || pending != tt.wantPending {
				t.Errorf("PendingRunRequest() = %q, %v; want %q, %v", v, pending, tt.wantValue, tt.wantPending)
			}
		})
	}
}

func TestBandActiveDeadlineSeconds(t *testing.T) {
	minute := int64(60)
	tests := []struct {
		name  string
		every time.Duration
		set   *int64
		want  int64
	}{
		{"today", 15 * time.Minute, nil, 1800},
		{"month", 24 * time.Hour, nil, 172800},
		{"a fraction of a second rounds up", 1500 * time.Millisecond, nil, 3},
		{"the jobTemplate's wins", 15 * time.Minute, &minute, 60},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := Band{Every: tt.every}
			got := b.ActiveDeadlineSeconds(JobTemplateOverrides{ActiveDeadlineSeconds: tt.set})
			if got == nil || *got != tt.want {
				t.Errorf("ActiveDeadlineSeconds = %v, want %d", got, tt.want)
			}
			if want := time.Unix(0, 0).Add(2 * tt.every); !b.RunDeadline(time.Unix(0, 0)).Equal(want) {
				t.Errorf("RunDeadline = %v, want %v", b.RunDeadline(time.Unix(0, 0)), want)
			}
		})
	}
}

func TestSecretAllows(t *testing.T) {
	tests := []struct {
		name        string
		annotations map[string]string
		schedule    string
		want        bool
	}{
		{name: "no annotations", annotations: nil, schedule: "sample", want: false},
		{name: "other annotations", annotations: map[string]string{"a": "sample"}, schedule: "sample", want: false},
		{name: "empty", annotations: map[string]string{AnnotationAllowedSchedules: ""}, schedule: "sample", want: false},
		{name: "the schedule", annotations: map[string]string{AnnotationAllowedSchedules: "sample"}, schedule: "sample", want: true},
		{name: "in a list with spaces", annotations: map[string]string{AnnotationAllowedSchedules: "nightly, sample ,x"}, schedule: "sample", want: true},
		{name: "every schedule", annotations: map[string]string{AnnotationAllowedSchedules: "*"}, schedule: "sample", want: true},
		{name: "another schedule", annotations: map[string]string{AnnotationAllowedSchedules: "nightly"}, schedule: "sample", want: false},
		{name: "a prefix is not a name", annotations: map[string]string{AnnotationAllowedSchedules: "sam*,sample-eu"}, schedule: "sample", want: false},
		{name: "true is not a name", annotations: map[string]string{AnnotationAllowedSchedules: "true"}, schedule: "sample", want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := SecretAllows(tt.annotations, tt.schedule); got != tt.want {
				t.Errorf("SecretAllows(%v, %q) = %t, want %t", tt.annotations, tt.schedule, got, tt.want)
			}
		})
	}
}

func TestAllowingSchedule(t *testing.T) {
	if got := AllowingSchedule(nil, "sample"); got != "sample" {
		t.Errorf("AllowingSchedule(nil) = %q, want sample", got)
	}
	got := AllowingSchedule(map[string]string{AnnotationAllowedSchedules: "nightly"}, "sample")
	if got != "nightly,sample" || !SecretAllows(map[string]string{AnnotationAllowedSchedules: got}, "nightly") {
		t.Errorf("AllowingSchedule(nightly) = %q, want nightly,sample", got)
	}
}
