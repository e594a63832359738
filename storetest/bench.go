package storetest

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/atoauth/atoauth"
	"github.com/atoauth/atoauth/jwk"
)

// Benchmark measures a store's throughput: reading and saving sessions
// (one goroutine, and GOMAXPROCS×4 goroutines), consuming pending logins,
// and taking and releasing the refresh lock. Each reports ops/s.
// newStore must return an empty store for each call.
func Benchmark(b *testing.B, newStore func(b *testing.B) atoauth.Store) {
	const sessions = 1000
	fill := func(b *testing.B) (atoauth.Store, []*atoauth.SessionData) {
		s := newStore(b)
		k, err := jwk.Generate()
		if err != nil {
			b.Fatal(err)
		}
		now := time.Now()
		all := make([]*atoauth.SessionData, sessions)
		for i := range all {
			all[i] = &atoauth.SessionData{
				ID: fmt.Sprintf("bench-%04d-%s", i, "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"), DID: "did:plc:benchbenchbenchbenchbench", Handle: "bench.example",
				PDS: "https://pds.example", Issuer: "https://as.example", TokenEndpoint: "https://as.example/oauth/token",
				RevocationEndpoint: "https://as.example/oauth/revoke", Scope: "atproto transition:generic",
				AccessToken: "at-" + strings.Repeat("a", 800), RefreshToken: fmt.Sprintf("rt-%064d", i),
				ExpiresAt: now.Add(time.Hour), DPoPKey: k, CreatedAt: now, UpdatedAt: now,
			}
			if err := s.SaveSession(context.Background(), all[i]); err != nil {
				b.Fatal(err)
			}
		}
		return s, all
	}
	perSec := func(b *testing.B, n int64) {
		b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "ops/s")
	}
	b.Run("GetSession", func(b *testing.B) {
		s, all := fill(b)
		ctx := context.Background()
		i := 0
		for b.Loop() {
			if _, err := s.GetSession(ctx, all[i%sessions].ID); err != nil {
				b.Fatal(err)
			}
			i++
		}
		perSec(b, int64(i))
	})
	b.Run("SaveSession", func(b *testing.B) {
		s, all := fill(b)
		ctx := context.Background()
		i := 0
		for b.Loop() {
			if err := s.SaveSession(ctx, all[i%sessions]); err != nil {
				b.Fatal(err)
			}
			i++
		}
		perSec(b, int64(i))
	})
	parallel := func(b *testing.B, op func(ctx context.Context, s atoauth.Store, d *atoauth.SessionData) error) {
		s, all := fill(b)
		var n atomic.Int64
		b.SetParallelism(4)
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			ctx := context.Background()
			for pb.Next() {
				i := n.Add(1)
				if err := op(ctx, s, all[i%sessions]); err != nil {
					b.Error(err)
					return
				}
			}
		})
		perSec(b, n.Load())
	}
	b.Run("GetSessionParallel", func(b *testing.B) {
		parallel(b, func(ctx context.Context, s atoauth.Store, d *atoauth.SessionData) error {
			_, err := s.GetSession(ctx, d.ID)
			return err
		})
	})
	b.Run("SaveSessionParallel", func(b *testing.B) {
		parallel(b, func(ctx context.Context, s atoauth.Store, d *atoauth.SessionData) error {
			return s.SaveSession(ctx, d)
		})
	})
	b.Run("SaveAndConsumeAuthRequest", func(b *testing.B) {
		s := newStore(b)
		k, err := jwk.Generate()
		if err != nil {
			b.Fatal(err)
		}
		ctx := context.Background()
		i := 0
		for b.Loop() {
			state := fmt.Sprintf("state-%d", i)
			now := time.Now()
			if err := s.SaveAuthRequest(ctx, &atoauth.AuthRequest{State: state, PKCEVerifier: "v", DPoPKey: k, CreatedAt: now, ExpiresAt: now.Add(time.Minute)}); err != nil {
				b.Fatal(err)
			}
			if _, err := s.ConsumeAuthRequest(ctx, state); err != nil {
				b.Fatal(err)
			}
			i++
		}
		perSec(b, int64(i))
	})
	b.Run("LockUnlock", func(b *testing.B) {
		s := newStore(b)
		ctx := context.Background()
		i := 0
		for b.Loop() {
			unlock, err := s.LockSession(ctx, fmt.Sprint("lock-", i%100), time.Minute)
			if err != nil {
				b.Fatal(err)
			}
			unlock()
			i++
		}
		perSec(b, int64(i))
	})
}
