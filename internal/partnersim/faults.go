package partnersim

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"
)

// Faults are the misbehaviours the simulator injects. Rates are shares of the
// requests that passed authentication and the rate limit, from 0 to 1. In JSON,
// SlowDelay is a Go duration string ("2s") and Storm429Until an RFC 3339 time.
type Faults struct {
	// ErrorRate answers 500, 502 or 503.
	ErrorRate float64
	// SlowRate delays the answer by SlowDelay.
	SlowRate  float64
	SlowDelay time.Duration
	// TimeoutRate never answers: the request hangs until the client gives up.
	TimeoutRate float64
	// MalformedRate truncates the JSON answer.
	MalformedRate float64
	// MissingFieldRate drops providerSlotId from one slot.
	MissingFieldRate float64
	// DuplicateRate gives one slot the providerSlotId of another.
	DuplicateRate float64
	// RevokedKeys are answered 401 although they are accepted keys.
	RevokedKeys []string
	// Storm429Until answers every authenticated request 429, with this reset,
	// until this time.
	Storm429Until time.Time
	// Storm429Reset, when set, is the reset the storm's 429s announce instead of
	// Storm429Until: a partner with a wrong clock, or a reset in 2100.
	Storm429Reset time.Time
}

type faultsJSON struct {
	ErrorRate        float64    `json:"errorRate"`
	SlowRate         float64    `json:"slowRate"`
	SlowDelay        string     `json:"slowDelay,omitempty"`
	TimeoutRate      float64    `json:"timeoutRate"`
	MalformedRate    float64    `json:"malformedRate"`
	MissingFieldRate float64    `json:"missingFieldRate"`
	DuplicateRate    float64    `json:"duplicateRate"`
	RevokedKeys      []string   `json:"revokedKeys,omitempty"`
	Storm429Until    *time.Time `json:"storm429Until,omitempty"`
	Storm429Reset    *time.Time `json:"storm429Reset,omitempty"`
}

// MarshalJSON writes durations as Go duration strings.
func (f Faults) MarshalJSON() ([]byte, error) {
	w := faultsJSON{
		ErrorRate: f.ErrorRate, SlowRate: f.SlowRate, TimeoutRate: f.TimeoutRate,
		MalformedRate: f.MalformedRate, MissingFieldRate: f.MissingFieldRate,
		DuplicateRate: f.DuplicateRate, RevokedKeys: f.RevokedKeys,
	}
	if f.SlowDelay != 0 {
		w.SlowDelay = f.SlowDelay.String()
	}
	if !f.Storm429Until.IsZero() {
		w.Storm429Until = &f.Storm429Until
	}
	if !f.Storm429Reset.IsZero() {
		w.Storm429Reset = &f.Storm429Reset
	}
	return json.Marshal(w)
}

// UnmarshalJSON rejects unknown fields, so a misspelt fault is an error rather
// than silently off.
func (f *Faults) UnmarshalJSON(b []byte) error {
	var w faultsJSON
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&w); err != nil {
		return err
	}
	out := Faults{
		ErrorRate: w.ErrorRate, SlowRate: w.SlowRate, TimeoutRate: w.TimeoutRate,
		MalformedRate: w.MalformedRate, MissingFieldRate: w.MissingFieldRate,
		DuplicateRate: w.DuplicateRate, RevokedKeys: w.RevokedKeys,
	}
	if w.SlowDelay != "" {
		d, err := time.ParseDuration(w.SlowDelay)
		if err != nil {
			return fmt.Errorf("slowDelay: %w", err)
		}
		out.SlowDelay = d
	}
	if w.Storm429Until != nil {
		out.Storm429Until = *w.Storm429Until
	}
	if w.Storm429Reset != nil {
		out.Storm429Reset = *w.Storm429Reset
	}
	*f = out
	return nil
}

// Validate checks that rates are within 0..1 and the delay is not negative.
func (f Faults) Validate() error {
	var errs []error
	for _, r := range []struct {
		name string
		v    float64
	}{
		{"errorRate", f.ErrorRate}, {"slowRate", f.SlowRate}, {"timeoutRate", f.TimeoutRate},
		{"malformedRate", f.MalformedRate}, {"missingFieldRate", f.MissingFieldRate},
		{"duplicateRate", f.DuplicateRate},
	} {
		if math.IsNaN(r.v) || r.v < 0 || r.v > 1 {
			errs = append(errs, fmt.Errorf("%s %v is not within 0..1", r.name, r.v))
		}
	}
	if f.SlowDelay < 0 {
		errs = append(errs, fmt.Errorf("slowDelay %s is negative", f.SlowDelay))
	}
	return errors.Join(errs...)
}

func (f Faults) revoked(key string) bool {
	for _, k := range f.RevokedKeys {
		if k == key {
			return true
		}
	}
	return false
}

func (f Faults) clone() Faults {
	f.RevokedKeys = append([]string(nil), f.RevokedKeys...)
	return f
}

// plan is the faults drawn for one request.
type plan struct {
	timeout, serverError, slow, malformed, missing, duplicate bool
	status                                                    int    // of a server error
	pick                                                      uint64 // chooses the slots a body fault touches
}

// draw decides the faults of one request. It always consumes the same number of
// random values, so for a given seed and request order the faults are the same
// whatever the rates. The caller holds s.mu.
func (s *Server) draw() plan {
	f := s.faults
	u := func(rate float64) bool { return s.rng.Float64() < rate }
	p := plan{
		timeout:     u(f.TimeoutRate),
		serverError: u(f.ErrorRate),
		slow:        u(f.SlowRate),
		malformed:   u(f.MalformedRate),
		missing:     u(f.MissingFieldRate),
		duplicate:   u(f.DuplicateRate),
		status:      []int{500, 502, 503}[s.rng.IntN(3)],
		pick:        s.rng.Uint64(),
	}
	return p
}
