package dpop_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/atoauth/atoauth/dpop"
)

// fakeNonceStore is a dpop.NonceStore in memory that counts its calls.
type fakeNonceStore struct {
	mu            sync.Mutex
	m             map[string]fakeNonce
	reads, writes int
	getErr        error
	setErr        error
	block         chan struct{} // when set, GetNonce waits for it (or ctx)
}

type fakeNonce struct {
	nonce string
	at    time.Time
}

func (s *fakeNonceStore) GetNonce(ctx context.Context, origin string) (string, time.Time, error) {
	s.mu.Lock()
	s.reads++
	block := s.block
	s.mu.Unlock()
	if block != nil {
		select {
		case <-block:
		case <-ctx.Done():
			return "", time.Time{}, ctx.Err()
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.getErr != nil {
		return "", time.Time{}, s.getErr
	}
	n := s.m[origin]
	return n.nonce, n.at, nil
}

func (s *fakeNonceStore) SetNonce(ctx context.Context, origin, nonce string, at time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.writes++
	if s.setErr != nil {
		return s.setErr
	}
	if cur, ok := s.m[origin]; ok && !at.After(cur.at) {
		return nil
	}
	if s.m == nil {
		s.m = map[string]fakeNonce{}
	}
	s.m[origin] = fakeNonce{nonce, at}
	return nil
}

func (s *fakeNonceStore) put(origin, nonce string, at time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[string]fakeNonce{}
	}
	s.m[origin] = fakeNonce{nonce, at}
}

func (s *fakeNonceStore) counts() (reads, writes int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reads, s.writes
}

func (s *fakeNonceStore) get(origin string) fakeNonce {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.m[origin]
}

// manualClock is a clock a test moves by hand.
type manualClock struct {
	mu  sync.Mutex
	now time.Time
}

func newManualClock() *manualClock { return &manualClock{now: time.Unix(1_700_000_000, 0)} }

func (c *manualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *manualClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

const origin = "https://pds.example"

func TestNonceCacheReadsStoreWhenItHasNoNonce(t *testing.T) {
	ctx := context.Background()
	clk := newManualClock()
	st := &fakeNonceStore{}
	st.put(origin, "fleet-1", clk.Now().Add(-10*time.Second))
	c := &dpop.NonceCache{Clock: clk.Now, Store: st}
	if got := c.GetContext(ctx, origin); got != "fleet-1" {
		t.Fatalf("GetContext = %q, want the stored nonce", got)
	}
	if got := c.Get(origin); got != "fleet-1" {
		t.Errorf("Get after GetContext = %q, want the adopted nonce", got)
	}
	if !c.Fresh(origin, time.Minute) || c.Fresh(origin, 10*time.Second) {
		t.Error("the adopted nonce is not dated by when the fleet received it")
	}
	c.GetContext(ctx, origin)
	clk.Advance(49 * time.Second) // the nonce is now 59 s old
	c.GetContext(ctx, origin)
	if r, _ := st.counts(); r != 1 {
		t.Errorf("%d store reads, want 1: a nonce younger than a minute is used as is", r)
	}
	// Get, Set and Fresh never touch the store.
	c.Get("https://other.example")
	c.Fresh("https://other.example", time.Minute)
	c.Set("https://other.example", "x")
	if r, w := st.counts(); r != 1 || w != 0 {
		t.Errorf("Get/Set/Fresh made %d reads, %d writes; want none", r-1, w)
	}
}

func TestNonceCacheStoreReadsAreRateLimited(t *testing.T) {
	ctx := context.Background()
	clk := newManualClock()
	st := &fakeNonceStore{}
	c := &dpop.NonceCache{Clock: clk.Now, Store: st}
	for range 10 {
		if got := c.GetContext(ctx, origin); got != "" {
			t.Fatalf("GetContext = %q from an empty store", got)
		}
	}
	if r, _ := st.counts(); r != 1 {
		t.Fatalf("%d reads of an empty store within a minute, want 1", r)
	}
	clk.Advance(time.Minute)
	st.put(origin, "late", clk.Now())
	if got := c.GetContext(ctx, origin); got != "late" {
		t.Errorf("a minute later GetContext = %q, want the stored nonce", got)
	}
	if r, _ := st.counts(); r != 2 {
		t.Errorf("%d reads, want 2", r)
	}
}

func TestNonceCacheAdoptsOnlyNewerNonces(t *testing.T) {
	ctx := context.Background()
	clk := newManualClock()
	st := &fakeNonceStore{}
	c := &dpop.NonceCache{Clock: clk.Now, Store: st}
	c.Set(origin, "mine")
	st.put(origin, "older", clk.Now().Add(-time.Second))
	clk.Advance(2 * time.Minute) // stale: the store is read
	if got := c.GetContext(ctx, origin); got != "mine" {
		t.Errorf("GetContext = %q; a stored nonce older than the cached one must not replace it", got)
	}
	st.put(origin, "newer", clk.Now().Add(-5*time.Second))
	clk.Advance(time.Minute)
	if got := c.GetContext(ctx, origin); got != "newer" {
		t.Errorf("GetContext = %q, want the newer stored nonce", got)
	}
}

func TestNonceCacheFreshContext(t *testing.T) {
	ctx := context.Background()
	clk := newManualClock()
	st := &fakeNonceStore{}
	c := &dpop.NonceCache{Clock: clk.Now, Store: st}
	st.put(origin, "old", clk.Now().Add(-2*time.Minute))
	if c.FreshContext(ctx, origin, time.Minute) {
		t.Error("FreshContext true with a 2-minute-old stored nonce")
	}
	if got := c.Get(origin); got != "old" {
		t.Errorf("Get = %q: even a stale stored nonce is better than none", got)
	}
	clk.Advance(time.Minute)
	st.put(origin, "recent", clk.Now().Add(-10*time.Second))
	if !c.FreshContext(ctx, origin, time.Minute) {
		t.Error("FreshContext false although the store holds a 10-second-old nonce")
	}
	if c.Get(origin) != "recent" {
		t.Errorf("Get = %q, want the recent nonce", c.Get(origin))
	}
	r, _ := st.counts()
	if !c.FreshContext(ctx, origin, time.Minute) {
		t.Error("FreshContext false just after")
	}
	if r2, _ := st.counts(); r2 != r {
		t.Error("FreshContext read the store although the cached nonce is fresh")
	}
	var nilCache *dpop.NonceCache
	if nilCache.FreshContext(ctx, origin, time.Minute) || nilCache.GetContext(ctx, origin) != "" {
		t.Error("a nil cache has nonces")
	}
	nilCache.SetContext(ctx, origin, "x")
}

// TestNonceCacheWritePolicy checks the bound on writes against a server
// that sends a new nonce on every response: 100 responses over a minute
// give 2 writes, not 100.
func TestNonceCacheWritePolicy(t *testing.T) {
	ctx := context.Background()
	clk := newManualClock()
	st := &fakeNonceStore{}
	c := &dpop.NonceCache{Clock: clk.Now, Store: st}

	c.SetContext(ctx, origin, "n-first")
	if _, w := st.counts(); w != 1 || st.get(origin).nonce != "n-first" {
		t.Fatalf("first nonce: %d writes, store has %q; want it written", w, st.get(origin).nonce)
	}
	c.SetContext(ctx, origin, "n-first") // unchanged: never written
	clk.Advance(time.Hour)
	c.SetContext(ctx, origin, "n-first")
	if _, w := st.counts(); w != 1 {
		t.Errorf("an unchanged nonce was written again (%d writes)", w)
	}

	st2 := &fakeNonceStore{}
	c2 := &dpop.NonceCache{Clock: clk.Now, Store: st2}
	for i := range 100 {
		c2.SetContext(ctx, origin, fmt.Sprint("n-", i))
		clk.Advance(600 * time.Millisecond)
	}
	_, w := st2.counts()
	t.Logf("a new nonce on each of 100 responses in 60 s: %d store writes (one per change would be 100)", w)
	if w != 2 {
		t.Errorf("%d writes, want 2 (at 0 s and 30 s)", w)
	}
	if got := st2.get(origin).nonce; got != "n-50" {
		t.Errorf("the store holds %q, want n-50 (the first nonce 30 s after the previous write)", got)
	}
}

func TestNonceCacheStoreErrorsNeverFail(t *testing.T) {
	ctx := context.Background()
	clk := newManualClock()
	st := &fakeNonceStore{getErr: errors.New("db down"), setErr: errors.New("db down")}
	var mu sync.Mutex
	var reported []error
	c := &dpop.NonceCache{Clock: clk.Now, Store: st, OnStoreError: func(_ context.Context, err error) {
		mu.Lock()
		defer mu.Unlock()
		reported = append(reported, err)
	}}
	c.Set(origin, "local-secret-nonce")
	clk.Advance(2 * time.Minute)
	if got := c.GetContext(ctx, origin); got != "local-secret-nonce" {
		t.Errorf("GetContext = %q after a failed read, want the cached nonce", got)
	}
	c.SetContext(ctx, origin, "next-secret-nonce")
	c.SetContext(ctx, origin, "third-secret-nonce") // within 30 s of the failed write: not tried again
	if got := c.Get(origin); got != "third-secret-nonce" {
		t.Errorf("Get = %q", got)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(reported) != 2 {
		t.Fatalf("reported %d errors (%v), want the failed read and the failed write", len(reported), reported)
	}
	for _, err := range reported {
		if !strings.Contains(err.Error(), origin) || strings.Contains(err.Error(), "secret-nonce") || !strings.Contains(err.Error(), "db down") {
			t.Errorf("reported error %q: want the origin and the cause, never the nonce", err)
		}
	}
}

func TestNonceCacheIgnoresInvalidStoredNonce(t *testing.T) {
	ctx := context.Background()
	st := &fakeNonceStore{}
	st.put(origin, "bad nonce\r\n", time.Now())
	var reported int
	c := &dpop.NonceCache{Store: st, OnStoreError: func(context.Context, error) { reported++ }}
	if got := c.GetContext(ctx, origin); got != "" {
		t.Errorf("GetContext = %q, want an invalid stored nonce ignored", got)
	}
	if reported != 1 {
		t.Errorf("%d errors reported, want 1", reported)
	}
}

// TestNonceCacheStoreCallsAreBounded: a store that hangs costs a request
// one second, not more, and concurrent callers share one read.
func TestNonceCacheStoreCallsAreBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := &fakeNonceStore{block: make(chan struct{})}
		var errs int
		var mu sync.Mutex
		c := &dpop.NonceCache{Store: st, OnStoreError: func(context.Context, error) { mu.Lock(); errs++; mu.Unlock() }}
		start := time.Now()
		var wg sync.WaitGroup
		for range 10 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c.GetContext(context.Background(), origin)
			}()
		}
		wg.Wait()
		if d := time.Since(start); d != time.Second {
			t.Errorf("a hung store held GetContext %v, want 1s", d)
		}
		if r, _ := st.counts(); r != 1 {
			t.Errorf("%d concurrent reads, want 1 shared by all callers", r)
		}
		if errs != 1 {
			t.Errorf("%d errors reported, want 1", errs)
		}

		// Callers waiting for a read in flight get its nonce.
		st2 := &fakeNonceStore{block: make(chan struct{})}
		st2.put(origin, "shared", time.Now())
		c2 := &dpop.NonceCache{Store: st2}
		got := make(chan string, 10)
		for range 10 {
			go func() { got <- c2.GetContext(context.Background(), origin) }()
		}
		synctest.Wait()
		close(st2.block)
		for range 10 {
			if n := <-got; n != "shared" {
				t.Errorf("a caller got %q, want the nonce of the read it waited for", n)
			}
		}
	})
}

// nonceServer answers like a PDS that rotates its nonce on every response
// and accepts any nonce it issued: a request without one, or with one it
// never issued, gets a use_dpop_nonce challenge.
type nonceServer struct {
	rec        *recorder
	mu         sync.Mutex
	issued     map[string]bool
	seq        int
	challenges int
}

func newNonceServer(t *testing.T) *nonceServer {
	s := &nonceServer{issued: map[string]bool{}}
	s.rec = newServer(t, func(w http.ResponseWriter, h hit, n int) {
		s.mu.Lock()
		s.seq++
		next := fmt.Sprint("srv-", s.seq)
		s.issued[next] = true
		ok := s.issued[h.nonce()]
		if !ok {
			s.challenges++
		}
		s.mu.Unlock()
		if !ok {
			useNonceHeader(w, next)
			return
		}
		w.Header().Set("DPoP-Nonce", next)
		_, _ = io.WriteString(w, "ok")
	})
	return s
}

func (s *nonceServer) challenged() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.challenges
}

func (s *nonceServer) forget() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.issued = map[string]bool{}
}

func get(t *testing.T, tr http.RoundTripper, url string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("Authorization", "DPoP token")
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	if body := readAll(t, resp); resp.StatusCode != 200 {
		t.Fatalf("HTTP %d %s", resp.StatusCode, body)
	}
}

// TestTransportSharesNoncesThroughStore plays two processes (two
// Transports, each with its own NonceCache) on one store: the second
// never meets the challenge the first one paid for.
func TestTransportSharesNoncesThroughStore(t *testing.T) {
	srv := newNonceServer(t)
	clk := newManualClock()
	st := &fakeNonceStore{}
	a := &dpop.Transport{Key: newKey(t), Nonces: &dpop.NonceCache{Clock: clk.Now, Store: st}, Clock: clk.Now}
	b := &dpop.Transport{Key: newKey(t), Nonces: &dpop.NonceCache{Clock: clk.Now, Store: st}, Clock: clk.Now}
	get(t, a, srv.rec.srv.URL)
	if srv.challenged() != 1 {
		t.Fatalf("%d challenges for the first request, want 1", srv.challenged())
	}
	for i := range 20 {
		clk.Advance(time.Second)
		get(t, []http.RoundTripper{b, a}[i%2], srv.rec.srv.URL)
	}
	if n := srv.challenged(); n != 1 {
		t.Errorf("%d challenges for two transports on one store, want 1", n)
	}

	// Without the store each pays its own.
	srv2 := newNonceServer(t)
	c := &dpop.Transport{Key: newKey(t), Nonces: &dpop.NonceCache{Clock: clk.Now}, Clock: clk.Now}
	d := &dpop.Transport{Key: newKey(t), Nonces: &dpop.NonceCache{Clock: clk.Now}, Clock: clk.Now}
	for i := range 21 {
		get(t, []http.RoundTripper{c, d}[i%2], srv2.rec.srv.URL)
	}
	if n := srv2.challenged(); n != 2 {
		t.Errorf("%d challenges for two transports without a store, want 2", n)
	}
}

// TestTransportWritesAfterChallenge: when the server refuses the nonce
// the fleet shares (here, after a restart that forgot every nonce), the
// new one is written at once rather than 30 s later.
func TestTransportWritesAfterChallenge(t *testing.T) {
	srv := newNonceServer(t)
	clk := newManualClock()
	st := &fakeNonceStore{}
	a := &dpop.Transport{Key: newKey(t), Nonces: &dpop.NonceCache{Clock: clk.Now, Store: st}, Clock: clk.Now}
	get(t, a, srv.rec.srv.URL)
	_, w := st.counts()
	srv.forget()
	clk.Advance(5 * time.Second)
	get(t, a, srv.rec.srv.URL) // challenged, retried with the new nonce
	if _, w2 := st.counts(); w2 != w+1 {
		t.Fatalf("%d writes after the challenge, want 1", w2-w)
	}
	b := &dpop.Transport{Key: newKey(t), Nonces: &dpop.NonceCache{Clock: clk.Now, Store: st}, Clock: clk.Now}
	get(t, b, srv.rec.srv.URL)
	if n := srv.challenged(); n != 2 {
		t.Errorf("%d challenges, want 2: the first request and the one after the restart", n)
	}
}
