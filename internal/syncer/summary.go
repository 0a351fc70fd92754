package syncer

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"
	"unicode/utf8"
)

// maxReportedFailures bounds the failures kept in a summary.
const maxReportedFailures = 10

// MaxTerminationMessage is what Kubernetes keeps of a termination message: a
// longer one is cut and no longer parses as JSON.
const MaxTerminationMessage = 4096

// failureErrorLengths are the lengths, in bytes before escaping, that error
// samples are cut to in turn until the summary fits: partner text escapes to up
// to six times its size (control characters, '<', '>', '&').
var failureErrorLengths = []int{240, 120, 60, 24}

// Summary is what one worker did. Its JSON is the pod's termination message, which
// the controller reads to fill the schedule's status.
type Summary struct {
	PairsTotal   int `json:"pairsTotal"`
	PairsOK      int `json:"pairsOK"`
	PairsSkipped int `json:"pairsSkipped"`
	// PairsPlanned counts the pairs an adaptive run left out because the
	// polling plan said they need not be fetched yet; neither OK nor failed.
	PairsPlanned int `json:"pairsPlanned,omitempty"`
	PairsFailed  int `json:"pairsFailed"`
	// SnapshotsChanged counts the pairs whose content differed from the stored one.
	SnapshotsChanged int `json:"snapshotsChanged"`
	// SnapshotsStale counts the answers dropped because a newer one was stored
	// meanwhile; their pairs count as OK.
	SnapshotsStale int   `json:"snapshotsStale,omitempty"`
	SlotsWritten   int   `json:"slotsWritten"`
	Requests       int64 `json:"requests"`
	RateLimited    int64 `json:"rateLimited"`
	// Reason is set when a failure explains the whole run, e.g. PartnerUnauthorized.
	Reason   string        `json:"reason,omitempty"`
	Failures []PairFailure `json:"failures,omitempty"`
	// FailuresOmitted counts the failures left out of Failures, so the message
	// fits MaxTerminationMessage; PairsFailed counts them all.
	FailuresOmitted int `json:"failuresOmitted,omitempty"`
	// Truncated is true when error samples were cut or left out to fit.
	Truncated       bool    `json:"truncated,omitempty"`
	DurationSeconds float64 `json:"durationSeconds"`
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
		msg, cut := truncate(err.Error(), failureErrorLengths[0])
		s.Failures = append(s.Failures, PairFailure{ProductID: p.ProductID, Date: p.Date.Format(time.DateOnly), Error: msg})
		s.Truncated = s.Truncated || cut
	} else {
		s.FailuresOmitted++
		s.Truncated = true
	}
}

// Line is the one human summary line the worker prints at the end.
func (s Summary) Line() string {
	line := fmt.Sprintf("synced %d/%d pairs (%d skipped as already written, %d failed, %d changed), %d slots written, %d requests, %d rate-limited, in %.1fs",
		s.PairsOK, s.PairsTotal, s.PairsSkipped, s.PairsFailed, s.SnapshotsChanged, s.SlotsWritten, s.Requests, s.RateLimited, s.DurationSeconds)
	if s.PairsPlanned > 0 {
		line += fmt.Sprintf("; %d left out by the polling plan", s.PairsPlanned)
	}
	if s.SnapshotsStale > 0 {
		line += fmt.Sprintf("; %d answers older than the stored snapshot dropped", s.SnapshotsStale)
	}
	if s.Reason != "" {
		line += "; " + s.Reason
	}
	return line
}

// TerminationMessage is the summary as JSON of at most MaxTerminationMessage
// bytes, whatever the errors say: error samples are cut shorter, then left out
// from the last, until it fits. The counts are always kept.
func (s Summary) TerminationMessage() ([]byte, error) {
	failures := s.Failures
	for _, n := range failureErrorLengths {
		s.Failures = make([]PairFailure, len(failures))
		for i, f := range failures {
			var cut bool
			f.Error, cut = truncate(f.Error, n)
			s.Truncated = s.Truncated || cut
			s.Failures[i] = f
		}
		b, err := s.encodeWithin()
		if b != nil || err != nil {
			return b, err
		}
	}
	for len(s.Failures) > 0 {
		s.Failures = s.Failures[:len(s.Failures)-1]
		s.FailuresOmitted++
		b, err := s.encodeWithin()
		if b != nil || err != nil {
			return b, err
		}
	}
	return nil, fmt.Errorf("encode summary: longer than %d bytes without error samples", MaxTerminationMessage)
}

// encodeWithin returns the JSON of s, or nil when it is too long.
func (s Summary) encodeWithin() ([]byte, error) {
	b, err := json.Marshal(s)
	if err != nil {
		return nil, fmt.Errorf("encode summary: %w", err)
	}
	if len(b) > MaxTerminationMessage {
		return nil, nil
	}
	return b, nil
}

// WriteTerminationMessage writes the summary as JSON where Kubernetes reads a
// container's termination message.
func (s Summary) WriteTerminationMessage(path string) error {
	b, err := s.TerminationMessage()
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return fmt.Errorf("write termination message: %w", err)
	}
	return nil
}

// truncate cuts s to at most n bytes on a rune boundary and marks the cut. Invalid
// UTF-8 becomes U+FFFD first, as encoding/json would write it anyway.
func truncate(s string, n int) (_ string, cut bool) {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= n {
		return s, false
	}
	end := n
	for end > 0 && !utf8.RuneStart(s[end]) {
		end--
	}
	return s[:end] + "…", true
}
