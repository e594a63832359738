package dpop

import (
	"context"
	"sync"
	"time"
)

// MaxNonceLen is the longest nonce [NonceCache] accepts, in bytes.
const MaxNonceLen = 1024

// maxOrigins bounds the number of origins a NonceCache (and a Transport's
// clock-offset table) remembers; past it, an arbitrary entry is evicted.
const maxOrigins = 1024

// NonceCache remembers the latest DPoP nonce (RFC 9449 §8, §9) of each
// server origin. Keys are compared exactly: compute them with [Origin].
// It holds at most 1024 origins, evicting an arbitrary one when full.
//
// The zero value is an empty cache ready to use. A NonceCache is safe for
// concurrent use by multiple goroutines and must not be copied after first
// use. Share one between Transports (for example all sessions of a client)
// to let them share nonces; give it a Store to share them with other
// processes too.
type NonceCache struct {
	// Clock dates the nonces stored, for [NonceCache.Fresh]; nil means
	// time.Now. Set it before first use.
	Clock func() time.Time

	// Store, when set, shares nonces with the other processes of a fleet:
	// [NonceCache.GetContext], [NonceCache.SetContext],
	// [NonceCache.FreshContext] and [Transport] (after each request) read
	// and write it as [NonceStore] describes. Get, Set and Fresh never
	// touch it. Set it before first use.
	Store NonceStore
	// OnStoreError, when set, is called with each error of Store, which
	// never fails a request: the cache goes on with what it holds. The
	// error names the origin, never a nonce. Set it before first use.
	OnStoreError func(ctx context.Context, err error)

	mu     sync.RWMutex
	nonces map[string]storedNonce
	reads  map[string]chan struct{} // Store reads in flight, by origin
}

type storedNonce struct {
	nonce string
	at    time.Time
	// With a Store: the nonce the store was last seen to hold (read from
	// it or written to it), when that nonce was received, and when the
	// store was last read for this origin.
	shared   string
	sharedAt time.Time
	checked  time.Time
}

// Get returns the latest nonce stored for origin, or "".
func (c *NonceCache) Get(origin string) string {
	if c == nil {
		return ""
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.nonces[origin].nonce
}

// Fresh tells whether a nonce of origin was stored (by a response that
// carried one) less than maxAge ago. Servers rotate nonces (the reference
// authorization server accepts one for 2 to 3 minutes), so a client that
// must not be asked for a new one — a refresh, which the reference server
// may spend before it checks the nonce — can first make sure it holds a
// fresh one.
func (c *NonceCache) Fresh(origin string, maxAge time.Duration) bool {
	if c == nil {
		return false
	}
	c.mu.RLock()
	n, ok := c.nonces[origin]
	c.mu.RUnlock()
	return ok && c.now().Sub(n.at) < maxAge
}

func (c *NonceCache) now() time.Time {
	if c.Clock != nil {
		return c.Clock()
	}
	return time.Now()
}

// Set stores nonce as the latest nonce for origin. It ignores an empty
// origin and an invalid nonce: a nonce must be 1*NQCHAR (RFC 9449 §8,
// RFC 6749 Appendix A: printable ASCII except space, '"' and '\') and at
// most MaxNonceLen bytes.
func (c *NonceCache) Set(origin, nonce string) {
	if c == nil || origin == "" || !validNonce(nonce) {
		return
	}
	at := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.nonces[origin]
	e.nonce, e.at = nonce, at
	c.putLocked(origin, e)
}

// putLocked stores e for origin, evicting an arbitrary origin when the
// cache is full; c.mu must be held.
func (c *NonceCache) putLocked(origin string, e storedNonce) {
	if c.nonces == nil {
		c.nonces = make(map[string]storedNonce)
	}
	if _, ok := c.nonces[origin]; !ok && len(c.nonces) >= maxOrigins {
		for o := range c.nonces {
			delete(c.nonces, o)
			break
		}
	}
	c.nonces[origin] = e
}

// validNonce reports whether s is 1*NQCHAR of at most MaxNonceLen bytes
// (NQCHAR = %x21 / %x23-5B / %x5D-7E, RFC 6749 Appendix A).
func validNonce(s string) bool {
	if s == "" || len(s) > MaxNonceLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x21 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}
