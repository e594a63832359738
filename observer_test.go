package atoauth_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/atoauth/atoauth"
	"github.com/atoauth/atoauth/atoauthtest"
)

// observed is an Observer that keeps what it is told.
type observed struct {
	mu        sync.Mutex
	logins    map[atoauth.LoginStage][]error
	refreshes []atoauth.RefreshOutcome
	lockWaits int
	nonces    map[atoauth.NonceServer]int
}

func (r *observed) observer() *atoauth.Observer {
	r.logins, r.nonces = map[atoauth.LoginStage][]error{}, map[atoauth.NonceServer]int{}
	return &atoauth.Observer{
		Login: func(stage atoauth.LoginStage, err error) {
			r.mu.Lock()
			defer r.mu.Unlock()
			r.logins[stage] = append(r.logins[stage], err)
		},
		Refresh: func(outcome atoauth.RefreshOutcome, took time.Duration) {
			r.mu.Lock()
			defer r.mu.Unlock()
			r.refreshes = append(r.refreshes, outcome)
		},
		LockWait: func(time.Duration) {
			r.mu.Lock()
			defer r.mu.Unlock()
			r.lockWaits++
		},
		NonceChallenge: func(s atoauth.NonceServer) {
			r.mu.Lock()
			defer r.mu.Unlock()
			r.nonces[s]++
		},
	}
}

func TestObserver(t *testing.T) {
	ctx := context.Background()
	rec := &observed{}
	e := newEnv(t, func(c *atoauth.Config) { c.Observer = rec.observer() })
	s := e.login("alice.test")
	if got := rec.logins; len(got[atoauth.LoginStart]) != 1 || got[atoauth.LoginStart][0] != nil ||
		len(got[atoauth.LoginCallback]) != 1 || got[atoauth.LoginCallback][0] != nil {
		t.Fatalf("logins after one sign-in: %v", got)
	}
	// A callback for no pending login is a failed callback.
	if _, err := e.client.Callback(ctx, url.Values{"state": {"nope"}, "iss": {e.net.Issuer()}, "code": {"x"}}, nil); !errors.Is(err, atoauth.ErrInvalidState) {
		t.Fatalf("bogus callback: %v", err)
	}
	if got := rec.logins[atoauth.LoginCallback]; len(got) != 2 || !errors.Is(got[1], atoauth.ErrInvalidState) {
		t.Fatalf("callbacks observed: %v", got)
	}
	// The fake challenges the first PAR (authorization server) and the
	// first PDS request.
	if resp, _, err := createRecord(ctx, s, "observed"); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("createRecord: %v %v", resp, err)
	}
	c := e.net.Counters()
	if rec.nonces[atoauth.NonceAuthServer] != c.ASNonceChallenges || rec.nonces[atoauth.NoncePDS] != c.PDSNonceChallenges || c.PDSNonceChallenges == 0 {
		t.Errorf("nonce challenges observed %v, the network sent AS %d, PDS %d", rec.nonces, c.ASNonceChallenges, c.PDSNonceChallenges)
	}

	// A refresh, a temporary failure, then the end.
	if err := s.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	e.net.UpdateTamper(func(tp *atoauthtest.Tamper) {
		tp.TokenError = func(string) *atoauthtest.ErrorAnswer {
			return &atoauthtest.ErrorAnswer{Status: http.StatusServiceUnavailable}
		}
	})
	if err := s.Refresh(ctx); err == nil {
		t.Fatal("refresh during the outage succeeded")
	}
	e.net.SetTamper(atoauthtest.Tamper{})
	e.net.RevokeAll(e.alice)
	if err := s.Refresh(ctx); !errors.Is(err, atoauth.ErrSessionExpired) {
		t.Fatalf("refresh after revocation: %v", err)
	}
	want := []atoauth.RefreshOutcome{atoauth.RefreshDone, atoauth.RefreshTemporaryFailure, atoauth.RefreshSessionEnded}
	if len(rec.refreshes) != len(want) {
		t.Fatalf("refresh outcomes %v, want %v", rec.refreshes, want)
	}
	for i := range want {
		if rec.refreshes[i] != want[i] {
			t.Fatalf("refresh outcomes %v, want %v", rec.refreshes, want)
		}
	}
	if rec.lockWaits != 3 {
		t.Errorf("lock waits observed %d, want one per refresh (3)", rec.lockWaits)
	}
}

// A refresh that finds the tokens another process stored meanwhile is
// RefreshAlreadyDone: it requested nothing.
func TestObserverRefreshAlreadyDone(t *testing.T) {
	ctx := context.Background()
	rec := &observed{}
	e := newEnv(t, func(c *atoauth.Config) { c.Observer = rec.observer() })
	s := e.login("alice.test")
	other := e.otherProcess(e.store, s)
	if err := other.Refresh(ctx); err != nil { // not observed: another Client
		t.Fatal(err)
	}
	before := e.net.Counters().Refreshes
	if err := s.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if len(rec.refreshes) != 1 || rec.refreshes[0] != atoauth.RefreshAlreadyDone || e.net.Counters().Refreshes != before {
		t.Fatalf("refresh outcomes %v (server refreshes %d → %d), want [%s] and no request", rec.refreshes, before, e.net.Counters().Refreshes, atoauth.RefreshAlreadyDone)
	}
}
