package sqlite_test

import (
	"path/filepath"
	"testing"

	"github.com/atoauth/atoauth/internal/stormtest"
)

func TestMain(m *testing.M) { stormtest.Main(m) }

// dbFile is a new SQLite file.
func dbFile(t testing.TB) string { return filepath.Join(t.TempDir(), "atoauth.db") }

// Two processes share one SQLite file; see stormtest.
func TestRefreshStormTwoProcesses(t *testing.T) {
	stormtest.TestTwoProcesses(t, dbFile(t))
}

// TestRefreshStormOneAccount: the same storm with all 40 sessions on one
// account, so that many refreshes verify the same DID at once (this once
// broke the identity cache: "identity not found in cache after coalesce").
func TestRefreshStormOneAccount(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	r := stormtest.Run(t, stormtest.Config{Store: dbFile(t), Sessions: 40, PerAccount: 40, Rounds: 2})
	stormtest.Check(t, r)
}

func TestCrashWhileHoldingLock(t *testing.T) {
	stormtest.TestCrashWhileHoldingLock(t, dbFile(t))
}

func BenchmarkRefreshStorm(b *testing.B) {
	stormtest.Benchmark(b, dbFile)
}

// TestRefreshStormCatchesABrokenLock is the negative control: with a lock
// that excludes nobody, the same storm replays refresh tokens.
func TestRefreshStormCatchesABrokenLock(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	r := stormtest.Run(t, stormtest.Config{Store: dbFile(t), Sessions: 40, Rounds: 2, NoLock: true})
	if r.Replays == 0 && r.Refreshes == r.Sessions && r.Lost == 0 {
		t.Fatalf("a storm without locking went unnoticed: %+v", r)
	}
	t.Logf("without the lock: %d refreshes for %d sessions, %d replays, %d failed, %d lost", r.Refreshes, r.Sessions, r.Replays, r.Failed, r.Lost)
}
