// Package partner talks to the ticketing partner's inventory API: the wire types,
// a strict decoder and a client with typed errors, retries and a shared budget.
package partner

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
)

// Slot is one bookable time slot of a product on a date, as the partner sends it.
type Slot struct {
	StartDate       string            `json:"startDate"`
	StartTime       string            `json:"startTime"`
	EndTime         string            `json:"endTime"`
	ProviderSlotID  string            `json:"providerSlotId"`
	Remaining       int               `json:"remaining"`
	CurrencyCode    string            `json:"currencyCode"`
	VariantID       int64             `json:"variantId"`
	PaxAvailability []PaxAvailability `json:"paxAvailability"`
}

// PaxAvailability is the availability and price of one passenger type in a slot.
type PaxAvailability struct {
	Type        string `json:"type"`
	Name        string `json:"name"`
	Description string `json:"description"`
	Min         int    `json:"min"`
	Max         int    `json:"max"`
	Remaining   int    `json:"remaining"`
	IsPrimary   bool   `json:"isPrimary"`
	Price       Price  `json:"price"`
}

// Price is a passenger type's price. Amounts are kept as the partner's decimal text
// so that no float rounding ever touches money.
type Price struct {
	Discount      Decimal `json:"discount"`
	FinalPrice    Decimal `json:"finalPrice"`
	OriginalPrice Decimal `json:"originalPrice"`
	CurrencyCode  string  `json:"currencyCode"`
}

// Decimal is an exact decimal amount in its JSON text form, e.g. "12.50".
// Postgres numeric keeps the scale, so the text round-trips unchanged.
type Decimal string

var decimalPattern = regexp.MustCompile(`^-?(0|[1-9][0-9]*)(\.[0-9]+)?$`)

// ParseDecimal checks that s is a plain decimal number (no exponent, no sign but '-').
func ParseDecimal(s string) (Decimal, error) {
	if len(s) > 40 || !decimalPattern.MatchString(s) {
		return "", fmt.Errorf("%q is not a decimal number", s)
	}
	return Decimal(s), nil
}

// UnmarshalJSON accepts a JSON number only: a quoted string or an exponent is malformed.
func (d *Decimal) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if bytes.Equal(b, []byte("null")) {
		return fmt.Errorf("want a decimal number, got null")
	}
	v, err := ParseDecimal(string(b))
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// MarshalJSON writes the amount back exactly as it was received.
func (d Decimal) MarshalJSON() ([]byte, error) {
	if d == "" {
		return []byte("null"), nil
	}
	if _, err := ParseDecimal(string(d)); err != nil {
		return nil, err
	}
	return []byte(d), nil
}

var _ json.Marshaler = Decimal("")

// MarshalJSON leaves out min and max when they are zero. Decode reads an absent
// min or max as zero and checks min <= max only when both are present, so writing
// zeros explicitly would turn a valid "min only" answer into an invalid one.
func (p PaxAvailability) MarshalJSON() ([]byte, error) {
	type plain PaxAvailability
	return json.Marshal(struct {
		plain
		Min int `json:"min,omitempty"`
		Max int `json:"max,omitempty"`
	}{plain(p), p.Min, p.Max})
}
