package auth

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Limiter is a set of token buckets, one per client key (a token id or an
// IP address), for one kind of action (runs started, annotations, …).
// Idle buckets are forgotten, so a flood of distinct keys costs bounded
// memory.
type Limiter struct {
	every time.Duration
	burst int
	max   int // most keys remembered

	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	lim  *rate.Limiter
	seen time.Time
}

// NewLimiter allows burst actions at once and then one per every, per key.
// every <= 0 disables the limit.
func NewLimiter(every time.Duration, burst int) *Limiter {
	return &Limiter{every: every, burst: max(burst, 1), max: 100_000, buckets: make(map[string]*bucket)}
}

// Allow takes one action for key now. When refused, retry says how long
// until the next one would be allowed (for Retry-After).
func (l *Limiter) Allow(key string, now time.Time) (ok bool, retry time.Duration) {
	if l == nil || l.every <= 0 {
		return true, 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[key]
	if b == nil {
		if len(l.buckets) >= l.max {
			l.evictLocked(now)
		}
		b = &bucket{lim: rate.NewLimiter(rate.Every(l.every), l.burst)}
		l.buckets[key] = b
	}
	b.seen = now
	r := b.lim.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d
	}
	return true, 0
}

// evictLocked drops buckets idle long enough to have refilled (forgetting
// them changes nothing). If every key is recent — a flood of distinct
// keys — it forgets them all rather than scanning for the oldest on every
// new key: memory stays bounded and the cost of a flood is that its keys
// start over with full buckets.
func (l *Limiter) evictLocked(now time.Time) {
	full := l.every * time.Duration(l.burst)
	for k, b := range l.buckets {
		if now.Sub(b.seen) >= full {
			delete(l.buckets, k)
		}
	}
	if len(l.buckets) >= l.max {
		clear(l.buckets)
	}
}

// Counter bounds how many of something a key holds at once (streams open,
// runs queued): Acquire before, Release after.
type Counter struct {
	limit int

	mu sync.Mutex
	n  map[string]int
}

// NewCounter allows limit concurrent holds per key (limit <= 0: no limit).
func NewCounter(limit int) *Counter { return &Counter{limit: limit, n: make(map[string]int)} }

// Acquire takes one hold for key, or reports false at the limit.
func (c *Counter) Acquire(key string) bool {
	if c == nil || c.limit <= 0 {
		return true
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n[key] >= c.limit {
		return false
	}
	c.n[key]++
	return true
}

// Release gives back a hold taken by Acquire.
func (c *Counter) Release(key string) {
	if c == nil || c.limit <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n[key]--; c.n[key] <= 0 {
		delete(c.n, key)
	}
}
