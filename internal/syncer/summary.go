package syncer

import (
	"encoding/json"
	"fmt"
	"os"
	"time"
)

// maxReportedFailures bounds the failures kept in a summary: Kubernetes keeps at most
// 4 KiB of a termination message.
const maxReportedFailures = 10

// Summary is what one worker did. Its JSON is the pod's termination message, which
// the controller reads to fill the schedule's status.
type Summary struct {
	PairsTotal   int `json:"pairsTotal"`
	PairsOK      int `json:"pairsOK"`
	PairsSkipped int `json:"pairsSkipped"`
	PairsFailed  int `json:"pairsFailed"`
	// SnapshotsChanged counts the pairs whose content differed from the stored one.
	SnapshotsChanged int   `json:"snapshotsChanged"`
	SlotsWritten     int   `json:"slotsWritten"`
	Requests         int64 `json:"requests"`
	RateLimited      int64 `json:"rateLimited"`
	// Reason is set when a failure explains the whole run, e.g. PartnerUnauthorized.
	Reason          string        `json:"reason,omitempty"`
	Failures        []PairFailure `json:"failures,omitempty"`
	DurationSeconds float64       `json:"durationSeconds"`
}

// PairFailure says why one pair was not written.
type PairFailure struct {
	ProductID int64  `json:"productId"`
	Date      string `json:"date"`
	Error     string `json:"error"`
}

func (s *Summary) addFailure(p Pair, err error) {
	s.PairsFailed++
	if len(s.Failures) < maxReportedFailures {
		s.Failures = append(s.Failures, PairFailure{ProductID: p.ProductID, Date: p.Date.Format(time.DateOnly), Error: truncate(err.Error(), 240)})
	}
}

// Line is the one human summary line the worker prints at the end.
func (s Summary) Line() string {
	line := fmt.Sprintf("synced %d/%d pairs (%d skipped as already written, %d failed, %d changed), %d slots written, %d requests, %d rate-limited, in %.1fs",
		s.PairsOK, s.PairsTotal, s.PairsSkipped, s.PairsFailed, s.SnapshotsChanged, s.SlotsWritten, s.Requests, s.RateLimited, s.DurationSeconds)
	if s.Reason != "" {
		line += "; " + s.Reason
	}
	return line
}

// WriteTerminationMessage writes the summary as JSON where Kubernetes reads a
// container's termination message.
func (s Summary) WriteTerminationMessage(path string) error {
	b, err := json.Marshal(s)
	if err != nil {
		return fmt.Errorf("encode summary: %w", err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return fmt.Errorf("write termination message: %w", err)
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
