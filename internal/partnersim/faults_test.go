package partnersim

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/slotsync/slotsync/internal/partner"
)

var mondayDate = time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)

func TestAuthentication(t *testing.T) {
	sim := New(Config{Keys: []string{"good", "old"}, Faults: Faults{RevokedKeys: []string{"old"}}, Now: func() time.Time { return before }})
	ts := start(t, sim)
	tests := []struct {
		name, key string
		want      int
	}{
		{"missing", "", http.StatusUnauthorized},
		{"wrong", "bad", http.StatusUnauthorized},
		{"revoked", "old", http.StatusUnauthorized},
		{"good", "good", http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := get(t, ts, inventoryPath, tt.key)
			if a.status != tt.want {
				t.Fatalf("status %d, want %d", a.status, tt.want)
			}
			if tt.want == http.StatusUnauthorized && !strings.Contains(a.header.Get("Content-Type"), "json") {
				t.Errorf("401 content type %q, want JSON", a.header.Get("Content-Type"))
			}
		})
	}
	st := sim.Stats()
	if st.Unauthorized != 3 || st.OK != 1 {
		t.Errorf("stats = %+v, want 3 unauthorized, 1 ok", st.Counts)
	}
	if len(st.PerWindow) != 1 || st.PerWindow[0].Accepted != 1 {
		t.Errorf("perWindow = %+v: a 401 must spend no budget", st.PerWindow)
	}
}

func TestBadRequests(t *testing.T) {
	sim := New(Config{Now: func() time.Time { return before }})
	ts := start(t, sim)
	tests := []struct {
		path string
		want int
	}{
		{"/api/v1/inventory/14", http.StatusBadRequest},
		{"/api/v1/inventory/14?date=2026-13-01", http.StatusBadRequest},
		{"/api/v1/inventory/14?date=30.11.2026", http.StatusBadRequest},
		{"/api/v1/inventory/abc?date=2026-11-30", http.StatusBadRequest},
		{"/api/v1/inventory/-3?date=2026-11-30", http.StatusBadRequest},
		{"/api/v1/inventory/999?date=2026-11-30", http.StatusNotFound},
	}
	for _, tt := range tests {
		a := get(t, ts, tt.path, "dev-key")
		if a.status != tt.want {
			t.Errorf("GET %s: status %d, want %d", tt.path, a.status, tt.want)
		}
		var body struct{ Error string }
		if err := json.Unmarshal([]byte(a.body), &body); err != nil || body.Error == "" {
			t.Errorf("GET %s: body %q is not a JSON error", tt.path, a.body)
		}
	}
}

func TestFaults(t *testing.T) {
	tests := []struct {
		name   string
		faults Faults
		check  func(t *testing.T, a answer)
	}{
		{"server error", Faults{ErrorRate: 1}, func(t *testing.T, a answer) {
			if a.status < 500 || a.status > 599 {
				t.Errorf("status %d, want 5xx", a.status)
			}
		}},
		{"malformed", Faults{MalformedRate: 1}, func(t *testing.T, a answer) {
			if json.Valid([]byte(a.body)) {
				t.Errorf("body %q is valid JSON", a.body)
			}
		}},
		{"missing field", Faults{MissingFieldRate: 1}, func(t *testing.T, a answer) {
			var raw []map[string]json.RawMessage
			if err := json.Unmarshal([]byte(a.body), &raw); err != nil {
				t.Fatal(err)
			}
			missing := 0
			for _, s := range raw {
				if _, ok := s["providerSlotId"]; !ok {
					missing++
				}
			}
			if missing != 1 {
				t.Errorf("%d slots lack providerSlotId, want 1", missing)
			}
			wantMalformed(t, a, "providerSlotId", "missing")
		}},
		{"duplicate", Faults{DuplicateRate: 1}, func(t *testing.T, a answer) {
			wantMalformed(t, a, "providerSlotId", "duplicated")
		}},
		{"storm", Faults{Storm429Until: before.Add(90 * time.Minute)}, func(t *testing.T, a answer) {
			if a.status != http.StatusTooManyRequests {
				t.Fatalf("status %d, want 429", a.status)
			}
			var body struct {
				State struct{ Reset int64 } `json:"rateLimitState"`
			}
			_ = json.Unmarshal([]byte(a.body), &body)
			if want := before.Add(90 * time.Minute).UnixMilli(); body.State.Reset != want {
				t.Errorf("reset %d, want the storm's end %d", body.State.Reset, want)
			}
			if got := a.header.Get("Retry-After"); got != "5400" {
				t.Errorf("Retry-After %q, want 5400", got)
			}
		}},
		{"storm with a reset in 2100", Faults{Storm429Until: before.Add(time.Minute), Storm429Reset: time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)}, func(t *testing.T, a answer) {
			if a.status != http.StatusTooManyRequests {
				t.Fatalf("status %d, want 429", a.status)
			}
			var body struct {
				State struct{ Reset int64 } `json:"rateLimitState"`
			}
			_ = json.Unmarshal([]byte(a.body), &body)
			if want := time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli(); body.State.Reset != want {
				t.Errorf("reset %d, want 2100's %d", body.State.Reset, want)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sim := New(Config{Faults: tt.faults, Now: func() time.Time { return before }})
			ts := start(t, sim)
			tt.check(t, get(t, ts, inventoryPath, "dev-key"))
			if tt.faults.Storm429Until.IsZero() {
				if got := sim.Stats().Faults; got != 1 {
					t.Errorf("stats count %d faults, want 1", got)
				}
			}
		})
	}
}

func wantMalformed(t *testing.T, a answer, field, text string) {
	t.Helper()
	if a.status != http.StatusOK {
		t.Fatalf("status %d, want 200", a.status)
	}
	_, err := partner.Decode([]byte(a.body), 14, mondayDate)
	me, ok := errors.AsType[*partner.MalformedError](err)
	if !ok || me.Field != field || !strings.Contains(err.Error(), text) {
		t.Errorf("Decode error = %v, want a malformed %s (%s)", err, field, text)
	}
}

func TestSlowAndTimeout(t *testing.T) {
	sim := New(Config{Faults: Faults{SlowRate: 1, SlowDelay: 200 * time.Millisecond}, Now: func() time.Time { return before }})
	ts := start(t, sim)
	began := time.Now()
	if a := get(t, ts, inventoryPath, "dev-key"); a.status != http.StatusOK {
		t.Fatalf("slow: status %d", a.status)
	}
	if d := time.Since(began); d < 200*time.Millisecond {
		t.Errorf("slow answer came after %s, want at least 200ms", d)
	}

	if err := sim.SetFaults(Faults{TimeoutRate: 1}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, ts.URL+inventoryPath, nil)
	req.Header.Set("x-api-key", "dev-key")
	resp, err := ts.Client().Do(req)
	if err == nil {
		resp.Body.Close()
		t.Fatalf("timeout fault answered %d", resp.StatusCode)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want the client's deadline", err)
	}
}

// TestFaultRatesDeterministic checks that a rate hits about its share and that the
// same seed and request order give the same faults.
func TestFaultRatesDeterministic(t *testing.T) {
	run := func() []int {
		sim := New(Config{Seed: 9, Limit: -1, Faults: Faults{ErrorRate: 0.3}, Now: func() time.Time { return before }})
		ts := start(t, sim)
		var statuses []int
		for range 200 {
			statuses = append(statuses, get(t, ts, inventoryPath, "dev-key").status)
		}
		return statuses
	}
	a, b := run(), run()
	errs := 0
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("request %d: %d then %d with the same seed", i, a[i], b[i])
		}
		if a[i] >= 500 {
			errs++
		}
	}
	if errs < 40 || errs > 80 {
		t.Errorf("%d of 200 requests failed at rate 0.3", errs)
	}
}
