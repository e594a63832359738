package atoauth_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/atoauth/atoauth"
	"github.com/atoauth/atoauth/atoauthtest"
	"github.com/atoauth/atoauth/dpop"
	"github.com/atoauth/atoauth/sqlite"
)

// memNonces is a dpop.NonceStore in memory that counts its calls.
type memNonces struct {
	mu            sync.Mutex
	m             map[string]string
	reads, writes int
	fail          error
}

func (s *memNonces) GetNonce(_ context.Context, origin string) (string, time.Time, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reads++
	if s.fail != nil {
		return "", time.Time{}, s.fail
	}
	if n, ok := s.m[origin]; ok {
		return n, time.Now(), nil
	}
	return "", time.Time{}, nil
}

func (s *memNonces) SetNonce(_ context.Context, origin, nonce string, _ time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.writes++
	if s.fail != nil {
		return s.fail
	}
	if s.m == nil {
		s.m = map[string]string{}
	}
	s.m[origin] = nonce
	return nil
}

func (s *memNonces) counts() (reads, writes int, origins int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reads, s.writes, len(s.m)
}

// sharingStore is a session store that also shares nonces, as the sqlite
// and postgres stores do.
type sharingStore struct {
	atoauth.Store
	*memNonces
}

func getSession(t *testing.T, s *atoauth.Session) {
	t.Helper()
	resp, err := s.HTTPClient().Get(s.PDS() + "/xrpc/com.atproto.server.getSession")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("getSession: HTTP %d", resp.StatusCode)
	}
}

func TestNonceStoreWiring(t *testing.T) {
	used := func(t *testing.T, ns *memNonces, want bool) {
		t.Helper()
		r, w, origins := ns.counts()
		if want && (r == 0 || w == 0 || origins != 2) {
			t.Errorf("nonce store: %d reads, %d writes, %d origins; want it read and fed for the AS and the PDS", r, w, origins)
		}
		if !want && r+w > 0 {
			t.Errorf("nonce store: %d reads, %d writes; want it unused", r, w)
		}
	}
	t.Run("StoreThatSharesIsUsedByDefault", func(t *testing.T) {
		ns := &memNonces{}
		e := newEnv(t, func(c *atoauth.Config) { c.Store = sharingStore{atoauth.NewMemoryStore(), ns} })
		getSession(t, e.login("alice.test"))
		used(t, ns, true)
	})
	t.Run("ExplicitNonceStore", func(t *testing.T) {
		ns := &memNonces{}
		e := newEnv(t, func(c *atoauth.Config) { c.NonceStore = ns })
		getSession(t, e.login("alice.test"))
		used(t, ns, true)
	})
	t.Run("ExplicitNonceStoreWinsOverStore", func(t *testing.T) {
		inStore, explicit := &memNonces{}, &memNonces{}
		e := newEnv(t, func(c *atoauth.Config) {
			c.Store = sharingStore{atoauth.NewMemoryStore(), inStore}
			c.NonceStore = explicit
		})
		getSession(t, e.login("alice.test"))
		used(t, explicit, true)
		used(t, inStore, false)
	})
	t.Run("LocalNoncesTurnsItOff", func(t *testing.T) {
		ns := &memNonces{}
		e := newEnv(t, func(c *atoauth.Config) {
			c.Store = sharingStore{atoauth.NewMemoryStore(), ns}
			c.NonceStore = atoauth.LocalNonces{}
		})
		getSession(t, e.login("alice.test"))
		used(t, ns, false)
	})
	t.Run("FailingStoreIsLoggedNotFatal", func(t *testing.T) {
		ns := &memNonces{fail: errors.New("nonce table locked")}
		e := newEnv(t, func(c *atoauth.Config) { c.NonceStore = ns })
		s := e.login("alice.test")
		for range 5 {
			getSession(t, s)
		}
		logs := e.logs.String()
		if !strings.Contains(logs, "DPoP nonce store failed") || !strings.Contains(logs, "nonce table locked") {
			t.Errorf("the store's failures are not logged:\n%s", logs)
		}
	})
}

// countingNonceStore counts the calls one instance makes to a shared
// nonce store.
type countingNonceStore struct {
	dpop.NonceStore
	reads, writes atomic.Int64
}

func (c *countingNonceStore) GetNonce(ctx context.Context, origin string) (string, time.Time, error) {
	c.reads.Add(1)
	return c.NonceStore.GetNonce(ctx, origin)
}

func (c *countingNonceStore) SetNonce(ctx context.Context, origin, nonce string, at time.Time) error {
	c.writes.Add(1)
	return c.NonceStore.SetNonce(ctx, origin, nonce, at)
}

// fleetRun is the outcome of one measured run.
type fleetRun struct {
	asChallenges, pdsChallenges int // during the measured requests
	loginAS                     int // during the sign-in
	reads, writes               [2]int64
	span                        time.Duration
}

// runFleet signs alice in on instance A of a two-instance fleet (two
// Clients on one SQLite file, as two processes would be: they share no
// memory), then sends 100 authenticated requests, the i-th to instance
// pick(i), advancing the shared fake clock by gap after each. With
// shared false the instances keep their nonces to themselves
// (Config.NonceStore = LocalNonces).
func runFleet(t *testing.T, tamper atoauthtest.Tamper, gap time.Duration, pick func(i int) int, shared bool) fleetRun {
	t.Helper()
	ctx := context.Background()
	// Real time, on a minute boundary: the nonce windows start with the run,
	// and the store's own expiry checks (real clock) agree.
	clk := atoauthtest.NewClock(time.Now().Truncate(time.Minute))
	n := atoauthtest.NewNetwork(t, atoauthtest.Options{Clock: clk.Now, AccessTokenTTL: 24 * time.Hour})
	n.SetTamper(tamper)
	alice := n.CreateAccount("alice.test")
	store, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "atoauth.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })

	var counted [2]*countingNonceStore
	var clients [2]*atoauth.Client
	for i := range clients {
		cfg := n.ClientConfig("atproto transition:generic")
		cfg.Store = store
		cfg.Clock = clk.Now
		counted[i] = &countingNonceStore{NonceStore: store}
		cfg.NonceStore = counted[i]
		if !shared {
			cfg.NonceStore = atoauth.LocalNonces{}
		}
		if clients[i], err = atoauth.NewClient(cfg); err != nil {
			t.Fatal(err)
		}
	}
	before := n.Counters()
	sa, err := n.Login(ctx, clients[0], alice)
	if err != nil {
		t.Fatal(err)
	}
	sb, err := clients[1].Session(ctx, sa.ID())
	if err != nil {
		t.Fatal(err)
	}
	start := n.Counters()
	var r fleetRun
	r.loginAS = start.ASNonceChallenges - before.ASNonceChallenges
	for i := range counted {
		counted[i].reads.Store(0)
		counted[i].writes.Store(0)
	}
	t0 := clk.Now()
	for i := range 100 {
		getSession(t, []*atoauth.Session{sa, sb}[pick(i)])
		clk.Advance(gap)
	}
	end := n.Counters()
	r.asChallenges = end.ASNonceChallenges - start.ASNonceChallenges
	r.pdsChallenges = end.PDSNonceChallenges - start.PDSNonceChallenges
	if end.Refreshes != start.Refreshes {
		t.Fatalf("%d refreshes during the run: the measurement is about nonces only", end.Refreshes-start.Refreshes)
	}
	for i := range counted {
		r.reads[i], r.writes[i] = counted[i].reads.Load(), counted[i].writes.Load()
	}
	r.span = clk.Now().Sub(t0)
	return r
}

// TestFleetNonceChallenges measures what the shared nonce store saves a
// fleet of two instances (two Clients on one SQLite store, sharing no
// memory) over 100 authenticated PDS requests against the fake network
// with nonce rotation on, with and without sharing, and bounds it: one
// nonce challenge per origin for the fleet, not one per instance.
//
// Rotations: "per response" is atoauthtest's default (a new nonce on
// every response, each accepted for 3 minutes); "60 s windows" is the
// reference server's (Tamper.NonceWindow = ReferenceNonceWindow: the same
// nonce for a minute, accepted 2 to 3 minutes). Traffic: "round robin"
// alternates the instances; "blocks of 10" sends 10 requests in a row to
// one instance, then 10 to the other, as a sticky balancer or an uneven
// load would, so that each instance sits idle 5 minutes between its
// blocks, longer than any nonce stays valid.
func TestFleetNonceChallenges(t *testing.T) {
	roundRobin := func(i int) int { return i % 2 }
	blocks := func(i int) int { return (i / 10) % 2 }
	window := atoauthtest.Tamper{NonceWindow: atoauthtest.ReferenceNonceWindow}
	cases := []struct {
		name      string
		tamper    atoauthtest.Tamper
		gap       time.Duration
		pick      func(int) int
		wantLocal int // PDS challenges without sharing: one per instance per nonce lost
		rotations func(span time.Duration) int
	}{
		{"per response, round robin, 1 s apart", atoauthtest.Tamper{}, time.Second, roundRobin, 2,
			func(time.Duration) int { return 100 }},
		{"60 s windows, round robin, 30 s apart", window, 30 * time.Second, roundRobin, 2,
			func(d time.Duration) int { return int(d / time.Minute) }},
		{"60 s windows, blocks of 10, 30 s apart", window, 30 * time.Second, blocks, 10,
			func(d time.Duration) int { return int(d / time.Minute) }},
	}
	var table []string
	for _, tc := range cases {
		t.Run(strings.ReplaceAll(tc.name, " ", "_"), func(t *testing.T) {
			with := runFleet(t, tc.tamper, tc.gap, tc.pick, true)
			without := runFleet(t, tc.tamper, tc.gap, tc.pick, false)
			rot := tc.rotations(with.span)
			t.Logf("%s: PDS nonce challenges for the fleet: %d with the shared store, %d without (%d rotations; per rotation %.2f vs %.2f); AS: %d at sign-in, %d during the run; store reads A/B %d/%d, writes A/B %d/%d",
				tc.name, with.pdsChallenges, without.pdsChallenges, rot,
				float64(with.pdsChallenges)/float64(rot), float64(without.pdsChallenges)/float64(rot),
				with.loginAS, with.asChallenges, with.reads[0], with.reads[1], with.writes[0], with.writes[1])
			table = append(table, fmt.Sprintf("| %s | %d | %d | %d | %d/%d | %d/%d |", tc.name, rot,
				with.pdsChallenges, without.pdsChallenges, with.reads[0], with.reads[1], with.writes[0], with.writes[1]))
			// The bound: one challenge for the fleet, at its first request.
			if with.pdsChallenges != 1 {
				t.Errorf("%d PDS nonce challenges with the shared store, want 1 for the fleet", with.pdsChallenges)
			}
			if without.pdsChallenges != tc.wantLocal {
				t.Errorf("%d PDS nonce challenges without sharing, want %d (one per instance each time it lacks a valid nonce)", without.pdsChallenges, tc.wantLocal)
			}
			if with.asChallenges != 0 || with.loginAS != 1 || without.loginAS != 1 {
				t.Errorf("AS nonce challenges: %d at sign-in (%d without sharing), %d during the run; want 1, 1, 0", with.loginAS, without.loginAS, with.asChallenges)
			}
			// The write bound: 2 a minute per origin and instance (30 s
			// apart), plus the first.
			limit := int64(2*with.span/time.Minute) + 1
			for i := range 2 {
				if with.writes[i] > limit {
					t.Errorf("instance %c wrote %d nonces in %v, more than %d", 'A'+i, with.writes[i], with.span, limit)
				}
			}
		})
	}
	t.Logf("\n| rotation, traffic (100 requests, 2 instances) | rotations | PDS challenges, shared | PDS challenges, per instance | store reads A/B | store writes A/B |\n|---|---|---|---|---|---|\n%s", strings.Join(table, "\n"))
}
