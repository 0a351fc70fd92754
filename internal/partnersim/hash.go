package partnersim

// Tags keep the hashes of different properties independent of each other.
const (
	tagWeekdays uint64 = iota + 1
	tagSchedule
	tagPax
	tagPrice
	tagSlots
	tagCapacity
	tagPopularity
	tagPriceStep
	tagDiscount
	tagOpening
)

// mix hashes its inputs with splitmix64. The simulator's inventory is derived from
// it, so equal inputs give equal answers on every platform.
func mix(vals ...uint64) uint64 {
	h := uint64(0x6a09e667f3bcc909)
	for _, v := range vals {
		h = splitmix(h ^ v)
	}
	return h
}

func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}
