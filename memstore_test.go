package atoauth_test

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/atoauth/atoauth"
	"github.com/atoauth/atoauth/storetest"
)

func TestMemoryStoreConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) atoauth.Store { return atoauth.NewMemoryStore() })
}

func BenchmarkMemoryStore(b *testing.B) {
	storetest.Benchmark(b, func(b *testing.B) atoauth.Store { return atoauth.NewMemoryStore() })
}

// TestMemoryStoreLeaseWithFakeTime checks lease expiry on a fake clock
// (testing/synctest): a holder that never unlocks loses the lock exactly
// when its 45 s lease ends, without the test waiting 45 s.
func TestMemoryStoreLeaseWithFakeTime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := atoauth.NewMemoryStore()
		ctx := context.Background()
		if _, err := s.LockSession(ctx, "s", 45*time.Second); err != nil { // never unlocked
			t.Fatal(err)
		}
		start := time.Now()
		unlock, err := s.LockSession(ctx, "s", time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		defer unlock()
		if waited := time.Since(start); waited < 45*time.Second || waited > 46*time.Second {
			t.Fatalf("took the lock over after %v, want the 45 s lease", waited)
		}
	})
}
