package store

import (
	"cmp"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/slotsync/slotsync/internal/partner"
)

// ErrInvalidSnapshot is returned for an answer the schema cannot hold as it is,
// such as a duplicated providerSlotId; nothing is written then.
var ErrInvalidSnapshot = errors.New("invalid snapshot")

// hashVersion is hashed first: changing the canonical form must change every hash,
// or an answer could be mistaken for unchanged after an upgrade. v1 hashed the JSON
// of the answer; v2 a length-prefixed binary form, five times cheaper to compute.
// A pair stored under v1 is seen as changed once: its rows are compared one by one
// and only its changed_at moves.
const hashVersion = "slotsync snapshot v2\n"

// canonical returns a copy of slots sorted by providerSlotId, with pax sorted by
// type, after checking that every row fits the schema.
func canonical(slots []partner.Slot) ([]partner.Slot, error) {
	out := make([]partner.Slot, len(slots))
	for i, s := range slots {
		// nil and empty pax are the same answer and must hash the same.
		s.PaxAvailability = slices.Clone(s.PaxAvailability)
		if len(s.PaxAvailability) == 0 {
			s.PaxAvailability = nil
		}
		slices.SortFunc(s.PaxAvailability, func(a, b partner.PaxAvailability) int { return cmp.Compare(a.Type, b.Type) })
		out[i] = s
	}
	slices.SortFunc(out, func(a, b partner.Slot) int { return cmp.Compare(a.ProviderSlotID, b.ProviderSlotID) })
	for i, s := range out {
		if err := checkSlot(s); err != nil {
			return nil, fmt.Errorf("slot %q: %w", s.ProviderSlotID, err)
		}
		if i > 0 && out[i-1].ProviderSlotID == s.ProviderSlotID {
			return nil, fmt.Errorf("slot %q: %w: providerSlotId appears twice", s.ProviderSlotID, ErrInvalidSnapshot)
		}
	}
	return out, nil
}

func checkSlot(s partner.Slot) error {
	if s.ProviderSlotID == "" {
		return fmt.Errorf("%w: empty providerSlotId", ErrInvalidSnapshot)
	}
	if s.Remaining < 0 {
		return fmt.Errorf("%w: remaining %d is negative", ErrInvalidSnapshot, s.Remaining)
	}
	for i, p := range s.PaxAvailability {
		if err := checkPax(p); err != nil {
			return fmt.Errorf("pax %q: %w", p.Type, err)
		}
		if i > 0 && s.PaxAvailability[i-1].Type == p.Type {
			return fmt.Errorf("pax %q: %w: type appears twice", p.Type, ErrInvalidSnapshot)
		}
	}
	return nil
}

func checkPax(p partner.PaxAvailability) error {
	if p.Type == "" {
		return fmt.Errorf("%w: empty type", ErrInvalidSnapshot)
	}
	if p.Remaining < 0 {
		return fmt.Errorf("%w: remaining %d is negative", ErrInvalidSnapshot, p.Remaining)
	}
	for _, d := range []struct {
		name     string
		value    partner.Decimal
		optional bool
	}{
		{"finalPrice", p.Price.FinalPrice, false},
		{"originalPrice", p.Price.OriginalPrice, false},
		{"discount", p.Price.Discount, true},
	} {
		if d.value == "" && d.optional {
			continue
		}
		if _, err := partner.ParseDecimal(string(d.value)); err != nil {
			return fmt.Errorf("%w: %s: %w", ErrInvalidSnapshot, d.name, err)
		}
	}
	return nil
}

// contentHash is the sha256 of the canonical answer in a prefix-free binary form:
// every string is preceded by its length and every list by its count, so two
// different answers never encode alike. Decimals keep their exact text.
func contentHash(canon []partner.Slot) []byte {
	h := sha256.New()
	buf := make([]byte, 0, 8<<10)
	str := func(s string) {
		buf = binary.AppendUvarint(buf, uint64(len(s)))
		buf = append(buf, s...)
	}
	num := func(v int64) { buf = binary.AppendVarint(buf, v) }
	buf = append(buf, hashVersion...)
	num(int64(len(canon)))
	for _, s := range canon {
		str(s.ProviderSlotID)
		str(s.StartDate)
		str(s.StartTime)
		str(s.EndTime)
		num(int64(s.Remaining))
		str(s.CurrencyCode)
		num(s.VariantID)
		num(int64(len(s.PaxAvailability)))
		for _, p := range s.PaxAvailability {
			str(p.Type)
			str(p.Name)
			str(p.Description)
			num(int64(p.Min))
			num(int64(p.Max))
			num(int64(p.Remaining))
			if p.IsPrimary {
				buf = append(buf, 1)
			} else {
				buf = append(buf, 0)
			}
			str(string(p.Price.FinalPrice))
			str(string(p.Price.OriginalPrice))
			str(string(p.Price.Discount))
			str(p.Price.CurrencyCode)
		}
		if len(buf) >= 4<<10 {
			h.Write(buf)
			buf = buf[:0]
		}
	}
	h.Write(buf)
	return h.Sum(nil)
}
