// Package storetest is the conformance suite for atoauth.Store
// implementations. Every store in this module runs it, and so should
// third-party stores:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) atoauth.Store { return newStore(t) })
//	}
//
// A store that persists to storage several processes share should also
// pass [WithBacking], which adds the checks that need more than one
// handle on the same storage: persistence, locking and consume-once
// across handles (as across processes), and encryption at rest with key
// rotation.
//
// A store that also implements dpop.NonceStore, to share DPoP nonces
// between processes, gets the NonceStore checks (and, with a backing,
// NonceStoreAcrossHandles); others skip them.
package storetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/atoauth/atoauth"
	"github.com/atoauth/atoauth/jwk"
	"github.com/atoauth/atoauth/storecrypt"
	"github.com/bluesky-social/indigo/atproto/syntax"
)

// Run checks that the stores made by newStore keep the atoauth.Store
// contract. newStore must return an empty store for each call. Options
// add checks.
func Run(t *testing.T, newStore func(t *testing.T) atoauth.Store, opts ...Option) {
	var cfg config
	for _, o := range opts {
		o(&cfg)
	}
	t.Run("AuthRequestRoundTrip", func(t *testing.T) { testAuthRequestRoundTrip(t, newStore(t)) })
	t.Run("AuthRequestConsumeOnce", func(t *testing.T) { testConsumeOnce(t, newStore(t)) })
	t.Run("AuthRequestExpiry", func(t *testing.T) { testAuthRequestExpiry(t, newStore(t)) })
	t.Run("AuthRequestTTLPurge", func(t *testing.T) { testTTLPurge(t, newStore(t)) })
	t.Run("SessionCRUD", func(t *testing.T) { testSessionCRUD(t, newStore(t)) })
	t.Run("SessionUpsert", func(t *testing.T) { testSessionUpsert(t, newStore(t)) })
	t.Run("SessionZeroTimes", func(t *testing.T) { testSessionZeroTimes(t, newStore(t)) })
	t.Run("SessionsPerDID", func(t *testing.T) { testSessionsPerDID(t, newStore(t)) })
	t.Run("ContextCancelled", func(t *testing.T) { testContextCancelled(t, newStore(t)) })
	t.Run("LockExclusion", func(t *testing.T) { testLockExclusion(t, newStore(t)) })
	t.Run("LockLeaseExpiry", func(t *testing.T) { testLockLease(t, newStore(t)) })
	t.Run("LockContext", func(t *testing.T) { testLockContext(t, newStore(t)) })
	t.Run("LockStaleUnlock", func(t *testing.T) { testLockStaleUnlock(t, newStore(t)) })
	t.Run("NonceStore", func(t *testing.T) { testNonceStore(t, newStore(t)) })
	t.Run("PurgeExpiredNonces", func(t *testing.T) { testPurgeExpiredNonces(t, newStore(t)) })
	if cfg.backing != nil {
		nb := cfg.backing
		t.Run("Persistence", func(t *testing.T) { testPersistence(t, nb(t)) })
		t.Run("ConsumeOnceAcrossHandles", func(t *testing.T) { testConsumeOnceAcross(t, nb(t)) })
		t.Run("LockAcrossHandles", func(t *testing.T) { testLockAcross(t, nb(t)) })
		t.Run("EncryptionRoundTrip", func(t *testing.T) { testEncryptionRoundTrip(t, nb(t)) })
		t.Run("EncryptionKeyRotation", func(t *testing.T) { testKeyRotation(t, nb(t)) })
		t.Run("SessionFromBeforeClientID", func(t *testing.T) { testSessionWithoutClientID(t, nb(t)) })
		t.Run("NonceStoreAcrossHandles", func(t *testing.T) { testNonceStoreAcross(t, nb(t)) })
	}
}

// Option adds checks to Run.
type Option func(*config)

type config struct {
	backing func(t *testing.T) Backing
}

// Backing is one storage (a database file, a database schema) that any
// number of Stores can open at once, as the processes of an app do.
type Backing interface {
	// Open returns a new Store on the storage that seals secrets with
	// keys[0] and opens them with any of keys; without keys it stores them
	// in the clear. Close the store with t.Cleanup. A store that does not
	// encrypt calls t.Skip when given keys.
	Open(t *testing.T, keys ...storecrypt.Key) atoauth.Store
	// Raw returns every byte the storage holds now (for example the
	// database file with its journal), binary columns as they are stored,
	// for the check that no secret is kept in the clear. It may return nil
	// when it cannot, and that check is skipped.
	Raw(t *testing.T) []byte
}

// OldSessionWriter is implemented by a Backing whose storage an older
// version of the store wrote in another shape. The
// SessionFromBeforeClientID check then has it store a session as a store
// from before SessionData.ClientID did, opens the storage with the current
// store (which upgrades it, as a new release does when it starts), and
// requires the session to read back whole, with ClientID "" (unknown), and
// to keep the ClientID it is saved with next.
type OldSessionWriter interface {
	// WriteSessionWithoutClientID is given a new, empty storage. It leaves
	// it as the last version of the store without SessionData.ClientID
	// left it (its schema, its version marks) after saving d in the clear
	// (d.ClientID is not stored).
	WriteSessionWithoutClientID(t *testing.T, d *atoauth.SessionData)
}

// WithBacking enables the checks that need several Stores on one
// storage; newBacking must return a new, empty storage for each call.
func WithBacking(newBacking func(t *testing.T) Backing) Option {
	return func(c *config) { c.backing = newBacking }
}

// Purger is implemented by stores that can delete expired pending logins
// (and lock rows whose lease has passed) on demand; the TTL check then
// calls it.
type Purger interface {
	PurgeExpired(ctx context.Context) (int, error)
}

// Rekeyer is implemented by stores that can re-seal every row under their
// first key; the key rotation check then calls it.
type Rekeyer interface {
	Rekey(ctx context.Context) (int, error)
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
		AppState:  "/return?to=here\x00\xff" + strings.Repeat("é", 1000), // opaque bytes, up to atoauth.MaxAppState
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
	if out.AppState != in.AppState {
		t.Errorf("round trip changed the app state: %d bytes in, %d bytes out", len(in.AppState), len(out.AppState))
	}
	// A login without app state reads back without.
	if err := s.SaveAuthRequest(ctx, &atoauth.AuthRequest{State: "state-2", DPoPKey: key(t), CreatedAt: now, ExpiresAt: now.Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	if out, err := s.ConsumeAuthRequest(ctx, "state-2"); err != nil || out.AppState != "" {
		t.Errorf("a request without app state: %q, %v", out.AppState, err)
	}
	if _, err := s.ConsumeAuthRequest(ctx, "state-1"); !errors.Is(err, atoauth.ErrStoreNotFound) {
		t.Errorf("second consume: err = %v, want ErrStoreNotFound", err)
	}
	if _, err := s.ConsumeAuthRequest(ctx, "never-stored"); !errors.Is(err, atoauth.ErrStoreNotFound) {
		t.Errorf("unknown state: err = %v, want ErrStoreNotFound", err)
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
			} else if !errors.Is(err, atoauth.ErrStoreNotFound) {
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
	if _, err := s.ConsumeAuthRequest(ctx, "old"); !errors.Is(err, atoauth.ErrStoreNotFound) {
		t.Errorf("expired request: err = %v, want ErrStoreNotFound", err)
	}
}

func session(t *testing.T, id string, did syntax.DID, created time.Time) *atoauth.SessionData {
	return &atoauth.SessionData{
		ID: id, DID: did, Handle: "alice.example", PDS: "https://pds.example",
		Issuer: "https://as.example", TokenEndpoint: "https://as.example/oauth/token", RevocationEndpoint: "https://as.example/oauth/revoke",
		Scope: "atproto transition:generic", AccessToken: "at-" + id, RefreshToken: "rt-" + id,
		ExpiresAt: created.Add(time.Hour), DPoPKey: key(t), ClientKeyID: "k1",
		ClientID:  testClientID,
		CreatedAt: created, UpdatedAt: created,
	}
}

// testClientID is the client_id of the sessions the checks store.
const testClientID = "https://app.example/oauth-client-metadata.json"

// otherClientID is a loopback client_id, with the characters one brings.
const otherClientID = "http://localhost?redirect_uri=http%3A%2F%2F127.0.0.1%2Fcallback&scope=atproto+transition%3Ageneric"

func testSessionCRUD(t *testing.T, s atoauth.Store) {
	ctx := context.Background()
	now := time.Now().Truncate(time.Second)
	in := session(t, "s1", "did:plc:alice", now)
	if _, err := s.GetSession(ctx, "s1"); !errors.Is(err, atoauth.ErrStoreNotFound) {
		t.Errorf("get before save: err = %v, want ErrStoreNotFound", err)
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
		!sameKey(out.DPoPKey, in.DPoPKey) || out.ClientKeyID != in.ClientKeyID || out.ClientID != in.ClientID ||
		!out.CreatedAt.Equal(in.CreatedAt) {
		t.Errorf("round trip changed the session:\n in %+v (client %s)\nout %+v (client %s)", in, in.ClientID, out, out.ClientID)
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
	if _, err := s.GetSession(ctx, "s1"); !errors.Is(err, atoauth.ErrStoreNotFound) {
		t.Errorf("get after delete: err = %v, want ErrStoreNotFound", err)
	}
	if err := s.DeleteSession(ctx, "s1"); err != nil && !errors.Is(err, atoauth.ErrStoreNotFound) {
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
		if list[i].ClientID != testClientID {
			t.Errorf("listed session %s has ClientID %q, want %q", list[i].ID, list[i].ClientID, testClientID)
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

func testTTLPurge(t *testing.T, s atoauth.Store) {
	ctx := context.Background()
	now := time.Now()
	for i := range 3 {
		if err := s.SaveAuthRequest(ctx, &atoauth.AuthRequest{State: fmt.Sprint("expired-", i), DPoPKey: key(t),
			CreatedAt: now.Add(-time.Hour), ExpiresAt: now.Add(-time.Duration(i+1) * time.Second)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.SaveAuthRequest(ctx, &atoauth.AuthRequest{State: "live", DPoPKey: key(t), CreatedAt: now, ExpiresAt: now.Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	if p, ok := s.(Purger); ok {
		n, err := p.PurgeExpired(ctx)
		if err != nil {
			t.Fatalf("PurgeExpired: %v", err)
		}
		if n != 3 {
			t.Errorf("PurgeExpired deleted %d rows, want the 3 expired requests", n)
		}
		if n, err := p.PurgeExpired(ctx); err != nil || n != 0 {
			t.Errorf("second PurgeExpired = %d, %v; want 0, nil", n, err)
		}
	} else {
		t.Log("the store has no PurgeExpired method: checking expiry only")
	}
	for i := range 3 {
		if _, err := s.ConsumeAuthRequest(ctx, fmt.Sprint("expired-", i)); !errors.Is(err, atoauth.ErrStoreNotFound) {
			t.Errorf("expired request %d: err = %v, want ErrStoreNotFound", i, err)
		}
	}
	if _, err := s.ConsumeAuthRequest(ctx, "live"); err != nil {
		t.Errorf("live request after a purge: %v", err)
	}
}

func testSessionUpsert(t *testing.T, s atoauth.Store) {
	ctx := context.Background()
	base := time.Now().Truncate(time.Second)
	a, b := session(t, "u1", "did:plc:alice", base), session(t, "u2", "did:plc:alice", base.Add(time.Second))
	for _, d := range []*atoauth.SessionData{a, b} {
		if err := s.SaveSession(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	// Replacing u1 moves it to another account and leaves u2 alone.
	moved := session(t, "u1", "did:plc:bob", base)
	moved.Handle, moved.Scope, moved.ExpiresAt, moved.UpdatedAt = "bob.example", "atproto", base.Add(2*time.Hour), base.Add(time.Minute)
	moved.ClientID = otherClientID
	if err := s.SaveSession(ctx, moved); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetSession(ctx, "u1")
	if err != nil {
		t.Fatal(err)
	}
	if got.DID != "did:plc:bob" || got.Handle != "bob.example" || got.Scope != "atproto" || !got.ExpiresAt.Equal(moved.ExpiresAt) ||
		!got.UpdatedAt.Equal(moved.UpdatedAt) || !sameKey(got.DPoPKey, moved.DPoPKey) || got.ClientID != otherClientID {
		t.Errorf("upsert kept old fields: %+v (client %s)", got, got.ClientID)
	}
	if other, err := s.GetSession(ctx, "u2"); err != nil || other.AccessToken != b.AccessToken || !sameKey(other.DPoPKey, b.DPoPKey) || other.ClientID != testClientID {
		t.Errorf("upserting u1 changed u2: %v %v", other, err)
	}
	if list, _ := s.ListSessions(ctx, "did:plc:alice"); len(list) != 1 || list[0].ID != "u2" {
		t.Errorf("alice's sessions after the move: %v", list)
	}
	if list, _ := s.ListSessions(ctx, "did:plc:bob"); len(list) != 1 || list[0].ID != "u1" {
		t.Errorf("bob's sessions after the move: %v", list)
	}
	if list, _ := s.ListSessions(ctx, ""); len(list) != 2 {
		t.Errorf("ListSessions(\"\") = %d sessions, want every session (2)", len(list))
	}
}

func testSessionZeroTimes(t *testing.T, s atoauth.Store) {
	ctx := context.Background()
	in := session(t, "z", "did:plc:alice", time.Time{})
	in.ExpiresAt, in.ClientKeyID, in.RevocationEndpoint, in.ClientID = time.Time{}, "", "", ""
	if err := s.SaveSession(ctx, in); err != nil {
		t.Fatal(err)
	}
	out, err := s.GetSession(ctx, "z")
	if err != nil {
		t.Fatal(err)
	}
	if !out.ExpiresAt.IsZero() || !out.CreatedAt.IsZero() || !out.UpdatedAt.IsZero() || out.ClientKeyID != "" || out.RevocationEndpoint != "" || out.ClientID != "" {
		t.Errorf("zero values did not round trip: %+v (client %q)", out, out.ClientID)
	}
	// Sub-second times survive to the microsecond.
	fine := time.Now()
	in.ExpiresAt = fine
	if err := s.SaveSession(ctx, in); err != nil {
		t.Fatal(err)
	}
	out, _ = s.GetSession(ctx, "z")
	if d := out.ExpiresAt.Sub(fine); d < -time.Microsecond || d > time.Microsecond {
		t.Errorf("ExpiresAt %v came back as %v", fine, out.ExpiresAt)
	}
}

func testContextCancelled(t *testing.T, s atoauth.Store) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	check := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, context.Canceled) {
			t.Errorf("%s with a cancelled context: err = %v, want context.Canceled", what, err)
		}
	}
	now := time.Now()
	check("SaveAuthRequest", s.SaveAuthRequest(ctx, &atoauth.AuthRequest{State: "c", DPoPKey: key(t), CreatedAt: now, ExpiresAt: now.Add(time.Minute)}))
	_, err := s.ConsumeAuthRequest(ctx, "c")
	check("ConsumeAuthRequest", err)
	check("SaveSession", s.SaveSession(ctx, session(t, "c", "did:plc:alice", now)))
	_, err = s.GetSession(ctx, "c")
	check("GetSession", err)
	check("DeleteSession", s.DeleteSession(ctx, "c"))
	_, err = s.ListSessions(ctx, "did:plc:alice")
	check("ListSessions", err)
}

func testLockStaleUnlock(t *testing.T, s atoauth.Store) {
	ctx := context.Background()
	unlockA, err := s.LockSession(ctx, "stale", 200*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // A's lease passes while it still "works"
	unlockB, err := s.LockSession(ctx, "stale", 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	unlockA() // late: must not release B's holding
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	if unlockC, err := s.LockSession(short, "stale", time.Second); err == nil {
		unlockC()
		t.Fatal("a late unlock by a holder whose lease had passed released the next holder's lock")
	}
	unlockB()
	unlockB() // a second call is harmless
	ctx2, cancel2 := context.WithTimeout(ctx, 2*time.Second)
	defer cancel2()
	start := time.Now()
	unlockC, err := s.LockSession(ctx2, "stale", time.Second)
	if err != nil {
		t.Fatalf("lock after unlock: %v", err)
	}
	unlockC()
	if d := time.Since(start); d > time.Second {
		t.Errorf("taking a released lock took %v", d)
	}
}

// secrets returns the values of a session and a pending login that must
// not be stored in the clear once a store has keys. The session ID is one:
// it is the app's cookie, a credential.
func secrets(t *testing.T, d *atoauth.SessionData, r *atoauth.AuthRequest) map[string]string {
	m := map[string]string{"session ID": d.ID, "access token": d.AccessToken, "refresh token": d.RefreshToken, "PKCE verifier": r.PKCEVerifier}
	if r.AppState != "" {
		m["app state"] = r.AppState
	}
	for name, k := range map[string]*jwk.Key{"session DPoP key": d.DPoPKey, "login DPoP key": r.DPoPKey} {
		raw, err := k.MarshalPrivate()
		if err != nil {
			t.Fatal(err)
		}
		var priv struct{ D string }
		if err := json.Unmarshal(raw, &priv); err != nil || priv.D == "" {
			t.Fatalf("private JWK without d: %v", err)
		}
		m[name+" (d)"] = priv.D
	}
	return m
}

func randomKey(t *testing.T, id string) storecrypt.Key {
	secret := make([]byte, storecrypt.SecretSize)
	rand.Read(secret)
	k, err := storecrypt.NewKey(id, secret)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func unique(prefix string) string {
	return fmt.Sprintf("%s-%x", prefix, time.Now().UnixNano())
}

func testPersistence(t *testing.T, b Backing) {
	ctx := context.Background()
	now := time.Now().Truncate(time.Second)
	a := b.Open(t)
	in := session(t, "p1", "did:plc:alice", now)
	if err := a.SaveSession(ctx, in); err != nil {
		t.Fatal(err)
	}
	if err := a.SaveAuthRequest(ctx, &atoauth.AuthRequest{State: "p-state", PKCEVerifier: "v", DPoPKey: key(t), CreatedAt: now, ExpiresAt: now.Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	other := b.Open(t) // another process, or this one after a restart
	got, err := other.GetSession(ctx, "p1")
	if err != nil {
		t.Fatal(err)
	}
	if got.AccessToken != in.AccessToken || got.RefreshToken != in.RefreshToken || !sameKey(got.DPoPKey, in.DPoPKey) {
		t.Errorf("the other handle sees %+v", got)
	}
	if r, err := other.ConsumeAuthRequest(ctx, "p-state"); err != nil || r.PKCEVerifier != "v" {
		t.Errorf("consume on the other handle: %v, %v", r, err)
	}
	if _, err := a.ConsumeAuthRequest(ctx, "p-state"); !errors.Is(err, atoauth.ErrStoreNotFound) {
		t.Errorf("consumed on one handle, still there on the first: %v", err)
	}
	if err := other.DeleteSession(ctx, "p1"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.GetSession(ctx, "p1"); !errors.Is(err, atoauth.ErrStoreNotFound) {
		t.Errorf("deleted on one handle, still there on the first: %v", err)
	}
}

func testConsumeOnceAcross(t *testing.T, b Backing) {
	ctx := context.Background()
	handles := []atoauth.Store{b.Open(t), b.Open(t)}
	if err := handles[0].SaveAuthRequest(ctx, &atoauth.AuthRequest{State: "race", DPoPKey: key(t), CreatedAt: time.Now(), ExpiresAt: time.Now().Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	var wins atomic.Int32
	var wg sync.WaitGroup
	for i := range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := handles[i%2].ConsumeAuthRequest(ctx, "race"); err == nil {
				wins.Add(1)
			} else if !errors.Is(err, atoauth.ErrStoreNotFound) {
				t.Errorf("consume: %v", err)
			}
		}()
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Fatalf("%d goroutines on two handles consumed one state, want exactly 1", wins.Load())
	}
}

func testLockAcross(t *testing.T, b Backing) {
	ctx := context.Background()
	a, c := b.Open(t), b.Open(t)
	unlock, err := a.LockSession(ctx, "x", 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	if u, err := c.LockSession(short, "x", time.Second); !errors.Is(err, context.DeadlineExceeded) {
		if u != nil {
			u()
		}
		t.Fatalf("the other handle took a held lock: err = %v", err)
	}
	got := make(chan time.Time, 1)
	go func() {
		u, err := c.LockSession(ctx, "x", time.Second)
		if err != nil {
			t.Error(err)
			close(got)
			return
		}
		got <- time.Now()
		u()
	}()
	time.Sleep(50 * time.Millisecond)
	released := time.Now()
	unlock()
	select {
	case at := <-got:
		if d := at.Sub(released); d > time.Second {
			t.Errorf("the other handle took the released lock after %v", d)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the other handle never took the released lock")
	}

	// A holder that never unlocks (a crashed process) loses the lock to
	// the other handle when its lease passes.
	if _, err := a.LockSession(ctx, "crashed", 300*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	ctx2, cancel2 := context.WithTimeout(ctx, 10*time.Second)
	defer cancel2()
	u, err := c.LockSession(ctx2, "crashed", time.Second)
	if err != nil {
		t.Fatalf("the lease did not expire across handles: %v", err)
	}
	u()
	if d := time.Since(start); d < 250*time.Millisecond {
		t.Errorf("took the lock after %v, before the holder's lease passed", d)
	}

	// Many goroutines on both handles: one holder at a time.
	var inside, maxInside atomic.Int32
	var wg sync.WaitGroup
	for i := range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			u, err := []atoauth.Store{a, c}[i%2].LockSession(ctx, "busy", 10*time.Second)
			if err != nil {
				t.Error(err)
				return
			}
			n := inside.Add(1)
			for m := maxInside.Load(); n > m && !maxInside.CompareAndSwap(m, n); m = maxInside.Load() {
			}
			time.Sleep(2 * time.Millisecond)
			inside.Add(-1)
			u()
		}()
	}
	wg.Wait()
	if maxInside.Load() != 1 {
		t.Fatalf("%d holders at once across handles, want 1", maxInside.Load())
	}
}

func testEncryptionRoundTrip(t *testing.T, b Backing) {
	ctx := context.Background()
	now := time.Now().Truncate(time.Second)
	newReq := func(state string) *atoauth.AuthRequest {
		return &atoauth.AuthRequest{State: state, Issuer: "https://as.example", PKCEVerifier: unique("pkce-verifier"),
			AppState: unique("app-state"), DPoPKey: key(t), CreatedAt: now, ExpiresAt: now.Add(time.Minute)}
	}
	newSession := func(id string) *atoauth.SessionData {
		d := session(t, id, "did:plc:alice", now)
		d.AccessToken, d.RefreshToken = unique("access-token"), unique("refresh-token")
		return d
	}

	// In the clear first, to show that Raw sees what is stored.
	plain := b.Open(t)
	plainID, sealedID := unique("plain-session"), unique("sealed-session")
	pd, pr := newSession(plainID), newReq("plain-state")
	if err := plain.SaveSession(ctx, pd); err != nil {
		t.Fatal(err)
	}
	if err := plain.SaveAuthRequest(ctx, pr); err != nil {
		t.Fatal(err)
	}
	raw := b.Raw(t)
	if raw != nil {
		for what, v := range secrets(t, pd, pr) {
			if !bytes.Contains(raw, []byte(v)) {
				t.Fatalf("Raw does not show the %s stored without keys: Raw cannot prove anything", what)
			}
		}
	}

	k1 := randomKey(t, "k1")
	enc := b.Open(t, k1)
	ed, er := newSession(sealedID), newReq("sealed-state")
	if err := enc.SaveSession(ctx, ed); err != nil {
		t.Fatal(err)
	}
	if err := enc.SaveAuthRequest(ctx, er); err != nil {
		t.Fatal(err)
	}
	if raw := b.Raw(t); raw == nil {
		t.Log("the backing has no Raw: not checking what is stored")
	} else {
		for what, v := range secrets(t, ed, er) {
			if bytes.Contains(raw, []byte(v)) {
				t.Errorf("the %s is stored in the clear although the store has a key", what)
			}
		}
	}
	again := b.Open(t, k1)
	got, err := again.GetSession(ctx, sealedID)
	if err != nil {
		t.Fatal(err)
	}
	if got.AccessToken != ed.AccessToken || got.RefreshToken != ed.RefreshToken || !sameKey(got.DPoPKey, ed.DPoPKey) || got.DID != ed.DID {
		t.Errorf("sealed session did not round trip: %+v", got)
	}
	if list, err := again.ListSessions(ctx, "did:plc:alice"); err != nil || len(list) != 2 {
		t.Errorf("listing sealed and plain sessions: %d, %v", len(list), err)
	}
	r, err := again.ConsumeAuthRequest(ctx, "sealed-state")
	if err != nil {
		t.Fatal(err)
	}
	if r.PKCEVerifier != er.PKCEVerifier || !sameKey(r.DPoPKey, er.DPoPKey) || r.AppState != er.AppState {
		t.Errorf("sealed request did not round trip: %+v", r)
	}
	// Rows stored before the key was configured stay readable.
	if got, err := again.GetSession(ctx, plainID); err != nil || got.AccessToken != pd.AccessToken {
		t.Errorf("plain session with keys configured: %v, %v", got, err)
	}
	if r, err := again.ConsumeAuthRequest(ctx, "plain-state"); err != nil || r.PKCEVerifier != pr.PKCEVerifier || r.AppState != pr.AppState {
		t.Errorf("plain request with keys configured: %v, %v", r, err)
	}
}

func testKeyRotation(t *testing.T, b Backing) {
	ctx := context.Background()
	now := time.Now().Truncate(time.Second)
	k1, k2 := randomKey(t, "k1"), randomKey(t, "k2")
	old := b.Open(t, k1)
	s1 := session(t, "s1", "did:plc:alice", now)
	if err := old.SaveSession(ctx, s1); err != nil {
		t.Fatal(err)
	}
	if err := old.SaveAuthRequest(ctx, &atoauth.AuthRequest{State: "r1", PKCEVerifier: "v1", AppState: "/after-r1", DPoPKey: key(t), CreatedAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}

	rotated := b.Open(t, k2, k1) // the new key first, the old one still known
	if got, err := rotated.GetSession(ctx, "s1"); err != nil || got.RefreshToken != s1.RefreshToken {
		t.Fatalf("reading with the old key after rotation: %v, %v", got, err)
	}
	s2 := session(t, "s2", "did:plc:alice", now.Add(time.Second))
	if err := rotated.SaveSession(ctx, s2); err != nil {
		t.Fatal(err)
	}

	onlyNew := b.Open(t, k2)
	if got, err := onlyNew.GetSession(ctx, "s2"); err != nil || got.AccessToken != s2.AccessToken {
		t.Errorf("s2 was not sealed with the first key: %v, %v", got, err)
	}
	if _, err := onlyNew.GetSession(ctx, "s1"); !errors.Is(err, storecrypt.ErrUnknownKey) {
		t.Errorf("s1 (old key) without the old key: err = %v, want storecrypt.ErrUnknownKey", err)
	}
	if _, err := b.Open(t).GetSession(ctx, "s2"); !errors.Is(err, storecrypt.ErrUnknownKey) {
		t.Errorf("sealed session on a store without keys: err = %v, want storecrypt.ErrUnknownKey", err)
	}
	impostor := randomKey(t, "k1") // the same ID, another secret
	_, err := b.Open(t, impostor).GetSession(ctx, "s1")
	if !errors.Is(err, storecrypt.ErrOpen) {
		t.Errorf("s1 under a different secret with the same ID: err = %v, want storecrypt.ErrOpen", err)
	}
	if err != nil && (bytes.Contains([]byte(err.Error()), []byte(s1.AccessToken)) || bytes.Contains([]byte(err.Error()), []byte(s1.RefreshToken))) {
		t.Errorf("error reveals a token: %v", err)
	}

	rk, ok := rotated.(Rekeyer)
	if !ok {
		t.Log("the store has no Rekey method: not checking re-sealing")
		return
	}
	n, err := rk.Rekey(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Errorf("Rekey rewrote %d rows, want 2 (s1 and r1)", n)
	}
	if n, err := rk.Rekey(ctx); err != nil || n != 0 {
		t.Errorf("second Rekey = %d, %v; want 0, nil", n, err)
	}
	if got, err := onlyNew.GetSession(ctx, "s1"); err != nil || got.RefreshToken != s1.RefreshToken || !sameKey(got.DPoPKey, s1.DPoPKey) {
		t.Errorf("s1 after Rekey, new key only: %v, %v", got, err)
	}
	if r, err := onlyNew.ConsumeAuthRequest(ctx, "r1"); err != nil || r.PKCEVerifier != "v1" || r.AppState != "/after-r1" {
		t.Errorf("r1 after Rekey, new key only: %v, %v", r, err)
	}
	// Rekey on a store that cannot open a row says so.
	if err := old.SaveSession(ctx, session(t, "s3", "did:plc:alice", now)); err != nil {
		t.Fatal(err)
	}
	if _, err := onlyNew.(Rekeyer).Rekey(ctx); !errors.Is(err, storecrypt.ErrUnknownKey) {
		t.Errorf("Rekey over a row under a dropped key: err = %v, want storecrypt.ErrUnknownKey", err)
	}
}

func testSessionWithoutClientID(t *testing.T, b Backing) {
	w, ok := b.(OldSessionWriter)
	if !ok {
		t.Skip("the backing is no OldSessionWriter: not checking a session stored before SessionData.ClientID")
	}
	ctx := context.Background()
	now := time.Now().Truncate(time.Second)
	in := session(t, "old-1", "did:plc:alice", now)
	w.WriteSessionWithoutClientID(t, in)
	s := b.Open(t) // upgrades the storage
	got, err := s.GetSession(ctx, "old-1")
	if err != nil {
		t.Fatalf("a session stored before SessionData.ClientID: %v", err)
	}
	if got.ClientID != "" {
		t.Errorf("a session stored before SessionData.ClientID has ClientID %q, want \"\" (unknown)", got.ClientID)
	}
	if got.DID != in.DID || got.Scope != in.Scope || got.AccessToken != in.AccessToken || got.RefreshToken != in.RefreshToken ||
		!sameKey(got.DPoPKey, in.DPoPKey) || got.ClientKeyID != in.ClientKeyID || !got.CreatedAt.Equal(in.CreatedAt) {
		t.Errorf("the upgrade changed the session:\n in %+v\nout %+v", in, got)
	}
	if list, err := s.ListSessions(ctx, ""); err != nil || len(list) != 1 || list[0].ClientID != "" {
		t.Errorf("listing a session stored before SessionData.ClientID: %v, %v", list, err)
	}
	// The client that next saves it records its client_id.
	got.ClientID = testClientID
	if err := s.SaveSession(ctx, got); err != nil {
		t.Fatal(err)
	}
	again, err := b.Open(t).GetSession(ctx, "old-1")
	if err != nil {
		t.Fatal(err)
	}
	if again.ClientID != testClientID {
		t.Errorf("after saving with ClientID %q, it reads back as %q", testClientID, again.ClientID)
	}
}
