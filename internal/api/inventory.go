package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/slotsync/slotsync/internal/partner"
	"github.com/slotsync/slotsync/internal/store"
)

// SlotsResponse answers GET /api/v1/experience/{id}/slots.
type SlotsResponse struct {
	ProductID int64  `json:"productId"`
	Date      string `json:"date"`
	// SyncedAt is when the date was last fetched from the partner; nil when it
	// never was.
	SyncedAt *time.Time `json:"syncedAt"`
	// Slots carry the partner's fields and exact prices; empty, never nil.
	// Pax min and max are always sent (see MarshalJSON).
	Slots []partner.Slot `json:"slots"`
}

// MarshalJSON writes the answer with pax min and max always present, 0
// included: to a shop 0 is a value, not a missing one. partner.PaxAvailability
// leaves them out when 0, as the partner's wire does, so it is not used here.
// store.ReadSlotsDocumentSQL writes the same bytes.
func (r SlotsResponse) MarshalJSON() ([]byte, error) {
	type pax struct {
		Type        string        `json:"type"`
		Name        string        `json:"name"`
		Description string        `json:"description"`
		Min         int           `json:"min"`
		Max         int           `json:"max"`
		Remaining   int           `json:"remaining"`
		IsPrimary   bool          `json:"isPrimary"`
		Price       partner.Price `json:"price"`
	}
	type slot struct {
		StartDate       string `json:"startDate"`
		StartTime       string `json:"startTime"`
		EndTime         string `json:"endTime"`
		ProviderSlotID  string `json:"providerSlotId"`
		Remaining       int    `json:"remaining"`
		CurrencyCode    string `json:"currencyCode"`
		VariantID       int64  `json:"variantId"`
		PaxAvailability []pax  `json:"paxAvailability"`
	}
	type response struct {
		ProductID int64      `json:"productId"`
		Date      string     `json:"date"`
		SyncedAt  *time.Time `json:"syncedAt"`
		Slots     []slot     `json:"slots"`
	}
	out := response{ProductID: r.ProductID, Date: r.Date, SyncedAt: r.SyncedAt, Slots: make([]slot, len(r.Slots))}
	for i, s := range r.Slots {
		out.Slots[i] = slot{
			StartDate: s.StartDate, StartTime: s.StartTime, EndTime: s.EndTime, ProviderSlotID: s.ProviderSlotID,
			Remaining: s.Remaining, CurrencyCode: s.CurrencyCode, VariantID: s.VariantID,
			PaxAvailability: make([]pax, len(s.PaxAvailability)),
		}
		for j, p := range s.PaxAvailability {
			out.Slots[i].PaxAvailability[j] = pax{
				Type: p.Type, Name: p.Name, Description: p.Description, Min: p.Min, Max: p.Max,
				Remaining: p.Remaining, IsPrimary: p.IsPrimary, Price: p.Price,
			}
		}
	}
	return json.Marshal(out)
}

// DatesResponse answers GET /api/v1/experience/{id}/dates.
type DatesResponse struct {
	ProductID int64 `json:"productId"`
	// Dates with places on offer, in date order, a date with offers in
	// several currencies once per currency; empty, never nil.
	Dates []AvailableDate `json:"dates"`
}

// AvailableDate is a date with places on offer and its price in one currency.
type AvailableDate struct {
	Date  string    `json:"date"`
	Price DatePrice `json:"price"`
}

// DatePrice is the price a shop quotes for a date (store.AvailableDates): the
// lowest final price of the primary passenger type, else of an adult-like one,
// else of any, with the original price, currency and passenger type of the
// same offer, as the partner sent them.
type DatePrice struct {
	FinalPrice    partner.Decimal `json:"finalPrice"`
	OriginalPrice partner.Decimal `json:"originalPrice"`
	CurrencyCode  string          `json:"currencyCode"`
	PaxType       string          `json:"paxType"`
}

// datesMonths is how far ahead the dates route looks: today through the same
// day two months later.
const datesMonths = 2

func (s *Server) slots(w http.ResponseWriter, r *http.Request) error {
	req, err := parseSlotsRequest(r.PathValue("id"), r.URL.RawQuery)
	if err != nil {
		return err
	}
	key := cacheKey{product: req.productID, date: req.day()}
	// With the cache off nothing keeps the answer once it is written: it is
	// read into a buffer that the next request reuses.
	var buf []byte
	if !s.cache.enabled() {
		bp := documentBuffers.Get().(*[]byte)
		defer func() {
			if cap(buf) <= maxPooledDocument {
				*bp = buf[:0]
				documentBuffers.Put(bp)
			}
		}()
		buf = *bp
	}
	// A slots answer holds until invalidated, whatever the time.
	ans, err := s.cachedAnswer(r.Context(), key, time.Time{}, func(ctx context.Context) (answer, validity, error) {
		var err error
		buf, err = s.store.AppendSlotsDocument(ctx, buf[:0], req.productID, req.date)
		if err != nil {
			return answer{}, validity{}, err
		}
		body, err := s.slotsDocument(ctx, req, buf)
		if err != nil {
			return answer{}, validity{}, err
		}
		syncedAt, err := documentSyncedAt(body)
		if err != nil {
			return answer{}, validity{}, internal(err, "internal error reading the answer's sync time")
		}
		return answer{body: body, validators: slotsValidators(syncedAt)}, validity{}, nil
	})
	if errors.Is(err, store.ErrNotFound) {
		return errorf(http.StatusNotFound, "experience %d was never synced: check the id, and that a SyncSchedule lists it in spec.products", req.productID).withProblem(problemNeverSynced)
	}
	if err != nil {
		return err
	}
	writeRevalidated(w, r, ans.body, ans.validators)
	return nil
}

// documentSyncedAt reads syncedAt off the start of a slots answer, where
// both ReadSlotsDocumentSQL and SlotsResponse put it: a string in RFC 3339,
// or null.
func documentSyncedAt(body []byte) (*time.Time, error) {
	const key = `"syncedAt":`
	i := bytes.Index(body, []byte(key))
	if i < 0 {
		return nil, errors.New("no syncedAt in the slots answer")
	}
	rest := body[i+len(key):]
	if bytes.HasPrefix(rest, []byte("null")) {
		return nil, nil
	}
	if len(rest) < 2 || rest[0] != '"' {
		return nil, errors.New("syncedAt of the slots answer is not a string")
	}
	end := bytes.IndexByte(rest[1:], '"')
	if end < 0 {
		return nil, errors.New("syncedAt of the slots answer is not terminated")
	}
	at, err := time.Parse(time.RFC3339Nano, string(rest[1:1+end]))
	if err != nil {
		return nil, err
	}
	return &at, nil
}

// documentBuffers hold the buffers of answers read with the cache off; one
// that grew beyond maxPooledDocument is left to the garbage collector.
var documentBuffers = sync.Pool{New: func() any { return new([]byte) }}

const maxPooledDocument = 1 << 20

// slotsDocument turns doc, the answer of a slots request as the database builds
// it (store.AppendSlotsDocument: one statement, and bytes that go out as they
// come in, without decoding rows or encoding them again), into the body. Only
// what encoding/json escapes and Postgres does not is rewritten. The answer is
// byte for byte json.Marshal's of the SlotsResponse that slotsResponse builds;
// on text that is not valid UTF-8, which a database in another encoding could
// hold, it is that one.
func (s *Server) slotsDocument(ctx context.Context, req slotsRequest, doc []byte) ([]byte, error) {
	if !utf8.Valid(doc) {
		v, err := s.slotsResponse(ctx, req)
		if err != nil {
			return nil, err
		}
		return encodeAnswer(v)
	}
	return escapeLikeEncodingJSON(doc), nil
}

// slotsResponse reads the answer of a slots request as a value.
func (s *Server) slotsResponse(ctx context.Context, req slotsRequest) (SlotsResponse, error) {
	snap, err := s.store.ReadSnapshot(ctx, req.productID, req.date)
	if err != nil {
		return SlotsResponse{}, err
	}
	resp := SlotsResponse{ProductID: req.productID, Date: req.day(), Slots: snap.Slots}
	if snap.SyncedAt != nil {
		at := snap.SyncedAt.UTC()
		resp.SyncedAt = &at
	}
	if resp.Slots == nil {
		resp.Slots = []partner.Slot{}
	}
	return resp, nil
}

// escapeLikeEncodingJSON rewrites the characters that encoding/json escapes in
// strings and Postgres' to_json does not: '<', '>', '&', U+2028 and U+2029. In
// a JSON document of valid UTF-8 they occur only inside strings. doc is returned
// as it is when it holds none of them, which is the rule.
func escapeLikeEncodingJSON(doc []byte) []byte {
	if bytes.IndexByte(doc, '<') < 0 && bytes.IndexByte(doc, '>') < 0 && bytes.IndexByte(doc, '&') < 0 &&
		bytes.IndexByte(doc, 0xE2) < 0 { // the first byte of U+2028 and U+2029
		return doc
	}
	const hex = "0123456789abcdef"
	out := make([]byte, 0, len(doc)+64)
	for i := 0; i < len(doc); i++ {
		c := doc[i]
		switch {
		case c == '<' || c == '>' || c == '&':
			out = append(out, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
		case c == 0xE2 && i+2 < len(doc) && doc[i+1] == 0x80 && doc[i+2]&^1 == 0xA8:
			out = append(out, '\\', 'u', '2', '0', '2', hex[doc[i+2]&0xF])
			i += 2
		default:
			out = append(out, c)
		}
	}
	return out
}

func (s *Server) dates(w http.ResponseWriter, r *http.Request) error {
	productID, err := parseDatesRequest(r.PathValue("id"), r.URL.RawQuery)
	if err != nil {
		return err
	}
	now := s.now()
	key := cacheKey{product: productID}
	ans, err := s.cachedAnswer(r.Context(), key, now, func(ctx context.Context) (answer, validity, error) {
		loc, err := s.productLocation(ctx, productID)
		if err != nil {
			return answer{}, validity{}, err
		}
		from := dayIn(now, loc)
		dates, synced, err := s.store.AvailableDatesSynced(ctx, productID, from, from.AddDate(0, datesMonths, 0))
		if err != nil {
			return answer{}, validity{}, err
		}
		resp := DatesResponse{ProductID: productID, Dates: make([]AvailableDate, len(dates))}
		for i, d := range dates {
			resp.Dates[i] = AvailableDate{Date: d.Date, Price: DatePrice{
				FinalPrice: d.FinalPrice, OriginalPrice: d.OriginalPrice, CurrencyCode: d.CurrencyCode, PaxType: d.PaxType,
			}}
		}
		body, err := encodeAnswer(resp)
		if err != nil {
			return answer{}, validity{}, err
		}
		day := from.Format(time.DateOnly)
		dayStart := time.Date(from.Year(), from.Month(), from.Day(), 0, 0, 0, 0, loc)
		return answer{body: body, validators: datesValidators(day, dayStart, synced)}, validity{loc: loc, from: day}, nil
	})
	if errors.Is(err, store.ErrNotFound) {
		return errorf(http.StatusNotFound, "experience %d was never synced: check the id, and that a SyncSchedule lists it in spec.products", productID).withProblem(problemNeverSynced)
	}
	if err != nil {
		return err
	}
	writeRevalidated(w, r, ans.body, ans.validators)
	return nil
}

// productLocation is the time zone whose calendar says what today is for
// productID: the one its sync worker recorded (store.RecordTimeZone), so the
// API counts days as the schedule that syncs it does; else, or when this
// process cannot load it, the API's own (Config.Location).
func (s *Server) productLocation(ctx context.Context, productID int64) (*time.Location, error) {
	name, err := s.store.ProductTimeZone(ctx, productID)
	if err != nil || name == "" {
		return s.loc, err
	}
	if loc, ok := s.zones.Load(name); ok {
		return loc.(*time.Location), nil
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return s.loc, nil
	}
	s.zones.Store(name, loc)
	return loc, nil
}

// dayIn is the calendar date of t in loc, at midnight UTC as dates are passed.
func dayIn(t time.Time, loc *time.Location) time.Time {
	y, m, d := t.In(loc).Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// encodeAnswer is the JSON body of an answer read as a value.
func encodeAnswer(v any) ([]byte, error) {
	body, err := json.Marshal(v)
	if err != nil {
		return nil, internal(err, "internal error encoding the answer")
	}
	return body, nil
}

// cachedAnswer returns the answer for key from the cache, if valid at now, or
// reads it with read under the query timeout and caches it for as long as
// read says. Errors of read other than store.ErrNotFound and *apiError become
// answers (503 or 500).
func (s *Server) cachedAnswer(ctx context.Context, key cacheKey, now time.Time, read func(context.Context) (answer, validity, error)) (answer, error) {
	if s.cache.enabled() {
		if ans, ok := s.cache.get(key, now); ok {
			s.metrics.cacheHits.Inc()
			return ans, nil
		}
		s.metrics.cacheMisses.Inc()
	}
	ticket := s.cache.ticket()
	qctx, cancel := context.WithTimeout(ctx, s.queryTimeout)
	defer cancel()
	ans, valid, err := read(qctx)
	var apiErr *apiError
	switch {
	case errors.Is(err, store.ErrNotFound), errors.As(err, &apiErr):
		return answer{}, err
	case err != nil:
		return answer{}, databaseError(err)
	}
	s.cache.put(key, valid, ans, ticket)
	return ans, nil
}

// Health is the body of /healthz and /readyz when all is well.
type Health struct {
	Status string `json:"status"`
}

func healthz(w http.ResponseWriter, _ *http.Request) error {
	writeJSON(w, http.StatusOK, Health{Status: "ok"})
	return nil
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) error {
	if s.draining.Load() {
		return unavailable(nil, "not ready: shutting down")
	}
	ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
	defer cancel()
	if err := s.store.Ping(ctx); err != nil {
		return unavailable(err, "not ready: the database does not answer")
	}
	writeJSON(w, http.StatusOK, Health{Status: "ok"})
	return nil
}
