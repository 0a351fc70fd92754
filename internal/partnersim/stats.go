package partnersim

import (
	"maps"
	"time"
)

// maxWindows bounds the per-window history kept in Stats.
const maxWindows = 1000

// Counts are the outcomes of inventory requests.
type Counts struct {
	Requests     int64 `json:"requests"`
	OK           int64 `json:"ok"`
	RateLimited  int64 `json:"rateLimited"`
	Unauthorized int64 `json:"unauthorized"`
	// Faults counts requests that got an injected fault (a slow answer included).
	Faults int64 `json:"faults"`
}

// WindowCounts are the requests of one rate-limit window, over all keys.
type WindowCounts struct {
	Start time.Time `json:"start"`
	// Accepted spent budget; RateLimited were answered 429.
	Accepted    int64 `json:"accepted"`
	RateLimited int64 `json:"rateLimited"`
}

// Stats are what the simulator saw since it started or since ResetStats. Keys
// appear only as KeyHash.
type Stats struct {
	Counts
	ByKey map[string]Counts `json:"byKey"`
	// PerWindow has the windows that saw requests, most recent last, at most 1000.
	PerWindow []WindowCounts `json:"perWindow"`
}

// Stats returns a copy of the counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.ByKey = maps.Clone(s.stats.ByKey)
	st.PerWindow = append([]WindowCounts{}, s.stats.PerWindow...)
	return st
}

// ResetStats zeroes the counters. Budgets are kept: resetting stats must not
// hand out extra requests.
func (s *Server) ResetStats() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.resetStatsLocked()
}

func (s *Server) resetStatsLocked() {
	s.stats = Stats{ByKey: map[string]Counts{}, PerWindow: []WindowCounts{}}
}

// count applies f to the totals and to the key's counts. The caller holds s.mu.
func (s *Server) count(keyHash string, f func(*Counts)) {
	f(&s.stats.Counts)
	c := s.stats.ByKey[keyHash]
	f(&c)
	s.stats.ByKey[keyHash] = c
}

// countWindow applies f to the window starting at start, keeping the history in
// order even if an injected clock goes back. The caller holds s.mu.
func (s *Server) countWindow(start time.Time, f func(*WindowCounts)) {
	ws := s.stats.PerWindow
	i := len(ws)
	for i > 0 && ws[i-1].Start.After(start) {
		i--
	}
	if i == 0 || !ws[i-1].Start.Equal(start) {
		ws = append(ws, WindowCounts{})
		copy(ws[i+1:], ws[i:])
		ws[i] = WindowCounts{Start: start}
		i++
	}
	f(&ws[i-1])
	if len(ws) > maxWindows {
		ws = append(ws[:0], ws[len(ws)-maxWindows:]...)
	}
	s.stats.PerWindow = ws
}
