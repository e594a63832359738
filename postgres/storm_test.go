package postgres_test

import (
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/atoauth/atoauth/internal/stormtest"
)

func TestMain(m *testing.M) {
	if stormtest.IsChild() {
		os.Exit(stormtest.ChildMain())
	}
	os.Exit(m.Run())
}

// TestRefreshStormTwoProcesses: two processes share one database and
// send 20 concurrent requests each across sessions whose access tokens
// have all expired. Each session is refreshed exactly once; nothing fails
// and nothing is lost. BenchmarkRefreshStorm runs the full size.
func TestRefreshStormTwoProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	r := stormtest.Run(t, stormtest.Config{Store: freshSchema(t), Sessions: 40, Rounds: 2})
	stormtest.Check(t, r)
	t.Logf("%d sessions, %d requests from 2 processes: %d refreshes, %d replays, %d failed, %d lost; storm %v",
		r.Sessions, r.Requests, r.Refreshes, r.Replays, r.Failed, r.Lost, r.Storm.Round(time.Millisecond))
}

// TestCrashWhileHoldingLock: a process is SIGKILLed inside a refresh,
// holding the session's lock; another process completes the refresh once
// the lease has passed, and the session survives.
func TestCrashWhileHoldingLock(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	const lease = 2 * time.Second
	r := stormtest.Crash(t, freshSchema(t), lease)
	if r.Refreshes != 1 || r.Replays != 0 || r.Lost {
		t.Errorf("after the crash: %d refreshes, %d replays, lost %v; want 1, 0, false", r.Refreshes, r.Replays, r.Lost)
	}
	if r.Waited > lease+5*time.Second {
		t.Errorf("the survivor waited %v for a %v lease", r.Waited, lease)
	}
	t.Logf("survivor refreshed %v after the SIGKILL (lease %v)", r.Waited.Round(time.Millisecond), lease)
}

// BenchmarkRefreshStorm is the full storm: 1000 sessions (or
// $ATOAUTH_STORM_SESSIONS), two processes, 20 concurrent requests each.
func BenchmarkRefreshStorm(b *testing.B) {
	n := 1000
	if v, err := strconv.Atoi(os.Getenv("ATOAUTH_STORM_SESSIONS")); err == nil && v > 0 {
		n = v
	}
	for b.Loop() {
		r := stormtest.Run(b, stormtest.Config{Store: freshSchema(b), Sessions: n})
		stormtest.Check(b, r)
		b.ReportMetric(float64(r.Refreshes)/float64(r.Sessions), "refreshes/session")
		b.ReportMetric(float64(r.Failed), "failed")
		b.ReportMetric(float64(r.Lost), "lost")
		b.ReportMetric(r.Storm.Seconds(), "storm-s")
		b.ReportMetric(float64(r.Requests)/r.Storm.Seconds(), "req/s")
		b.Logf("%d sessions, %d requests: %d refreshes, %d replays, %d failed, %d lost; login %v, storm %v",
			r.Sessions, r.Requests, r.Refreshes, r.Replays, r.Failed, r.Lost, r.Login.Round(time.Millisecond), r.Storm.Round(time.Millisecond))
	}
}
