package v1alpha1

import (
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
)

// fuzzWindowNames are few, so that fuzzed windows share names and days often.
var fuzzWindowNames = []string{"today", "week", "month", "a", "b", "z-9", "year", "x"}

// windowsFromBytes reads windows from data, 6 bytes each: the name's index, days
// (2 bytes, 0..399, beyond the schema's 1..366) and every in seconds (3 bytes, 0
// included, which the schema rejects). At most 12 windows, beyond the schema's 10.
func windowsFromBytes(data []byte) []Window {
	var ws []Window
	for len(data) >= 6 && len(ws) < 12 {
		ws = append(ws, Window{
			Name:  fuzzWindowNames[int(data[0])%len(fuzzWindowNames)],
			Days:  int32(int(data[1])<<8|int(data[2])) % 400,
			Every: metav1.Duration{Duration: time.Duration(int(data[3])<<16|int(data[4])<<8|int(data[5])) * time.Second},
		})
		data = data[6:]
	}
	return ws
}

// FuzzBands checks the day bands that the controller turns into Jobs, for any
// windows, valid or not: they leave the input alone, do not depend on its order,
// cover days 0 to the longest window's last day each exactly once in contiguous
// bands, each band named after a window that ends where it ends, and each due at
// the shortest interval among the windows that cover all of its days. Seeds are
// in testdata/fuzz/FuzzBands.
func FuzzBands(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		windows := windowsFromBytes(data)
		in := slices.Clone(windows)
		bands := Bands(windows)
		if !slices.Equal(windows, in) {
			t.Fatalf("Bands changed its input: %+v, was %+v", windows, in)
		}
		reversed := slices.Clone(windows)
		slices.Reverse(reversed)
		if again := Bands(reversed); !slices.Equal(again, bands) {
			t.Fatalf("Bands depends on the order of the windows:\n%+v\n%+v\nfor %+v", bands, again, windows)
		}

		var longest int32
		days := map[int32]bool{}
		for _, w := range windows {
			longest = max(longest, w.Days)
			if w.Days > 0 {
				days[w.Days] = true
			}
		}
		if longest <= 0 {
			if len(bands) != 0 {
				t.Fatalf("windows without days gave bands %+v", bands)
			}
			return
		}
		if len(bands) != len(days) {
			t.Fatalf("%d bands for %d distinct window lengths: %+v for %+v", len(bands), len(days), bands, windows)
		}
		next := int32(0) // the first day no band has covered yet
		for _, b := range bands {
			if b.FromDay != next || b.ToDay < b.FromDay || b.Days() != b.ToDay-b.FromDay+1 {
				t.Fatalf("band %+v does not start at day %d or is empty: %+v", b, next, bands)
			}
			next = b.ToDay + 1
			owner := slices.ContainsFunc(windows, func(w Window) bool { return w.Name == b.Window && w.Days == b.ToDay+1 })
			if !owner {
				t.Fatalf("band %+v is named after no window of %d days: %+v", b, b.ToDay+1, windows)
			}
			every := time.Duration(-1)
			for _, w := range windows {
				if w.Days > b.ToDay && (every < 0 || w.Every.Duration < every) {
					every = w.Every.Duration
				}
			}
			if b.Every != every {
				t.Fatalf("band %+v is due every %v, want %v, the shortest of the windows covering it: %+v", b, b.Every, every, windows)
			}
		}
		if next != longest {
			t.Fatalf("bands end at day %d, the longest window at day %d: %+v", next-1, longest-1, bands)
		}
	})
}

// FuzzJobName checks Job names for any schedule and window names and any
// scheduled time: a DNS label of at most MaxJobNameLength characters, the same
// for the same run, different for another time, and ending in the Unix seconds
// that the scheduled-at label carries too; and distinct for the pair that joins
// to the same text, ("shop-eu", "today") against ("shop", "eu-today") (finding F1
// of docs/reliability.md). Seeds are in testdata/fuzz/FuzzJobName.
func FuzzJobName(f *testing.F) {
	f.Fuzz(func(t *testing.T, schedule, window string, unix int64) {
		at := time.Unix(unix, 0)
		name := JobName(schedule, window, at)
		if len(name) > MaxJobNameLength {
			t.Fatalf("JobName(%q, %q, %d) = %q: %d characters, want at most %d", schedule, window, unix, name, len(name), MaxJobNameLength)
		}
		if errs := validation.IsDNS1123Label(name); len(errs) > 0 {
			t.Fatalf("JobName(%q, %q, %d) = %q is not a DNS label: %v", schedule, window, unix, name, errs)
		}
		if again := JobName(schedule, window, at); again != name {
			t.Fatalf("JobName(%q, %q, %d) is %q, then %q", schedule, window, unix, name, again)
		}
		stamp := FormatScheduledAt(at)
		if !strings.HasSuffix(name, "-"+stamp) || stamp != strconv.FormatInt(unix, 10) {
			t.Fatalf("JobName(%q, %q, %d) = %q does not end in -%d", schedule, window, unix, name, unix)
		}
		if back, err := ParseScheduledAt(stamp); err != nil || back.Unix() != unix {
			t.Fatalf("scheduled-at label %q reads back as %v, %v", stamp, back, err)
		}
		if i := strings.Index(window, "-"); i >= 0 {
			s2, w2 := schedule+"-"+window[:i], window[i+1:]
			if other := JobName(s2, w2, at); other == name {
				t.Fatalf("(%q, %q) and (%q, %q) share the Job name %q", schedule, window, s2, w2, name)
			}
		}
		if other := JobName(schedule, window, time.Unix(unix-1, 0)); unix > math.MinInt64 && other == name {
			t.Fatalf("the runs at %d and %d share the Job name %q", unix-1, unix, name)
		}
	})
}
