package api

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/slotsync/slotsync/internal/store"
)

// Cache-Control of the answers.
const (
	// cacheRevalidate: the API's own cache is invalidated by the notification
	// of each new snapshot, not on a clock, so no freshness lifetime would be
	// honest; clients keep answers and revalidate each with its ETag.
	cacheRevalidate = "no-cache"
	// cacheNoStore: answers of the authenticated routes, errors and probes.
	cacheNoStore = "no-store"
)

// representationVersion starts every ETag. Bump it when the bytes of an
// answer change for the same data (a field added, another encoding), so that
// a client's stored answer of an older version never matches.
const representationVersion = "1"

// validators are the ETag and Last-Modified of an answer.
type validators struct {
	// etag is the quoted strong entity tag.
	etag string
	// modified is when the answer last changed; zero when unknown.
	modified time.Time
}

// writeRevalidated answers body as JSON with its validators, or 304 when the
// request's preconditions (If-None-Match, else If-Modified-Since) say the
// client's copy is current (RFC 9110 section 13.2.2).
func writeRevalidated(w http.ResponseWriter, r *http.Request, body []byte, v validators) {
	h := w.Header()
	h.Set("Cache-Control", cacheRevalidate)
	h.Set("ETag", v.etag)
	if !v.modified.IsZero() {
		h.Set("Last-Modified", v.modified.UTC().Format(http.TimeFormat))
	}
	if notModified(r, v) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	writeBody(w, http.StatusOK, body)
}

// notModified evaluates If-None-Match, or, without it, If-Modified-Since, of a
// GET or HEAD. A present If-None-Match decides alone: a client's date cannot
// tell two answers apart within one second, its entity tags can.
func notModified(r *http.Request, v validators) bool {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return false
	}
	if inm := r.Header.Values("If-None-Match"); len(inm) > 0 {
		return noneMatchMatches(strings.Join(inm, ","), v.etag)
	}
	ims := r.Header.Values("If-Modified-Since")
	if len(ims) != 1 || v.modified.IsZero() {
		return false
	}
	since, err := http.ParseTime(ims[0])
	if err != nil {
		// An invalid date is ignored (RFC 9110 section 13.1.3).
		return false
	}
	// Last-Modified has whole seconds.
	return !v.modified.Truncate(time.Second).After(since)
}

// noneMatchMatches says whether the If-None-Match list matches etag by weak
// comparison (RFC 9110 section 8.8.3.2): "*", or a tag with the same opaque
// part, W/ or not. A malformed list matches nothing, so the full answer goes.
func noneMatchMatches(list, etag string) bool {
	list = strings.TrimSpace(list)
	if list == "*" {
		return true
	}
	want := strings.TrimPrefix(etag, "W/")
	for list != "" {
		list = strings.TrimLeft(list, " \t,")
		if list == "" {
			break
		}
		tag, rest, ok := scanETag(list)
		if !ok {
			return false
		}
		if strings.TrimPrefix(tag, "W/") == want {
			return true
		}
		list = rest
	}
	return false
}

// scanETag reads one entity tag off the start of s: [W/]"opaque", where the
// opaque part holds no '"'.
func scanETag(s string) (tag, rest string, ok bool) {
	start := 0
	if strings.HasPrefix(s, "W/") {
		start = 2
	}
	if len(s) < start+2 || s[start] != '"' {
		return "", "", false
	}
	end := strings.IndexByte(s[start+1:], '"')
	if end < 0 {
		return "", "", false
	}
	end += start + 2
	rest = strings.TrimLeft(s[end:], " \t")
	if rest != "" && rest[0] != ',' {
		return "", "", false
	}
	return s[:end], rest, true
}

// slotsValidators are those of a slots answer of the date synced at syncedAt
// (nil: never): the answer holds the pair's synced_at, which each snapshot
// written, changed or not, moves forward, so equal sync times mean equal bytes.
func slotsValidators(syncedAt *time.Time) validators {
	if syncedAt == nil {
		return validators{etag: `"` + representationVersion + `-never"`}
	}
	return validators{
		etag:     `"` + representationVersion + "-" + strconv.FormatInt(syncedAt.UnixNano(), 36) + `"`,
		modified: *syncedAt,
	}
}

// datesValidators are those of a dates answer that starts on the day from,
// which began at dayStart, read with the summary sum of its dates' sync times.
// The answer changes only with a snapshot of one of its dates, which moves sum,
// or with the day, which moves from. Last-Modified is the later of the latest
// snapshot and the day's start, when dates fell out of the answer.
func datesValidators(from string, dayStart time.Time, sum store.SyncSummary) validators {
	v := validators{
		etag:     `"` + representationVersion + "-" + from + "-" + strconv.FormatInt(sum.Dates, 10) + "-" + sum.Sum + `"`,
		modified: dayStart,
	}
	if sum.Latest != nil && sum.Latest.After(dayStart) {
		v.modified = *sum.Latest
	}
	return v
}
