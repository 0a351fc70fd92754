package partnersim

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestAdmin(t *testing.T) {
	const key = "s3cret-key-value"
	sim := New(Config{Keys: []string{key}, Now: func() time.Time { return before }})
	ts := start(t, sim)

	if a := get(t, ts, "/healthz", ""); a.status != http.StatusOK {
		t.Errorf("healthz: %d", a.status)
	}
	get(t, ts, inventoryPath, key)
	get(t, ts, inventoryPath, "wrong")

	a := get(t, ts, "/admin/stats", "")
	if strings.Contains(a.body, key) {
		t.Fatalf("stats leak the key: %s", a.body)
	}
	var st Stats
	if err := json.Unmarshal([]byte(a.body), &st); err != nil {
		t.Fatalf("stats %q: %v", a.body, err)
	}
	if st.Requests != 2 || st.ByKey[KeyHash(key)].OK != 1 || st.ByKey[KeyHash("wrong")].Unauthorized != 1 || len(st.PerWindow) != 1 {
		t.Errorf("stats = %s", a.body)
	}

	put := func(body string) int {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodPut, ts.URL+"/admin/faults", strings.NewReader(body))
		resp, err := ts.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := put(`{"errorRate": 1, "slowDelay": "1.5s", "revokedKeys": ["x"]}`); got != http.StatusNoContent {
		t.Fatalf("PUT faults: %d", got)
	}
	if f := sim.Faults(); f.ErrorRate != 1 || f.SlowDelay != 1500*time.Millisecond || len(f.RevokedKeys) != 1 {
		t.Errorf("faults after PUT = %+v", f)
	}
	if a := get(t, ts, inventoryPath, key); a.status < 500 {
		t.Errorf("after errorRate 1: status %d", a.status)
	}
	for _, bad := range []string{`{"errorRate": 2}`, `{"slowDelay": "soon"}`, `{"eror_rate": 1}`, `[`} {
		if got := put(bad); got != http.StatusBadRequest {
			t.Errorf("PUT %s: %d, want 400", bad, got)
		}
	}

	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, ts.URL+"/admin/reset-stats", nil)
	resp, err := ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if st := sim.Stats(); st.Requests != 0 || len(st.ByKey) != 0 || len(st.PerWindow) != 0 {
		t.Errorf("stats after reset = %+v", st)
	}
}

func TestFaultsJSONRoundTrip(t *testing.T) {
	f := Faults{ErrorRate: 0.1, SlowRate: 0.2, SlowDelay: 3 * time.Second, TimeoutRate: 0.05,
		MalformedRate: 0.01, MissingFieldRate: 0.02, DuplicateRate: 0.03, RevokedKeys: []string{"a"},
		Storm429Until: time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC), Storm429Reset: time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)}
	b, err := json.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"slowDelay":"3s"`) {
		t.Errorf("slowDelay is not a duration string: %s", b)
	}
	var back Faults
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !back.Storm429Until.Equal(f.Storm429Until) || !back.Storm429Reset.Equal(f.Storm429Reset) || back.SlowDelay != f.SlowDelay || back.ErrorRate != f.ErrorRate {
		t.Errorf("round trip: %+v, want %+v", back, f)
	}
}
