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

// Problem is the body of every error answer, an RFC 9457 problem detail
// served as application/problem+json.
type Problem struct {
	// Type names the kind of problem, a URI under ProblemTypeBase.
	Type string `json:"type"`
	// Title is the same for every problem of a type.
	Title  string `json:"title"`
	Status int    `json:"status"`
	// Detail says what is wrong with this request and what is expected instead.
	Detail string `json:"detail"`
	// InvalidParams names the request parameters that a 400 refuses.
	InvalidParams []InvalidParam `json:"invalid-params,omitempty"`
}

// InvalidParam is a request parameter a 400 refuses and why.
type InvalidParam struct {
	Name   string `json:"name"`
	Reason string `json:"reason"`
}

// ProblemTypeBase prefixes every problem type. The URIs name the problems;
// clients compare them, they need not resolve.
const ProblemTypeBase = "https://slotsync.io/problems/"

// problemType is one kind of problem: the last segment of its type URI and
// its title.
type problemType struct{ slug, title string }

var (
	problemInvalidRequest   = problemType{"invalid-request", "The request is malformed"}
	problemUnauthenticated  = problemType{"unauthenticated", "No valid bearer token"}
	problemForbidden        = problemType{"forbidden", "Not allowed by Kubernetes RBAC"}
	problemNeverSynced      = problemType{"experience-not-synced", "The experience was never synced"}
	problemScheduleNotFound = problemType{"schedule-not-found", "No such SyncSchedule"}
	problemNoSuchRoute      = problemType{"no-such-route", "No such route"}
	problemMethod           = problemType{"method-not-allowed", "Method not allowed"}
	problemURITooLong       = problemType{"uri-too-long", "The URL is too long"}
	problemInternal         = problemType{"internal", "Internal error"}
	problemUnavailable      = problemType{"unavailable", "A dependency is unavailable"}
)

// problemTypes are the default types of the statuses errorf is given.
var problemTypes = map[int]problemType{
	http.StatusBadRequest:          problemInvalidRequest,
	http.StatusUnauthorized:        problemUnauthenticated,
	http.StatusForbidden:           problemForbidden,
	http.StatusNotFound:            problemNoSuchRoute,
	http.StatusMethodNotAllowed:    problemMethod,
	http.StatusRequestURITooLong:   problemURITooLong,
	http.StatusInternalServerError: problemInternal,
	http.StatusServiceUnavailable:  problemUnavailable,
}

// apiError is an answer other than 200: its status and the message for the
// caller. cause, which may hold more than a caller should see, goes to the log.
type apiError struct {
	status int
	msg    string
	cause  error
	// retryAfter, in seconds, is sent with a 503.
	retryAfter int
	// problem overrides the status' default type.
	problem *problemType
	// param is the request parameter a 400 refuses.
	param string
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

// badParam is a 400 refusing the request parameter param.
func badParam(param, format string, args ...any) *apiError {
	e := errorf(http.StatusBadRequest, format, args...)
	e.param = param
	return e
}

// withProblem sets the type of e, for a status whose default is too vague.
func (e *apiError) withProblem(p problemType) *apiError {
	e.problem = &p
	return e
}

// unavailable is a 503 for a dependency that is down or slow; the caller may
// retry, and the service recovers by itself when the dependency is back.
func unavailable(cause error, format string, args ...any) *apiError {
	return &apiError{status: http.StatusServiceUnavailable, msg: fmt.Sprintf(format, args...), cause: cause, retryAfter: 1}
}

func internal(cause error, format string, args ...any) *apiError {
	return &apiError{status: http.StatusInternalServerError, msg: fmt.Sprintf(format, args...), cause: cause}
}

// problem is the body that answers e.
func (e *apiError) body() Problem {
	pt, ok := problemTypes[e.status]
	if e.problem != nil {
		pt = *e.problem
	} else if !ok {
		pt = problemType{title: http.StatusText(e.status)}
	}
	p := Problem{Type: ProblemTypeBase + pt.slug, Title: pt.title, Status: e.status, Detail: e.msg}
	if pt.slug == "" {
		p.Type = "about:blank"
	}
	if e.status == http.StatusBadRequest {
		// Every 400 names what it refuses; "query" is the query string as a whole.
		name := e.param
		if name == "" {
			name = "query"
		}
		p.InvalidParams = []InvalidParam{{Name: name, Reason: e.msg}}
	}
	return p
}

// writeError answers err as a problem detail. Errors that are not an *apiError
// are bugs: the caller learns only that something failed inside.
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
	// An error may be gone on the next try: never keep one.
	w.Header().Set("Cache-Control", cacheNoStore)
	// Validators of an answer that failed after they were set do not apply.
	w.Header().Del("ETag")
	w.Header().Del("Last-Modified")
	body, err := json.Marshal(e.body())
	if err != nil {
		body = []byte(`{"type":"about:blank","title":"Internal Server Error","status":500,"detail":"internal error: the answer could not be encoded"}`)
	}
	writeBodyAs(w, e.status, body, contentTypeProblem)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		writeError(w, internal(err, "internal error: the answer could not be encoded"))
		return
	}
	writeBody(w, status, body)
}

// The content types are shared by every answer's header: net/http only reads them.
var (
	contentTypeJSON    = []string{"application/json"}
	contentTypeProblem = []string{"application/problem+json"}
)

func writeBody(w http.ResponseWriter, status int, body []byte) {
	writeBodyAs(w, status, body, contentTypeJSON)
}

func writeBodyAs(w http.ResponseWriter, status int, body []byte, contentType []string) {
	h := w.Header()
	h["Content-Type"] = contentType
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
