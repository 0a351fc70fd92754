package api

import (
	"fmt"
	"testing"
	"time"
)

// now is any instant: only dates answers depend on the day.
var now = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

func TestCacheServesOnlyWhileLive(t *testing.T) {
	c := newCache(10)
	k := cacheKey{product: 14, date: "2026-12-01"}
	c.put(k, validity{}, answer{body: []byte("a")}, c.ticket())
	if _, ok := c.get(k, now); ok || c.len() != 0 {
		t.Fatal("a cache that is not live stored or served an answer")
	}
	c.reset(true)
	c.put(k, validity{}, answer{body: []byte("a")}, c.ticket())
	if b, ok := c.get(k, now); !ok || string(b.body) != "a" {
		t.Fatalf("get = %q, %v after put", b.body, ok)
	}
	c.reset(false) // the listener lost its connection
	if _, ok := c.get(k, now); ok {
		t.Error("served while the listener is down")
	}
	c.reset(true) // back: it starts empty
	if _, ok := c.get(k, now); ok {
		t.Error("an answer from before the listener went down survived its return")
	}
}

func TestCacheInvalidation(t *testing.T) {
	c := newCache(10)
	c.reset(true)
	slots1 := cacheKey{product: 14, date: "2026-12-01"}
	slots2 := cacheKey{product: 14, date: "2026-12-02"}
	dates := cacheKey{product: 14}
	other := cacheKey{product: 15, date: "2026-12-01"}
	otherDates := cacheKey{product: 15}
	for _, k := range []cacheKey{slots1, slots2, dates, other, otherDates} {
		c.put(k, validity{}, answer{body: []byte(fmt.Sprint(k))}, c.ticket())
	}
	c.invalidate(14, "2026-12-01")
	for k, want := range map[cacheKey]bool{slots1: false, dates: false, slots2: true, other: true, otherDates: true} {
		if _, ok := c.get(k, now); ok != want {
			t.Errorf("after a snapshot of 14 on 2026-12-01, cached(%+v) = %v, want %v", k, ok, want)
		}
	}
}

// TestCacheDropsFillsOlderThanAnInvalidation: a read that began before a
// snapshot's notification must not store its possibly stale answer; reads
// that only raced with other keys' snapshots may.
func TestCacheDropsFillsOlderThanAnInvalidation(t *testing.T) {
	slots := cacheKey{product: 14, date: "2026-12-01"}
	dates := cacheKey{product: 14}
	tests := []struct {
		name   string
		during func(c *cache)
		stored map[cacheKey]bool
	}{
		{"nothing", func(*cache) {}, map[cacheKey]bool{slots: true, dates: true}},
		{"another product", func(c *cache) { c.invalidate(15, "2026-12-01") }, map[cacheKey]bool{slots: true, dates: true}},
		{"another date", func(c *cache) { c.invalidate(14, "2026-12-02") }, map[cacheKey]bool{slots: true, dates: false}},
		{"that date", func(c *cache) { c.invalidate(14, "2026-12-01") }, map[cacheKey]bool{slots: false, dates: false}},
		{"a reconnect", func(c *cache) { c.reset(true) }, map[cacheKey]bool{slots: false, dates: false}},
		{"more than the ring holds", func(c *cache) {
			for i := range invalidationRing + 1 {
				c.invalidate(int64(1000+i), "2026-12-01")
			}
		}, map[cacheKey]bool{slots: false, dates: false}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newCache(10)
			c.reset(true)
			ticket := c.ticket() // the reads start
			tt.during(c)
			for k, want := range tt.stored { // the reads end
				c.put(k, validity{}, answer{body: []byte("answer")}, ticket)
				if _, ok := c.get(k, now); ok != want {
					t.Errorf("%+v stored = %v, want %v", k, ok, want)
				}
			}
		})
	}
}

func TestCacheDatesOfAnotherDay(t *testing.T) {
	c := newCache(10)
	c.reset(true)
	k := cacheKey{product: 14}
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	c.put(k, validity{loc: berlin, from: "2026-12-01"}, answer{body: []byte("dates from the 1st")}, c.ticket())
	// 23:30 UTC on the 1st: still the 1st in UTC, the 2nd in Berlin.
	if _, ok := c.get(k, time.Date(2026, 12, 1, 22, 59, 0, 0, time.UTC)); !ok {
		t.Error("a dates answer of today in its zone not served")
	}
	if _, ok := c.get(k, time.Date(2026, 12, 1, 23, 30, 0, 0, time.UTC)); ok {
		t.Error("a dates answer of yesterday in its zone served today")
	}
	if c.len() != 0 {
		t.Error("the dates answer of yesterday was kept")
	}
}

func TestCacheEvictsLeastRecentlyUsed(t *testing.T) {
	c := newCache(3)
	c.reset(true)
	key := func(i int) cacheKey { return cacheKey{product: int64(i), date: "2026-12-01"} }
	for i := range 3 {
		c.put(key(i), validity{}, answer{body: []byte{byte(i)}}, c.ticket())
	}
	c.get(key(0), now) // 1 is now the least recently used
	c.put(key(3), validity{}, answer{body: []byte{3}}, c.ticket())
	if c.len() != 3 {
		t.Fatalf("%d entries in a cache of 3", c.len())
	}
	for i, want := range []bool{true, false, true, true} {
		if _, ok := c.get(key(i), now); ok != want {
			t.Errorf("entry %d cached = %v, want %v", i, ok, want)
		}
	}
}

func TestCacheOfSizeZero(t *testing.T) {
	c := newCache(0)
	c.reset(true)
	k := cacheKey{product: 14, date: "2026-12-01"}
	c.put(k, validity{}, answer{body: []byte("a")}, c.ticket())
	if _, ok := c.get(k, now); ok || c.enabled() {
		t.Error("a cache of size 0 stores")
	}
}
