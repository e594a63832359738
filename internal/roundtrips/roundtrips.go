// Package roundtrips counts the HTTP requests atoauth sends, on the fake
// network of atoauthtest, for the flows whose cost users pay: a login
// (Start, then Callback), an authenticated request in steady state, and
// the refreshes over many token lifetimes. The targets (issue 11): no
// request beyond the one the caller made, one refresh per token, and no
// DPoP nonce retry once a nonce is known. The test of this package checks
// them in the suite; `go run ./internal/roundtrips/cmd` prints the figures
// of the README, with the cost of a DPoP proof beside a bare ECDSA
// signature.
package roundtrips

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/atoauth/atoauth"
	"github.com/atoauth/atoauth/atoauthtest"
	"github.com/atoauth/atoauth/safehttp"
	"github.com/bluesky-social/indigo/atproto/syntax"
)

// Counts is what the client sent during one step: requests by kind
// ("as-metadata", "resource-metadata", "plc", "handle", "par", "token",
// "revoke", "xrpc"), and the DPoP nonce retries: requests answered with a
// use_dpop_nonce challenge and sent again (counted in Requests too). A
// revocation answered with a challenge is not one: before a refresh with
// no recent nonce, atoauth revokes a random token only to learn a nonce
// from the answer, and does not send it again.
type Counts struct {
	Requests     int
	ByKind       map[string]int
	NonceRetries int
}

func (c Counts) String() string {
	kinds := make([]string, 0, len(c.ByKind))
	for k, n := range c.ByKind {
		kinds = append(kinds, fmt.Sprintf("%s %d", k, n))
	}
	slices.Sort(kinds)
	s := fmt.Sprintf("%d (%s)", c.Requests, strings.Join(kinds, ", "))
	if c.NonceRetries > 0 {
		s += fmt.Sprintf(", %d nonce retr%s", c.NonceRetries, map[bool]string{true: "y", false: "ies"}[c.NonceRetries == 1])
	}
	return s
}

// Lifetime is the measurement for one access-token lifetime: Requests
// authenticated calls, one every TTL/30, over Span.
type Lifetime struct {
	TTL, Span time.Duration
	// Requests is the number of calls made; Sent is what was sent for
	// them, refreshes included.
	Requests int
	Sent     Counts
	// Refreshes is the number of refresh_token grants; TokenRequests the
	// number of token requests (more would mean a retried refresh).
	Refreshes, TokenRequests int
	// PerRefresh is what one refresh costs, on average (Sent minus the
	// calls, divided by Refreshes).
	PerRefresh float64
	// Used is the share of its lifetime an access token served before it
	// was refreshed, on average over the refreshed tokens.
	Used float64
}

// Report is one run of every measurement.
type Report struct {
	// ColdStart and ColdCallback are the first login of a process: no
	// cache, no nonce; WarmStart and WarmCallback a second login.
	ColdStart, ColdCallback, WarmStart, WarmCallback Counts
	// FirstCall is the first authenticated call of a session (the PDS's
	// nonce is not known yet); Steady is 100 calls after it.
	FirstCall, Steady Counts
	SteadyCalls       int
	Lifetimes         []Lifetime
}

// clock is the fake time shared by the client and the network.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// counter counts requests by kind, client side.
type counter struct {
	next     http.RoundTripper
	as, pds  string // origins
	mu       sync.Mutex
	byKind   map[string]int
	requests int
	retries  int
}

func (c *counter) RoundTrip(req *http.Request) (*http.Response, error) {
	kind := "other"
	origin := req.URL.Scheme + "://" + req.URL.Host
	p := req.URL.Path
	switch {
	case origin == c.as && p == "/.well-known/oauth-authorization-server":
		kind = "as-metadata"
	case origin == c.as && strings.HasPrefix(p, "/oauth/"):
		kind = strings.TrimPrefix(p, "/oauth/")
	case origin == c.pds && p == "/.well-known/oauth-protected-resource":
		kind = "resource-metadata"
	case origin == c.pds && p == "/xrpc/com.atproto.identity.resolveHandle":
		kind = "handle"
	case origin == c.pds && strings.HasPrefix(p, "/xrpc/"):
		kind = "xrpc"
	case origin != c.as && origin != c.pds:
		kind = "plc"
	}
	resp, err := c.next.RoundTrip(req)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.requests++
	c.byKind[kind]++
	if err == nil && kind != "revoke" && isNonceChallenge(resp) {
		c.retries++
	}
	return resp, err
}

// isNonceChallenge tells a use_dpop_nonce answer: 401 with the DPoP
// challenge (a resource server) or 400 {"error":"use_dpop_nonce"} (an
// authorization server; the body is read and put back).
func isNonceChallenge(resp *http.Response) bool {
	switch resp.StatusCode {
	case http.StatusUnauthorized:
		return strings.Contains(resp.Header.Get("WWW-Authenticate"), "use_dpop_nonce")
	case http.StatusBadRequest:
		body, err := safehttp.ReadBody(resp, 64<<10)
		resp.Body.Close()
		resp.Body = http.NoBody
		if err == nil {
			resp.Body = bodyOf(body)
		}
		var e struct{ Error string }
		return json.Unmarshal(body, &e) == nil && e.Error == "use_dpop_nonce"
	}
	return false
}

func bodyOf(b []byte) *readCloser { return &readCloser{bytes.NewReader(b)} }

type readCloser struct{ *bytes.Reader }

func (readCloser) Close() error { return nil }

// snapshot returns the counts since the previous snapshot.
func (c *counter) snapshot() Counts {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := Counts{Requests: c.requests, ByKind: c.byKind, NonceRetries: c.retries}
	c.requests, c.retries, c.byKind = 0, 0, map[string]int{}
	return out
}

// rig is a network, a client counting its requests, and one account.
type rig struct {
	net    *atoauthtest.Network
	client *atoauth.Client
	count  *counter
	clk    *clock
	alice  syntax.DID
}

func newRig(ttl time.Duration) (*rig, error) {
	clk := &clock{now: time.Now()}
	n := atoauthtest.Start(atoauthtest.Options{Clock: clk.Now, AccessTokenTTL: ttl})
	r := &rig{net: n, clk: clk, alice: n.CreateAccount("alice.test")}
	cfg := n.ClientConfig("atproto transition:generic")
	cfg.Clock = clk.Now
	hc := safehttp.NewClient(safehttp.Options{AllowInsecureDevelopment: true})
	r.count = &counter{next: hc.Transport, as: n.AS.URL, pds: n.PDS.URL, byKind: map[string]int{}}
	hc.Transport = r.count
	cfg.HTTPClient = hc
	c, err := atoauth.NewClient(cfg)
	if err != nil {
		n.Close()
		return nil, err
	}
	r.client = c
	return r, nil
}

// login signs alice in and returns the counts of Start and Callback.
func (r *rig) login(ctx context.Context) (*atoauth.Session, Counts, Counts, error) {
	r.count.snapshot()
	auth, err := r.client.Start(ctx, "alice.test", nil)
	if err != nil {
		return nil, Counts{}, Counts{}, err
	}
	start := r.count.snapshot()
	redirect, err := r.net.Approve(ctx, auth.URL, r.alice)
	if err != nil {
		return nil, Counts{}, Counts{}, err
	}
	s, err := r.client.Callback(ctx, redirect.Query(), &atoauth.CallbackOptions{State: auth.State})
	if err != nil {
		return nil, Counts{}, Counts{}, err
	}
	return s, start, r.count.snapshot(), nil
}

// call makes one authenticated call.
func call(ctx context.Context, s *atoauth.Session) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.PDS()+"/xrpc/com.atproto.server.getSession", nil)
	if err != nil {
		return err
	}
	resp, err := s.HTTPClient().Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("getSession: HTTP %d", resp.StatusCode)
	}
	return nil
}

// Measure runs every measurement, with the lifetimes given.
func Measure(ctx context.Context, ttls ...time.Duration) (*Report, error) {
	rep := &Report{}
	r, err := newRig(time.Hour)
	if err != nil {
		return nil, err
	}
	defer r.net.Close()
	if _, rep.ColdStart, rep.ColdCallback, err = r.login(ctx); err != nil {
		return nil, err
	}
	s, ws, wc, err := r.login(ctx)
	if err != nil {
		return nil, err
	}
	rep.WarmStart, rep.WarmCallback = ws, wc
	if err := call(ctx, s); err != nil {
		return nil, err
	}
	rep.FirstCall = r.count.snapshot()
	rep.SteadyCalls = 100
	for range rep.SteadyCalls {
		if err := call(ctx, s); err != nil {
			return nil, err
		}
		r.clk.Add(time.Second)
	}
	rep.Steady = r.count.snapshot()

	for _, ttl := range ttls {
		lt, err := measureLifetime(ctx, ttl)
		if err != nil {
			return nil, fmt.Errorf("%s tokens: %w", ttl, err)
		}
		rep.Lifetimes = append(rep.Lifetimes, *lt)
	}
	return rep, nil
}

// measureLifetime makes a call every ttl/30 for ten lifetimes.
func measureLifetime(ctx context.Context, ttl time.Duration) (*Lifetime, error) {
	r, err := newRig(ttl)
	if err != nil {
		return nil, err
	}
	defer r.net.Close()
	s, _, _, err := r.login(ctx)
	if err != nil {
		return nil, err
	}
	if err := call(ctx, s); err != nil { // learns the PDS's nonce
		return nil, err
	}
	r.count.snapshot()
	before := r.net.Counters()
	lt := &Lifetime{TTL: ttl, Span: 10 * ttl}
	every := ttl / 30
	issued := s.Info().UpdatedAt
	var served time.Duration
	for elapsed := time.Duration(0); elapsed < lt.Span; elapsed += every {
		if err := call(ctx, s); err != nil {
			return nil, err
		}
		if at := s.Info().UpdatedAt; !at.Equal(issued) {
			served += at.Sub(issued)
			issued = at
		}
		lt.Requests++
		r.clk.Add(every)
	}
	after := r.net.Counters()
	lt.Sent = r.count.snapshot()
	lt.Refreshes = after.Refreshes - before.Refreshes
	lt.TokenRequests = after.TokenRequests - before.TokenRequests
	if lt.Refreshes > 0 {
		lt.PerRefresh = float64(lt.Sent.Requests-lt.Requests) / float64(lt.Refreshes)
	}
	if lt.Refreshes > 0 {
		lt.Used = float64(served) / float64(lt.Refreshes) / float64(ttl)
	}
	return lt, nil
}

// perRefresh names what the refreshes sent, per refresh.
func perRefresh(lt Lifetime) string {
	var parts []string
	for k, n := range lt.Sent.ByKind {
		if k == "xrpc" || lt.Refreshes == 0 {
			continue
		}
		parts = append(parts, fmt.Sprintf("%s %.1f", k, float64(n)/float64(lt.Refreshes)))
	}
	slices.Sort(parts)
	return strings.Join(parts, ", ")
}

// Markdown formats the report as the README's tables.
func (rep *Report) Markdown() string {
	var b strings.Builder
	b.WriteString("| step | HTTP requests sent |\n| --- | --- |\n")
	row := func(name string, c Counts) { fmt.Fprintf(&b, "| %s | %s |\n", name, c) }
	row("login, first in the process: `Start`", rep.ColdStart)
	row("login, first in the process: `Callback`", rep.ColdCallback)
	row("login, later: `Start`", rep.WarmStart)
	row("login, later: `Callback`", rep.WarmCallback)
	row("first authenticated call of a session", rep.FirstCall)
	row(fmt.Sprintf("%d authenticated calls after it", rep.SteadyCalls), rep.Steady)
	b.WriteString("\n| token lifetime | calls (one every lifetime/30, for 10 lifetimes) | refreshes | token requests | requests per refresh | share of its life a token serves | nonce retries |\n| --- | --- | --- | --- | --- | --- | --- |\n")
	for _, lt := range rep.Lifetimes {
		fmt.Fprintf(&b, "| %s | %d | %d | %d | %.1f: %s | %.0f %% | %d |\n", lt.TTL, lt.Requests, lt.Refreshes, lt.TokenRequests, lt.PerRefresh, perRefresh(lt), 100*lt.Used, lt.Sent.NonceRetries)
	}
	return b.String()
}
