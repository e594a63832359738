package atoauth_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/atoauth/atoauth"
)

// The proactive refresh margin follows the token's lifetime: a short-lived
// token is used for most of its life instead of being refreshed before
// every request, and a long-lived one is refreshed Config.RefreshMargin
// (plus jitter) before it expires.
func TestRefreshMarginFollowsTokenLifetime(t *testing.T) {
	for _, tc := range []struct {
		ttl, every, span time.Duration
		start            time.Duration // into the first token's life
		min, max         int
	}{
		// 30 requests over 10 s with 20 s tokens: at most one refresh.
		{ttl: 20 * time.Second, every: time.Second / 3, span: 10 * time.Second, min: 0, max: 1},
		// The same 30 requests starting 8 s into the token's life: one.
		{ttl: 20 * time.Second, every: time.Second / 3, span: 10 * time.Second, start: 8 * time.Second, min: 1, max: 1},
		// Over ten lifetimes, one refresh per lifetime as used: each token
		// serves 75-80 % of its 20 s (a quarter as margin, plus up to a
		// quarter of that as jitter).
		{ttl: 20 * time.Second, every: time.Second / 3, span: 200 * time.Second, min: 10, max: 15},
		// Five-minute tokens: a margin of 75 s, not the whole 2 minutes.
		{ttl: 5 * time.Minute, every: 10 * time.Second, span: 50 * time.Minute, min: 10, max: 14},
		// An hour: the 2-minute RefreshMargin applies.
		{ttl: time.Hour, every: time.Minute, span: 5 * time.Hour, min: 5, max: 6},
	} {
		t.Run(fmt.Sprint(tc.ttl, " over ", tc.span, " from ", tc.start), func(t *testing.T) {
			e, clk := newClockedEnv(t, tc.ttl)
			s := e.login("alice.test")
			mustWrite(t, s) // learns the PDS's nonce
			clk.Advance(tc.start)
			before := e.net.Counters()
			requests := 0
			for elapsed := time.Duration(0); elapsed < tc.span; elapsed += tc.every {
				mustWrite(t, s)
				requests++
				clk.Advance(tc.every)
			}
			c := e.net.Counters()
			refreshes := c.Refreshes - before.Refreshes
			if refreshes < tc.min || refreshes > tc.max {
				t.Fatalf("%d requests over %s with %s tokens caused %d refreshes, want %d-%d", requests, tc.span, tc.ttl, refreshes, tc.min, tc.max)
			}
			if got := c.PDSAuthenticated - before.PDSAuthenticated; got != requests {
				t.Fatalf("the PDS authenticated %d requests for %d made: a token was used after it expired", got, requests)
			}
			if got := c.PDSNonceChallenges - before.PDSNonceChallenges; got != 0 {
				t.Fatalf("the PDS asked for a new nonce %d times once one was known", got)
			}
		})
	}
}

// A session whose token lifetime is unknown (no UpdatedAt, as in a row
// written by an older store) falls back to Config.RefreshMargin.
func TestRefreshMarginWithoutIssueTime(t *testing.T) {
	e, clk := newClockedEnv(t, time.Hour, func(c *atoauth.Config) { c.RefreshMargin = 10 * time.Minute })
	s := e.login("alice.test")
	d, err := e.store.GetSession(context.Background(), s.ID())
	if err != nil {
		t.Fatal(err)
	}
	d.UpdatedAt = time.Time{}
	if err := e.store.SaveSession(context.Background(), d); err != nil {
		t.Fatal(err)
	}
	s, err = e.client.Session(context.Background(), s.ID())
	if err != nil {
		t.Fatal(err)
	}
	clk.Advance(47 * time.Minute) // 13 minutes left: outside the 10-12.5 minute margin
	mustWrite(t, s)
	if n := e.net.Counters().Refreshes; n != 0 {
		t.Fatalf("refreshed %d times with 13 minutes left", n)
	}
	clk.Advance(3*time.Minute + 30*time.Second) // 9.5 minutes left
	mustWrite(t, s)
	if n := e.net.Counters().Refreshes; n != 1 {
		t.Fatalf("refreshes = %d with 9.5 minutes left, want 1", n)
	}
}
