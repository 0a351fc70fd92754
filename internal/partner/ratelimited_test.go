package partner

import (
	"net/http"
	"testing"
	"time"
)

func TestParseRateLimited(t *testing.T) {
	now := time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)
	tests := []struct {
		name       string
		body       string
		retryAfter string
		want       RateLimitedError
	}{
		{"body", `{"rateLimitState":{"limit":30,"remaining":0,"reset":1795683660123}}`, "7",
			RateLimitedError{Reset: time.UnixMilli(1795683660123), Limit: 30}},
		{"body reset as float", `{"rateLimitState":{"limit":30,"remaining":0,"reset":1795683660123.0}}`, "",
			RateLimitedError{Reset: time.UnixMilli(1795683660123), Limit: 30}},
		{"Retry-After seconds", `{"message":"slow down"}`, "42", RateLimitedError{Reset: now.Add(42 * time.Second)}},
		{"Retry-After date", ``, "Thu, 26 Nov 2026 09:05:00 GMT", RateLimitedError{Reset: now.Add(5 * time.Minute)}},
		{"body without reset", `{"rateLimitState":{"limit":30}}`, "3", RateLimitedError{Reset: now.Add(3 * time.Second), Limit: 30}},
		{"nothing", `not json`, "soon", RateLimitedError{Reset: now.Add(time.Minute)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			if tt.retryAfter != "" {
				h.Set("Retry-After", tt.retryAfter)
			}
			got := parseRateLimited(h, []byte(tt.body), now)
			if !got.Reset.Equal(tt.want.Reset) || got.Limit != tt.want.Limit || got.Remaining != tt.want.Remaining {
				t.Errorf("got %+v, want %+v", *got, tt.want)
			}
		})
	}
}

func TestBackoff(t *testing.T) {
	c := &Client{baseBackoff: 500 * time.Millisecond, maxBackoff: 10 * time.Second}
	tests := []struct {
		failures int
		lo, hi   time.Duration
	}{
		{1, 250 * time.Millisecond, 500 * time.Millisecond},
		{2, 500 * time.Millisecond, time.Second},
		{5, 4 * time.Second, 8 * time.Second},
		{6, 5 * time.Second, 10 * time.Second},
		{80, 5 * time.Second, 10 * time.Second},
	}
	for _, tt := range tests {
		for range 100 {
			// The pause after the n-th failure is a fresh backoff's n-th step.
			b := c.retryBackoff()
			var d time.Duration
			for range tt.failures {
				d = b.Step()
			}
			if d < tt.lo || d > tt.hi {
				t.Fatalf("backoff(%d) = %s, want within %s..%s", tt.failures, d, tt.lo, tt.hi)
			}
		}
	}
}
