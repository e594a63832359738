package storetest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/atoauth/atoauth"
	"github.com/atoauth/atoauth/dpop"
)

// The NonceStore checks run for stores that also implement
// dpop.NonceStore (as the sqlite and postgres stores do), which an
// atoauth.Client then uses to share DPoP nonces; other stores skip them.

func nonceStore(t *testing.T, s atoauth.Store) dpop.NonceStore {
	t.Helper()
	ns, ok := s.(dpop.NonceStore)
	if !ok {
		t.Skip("the store does not implement dpop.NonceStore: nonces stay in each process")
	}
	return ns
}

func checkNonce(t *testing.T, ns dpop.NonceStore, origin, wantNonce string, wantAt ...time.Time) {
	t.Helper()
	got, at, err := ns.GetNonce(context.Background(), origin)
	if err != nil {
		t.Fatalf("GetNonce(%s): %v", origin, err)
	}
	if got != wantNonce {
		t.Errorf("GetNonce(%s) = %.40q, want %.40q", origin, got, wantNonce)
		return
	}
	if wantNonce == "" {
		if !at.IsZero() {
			t.Errorf("GetNonce(%s) found no nonce but time %v, want the zero time", origin, at)
		}
		return
	}
	for _, w := range wantAt {
		if d := at.Sub(w); d > -time.Microsecond && d < time.Microsecond {
			return
		}
	}
	t.Errorf("GetNonce(%s) time = %v, want one of %v", origin, at, wantAt)
}

func testNonceStore(t *testing.T, s atoauth.Store) {
	ns := nonceStore(t, s)
	ctx := context.Background()
	const as, pds = "https://as.example", "https://pds.example:8443"
	checkNonce(t, ns, as, "")

	t1 := time.Now()
	if err := ns.SetNonce(ctx, as, "n1", t1); err != nil {
		t.Fatal(err)
	}
	checkNonce(t, ns, as, "n1", t1)
	checkNonce(t, ns, pds, "")

	long := strings.Repeat("!#[]~", dpop.MaxNonceLen/5) // NQCHAR, near the longest nonce
	if err := ns.SetNonce(ctx, pds, long, t1); err != nil {
		t.Fatal(err)
	}
	checkNonce(t, ns, pds, long, t1)
	checkNonce(t, ns, as, "n1", t1)

	// A nonce received earlier than the stored one does not replace it.
	if err := ns.SetNonce(ctx, as, "n0", t1.Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	checkNonce(t, ns, as, "n1", t1)

	t2 := t1.Add(30 * time.Second)
	if err := ns.SetNonce(ctx, as, "n2", t2); err != nil {
		t.Fatal(err)
	}
	checkNonce(t, ns, as, "n2", t2)
	// The same nonce again, later: the store may keep either time.
	t3 := t2.Add(time.Minute)
	if err := ns.SetNonce(ctx, as, "n2", t3); err != nil {
		t.Fatal(err)
	}
	checkNonce(t, ns, as, "n2", t2, t3)

	// Writers racing: the nonce received last wins, whatever the order of
	// the writes.
	base := t3.Add(time.Minute)
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := ns.SetNonce(ctx, as, fmt.Sprint("race-", i), base.Add(time.Duration(i)*time.Millisecond)); err != nil {
				t.Errorf("SetNonce: %v", err)
			}
		}()
	}
	wg.Wait()
	checkNonce(t, ns, as, "race-19", base.Add(19*time.Millisecond))

	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, _, err := ns.GetNonce(cancelled, as); !errors.Is(err, context.Canceled) {
		t.Errorf("GetNonce with a cancelled context: err = %v, want context.Canceled", err)
	}
	if err := ns.SetNonce(cancelled, as, "late", base.Add(time.Hour)); !errors.Is(err, context.Canceled) {
		t.Errorf("SetNonce with a cancelled context: err = %v, want context.Canceled", err)
	}
	checkNonce(t, ns, as, "race-19", base.Add(19*time.Millisecond))
}

// testNonceStoreAcross checks that a nonce one handle stores is what
// another handle on the same storage reads, as another process would.
func testNonceStoreAcross(t *testing.T, b Backing) {
	a := nonceStore(t, b.Open(t))
	other := nonceStore(t, b.Open(t))
	ctx := context.Background()
	origin := unique("https://pds") + ".example"
	at := time.Now()
	if err := a.SetNonce(ctx, origin, "shared-1", at); err != nil {
		t.Fatal(err)
	}
	checkNonce(t, other, origin, "shared-1", at)
	if err := other.SetNonce(ctx, origin, "shared-2", at.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	checkNonce(t, a, origin, "shared-2", at.Add(time.Second))
}

// testPurgeExpiredNonces checks that a Purger's PurgeExpired drops nonce
// rows last written over an hour ago (no server accepts them any more)
// and keeps the others.
func testPurgeExpiredNonces(t *testing.T, s atoauth.Store) {
	ns := nonceStore(t, s)
	p, ok := s.(Purger)
	if !ok {
		t.Skip("the store has no PurgeExpired method")
	}
	ctx := context.Background()
	if err := ns.SetNonce(ctx, "https://old.example", "n-old", time.Now().Add(-61*time.Minute)); err != nil {
		t.Fatal(err)
	}
	recent := time.Now().Add(-59 * time.Minute)
	if err := ns.SetNonce(ctx, "https://new.example", "n-new", recent); err != nil {
		t.Fatal(err)
	}
	if n, err := p.PurgeExpired(ctx); err != nil || n != 1 {
		t.Fatalf("PurgeExpired = %d, %v; want the 1 old nonce row", n, err)
	}
	checkNonce(t, ns, "https://old.example", "")
	checkNonce(t, ns, "https://new.example", "n-new", recent)
}
