package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/atoauth/atoauth/atoauthtest"
	"github.com/atoauth/atoauth/internal/pgtest"
)

// TestServeFleetSharesNoncesSQLite runs two `atoauth serve` processes on
// one SQLite file: see testServeFleetSharesNonces.
func TestServeFleetSharesNoncesSQLite(t *testing.T) {
	testServeFleetSharesNonces(t, filepath.Join(t.TempDir(), "atoauth.db"))
}

// TestServeFleetSharesNoncesPostgreSQL is the same on one PostgreSQL
// store.
func TestServeFleetSharesNoncesPostgreSQL(t *testing.T) {
	testServeFleetSharesNonces(t, pgtest.Schema(t))
}

// testServeFleetSharesNonces signs alice in through instance A of a
// two-process fleet on store, then loads her home page 100 times, turn
// about on A and B (each view makes authenticated PDS requests), against
// the fake network's default nonce rotation (a new nonce on every
// response). Only A's first page view meets PDS nonce challenges (one
// per request it starts at once): B takes the nonce A stored, with no
// flag, where without the shared store it would pay its own (see
// TestFleetNonceChallenges in the root package for the comparison).
func testServeFleetSharesNonces(t *testing.T, store string) {
	n := atoauthtest.NewNetwork(t, atoauthtest.Options{})
	alice := n.CreateAccount("alice.test")
	common := []string{"--store", store, "--insecure-dev", "--plc-url", n.PLC.URL, "--handle-resolver", n.PDS.URL}
	a, metricsA := startServeWithMetrics(t, append(common, "--metrics-addr", "127.0.0.1:0")...)
	b := startServe(t, common...)

	jar, _ := cookiejar.New(nil) // cookies are per host, not port: A and B share them
	browser := &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	before := n.Counters()
	resp, err := browser.PostForm(a+"/login", url.Values{"identifier": {"alice.test"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	redirect, err := n.Approve(context.Background(), resp.Header.Get("Location"), alice)
	if err != nil {
		t.Fatal(err)
	}
	resp, err = browser.Get(redirect.String())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("callback on A: HTTP %d", resp.StatusCode)
	}
	signedIn := n.Counters()
	var first atoauthtest.Counters // after A's first page view
	for i := range 100 {
		base := []string{a, b}[i%2]
		resp, err := browser.Get(base + "/")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(body), alice.String()) {
			t.Fatalf("page view %d on %s: HTTP %d", i, base, resp.StatusCode)
		}
		if i == 0 {
			first = n.Counters()
		}
	}
	after := n.Counters()
	onA := first.PDSNonceChallenges - signedIn.PDSNonceChallenges
	rest := after.PDSNonceChallenges - first.PDSNonceChallenges
	as := after.ASNonceChallenges - before.ASNonceChallenges
	t.Logf("2 serve processes, sign-in on A + 100 page views turn about (%d authenticated PDS requests): PDS nonce challenges for the fleet: %d at A's first page view (its requests start at once, none holding a nonce yet), %d in the 99 views after, B's first included; AS: %d, at sign-in",
		after.PDSAuthenticated-signedIn.PDSAuthenticated, onA, rest, as)
	if after.PDSAuthenticated-signedIn.PDSAuthenticated < 100 {
		t.Fatal("fewer authenticated PDS requests than page views: the test proves nothing")
	}
	if onA < 1 || rest != 0 {
		t.Errorf("PDS nonce challenges: %d at A's first page view, %d after; want B to use the nonce A stored (0 after)", onA, rest)
	}
	if as != 1 {
		t.Errorf("%d AS nonce challenges, want 1 (the sign-in's PAR)", as)
	}

	// A's metrics tell the same story: one sign-in, the nonce challenges
	// it met, its XRPC calls; and no label names the account.
	resp, err = http.Get(metricsA)
	if err != nil {
		t.Fatal(err)
	}
	scraped, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`atoauth_logins_total{outcome="ok",stage="start"} 1`,
		`atoauth_logins_total{outcome="ok",stage="callback"} 1`,
		`atoauth_dpop_nonce_challenges_total{server="authorization_server"} 1`,
		fmt.Sprintf(`atoauth_dpop_nonce_challenges_total{server="pds"} %d`, onA),
		`atoauth_xrpc_requests_total{family="com.atproto",status="2xx"}`,
	} {
		if !strings.Contains(string(scraped), want) {
			t.Errorf("A's /metrics lacks %s", want)
		}
	}
	if strings.Contains(string(scraped), alice.String()) || strings.Contains(string(scraped), "alice.test") {
		t.Error("A's /metrics names the account")
	}
}
