package partner

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
)

// MaxBodySize caps an answer. A day of one product is a few kilobytes; anything near
// this is broken, and the cap keeps a bad answer from exhausting memory.
const MaxBodySize = 16 << 20

// DateLayout is how dates travel on the wire.
const DateLayout = "2006-01-02"

var (
	errMissing      = errors.New("missing")
	clockPattern    = regexp.MustCompile(`^([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9])?$`)
	currencyPattern = regexp.MustCompile(`^[A-Z]{3}$`)
)

// Decode parses and checks the answer for productID on date strictly: every
// violation of the contract is a *MalformedError naming the slot and field, so a
// broken answer never reaches the database as a partial or wrong snapshot.
// Unknown fields are ignored, so the partner may add fields. A JSON null counts as
// missing. An empty array is a valid answer: no slots that day.
//
// The answer carries no product id, so productID cannot be cross-checked; it is
// part of the signature so that decoding a stored answer looks like fetching one.
func Decode(body []byte, productID int64, date time.Time) ([]Slot, error) {
	if len(body) > MaxBodySize {
		return nil, &MalformedError{Slot: -1, Err: fmt.Errorf("answer is larger than %d bytes", MaxBodySize)}
	}
	if kind(body) != "array" {
		return nil, &MalformedError{Slot: -1, Err: fmt.Errorf("want a JSON array, got %s", kind(body))}
	}
	var raws []json.RawMessage
	if err := json.Unmarshal(body, &raws); err != nil {
		return nil, &MalformedError{Slot: -1, Err: err}
	}
	d := decoder{date: date.Format(DateLayout), slotIDs: make(map[string]int, len(raws))}
	// Never nil: an empty day re-encodes as [] rather than null.
	slots := make([]Slot, 0, len(raws))
	for i, raw := range raws {
		s, err := d.slot(i, raw)
		if err != nil {
			return nil, err
		}
		slots = append(slots, s)
	}
	return slots, nil
}

type decoder struct {
	date    string
	slotIDs map[string]int // providerSlotId -> index of the slot that has it
}

func (d *decoder) slot(i int, raw json.RawMessage) (Slot, error) {
	fail := func(field string, err error) (Slot, error) {
		return Slot{}, &MalformedError{Slot: i, Field: field, Err: err}
	}
	o, err := parseObject(raw)
	if err != nil {
		return fail("", err)
	}
	var s Slot
	if s.StartDate, err = o.requiredString("startDate"); err != nil {
		return fail("startDate", err)
	}
	if s.StartDate != d.date {
		return fail("startDate", fmt.Errorf("%q is not the requested date %s", s.StartDate, d.date))
	}
	for _, f := range []struct {
		name string
		dst  *string
	}{{"startTime", &s.StartTime}, {"endTime", &s.EndTime}} {
		if *f.dst, err = o.requiredString(f.name); err != nil {
			return fail(f.name, err)
		}
		// No order between start and end is required: a slot may run past midnight.
		if !clockPattern.MatchString(*f.dst) {
			return fail(f.name, fmt.Errorf("%q is not a clock time HH:MM or HH:MM:SS", *f.dst))
		}
	}
	if s.ProviderSlotID, err = o.requiredString("providerSlotId"); err != nil {
		return fail("providerSlotId", err)
	}
	if s.ProviderSlotID == "" {
		return fail("providerSlotId", errors.New("empty"))
	}
	if first, dup := d.slotIDs[s.ProviderSlotID]; dup {
		return fail("providerSlotId", fmt.Errorf("duplicated %q (also slot %d)", s.ProviderSlotID, first))
	}
	d.slotIDs[s.ProviderSlotID] = i
	if s.Remaining, err = o.count("remaining", true); err != nil {
		return fail("remaining", err)
	}
	if s.CurrencyCode, err = o.currency("currencyCode"); err != nil {
		return fail("currencyCode", err)
	}
	if s.VariantID, _, err = o.optionalInt64("variantId"); err != nil {
		return fail("variantId", err)
	}
	paxRaw, ok := o.get("paxAvailability")
	if !ok {
		return fail("paxAvailability", errMissing)
	}
	if kind(paxRaw) != "array" {
		return fail("paxAvailability", fmt.Errorf("want an array, got %s", kind(paxRaw)))
	}
	var paxRaws []json.RawMessage
	if err := json.Unmarshal(paxRaw, &paxRaws); err != nil {
		return fail("paxAvailability", err)
	}
	s.PaxAvailability = make([]PaxAvailability, 0, len(paxRaws))
	types := make(map[string]bool, len(paxRaws))
	for j, raw := range paxRaws {
		p, field, err := pax(raw)
		prefix := fmt.Sprintf("paxAvailability[%d]", j)
		if err != nil {
			return fail(join(prefix, field), err)
		}
		if types[p.Type] {
			return fail(prefix+".type", fmt.Errorf("duplicated %q", p.Type))
		}
		types[p.Type] = true
		s.PaxAvailability = append(s.PaxAvailability, p)
	}
	return s, nil
}

// pax decodes one passenger type; on error it returns the failing field's path
// relative to the pax object.
func pax(raw json.RawMessage) (PaxAvailability, string, error) {
	var p PaxAvailability
	o, err := parseObject(raw)
	if err != nil {
		return p, "", err
	}
	if p.Type, err = o.requiredString("type"); err != nil {
		return p, "type", err
	}
	if p.Type == "" {
		return p, "type", errors.New("empty")
	}
	if p.Remaining, err = o.count("remaining", true); err != nil {
		return p, "remaining", err
	}
	if p.Min, err = o.count("min", false); err != nil {
		return p, "min", err
	}
	if p.Max, err = o.count("max", false); err != nil {
		return p, "max", err
	}
	if o.has("min") && o.has("max") && p.Min > p.Max {
		return p, "min", fmt.Errorf("%d is greater than max %d", p.Min, p.Max)
	}
	if p.Name, err = o.optionalString("name"); err != nil {
		return p, "name", err
	}
	if p.Description, err = o.optionalString("description"); err != nil {
		return p, "description", err
	}
	if v, ok := o.get("isPrimary"); ok {
		if kind(v) != "boolean" {
			return p, "isPrimary", fmt.Errorf("want a boolean, got %s", kind(v))
		}
		p.IsPrimary = string(v) == "true"
	}
	priceRaw, ok := o.get("price")
	if !ok {
		return p, "price", errMissing
	}
	po, err := parseObject(priceRaw)
	if err != nil {
		return p, "price", err
	}
	if p.Price.FinalPrice, err = po.amount("finalPrice", true, false); err != nil {
		return p, "price.finalPrice", err
	}
	if p.Price.OriginalPrice, err = po.amount("originalPrice", true, false); err != nil {
		return p, "price.originalPrice", err
	}
	if p.Price.Discount, err = po.amount("discount", false, true); err != nil {
		return p, "price.discount", err
	}
	if p.Price.CurrencyCode, err = po.currency("currencyCode"); err != nil {
		return p, "price.currencyCode", err
	}
	return p, "", nil
}

func join(prefix, field string) string {
	if field == "" {
		return prefix
	}
	return prefix + "." + field
}

// object is a JSON object whose fields are decoded one by one, so that an error
// names its field and field names match exactly (encoding/json's struct decoding
// would also accept "StartDate").
type object map[string]json.RawMessage

func parseObject(raw json.RawMessage) (object, error) {
	if k := kind(raw); k != "object" {
		return nil, fmt.Errorf("want an object, got %s", k)
	}
	var o object
	if err := json.Unmarshal(raw, &o); err != nil {
		return nil, err
	}
	return o, nil
}

// get returns a field that is present and not null.
func (o object) get(name string) (json.RawMessage, bool) {
	v, ok := o[name]
	if !ok || kind(v) == "null" {
		return nil, false
	}
	return v, true
}

func (o object) has(name string) bool {
	_, ok := o.get(name)
	return ok
}

func (o object) requiredString(name string) (string, error) {
	v, ok := o.get(name)
	if !ok {
		return "", errMissing
	}
	return asString(v)
}

func (o object) optionalString(name string) (string, error) {
	v, ok := o.get(name)
	if !ok {
		return "", nil
	}
	return asString(v)
}

func asString(v json.RawMessage) (string, error) {
	if k := kind(v); k != "string" {
		return "", fmt.Errorf("want a string, got %s", k)
	}
	var s string
	if err := json.Unmarshal(v, &s); err != nil {
		return "", err
	}
	return s, nil
}

func (o object) currency(name string) (string, error) {
	c, err := o.requiredString(name)
	if err != nil {
		return "", err
	}
	if !currencyPattern.MatchString(c) {
		return "", fmt.Errorf("%q is not a currency code of 3 upper-case letters", c)
	}
	return c, nil
}

// count decodes a non-negative integer; an absent optional count is zero.
func (o object) count(name string, required bool) (int, error) {
	v, ok := o.get(name)
	if !ok {
		if required {
			return 0, errMissing
		}
		return 0, nil
	}
	var n int
	if kind(v) != "number" || json.Unmarshal(v, &n) != nil {
		return 0, fmt.Errorf("want an integer, got %s", shorten(v))
	}
	if n < 0 {
		return 0, fmt.Errorf("%d is negative", n)
	}
	return n, nil
}

func (o object) optionalInt64(name string) (int64, bool, error) {
	v, ok := o.get(name)
	if !ok {
		return 0, false, nil
	}
	var n int64
	if kind(v) != "number" || json.Unmarshal(v, &n) != nil {
		return 0, false, fmt.Errorf("want an integer, got %s", shorten(v))
	}
	return n, true, nil
}

// amount decodes an exact decimal. Prices are never negative; a discount may be,
// since partners disagree on its sign.
func (o object) amount(name string, required, signed bool) (Decimal, error) {
	v, ok := o.get(name)
	if !ok {
		if required {
			return "", errMissing
		}
		return "", nil
	}
	if k := kind(v); k != "number" {
		return "", fmt.Errorf("want a decimal number, got %s", k)
	}
	d, err := ParseDecimal(string(bytes.TrimSpace(v)))
	if err != nil {
		return "", err
	}
	if !signed && strings.HasPrefix(string(d), "-") {
		return "", fmt.Errorf("%s is negative", d)
	}
	return d, nil
}

// kind names the JSON type of v from its first byte; the value may still be invalid.
func kind(v []byte) string {
	v = bytes.TrimLeft(v, " \t\r\n")
	if len(v) == 0 {
		return "nothing"
	}
	switch c := v[0]; {
	case c == '[':
		return "array"
	case c == '{':
		return "object"
	case c == '"':
		return "string"
	case c == 't' || c == 'f':
		return "boolean"
	case c == 'n':
		return "null"
	case c == '-' || (c >= '0' && c <= '9'):
		return "number"
	default:
		return "invalid JSON"
	}
}

// shorten quotes a raw value for an error message without letting a huge value
// flood logs.
func shorten(v json.RawMessage) string {
	const maxLen = 32
	s := string(bytes.TrimSpace(v))
	if len(s) > maxLen {
		s = s[:maxLen] + "..."
	}
	return s
}
