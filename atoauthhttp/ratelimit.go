package atoauthhttp

import (
	"sync"
	"time"
)

// limiter is a token bucket per key (a client address): n events per
// period, with bursts of up to n. It forgets idle keys.
type limiter struct {
	mu      sync.Mutex
	rate    float64 // tokens per second
	burst   float64
	now     func() time.Time
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

// maxTracked bounds the memory the limiter uses under a flood of
// addresses; past it, buckets that have refilled are dropped.
const maxTracked = 10000

func newLimiter(n int, period time.Duration, now func() time.Time) *limiter {
	return &limiter{
		rate:    float64(n) / period.Seconds(),
		burst:   float64(n),
		now:     now,
		buckets: map[string]*bucket{},
	}
}

// allow takes a token for key. When there is none it returns false and
// how long until there is.
func (l *limiter) allow(key string) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	b := l.buckets[key]
	if b == nil {
		if len(l.buckets) >= maxTracked {
			l.sweep(now)
		}
		b = &bucket{tokens: l.burst, last: now}
		l.buckets[key] = b
	}
	b.tokens = min(l.burst, b.tokens+now.Sub(b.last).Seconds()*l.rate)
	b.last = now
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	return false, time.Duration((1 - b.tokens) / l.rate * float64(time.Second))
}

// sweep drops the buckets that are full again (their keys are not
// limited any more); if that frees nothing, it drops them all rather than
// grow without bound.
func (l *limiter) sweep(now time.Time) {
	for k, b := range l.buckets {
		if b.tokens+now.Sub(b.last).Seconds()*l.rate >= l.burst {
			delete(l.buckets, k)
		}
	}
	if len(l.buckets) >= maxTracked {
		clear(l.buckets)
	}
}
