package roundtrips

import (
	"context"
	"testing"
	"time"
)

// The round-trip targets of issue 11, on the fake network: a call costs
// exactly one request once the PDS's nonce is known; each access token is
// refreshed once, late in its life, by one token request; no nonce is
// asked for again once known.
func TestRoundTrips(t *testing.T) {
	rep, err := Measure(context.Background(), 20*time.Second, 5*time.Minute, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("\n%s", rep.Markdown())

	if rep.Steady.Requests != rep.SteadyCalls || rep.Steady.NonceRetries != 0 {
		t.Errorf("%d calls in steady state sent %s, want exactly %d and no nonce challenge", rep.SteadyCalls, rep.Steady, rep.SteadyCalls)
	}
	if rep.FirstCall.Requests > 2 || rep.FirstCall.ByKind["xrpc"] != rep.FirstCall.Requests {
		t.Errorf("first call sent %s, want the call (and one nonce retry)", rep.FirstCall)
	}
	// A later login knows the metadata and the nonces: no metadata fetch,
	// no nonce challenge.
	for name, c := range map[string]Counts{"Start": rep.WarmStart, "Callback": rep.WarmCallback} {
		if c.NonceRetries != 0 || c.ByKind["as-metadata"] != 0 || c.ByKind["resource-metadata"] != 0 {
			t.Errorf("second login, %s sent %s", name, c)
		}
	}
	for _, lt := range rep.Lifetimes {
		// Ten lifetimes: each token serves 69-97 % of its life (the margin
		// is the smaller of 2 minutes and a quarter of the life, plus up to
		// a quarter of that as jitter), so 10 to 14 refreshes; each
		// refresh is one token request.
		if lt.Refreshes < 10 || lt.Refreshes > 14 || lt.TokenRequests != lt.Refreshes {
			t.Errorf("%s tokens: %d refreshes, %d token requests over %s", lt.TTL, lt.Refreshes, lt.TokenRequests, lt.Span)
		}
		if lt.Sent.ByKind["xrpc"] != lt.Requests || lt.Sent.NonceRetries != 0 {
			t.Errorf("%s tokens: %d calls sent %s: a call was retried", lt.TTL, lt.Requests, lt.Sent)
		}
		// The nonce probe before a refresh is one request, when needed.
		if lt.Sent.ByKind["revoke"] > lt.Refreshes {
			t.Errorf("%s tokens: %d revocations (nonce probes) for %d refreshes", lt.TTL, lt.Sent.ByKind["revoke"], lt.Refreshes)
		}
		if lt.Used < 0.68 {
			t.Errorf("%s tokens serve %.0f %% of their life", lt.TTL, 100*lt.Used)
		}
	}
}
