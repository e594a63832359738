package postgres_test

import (
	"testing"

	"github.com/atoauth/atoauth/internal/stormtest"
)

func TestMain(m *testing.M) { stormtest.Main(m) }

// Two processes share one database; see stormtest.
func TestRefreshStormTwoProcesses(t *testing.T) {
	stormtest.TestTwoProcesses(t, freshSchema(t))
}

func TestCrashWhileHoldingLock(t *testing.T) {
	stormtest.TestCrashWhileHoldingLock(t, freshSchema(t))
}

func BenchmarkRefreshStorm(b *testing.B) {
	stormtest.Benchmark(b, freshSchema)
}
