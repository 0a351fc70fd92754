package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"time"

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
	Slots []partner.Slot `json:"slots"`
}

// DatesResponse answers GET /api/v1/experience/{id}/dates.
type DatesResponse struct {
	ProductID int64 `json:"productId"`
	// Dates with places on offer, in date order; empty, never nil.
	Dates []AvailableDate `json:"dates"`
}

// AvailableDate is a date with places on offer and its lowest price.
type AvailableDate struct {
	Date  string    `json:"date"`
	Price DatePrice `json:"price"`
}

// DatePrice is the lowest final price of a date, with the original price and
// currency of the same offer, as the partner sent them.
type DatePrice struct {
	FinalPrice    partner.Decimal `json:"finalPrice"`
	OriginalPrice partner.Decimal `json:"originalPrice"`
	CurrencyCode  string          `json:"currencyCode"`
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
	body, err := s.cached(r.Context(), key, "", func(ctx context.Context) (any, error) {
		snap, err := s.store.ReadSnapshot(ctx, req.productID, req.date)
		if err != nil {
			return nil, err
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
	})
	if errors.Is(err, store.ErrNotFound) {
		return errorf(http.StatusNotFound, "experience %d was never synced: check the id, and that a SyncSchedule lists it in spec.products", req.productID)
	}
	if err != nil {
		return err
	}
	writeBody(w, http.StatusOK, body)
	return nil
}

func (s *Server) dates(w http.ResponseWriter, r *http.Request) error {
	productID, err := parseDatesRequest(r.PathValue("id"), r.URL.RawQuery)
	if err != nil {
		return err
	}
	y, m, d := s.now().In(s.loc).Date()
	from := time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
	to := from.AddDate(0, datesMonths, 0)
	key := cacheKey{product: productID}
	body, err := s.cached(r.Context(), key, from.Format(time.DateOnly), func(ctx context.Context) (any, error) {
		dates, err := s.store.AvailableDates(ctx, productID, from, to)
		if err != nil {
			return nil, err
		}
		resp := DatesResponse{ProductID: productID, Dates: make([]AvailableDate, len(dates))}
		for i, d := range dates {
			resp.Dates[i] = AvailableDate{Date: d.Date, Price: DatePrice{
				FinalPrice: d.FinalPrice, OriginalPrice: d.OriginalPrice, CurrencyCode: d.CurrencyCode,
			}}
		}
		return resp, nil
	})
	if errors.Is(err, store.ErrNotFound) {
		return errorf(http.StatusNotFound, "experience %d was never synced: check the id, and that a SyncSchedule lists it in spec.products", productID)
	}
	if err != nil {
		return err
	}
	writeBody(w, http.StatusOK, body)
	return nil
}

// cached returns the encoded answer for key from the cache, or reads it with
// read under the query timeout, encodes it and caches it. Errors of read other
// than store.ErrNotFound become answers (503 or 500).
func (s *Server) cached(ctx context.Context, key cacheKey, from string, read func(context.Context) (any, error)) ([]byte, error) {
	if s.cache.enabled() {
		if body, ok := s.cache.get(key, from); ok {
			s.metrics.cacheHits.Inc()
			return body, nil
		}
		s.metrics.cacheMisses.Inc()
	}
	ticket := s.cache.ticket()
	qctx, cancel := context.WithTimeout(ctx, s.queryTimeout)
	defer cancel()
	v, err := read(qctx)
	if errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	if err != nil {
		return nil, databaseError(err)
	}
	body, err := json.Marshal(v)
	if err != nil {
		return nil, internal(err, "internal error encoding the answer")
	}
	s.cache.put(key, from, body, ticket)
	return body, nil
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
	ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
	defer cancel()
	if err := s.store.Ping(ctx); err != nil {
		return unavailable(err, "not ready: the database does not answer")
	}
	writeJSON(w, http.StatusOK, Health{Status: "ok"})
	return nil
}
