package api

import (
	"errors"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"
)

// maxIDDigits is the length of the largest int64, 9223372036854775807.
const maxIDDigits = 19

// maxScheduleName is the longest SyncSchedule name the CRD accepts.
const maxScheduleName = 63

var datePattern = regexp.MustCompile(`^[0-9]{4}-[0-9]{2}-[0-9]{2}$`)

// slotsRequest is a parsed GET /api/v1/experience/{id}/slots.
type slotsRequest struct {
	productID int64
	date      time.Time // midnight UTC of the calendar date
}

// day is the request's date as "YYYY-MM-DD".
func (r slotsRequest) day() string { return r.date.Format(time.DateOnly) }

// parseSlotsRequest checks the id path segment and the raw query of a slots
// request. Every error is a 400 that says what was expected.
func parseSlotsRequest(id, rawQuery string) (slotsRequest, error) {
	productID, err := parseProductID(id)
	if err != nil {
		return slotsRequest{}, err
	}
	q, err := parseQuery(rawQuery, "date")
	if err != nil {
		return slotsRequest{}, err
	}
	date, err := parseDate(q["date"])
	if err != nil {
		return slotsRequest{}, err
	}
	return slotsRequest{productID: productID, date: date}, nil
}

// parseDatesRequest checks a GET /api/v1/experience/{id}/dates, which takes no
// query parameters.
func parseDatesRequest(id, rawQuery string) (int64, error) {
	productID, err := parseProductID(id)
	if err != nil {
		return 0, err
	}
	if _, err := parseQuery(rawQuery); err != nil {
		return 0, err
	}
	return productID, nil
}

// parseScheduleRequest checks the query of a sync route: an optional
// ?schedule=name in the namespace of def, which is used when it is absent.
func parseScheduleRequest(rawQuery string, def types.NamespacedName) (types.NamespacedName, error) {
	q, err := parseQuery(rawQuery, "schedule")
	if err != nil {
		return types.NamespacedName{}, err
	}
	name, ok := q["schedule"]
	if !ok {
		return def, nil
	}
	if name == "" {
		return types.NamespacedName{}, badParam("schedule", "schedule is empty: give a SyncSchedule name such as ?schedule=sample, or leave it out for %s", def.Name)
	}
	if len(name) > maxScheduleName {
		return types.NamespacedName{}, badParam("schedule", "schedule %s is %d characters long: a SyncSchedule name has at most %d", quote(name), len(name), maxScheduleName)
	}
	if errs := validation.IsDNS1123Subdomain(name); len(errs) > 0 {
		return types.NamespacedName{}, badParam("schedule", "schedule %s is not a SyncSchedule name: want lower case letters, digits, '-' and '.', starting and ending with a letter or digit", quote(name))
	}
	return types.NamespacedName{Namespace: def.Namespace, Name: name}, nil
}

// parseProductID accepts a positive decimal int64 in canonical form: digits
// only, no sign, no leading zero.
func parseProductID(s string) (int64, error) {
	const want = "want a positive integer such as 14"
	switch {
	case s == "":
		return 0, badParam("id", "experience id is missing: %s", want)
	case len(s) > maxIDDigits:
		return 0, badParam("id", "experience id %s is too long: %s of at most %d digits", quote(s), want, maxIDDigits)
	case strings.Trim(s, "0123456789") != "":
		return 0, badParam("id", "experience id %s is not a number: %s", quote(s), want)
	case s[0] == '0':
		if strings.Trim(s, "0") == "" {
			return 0, badParam("id", "experience id %s is zero: %s", quote(s), want)
		}
		return 0, badParam("id", "experience id %s has a leading zero: %s", quote(s), want)
	}
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, badParam("id", "experience id %s is too large: %s up to 9223372036854775807", quote(s), want)
	}
	return id, nil
}

// parseDate accepts a real calendar date written YYYY-MM-DD, from year 0001:
// Postgres has no year 0.
func parseDate(s string) (time.Time, error) {
	const want = "want ?date=YYYY-MM-DD, e.g. ?date=2026-12-01"
	if s == "" {
		return time.Time{}, badParam("date", "date is missing: %s", want)
	}
	if !datePattern.MatchString(s) {
		return time.Time{}, badParam("date", "date %s is not in the form YYYY-MM-DD: %s", quote(s), want)
	}
	d, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return time.Time{}, badParam("date", "date %s is not a calendar date (the month has no such day, or there is no such month): %s", quote(s), want)
	}
	if d.Year() < 1 {
		return time.Time{}, badParam("date", "date %s is out of range: want a year from 0001 to 9999", quote(s))
	}
	return d, nil
}

// parseQuery parses a raw query strictly: well-formed, only the allowed
// parameters, each at most once.
func parseQuery(raw string, allowed ...string) (map[string]string, error) {
	if strings.Contains(raw, ";") {
		return nil, badParam("query", "the query string contains ';': join parameters with '&'")
	}
	values, err := url.ParseQuery(raw)
	if err != nil {
		if ee := url.EscapeError(""); errors.As(err, &ee) {
			return nil, badParam("query", "the query string has a bad escape %s: write a byte as %%XX with two hex digits", quote(string(ee)))
		}
		return nil, badParam("query", "the query string is malformed: want name=value pairs joined by '&'")
	}
	keys := make([]string, 0, len(values))
	for k := range values {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out := make(map[string]string, len(values))
	for _, k := range keys {
		if !slices.Contains(allowed, k) {
			if len(allowed) == 0 {
				return nil, badParam(paramName(k), "unknown query parameter %s: this route takes no query parameters", quote(k))
			}
			return nil, badParam(paramName(k), "unknown query parameter %s: this route takes only %s", quote(k), strings.Join(allowed, ", "))
		}
		if n := len(values[k]); n > 1 {
			return nil, badParam(paramName(k), "query parameter %s is given %d times: give it once", quote(k), n)
		}
		out[k] = values[k][0]
	}
	return out, nil
}

// paramName names a query parameter of the caller's in invalid-params: as it
// is when short and printable UTF-8, else as the query string as a whole, so
// that an answer never echoes a huge or binary name back.
func paramName(k string) string {
	if len(k) > 40 || !utf8.ValidString(k) || strings.ContainsFunc(k, func(r rune) bool { return !unicode.IsPrint(r) }) {
		return "query"
	}
	return k
}
