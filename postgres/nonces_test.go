package postgres_test

import (
	"context"
	"testing"
	"time"
)

// TestPurgeExpiredNonces: PurgeExpired drops nonce rows last written over
// an hour ago (no server accepts them any more) and keeps the others.
func TestPurgeExpiredNonces(t *testing.T) {
	ctx := context.Background()
	s := open(t, freshSchema(t))
	if err := s.SetNonce(ctx, "https://old.example", "n-old", time.Now().Add(-61*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := s.SetNonce(ctx, "https://new.example", "n-new", time.Now().Add(-59*time.Minute)); err != nil {
		t.Fatal(err)
	}
	n, err := s.PurgeExpired(ctx)
	if err != nil || n != 1 {
		t.Fatalf("PurgeExpired = %d, %v; want the 1 old nonce row", n, err)
	}
	if got, _, err := s.GetNonce(ctx, "https://old.example"); err != nil || got != "" {
		t.Errorf("old nonce after the purge: %q, %v", got, err)
	}
	if got, _, err := s.GetNonce(ctx, "https://new.example"); err != nil || got != "n-new" {
		t.Errorf("recent nonce after the purge: %q, %v", got, err)
	}
}
