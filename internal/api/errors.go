package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"unicode/utf8"

	"github.com/jackc/pgx/v5/pgconn"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// Error is the body of every error answer.
type Error struct {
	// Error says what is wrong and what is expected instead.
	Error string `json:"error"`
}

// apiError is an answer other than 200: its status and the message for the
// caller. cause, which may hold more than a caller should see, goes to the log.
type apiError struct {
	status int
	msg    string
	cause  error
	// retryAfter, in seconds, is sent with a 503.
	retryAfter int
}

func (e *apiError) Error() string {
	if e.cause != nil {
		return e.msg + ": " + e.cause.Error()
	}
	return e.msg
}

func (e *apiError) Unwrap() error { return e.cause }

func errorf(status int, format string, args ...any) *apiError {
	return &apiError{status: status, msg: fmt.Sprintf(format, args...)}
}

func badRequest(format string, args ...any) *apiError {
	return errorf(http.StatusBadRequest, format, args...)
}

// unavailable is a 503 for a dependency that is down or slow; the caller may
// retry, and the service recovers by itself when the dependency is back.
func unavailable(cause error, format string, args ...any) *apiError {
	return &apiError{status: http.StatusServiceUnavailable, msg: fmt.Sprintf(format, args...), cause: cause, retryAfter: 1}
}

func internal(cause error, format string, args ...any) *apiError {
	return &apiError{status: http.StatusInternalServerError, msg: fmt.Sprintf(format, args...), cause: cause}
}

// writeError answers err as JSON. Errors that are not an *apiError are bugs:
// the caller learns only that something failed inside.
func writeError(w http.ResponseWriter, err error) {
	var e *apiError
	if !errors.As(err, &e) {
		e = internal(err, "internal error")
	}
	if e.status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="slotsync-api"`)
	}
	if e.retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(e.retryAfter))
	}
	writeJSON(w, e.status, Error{Error: e.msg})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		body = []byte(`{"error":"internal error: the answer could not be encoded"}`)
	}
	writeBody(w, status, body)
}

// contentTypeJSON is shared by every answer's header: net/http only reads it.
var contentTypeJSON = []string{"application/json"}

func writeBody(w http.ResponseWriter, status int, body []byte) {
	h := w.Header()
	h["Content-Type"] = contentTypeJSON
	h["Content-Length"] = []string{strconv.Itoa(len(body))}
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// quote shows a caller's input in a message: quoted, valid UTF-8, and cut
// short, so that an answer never echoes a huge or binary value back.
func quote(s string) string {
	const limit = 40
	if len(s) > limit {
		cut := limit
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		return strconv.Quote(s[:cut]) + "..."
	}
	return strconv.Quote(s)
}

// databaseError turns an error of a store read into an answer: a database that
// is unreachable, restarting, overloaded or slower than the query timeout is a
// 503; anything else, such as a query Postgres rejects, is a bug (500).
func databaseError(err error) *apiError {
	if errors.Is(err, context.DeadlineExceeded) {
		return unavailable(err, "the database did not answer in time; try again later")
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		if pgErr.Code == "57014" { // query_canceled: the query timeout's cancel reached the server first
			return unavailable(err, "the database did not answer in time; try again later")
		}
		switch pgErr.Code[:min(2, len(pgErr.Code))] {
		case "08", // connection exception
			"53", // insufficient resources
			"57": // operator intervention: shutdown, cancelled statement
			return unavailable(err, "the database is unavailable; try again later")
		}
		return internal(err, "internal error reading the inventory")
	}
	// Connection failures, closed connections and I/O errors.
	return unavailable(err, "the database is unavailable; try again later")
}

// kubeError turns an error of the Kubernetes API into an answer.
func kubeError(err error, action string) *apiError {
	switch {
	case apierrors.IsForbidden(err), apierrors.IsUnauthorized(err):
		// The API's own service account lacks a permission config/api grants.
		return internal(err, "slotsync-api may not %s: check its RBAC (config/api)", action)
	case apierrors.IsInvalid(err), apierrors.IsBadRequest(err), apierrors.IsConflict(err):
		return internal(err, "the Kubernetes API refused to %s", action)
	default:
		return unavailable(err, "the Kubernetes API is unavailable, could not %s; try again later", action)
	}
}
