// Package storetest is the conformance suite for atoauth.Store
// implementations. Every store in this module runs it, and so should
// third-party stores:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) atoauth.Store { return newStore(t) })
//	}
package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/atoauth/atoauth"
	"github.com/atoauth/atoauth/jwk"
	"github.com/bluesky-social/indigo/atproto/syntax"
)

// Run checks that the stores made by newStore keep the atoauth.Store
// contract. newStore must return an empty store for each call.
func Run(t *testing.T, newStore func(t *testing.T) atoauth.Store) {
	t.Run("AuthRequestRoundTrip", func(t *testing.T) { testAuthRequestRoundTrip(t, newStore(t)) })
	t.Run("AuthRequestConsumeOnce", func(t *testing.T) { testConsumeOnce(t, newStore(t)) })
	t.Run("AuthRequestExpiry", func(t *testing.T) { testAuthRequestExpiry(t, newStore(t)) })
	t.Run("SessionCRUD", func(t *testing.T) { testSessionCRUD(t, newStore(t)) })
	t.Run("SessionsPerDID", func(t *testing.T) { testSessionsPerDID(t, newStore(t)) })
	t.Run("LockExclusion", func(t *testing.T) { testLockExclusion(t, newStore(t)) })
	t.Run("LockLeaseExpiry", func(t *testing.T) { testLockLease(t, newStore(t)) })
	t.Run("LockContext", func(t *testing.T) { testLockContext(t, newStore(t)) })
}

func key(t *testing.T) *jwk.Key {
	k, err := jwk.Generate()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func sameKey(a, b *jwk.Key) bool {
	return a != nil && b != nil && a.Thumbprint() == b.Thumbprint()
}

func testAuthRequestRoundTrip(t *testing.T, s atoauth.Store) {
	ctx := context.Background()
	now := time.Now().Truncate(time.Second)
	in := &atoauth.AuthRequest{
		State: "state-1", Issuer: "https://as.example", PDS: "https://pds.example",
		ExpectedDID: "did:plc:abc", LoginHint: "alice.example", RedirectURI: "http://127.0.0.1:1/cb",
		Scope: "atproto", PKCEVerifier: "verifier", DPoPKey: key(t), ClientKeyID: "k1",
		CreatedAt: now, ExpiresAt: now.Add(time.Minute),
	}
	if err := s.SaveAuthRequest(ctx, in); err != nil {
		t.Fatal(err)
	}
	out, err := s.ConsumeAuthRequest(ctx, "state-1")
	if err != nil {
		t.Fatal(err)
	}
	if out.State != in.State || out.Issuer != in.Issuer || out.PDS != in.PDS || out.ExpectedDID != in.ExpectedDID ||
		out.LoginHint != in.LoginHint || out.RedirectURI != in.RedirectURI || out.Scope != in.Scope ||
		out.PKCEVerifier != in.PKCEVerifier || !sameKey(out.DPoPKey, in.DPoPKey) || out.ClientKeyID != in.ClientKeyID ||
		!out.ExpiresAt.Equal(in.ExpiresAt) || !out.CreatedAt.Equal(in.CreatedAt) {
		t.Errorf("round trip changed the request:\n in %+v\nout %+v", in, out)
	}
	if _, err := s.ConsumeAuthRequest(ctx, "state-1"); !errors.Is(err, atoauth.ErrNotFound) {
		t.Errorf("second consume: err = %v, want ErrNotFound", err)
	}
	if _, err := s.ConsumeAuthRequest(ctx, "never-stored"); !errors.Is(err, atoauth.ErrNotFound) {
		t.Errorf("unknown state: err = %v, want ErrNotFound", err)
	}
}

func testConsumeOnce(t *testing.T, s atoauth.Store) {
	ctx := context.Background()
	if err := s.SaveAuthRequest(ctx, &atoauth.AuthRequest{State: "race", DPoPKey: key(t), ExpiresAt: time.Now().Add(time.Minute), CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	var wins atomic.Int32
	var wg sync.WaitGroup
	for range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := s.ConsumeAuthRequest(ctx, "race"); err == nil {
				wins.Add(1)
			} else if !errors.Is(err, atoauth.ErrNotFound) {
				t.Errorf("consume: %v", err)
			}
		}()
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Fatalf("%d goroutines consumed one state, want exactly 1", wins.Load())
	}
}

func testAuthRequestExpiry(t *testing.T, s atoauth.Store) {
	ctx := context.Background()
	past := time.Now().Add(-time.Second)
	if err := s.SaveAuthRequest(ctx, &atoauth.AuthRequest{State: "old", DPoPKey: key(t), CreatedAt: past.Add(-time.Minute), ExpiresAt: past}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ConsumeAuthRequest(ctx, "old"); !errors.Is(err, atoauth.ErrNotFound) {
		t.Errorf("expired request: err = %v, want ErrNotFound", err)
	}
}

func session(t *testing.T, id string, did syntax.DID, created time.Time) *atoauth.SessionData {
	return &atoauth.SessionData{
		ID: id, DID: did, Handle: "alice.example", PDS: "https://pds.example",
		Issuer: "https://as.example", TokenEndpoint: "https://as.example/oauth/token", RevocationEndpoint: "https://as.example/oauth/revoke",
		Scope: "atproto transition:generic", AccessToken: "at-" + id, RefreshToken: "rt-" + id,
		ExpiresAt: created.Add(time.Hour), DPoPKey: key(t), ClientKeyID: "k1",
		CreatedAt: created, UpdatedAt: created,
	}
}

func testSessionCRUD(t *testing.T, s atoauth.Store) {
	ctx := context.Background()
	now := time.Now().Truncate(time.Second)
	in := session(t, "s1", "did:plc:alice", now)
	if _, err := s.GetSession(ctx, "s1"); !errors.Is(err, atoauth.ErrNotFound) {
		t.Errorf("get before save: err = %v, want ErrNotFound", err)
	}
	if err := s.SaveSession(ctx, in); err != nil {
		t.Fatal(err)
	}
	out, err := s.GetSession(ctx, "s1")
	if err != nil {
		t.Fatal(err)
	}
	if out.ID != in.ID || out.DID != in.DID || out.Handle != in.Handle || out.PDS != in.PDS || out.Issuer != in.Issuer ||
		out.TokenEndpoint != in.TokenEndpoint || out.RevocationEndpoint != in.RevocationEndpoint || out.Scope != in.Scope ||
		out.AccessToken != in.AccessToken || out.RefreshToken != in.RefreshToken || !out.ExpiresAt.Equal(in.ExpiresAt) ||
		!sameKey(out.DPoPKey, in.DPoPKey) || out.ClientKeyID != in.ClientKeyID || !out.CreatedAt.Equal(in.CreatedAt) {
		t.Errorf("round trip changed the session:\n in %+v\nout %+v", in, out)
	}
	// The returned value is a copy.
	out.AccessToken = "mutated"
	if again, _ := s.GetSession(ctx, "s1"); again.AccessToken != in.AccessToken {
		t.Error("mutating a returned session changed the store")
	}
	// Upsert.
	upd := session(t, "s1", "did:plc:alice", now)
	upd.AccessToken, upd.RefreshToken = "at-2", "rt-2"
	if err := s.SaveSession(ctx, upd); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.GetSession(ctx, "s1"); got.AccessToken != "at-2" || got.RefreshToken != "rt-2" || !sameKey(got.DPoPKey, upd.DPoPKey) {
		t.Errorf("upsert did not replace the session: %+v", got)
	}
	if err := s.DeleteSession(ctx, "s1"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetSession(ctx, "s1"); !errors.Is(err, atoauth.ErrNotFound) {
		t.Errorf("get after delete: err = %v, want ErrNotFound", err)
	}
	if err := s.DeleteSession(ctx, "s1"); err != nil && !errors.Is(err, atoauth.ErrNotFound) {
		t.Errorf("second delete: %v", err)
	}
}

func testSessionsPerDID(t *testing.T, s atoauth.Store) {
	ctx := context.Background()
	base := time.Now().Truncate(time.Second)
	for i, did := range []syntax.DID{"did:plc:alice", "did:plc:bob", "did:plc:alice", "did:plc:alice"} {
		if err := s.SaveSession(ctx, session(t, fmt.Sprintf("s%d", i), did, base.Add(time.Duration(i)*time.Second))); err != nil {
			t.Fatal(err)
		}
	}
	list, err := s.ListSessions(ctx, "did:plc:alice")
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 3 {
		t.Fatalf("alice has %d sessions, want 3", len(list))
	}
	for i, want := range []string{"s0", "s2", "s3"} {
		if list[i].ID != want {
			t.Errorf("session %d = %s, want %s (oldest first)", i, list[i].ID, want)
		}
	}
	if list, _ := s.ListSessions(ctx, "did:plc:bob"); len(list) != 1 {
		t.Errorf("bob has %d sessions, want 1", len(list))
	}
	if list, _ := s.ListSessions(ctx, "did:plc:nobody"); len(list) != 0 {
		t.Errorf("nobody has %d sessions", len(list))
	}
}

func testLockExclusion(t *testing.T, s atoauth.Store) {
	ctx := context.Background()
	var inside, maxInside atomic.Int32
	var wg sync.WaitGroup
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			unlock, err := s.LockSession(ctx, "locked", 10*time.Second)
			if err != nil {
				t.Error(err)
				return
			}
			n := inside.Add(1)
			for {
				m := maxInside.Load()
				if n <= m || maxInside.CompareAndSwap(m, n) {
					break
				}
			}
			time.Sleep(2 * time.Millisecond)
			inside.Add(-1)
			unlock()
		}()
	}
	wg.Wait()
	if maxInside.Load() != 1 {
		t.Fatalf("%d holders at once, want 1", maxInside.Load())
	}
	// Other sessions are not blocked.
	unlock, err := s.LockSession(ctx, "a", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	ctx2, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	unlock2, err := s.LockSession(ctx2, "b", time.Second)
	if err != nil {
		t.Fatalf("lock on another session blocked: %v", err)
	}
	unlock2()
}

func testLockLease(t *testing.T, s atoauth.Store) {
	ctx := context.Background()
	if _, err := s.LockSession(ctx, "crashed", 300*time.Millisecond); err != nil { // never unlocked
		t.Fatal(err)
	}
	start := time.Now()
	ctx2, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	unlock, err := s.LockSession(ctx2, "crashed", time.Second)
	if err != nil {
		t.Fatalf("lease did not expire: %v", err)
	}
	unlock()
	if waited := time.Since(start); waited < 250*time.Millisecond {
		t.Errorf("took the lock after %v, before the holder's lease passed", waited)
	}
}

func testLockContext(t *testing.T, s atoauth.Store) {
	ctx := context.Background()
	unlock, err := s.LockSession(ctx, "held", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	ctx2, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	if _, err := s.LockSession(ctx2, "held", time.Minute); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("waiting on a held lock: err = %v, want context.DeadlineExceeded", err)
	}
}
