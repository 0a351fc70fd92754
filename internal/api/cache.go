package api

import (
	"container/list"
	"sync"
	"time"
)

// cacheKey names one cached answer: the slots of a product on a date, or the
// available dates of a product (date empty).
type cacheKey struct {
	product int64
	date    string
}

type cacheEntry struct {
	key   cacheKey
	valid validity
	ans   answer
}

// answer is an encoded answer with its validators, which travel with the
// bytes so that a hit revalidates without reading the database.
type answer struct {
	body []byte
	validators
}

// validity is how long an answer holds besides invalidations. A dates answer
// holds while today, in the time zone it was judged in, is still the first day
// it covers; the zero value holds until invalidated.
type validity struct {
	loc  *time.Location
	from string
}

func (v validity) holds(now time.Time) bool {
	return v.loc == nil || dayIn(now, v.loc).Format(time.DateOnly) == v.from
}

// cache is a bounded LRU of encoded answers, kept coherent with the database
// by invalidations from the snapshot notifications.
//
// It serves only while live, that is while the notification listener is
// connected: a notification missed while disconnected could leave a stale
// answer forever, so the cache is cleared whenever it goes live again.
//
// A fill races with invalidation: a read that started before a snapshot
// committed may finish after the snapshot's notification dropped the key, and
// its stale answer must not be stored. Every invalidation takes the next seq
// and is remembered in a ring of the latest ones; a fill carries the seq seen
// before its read and is dropped when an invalidation since then touched its
// key, or when so many came since that the ring no longer tells.
type cache struct {
	max int

	mu    sync.Mutex
	live  bool
	seq   uint64
	ring  [invalidationRing]invalidation // the invalidation of seq s is at s % len
	lru   *list.List                     // of *cacheEntry, most recently used first
	items map[cacheKey]*list.Element
}

// invalidationRing is how many invalidations a fill may race with and still be
// stored; more come only from a burst of snapshots in a few milliseconds.
const invalidationRing = 1024

// invalidation is what one notification, or a reset (all), made stale.
type invalidation struct {
	all     bool
	product int64
	date    string
}

// touches says whether an answer for k read before inv may be stale.
func (inv invalidation) touches(k cacheKey) bool {
	return inv.all || inv.product == k.product && (k.date == "" || k.date == inv.date)
}

func newCache(size int) *cache {
	return &cache{max: size, lru: list.New(), items: map[cacheKey]*list.Element{}}
}

// enabled is false for a cache of size 0, which never serves nor stores.
func (c *cache) enabled() bool { return c.max > 0 }

// get returns the answer for k, if cached and still valid at now.
func (c *cache) get(k cacheKey, now time.Time) (answer, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.live {
		return answer{}, false
	}
	el, ok := c.items[k]
	if !ok {
		return answer{}, false
	}
	e := el.Value.(*cacheEntry)
	if !e.valid.holds(now) {
		c.remove(el)
		return answer{}, false
	}
	c.lru.MoveToFront(el)
	return e.ans, true
}

// ticket is taken before reading the database for an answer to store.
func (c *cache) ticket() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.seq
}

// put stores an answer read after ticket was taken, unless the cache was
// invalidated since or is not live.
func (c *cache) put(k cacheKey, valid validity, ans answer, ticket uint64) {
	if !c.enabled() {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.live || c.seq-ticket > invalidationRing {
		return
	}
	for seq := ticket; seq < c.seq; seq++ {
		if c.ring[seq%invalidationRing].touches(k) {
			return
		}
	}
	if el, ok := c.items[k]; ok {
		e := el.Value.(*cacheEntry)
		e.valid, e.ans = valid, ans
		c.lru.MoveToFront(el)
		return
	}
	c.items[k] = c.lru.PushFront(&cacheEntry{key: k, valid: valid, ans: ans})
	for c.lru.Len() > c.max {
		c.remove(c.lru.Back())
	}
}

// invalidate drops what a new snapshot of product on date changes: that
// date's slots and the product's dates.
func (c *cache) invalidate(product int64, date string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.record(invalidation{product: product, date: date})
	for _, k := range []cacheKey{{product: product, date: date}, {product: product}} {
		if el, ok := c.items[k]; ok {
			c.remove(el)
		}
	}
}

// reset drops every answer and sets whether the cache may serve.
func (c *cache) reset(live bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.record(invalidation{all: true})
	c.live = live
	c.lru.Init()
	clear(c.items)
}

func (c *cache) record(inv invalidation) {
	c.ring[c.seq%invalidationRing] = inv
	c.seq++
}

func (c *cache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Len()
}

func (c *cache) remove(el *list.Element) {
	c.lru.Remove(el)
	delete(c.items, el.Value.(*cacheEntry).key)
}
