package dpop

import (
	"context"
	"fmt"
	"time"
)

// NonceStore shares DPoP nonces between the processes of a fleet (several
// instances of one app behind a load balancer), so that a nonce one of
// them has learnt saves the others their own use_dpop_nonce round trip.
// Give it to a [NonceCache] as its Store. The atoauth SQLite and
// PostgreSQL stores implement it, with one small row per origin.
//
// GetNonce returns the nonce stored for origin and when it was received,
// or "" and the zero time when there is none. SetNonce stores nonce as
// origin's, received at at, unless the store holds one received later;
// when nonce is the one already stored, the store may keep the earlier
// time. Times must round-trip to the microsecond. Implementations must be
// safe for concurrent use and honour ctx. Nonces are public values that
// servers hand to anyone: they need no sealing.
//
// # How a NonceCache uses it
//
// The in-memory cache stays the fast path; the store is consulted only
// when that cache cannot do the job, and its errors never fail a request
// (see NonceCache.OnStoreError). Each call is cut off after 1 s.
//
// Reads: [NonceCache.GetContext] reads the store for an origin only when
// the cache holds no nonce of it or one received more than a minute ago,
// and at most once a minute per origin; it adopts the stored nonce when
// that was received later than its own. A process that talks to an origin
// at least once a minute gets a nonce with every response and never reads;
// one that talks to it less often reads before each request, once a minute
// at most; a newly started one reads once per origin.
// [NonceCache.FreshContext] reads likewise when the cached nonce is older
// than its maxAge.
//
// Writes: [NonceCache.SetContext] (and Transport, after each request)
// writes the latest nonce of an origin only when it differs from the one
// the store was last seen to hold and that one was received at least 30
// seconds earlier — or at least 1 second earlier when the request was
// refused with use_dpop_nonce, since the shared nonce may then be the one
// that no longer works. Writing on every change would cost a write per
// request with servers that send a new nonce on every response (the
// atoauthtest fake by default: 100 requests, 100 writes); the policy
// bounds it to 2 writes a minute per origin and process (100 requests a
// minute: 2 writes). The reference server (@atproto/oauth-provider)
// changes its nonce once a minute — every response in one 60-second window
// carries the same nonce, which stays valid 2 to 3 minutes after it is
// first sent — so there it is at most one write a minute per origin and
// process, and the SQL stores turn the second and later processes' writes
// of the same nonce into no-ops. The stored nonce is thus never more than
// about 30 s older than the newest one its writer holds (with the
// reference server: that window's nonce or the one before), well within
// the 2 minutes it stays valid.
type NonceStore interface {
	GetNonce(ctx context.Context, origin string) (nonce string, at time.Time, err error)
	SetNonce(ctx context.Context, origin, nonce string, at time.Time) error
}

const (
	// storeReadAfter is the age past which a cached nonce sends
	// GetContext to the store, and the least time between two reads of
	// it for one origin.
	storeReadAfter = time.Minute
	// storeWriteEvery is the least age of the nonce the store holds (as
	// far as the cache knows) before a new one replaces it;
	// storeWriteChallenged the same after a nonce challenge.
	storeWriteEvery      = 30 * time.Second
	storeWriteChallenged = time.Second
	// storeTimeout bounds each call to the store.
	storeTimeout = time.Second
)

// GetContext returns the latest nonce of origin, like Get, after first
// reading Store when the cache holds no nonce of origin or one received
// more than a minute ago (at most once a minute per origin; see
// [NonceStore]). A failed read leaves the cache as it was.
func (c *NonceCache) GetContext(ctx context.Context, origin string) string {
	c.sync(ctx, origin, storeReadAfter)
	return c.Get(origin)
}

// FreshContext is Fresh, after first reading Store when the cache holds
// no nonce of origin or one received maxAge ago or more (at most once per
// maxAge per origin): another process may have received a fresh one.
func (c *NonceCache) FreshContext(ctx context.Context, origin string, maxAge time.Duration) bool {
	if c.Fresh(origin, maxAge) {
		return true
	}
	c.sync(ctx, origin, maxAge)
	return c.Fresh(origin, maxAge)
}

// SetContext stores nonce as the latest nonce of origin, like Set, and
// writes it to Store when the write policy of [NonceStore] says so.
func (c *NonceCache) SetContext(ctx context.Context, origin, nonce string) {
	c.Set(origin, nonce)
	c.share(ctx, origin, false)
}

// sync reads origin's nonce from c.Store when the cached one is missing
// or staleAfter old, unless the store was read for origin less than
// staleAfter ago. A caller that finds a read in flight waits for it.
func (c *NonceCache) sync(ctx context.Context, origin string, staleAfter time.Duration) {
	if c == nil || c.Store == nil || origin == "" || staleAfter <= 0 {
		return
	}
	now := c.now()
	c.mu.Lock()
	e := c.nonces[origin]
	if e.nonce != "" && now.Sub(e.at) < staleAfter {
		c.mu.Unlock()
		return
	}
	if ch, ok := c.reads[origin]; ok {
		c.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
		}
		return
	}
	if !e.checked.IsZero() && now.Sub(e.checked) < staleAfter {
		c.mu.Unlock()
		return
	}
	e.checked = now
	c.putLocked(origin, e)
	ch := make(chan struct{})
	if c.reads == nil {
		c.reads = make(map[string]chan struct{})
	}
	c.reads[origin] = ch
	c.mu.Unlock()

	nonce, at, err := c.readStore(ctx, origin)

	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.reads, origin)
	close(ch)
	if err != nil {
		c.report(ctx, fmt.Errorf("dpop: reading the nonce of %s from the nonce store: %w", origin, err))
		return
	}
	if nonce == "" {
		return
	}
	if !validNonce(nonce) {
		c.report(ctx, fmt.Errorf("dpop: the nonce store holds an invalid nonce for %s", origin))
		return
	}
	e = c.nonces[origin]
	e.shared, e.sharedAt = nonce, at
	if e.nonce == "" || at.After(e.at) {
		e.nonce, e.at = nonce, at
	}
	c.putLocked(origin, e)
}

func (c *NonceCache) readStore(ctx context.Context, origin string) (string, time.Time, error) {
	ctx, cancel := context.WithTimeout(ctx, storeTimeout)
	defer cancel()
	return c.Store.GetNonce(ctx, origin)
}

// share writes origin's latest nonce to c.Store if it differs from the
// one the store was last seen to hold and that one is old enough (see
// [NonceStore]); challenged tells that the request that brought the
// nonce was refused with use_dpop_nonce.
func (c *NonceCache) share(ctx context.Context, origin string, challenged bool) {
	if c == nil || c.Store == nil || origin == "" {
		return
	}
	every := storeWriteEvery
	if challenged {
		every = storeWriteChallenged
	}
	now := c.now()
	c.mu.Lock()
	e, ok := c.nonces[origin]
	if !ok || e.nonce == "" || e.nonce == e.shared || now.Sub(e.sharedAt) < every {
		c.mu.Unlock()
		return
	}
	// Marked before writing, so that concurrent requests write once; a
	// failed write is tried again at the next interval.
	e.shared, e.sharedAt = e.nonce, e.at
	c.nonces[origin] = e
	c.mu.Unlock()

	// The write is decided: let it finish even if the request's context
	// ends now, within the store's time limit.
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
	defer cancel()
	if err := c.Store.SetNonce(wctx, origin, e.nonce, e.at); err != nil {
		c.report(ctx, fmt.Errorf("dpop: writing the nonce of %s to the nonce store: %w", origin, err))
	}
}

func (c *NonceCache) report(ctx context.Context, err error) {
	if c.OnStoreError != nil {
		c.OnStoreError(ctx, err)
	}
}
