package atoauthtest_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/atoauth/atoauth/atoauthtest"
)

// TestNonceWindow checks the reference-like rotation: one nonce for a
// whole window, the next window's, accepted until two windows later.
func TestNonceWindow(t *testing.T) {
	clk := atoauthtest.NewClock(time.Now())
	n := atoauthtest.NewNetwork(t, atoauthtest.Options{Clock: clk.Now})
	n.SetTamper(atoauthtest.Tamper{NonceWindow: atoauthtest.ReferenceNonceWindow})
	did := n.CreateAccount("alice.test")
	c := newLoopbackClient(t, n, genericScope)
	tok := c.login(genericScope, did)

	// One second into the next window, by the network's clock.
	w := int64(atoauthtest.ReferenceNonceWindow)
	clk.Advance(time.Unix(0, (clk.Now().UnixNano()/w+1)*w).Add(time.Second).Sub(clk.Now()))
	get := func(nonce string) resp {
		t.Helper()
		return c.do(req{method: http.MethodGet, url: n.PDS.URL + "/xrpc/com.atproto.server.getSession", token: tok.access, noRetry: true,
			claims: func(m map[string]any) { m["iat"] = clk.Now().Unix(); m["nonce"] = nonce }})
	}
	r := get("made-up")
	wantPDSAuthError(t, r, "use_dpop_nonce")
	first := r.header.Get("DPoP-Nonce")
	for _, step := range []struct {
		advance  time.Duration
		nonce    string
		accepted bool
		sent     string // "same" or "new" nonce on the response
	}{
		{0, first, true, "same"},
		{50 * time.Second, first, true, "same"}, // still the window it was first sent in
		{10 * time.Second, first, true, "new"},  // next window: accepted as "now"
		{time.Minute, first, true, "new"},       // two windows later: accepted as "prev"
		{time.Minute, first, false, "new"},      // three windows later: refused
	} {
		clk.Advance(step.advance)
		r := get(step.nonce)
		if step.accepted && r.status != http.StatusOK {
			t.Fatalf("step %+v: HTTP %d %s, want the nonce accepted", step, r.status, r.raw)
		}
		if !step.accepted {
			wantPDSAuthError(t, r, "use_dpop_nonce")
		}
		if got := r.header.Get("DPoP-Nonce"); (got == first) != (step.sent == "same") {
			t.Fatalf("the response carries nonce %q (first %q), want the %s nonce", got, first, step.sent)
		}
	}
	// NoNonceRotation takes precedence: the nonce no longer changes with
	// the window.
	latest := c.nonces[originOf(n.PDS.URL)]
	n.SetTamper(atoauthtest.Tamper{NonceWindow: atoauthtest.ReferenceNonceWindow, NoNonceRotation: true})
	clk.Advance(time.Minute)
	if r := get(latest); r.status != http.StatusOK || r.header.Get("DPoP-Nonce") != latest {
		t.Fatalf("with NoNonceRotation: HTTP %d, nonce %q; want %q kept", r.status, r.header.Get("DPoP-Nonce"), latest)
	}
}
