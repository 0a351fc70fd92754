package partner

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// ErrUnauthorized means the partner rejected the API key (401): missing, wrong or
// revoked. Retrying cannot help.
var ErrUnauthorized = errors.New("partner rejected the API key (401 Unauthorized)")

// ErrTimeout means one attempt got no complete answer within its timeout. The
// caller's own cancellation or deadline is reported as ctx.Err() instead.
var ErrTimeout = errors.New("partner did not answer in time")

// ErrMalformed matches every *MalformedError with errors.Is.
var ErrMalformed = errors.New("malformed partner answer")

// RateLimitedError is a 429: the key's budget is spent until Reset.
type RateLimitedError struct {
	// Reset is when the partner accepts requests again.
	Reset time.Time
	// Wait is Reset less the local time the 429 arrived: how long the partner
	// asks us to wait, apart from any offset between its clock and ours.
	Wait time.Duration
	// Limit and Remaining are the partner's rateLimitState; zero when it sent none.
	Limit     int
	Remaining int
}

func (e *RateLimitedError) Error() string {
	reset := e.Reset.UTC().Format(time.RFC3339Nano)
	if e.Limit > 0 {
		return fmt.Sprintf("rate limited (429): budget of %d requests spent until %s", e.Limit, reset)
	}
	return fmt.Sprintf("rate limited (429) until %s", reset)
}

// ServerError is a 5xx or any other status the API does not document.
type ServerError struct {
	Status int
}

func (e *ServerError) Error() string {
	return fmt.Sprintf("partner answered %d %s", e.Status, http.StatusText(e.Status))
}

// Temporary reports whether a retry may succeed: only 5xx are.
func (e *ServerError) Temporary() bool { return e.Status >= 500 && e.Status <= 599 }

// MalformedError is an answer that breaks the API's contract.
type MalformedError struct {
	// Slot is the index of the offending slot in the answer, -1 when the answer as a
	// whole is wrong.
	Slot int
	// Field is the path of the offending field within the slot, e.g.
	// "paxAvailability[1].price.finalPrice"; empty when the slot itself is wrong.
	Field string
	Err   error
}

func (e *MalformedError) Error() string {
	var b strings.Builder
	if e.Slot >= 0 {
		fmt.Fprintf(&b, "decode slot %d: ", e.Slot)
	} else {
		b.WriteString("decode answer: ")
	}
	if e.Field != "" {
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	if e.Err != nil {
		b.WriteString(e.Err.Error())
	} else {
		b.WriteString("malformed")
	}
	return b.String()
}

func (e *MalformedError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrMalformed) true for every MalformedError.
func (e *MalformedError) Is(target error) bool { return target == ErrMalformed }
