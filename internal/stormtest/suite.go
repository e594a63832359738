package stormtest

import (
	"os"
	"strconv"
	"testing"
	"time"
)

// Main is the TestMain of a test package that uses stormtest: the
// process plays a storm child when it is one, and runs the tests
// otherwise.
func Main(m *testing.M) {
	if IsChild() {
		os.Exit(ChildMain())
	}
	os.Exit(m.Run())
}

// TestTwoProcesses is the storm every store must pass: two processes
// share store and send 20 concurrent requests each, in two rounds, across
// 40 sessions whose access tokens have all expired. Each session is
// refreshed exactly once; nothing fails and nothing is lost.
func TestTwoProcesses(t *testing.T, store string) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	r := Run(t, Config{Store: store, Sessions: 40, Rounds: 2})
	Check(t, r)
	t.Logf("%d sessions, %d requests from 2 processes: %d refreshes, %d replays, %d failed, %d lost; storm %v",
		r.Sessions, r.Requests, r.Refreshes, r.Replays, r.Failed, r.Lost, r.Storm.Round(time.Millisecond))
}

// TestCrashWhileHoldingLock SIGKILLs a process inside a refresh, holding
// the session's lock in store; another process must complete the refresh
// once the lease has passed, and the session survive.
func TestCrashWhileHoldingLock(t *testing.T, store string) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	const lease = 2 * time.Second
	r := Crash(t, store, lease)
	if r.Refreshes != 1 || r.Replays != 0 || r.Lost {
		t.Errorf("after the crash: %d refreshes, %d replays, lost %v; want 1, 0, false", r.Refreshes, r.Replays, r.Lost)
	}
	if r.Waited > lease+5*time.Second {
		t.Errorf("the survivor waited %v for a %v lease", r.Waited, lease)
	}
	t.Logf("survivor refreshed %v after the SIGKILL (lease %v)", r.Waited.Round(time.Millisecond), lease)
}

// Benchmark is the full storm: 1000 sessions (or
// $ATOAUTH_STORM_SESSIONS), two processes, 20 concurrent requests each,
// on a new store made by store for each iteration.
func Benchmark(b *testing.B, store func(testing.TB) string) {
	n := 1000
	if v, err := strconv.Atoi(os.Getenv("ATOAUTH_STORM_SESSIONS")); err == nil && v > 0 {
		n = v
	}
	for b.Loop() {
		r := Run(b, Config{Store: store(b), Sessions: n})
		Check(b, r)
		b.ReportMetric(float64(r.Refreshes)/float64(r.Sessions), "refreshes/session")
		b.ReportMetric(float64(r.Failed), "failed")
		b.ReportMetric(float64(r.Lost), "lost")
		b.ReportMetric(r.Storm.Seconds(), "storm-s")
		b.ReportMetric(float64(r.Requests)/r.Storm.Seconds(), "req/s")
		b.Logf("%d sessions, %d requests: %d refreshes, %d replays, %d failed, %d lost; login %v, storm %v",
			r.Sessions, r.Requests, r.Refreshes, r.Replays, r.Failed, r.Lost, r.Login.Round(time.Millisecond), r.Storm.Round(time.Millisecond))
	}
}
