package storetest_test

import (
	"testing"

	"github.com/atoauth/atoauth"
	"github.com/atoauth/atoauth/storetest"
)

func TestMemoryStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) atoauth.Store { return atoauth.NewMemoryStore() })
}

func BenchmarkMemoryStore(b *testing.B) {
	storetest.Benchmark(b, func(b *testing.B) atoauth.Store { return atoauth.NewMemoryStore() })
}
