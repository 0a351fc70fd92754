package partnersim

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/slotsync/slotsync/internal/partner"
)

type verdict int

const (
	admitted verdict = iota
	unauthorized
	rateLimited
)

// admission is the outcome of authentication and the rate limit for one request.
type admission struct {
	verdict verdict
	message string    // of a 401
	reset   time.Time // of a 429
}

func (s *Server) serveInventory(w http.ResponseWriter, r *http.Request) {
	now := s.now()
	key := r.Header.Get("x-api-key")
	kh := KeyHash(key)
	a := s.admit(key, kh, now)
	switch a.verdict {
	case unauthorized:
		writeError(w, http.StatusUnauthorized, a.message)
		return
	case rateLimited:
		s.writeRateLimited(w, now, a.reset)
		return
	}

	id, err := strconv.ParseInt(r.PathValue("productId"), 10, 64)
	if err != nil || id <= 0 {
		writeError(w, http.StatusBadRequest, "productId must be a positive integer")
		return
	}
	date, err := time.Parse(partner.DateLayout, r.URL.Query().Get("date"))
	if err != nil {
		writeError(w, http.StatusBadRequest, "date must be given as YYYY-MM-DD")
		return
	}
	if _, ok := s.products[id]; !ok {
		writeError(w, http.StatusNotFound, "unknown product "+strconv.FormatInt(id, 10))
		return
	}

	s.mu.Lock()
	p := s.draw()
	slowDelay := s.faults.SlowDelay
	s.mu.Unlock()

	switch {
	case p.timeout:
		s.countFault(kh)
		// Hang without answering until the client gives up.
		select {
		case <-r.Context().Done():
			return
		case <-s.closed:
			// Drop the connection: returning would send an empty 200.
			panic(http.ErrAbortHandler)
		}
	case p.serverError:
		s.countFault(kh)
		writeError(w, p.status, "simulated server error")
		return
	}
	if p.slow && !s.hold(r.Context(), slowDelay) {
		s.countFault(kh)
		return
	}

	slots := s.Inventory(id, date, s.invNow())
	body, err := json.Marshal(slots)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "encode inventory: "+err.Error())
		return
	}
	body, broken := breakBody(p, slots, body)
	s.mu.Lock()
	s.count(kh, func(c *Counts) {
		if broken || p.slow {
			c.Faults++
		}
		if !broken {
			c.OK++
		}
	})
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}

func (s *Server) countFault(kh string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.count(kh, func(c *Counts) { c.Faults++ })
}

// admit authenticates the request and spends budget for it.
func (s *Server) admit(key, kh string, now time.Time) admission {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.count(kh, func(c *Counts) { c.Requests++ })
	a := admission{verdict: unauthorized}
	switch {
	case key == "":
		a.message = "missing x-api-key header"
	case !s.keys[key]:
		a.message = "invalid API key"
	case s.faults.revoked(key):
		a.message = "API key revoked"
	default:
		a.verdict = admitted
	}
	if a.verdict == unauthorized {
		s.count(kh, func(c *Counts) { c.Unauthorized++ })
		return a
	}

	idx := now.UnixNano() / int64(s.window)
	start := time.Unix(0, idx*int64(s.window))
	if now.Before(s.faults.Storm429Until) {
		a = admission{verdict: rateLimited, reset: s.faults.Storm429Until}
		if !s.faults.Storm429Reset.IsZero() {
			a.reset = s.faults.Storm429Reset
		}
	} else {
		b := s.budgets[kh]
		if b == nil || b.window != idx {
			b = &budget{window: idx}
			s.budgets[kh] = b
		}
		if s.limit >= 0 && b.used >= s.limit {
			a = admission{verdict: rateLimited, reset: start.Add(s.window)}
		} else {
			b.used++
		}
	}
	if a.verdict == rateLimited {
		s.count(kh, func(c *Counts) { c.RateLimited++ })
		s.countWindow(start, func(c *WindowCounts) { c.RateLimited++ })
	} else {
		s.countWindow(start, func(c *WindowCounts) { c.Accepted++ })
	}
	return a
}

// writeRateLimited answers 429 like the partner: the reset in epoch milliseconds,
// rounded up so a client waking at the reset is never early, and Retry-After in
// whole seconds, rounded up.
func (s *Server) writeRateLimited(w http.ResponseWriter, now, reset time.Time) {
	ms := (reset.UnixNano() + int64(time.Millisecond) - 1) / int64(time.Millisecond)
	secs := (reset.Sub(now) + time.Second - 1) / time.Second
	w.Header().Set("Retry-After", strconv.FormatInt(int64(max(secs, 1)), 10))
	type state struct {
		Limit     int   `json:"limit"`
		Remaining int   `json:"remaining"`
		Reset     int64 `json:"reset"`
	}
	writeJSON(w, http.StatusTooManyRequests, map[string]state{
		"rateLimitState": {Limit: max(s.limit, 0), Remaining: 0, Reset: ms},
	})
}

// hold delays the answer by d. It reports false when the client gave up; when the
// simulator closes it drops the connection, since returning would send an empty 200.
func (s *Server) hold(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	case <-s.closed:
		panic(http.ErrAbortHandler)
	}
}

// breakBody applies the body fault drawn for a request, if the day has slots
// enough for it, and reports whether it did.
func breakBody(p plan, slots []partner.Slot, body []byte) ([]byte, bool) {
	n := uint64(len(slots))
	switch {
	case p.malformed:
		return body[:len(body)/2], true
	case p.missing && n > 0:
		return dropSlotID(body, int(p.pick%n)), true
	case p.duplicate && n > 1:
		from := p.pick % n
		to := (from + 1 + p.pick/n%(n-1)) % n // any slot but from
		slots[to].ProviderSlotID = slots[from].ProviderSlotID
		if b, err := json.Marshal(slots); err == nil {
			return b, true
		}
	}
	return body, false
}

// dropSlotID removes providerSlotId from slot i of an encoded answer.
func dropSlotID(body []byte, i int) []byte {
	var raw []map[string]json.RawMessage
	if err := json.Unmarshal(body, &raw); err != nil {
		return body
	}
	delete(raw[i], "providerSlotId")
	out, err := json.Marshal(raw)
	if err != nil {
		return body
	}
	return out
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]any{"error": msg, "status": status})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
