package metrics_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/atoauth/atoauth"
	"github.com/atoauth/atoauth/atoauthtest"
	"github.com/atoauth/atoauth/discovery"
	"github.com/atoauth/atoauth/internal/metrics"
	"github.com/atoauth/atoauth/safehttp"
)

func scrape(t *testing.T, m *metrics.Metrics) string {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("scrape: %d", rec.Code)
	}
	return rec.Body.String()
}

// A sign-in and a few calls on the fake network, scraped: every counter
// moves, and no label holds a DID, a handle, a host or a method name.
func TestScrapeAfterSignInAndCalls(t *testing.T) {
	ctx := context.Background()
	m := metrics.New()
	n := atoauthtest.NewNetwork(t, atoauthtest.Options{})
	alice := n.CreateAccount("alice.test")
	cfg := n.ClientConfig("atproto transition:generic")
	hc := safehttp.NewClient(safehttp.Options{AllowInsecureDevelopment: true})
	hc.Transport = m.XRPC(hc.Transport)
	cfg.HTTPClient, cfg.Observer = hc, m.Observer()
	client, err := atoauth.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	s, err := n.Login(ctx, client, alice)
	if err != nil {
		t.Fatal(err)
	}
	for _, nsid := range []string{"com.atproto.server.getSession", "com.atproto.server.getSession", "app.bsky.actor.getProfile?actor=alice.test", "com.example.nothing"} {
		resp, err := s.HTTPClient().Get(s.PDS() + "/xrpc/" + nsid)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	if err := s.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	gw := m.Gateway("session", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusUnauthorized) }))
	gw.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/api/session", nil))

	body := scrape(t, m)
	for _, want := range []string{
		`atoauth_logins_total{outcome="ok",stage="start"} 1`,
		`atoauth_logins_total{outcome="ok",stage="callback"} 1`,
		`atoauth_refreshes_total{outcome="refreshed"} 1`,
		`atoauth_refresh_duration_seconds_count 1`,
		`atoauth_refresh_lock_wait_seconds_count 1`,
		`atoauth_dpop_nonce_challenges_total{server="authorization_server"} 1`,
		`atoauth_dpop_nonce_challenges_total{server="pds"} 1`,
		`atoauth_xrpc_requests_total{family="app.bsky",status="2xx"} 1`,
		`atoauth_xrpc_requests_total{family="other",status="5xx"} 1`,
		`atoauth_gateway_requests_total{route="session",status="4xx"} 1`,
		`go_goroutines `,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the scrape lacks %s", want)
		}
	}
	// com.atproto: 2 getSession + the identity check's own calls, with the
	// nonce retry counted as an attempt.
	if !strings.Contains(body, `atoauth_xrpc_requests_total{family="com.atproto",status="2xx"}`) {
		t.Error("no com.atproto calls counted")
	}
	for _, secret := range []string{alice.String(), "alice.test", n.PDS.URL, "getSession", "getProfile"} {
		if strings.Contains(body, secret) {
			t.Errorf("the scrape shows %q", secret)
		}
	}
}

func TestLoginOutcome(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{nil, "ok"},
		{&atoauth.CallbackError{Code: "access_denied"}, "denied"},
		{&atoauth.CallbackError{Code: "server_error"}, "server"},
		{fmt.Errorf("%w: too late", atoauth.ErrInvalidState), "invalid_state"},
		{fmt.Errorf("x: %w", discovery.ErrInvalidIdentifier), "invalid_request"},
		{atoauth.ErrInvalidStartOptions, "invalid_request"},
		{discovery.ErrAccountNotFound, "account_not_found"},
		{atoauth.ErrCallbackIssuer, "identity"},
		{atoauth.ErrIdentityMismatch, "identity"},
		{&atoauth.OAuthError{Code: "invalid_request"}, "server"},
		{errors.New("boom"), "other"},
	} {
		if got := metrics.LoginOutcome(tc.err); got != tc.want {
			t.Errorf("LoginOutcome(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
}

func TestFamilyAndStatusClass(t *testing.T) {
	for nsid, want := range map[string]string{
		"com.atproto.repo.createRecord": "com.atproto",
		"app.bsky.feed.getTimeline":     "app.bsky",
		"chat.bsky.convo.listConvos":    "chat.bsky",
		"tools.ozone.moderation.x":      "tools.ozone",
		"com.atprotox.evil":             "other",
		"app.bsky":                      "other",
		"did:plc:abc":                   "other",
		"":                              "other",
	} {
		if got := metrics.Family(nsid); got != want {
			t.Errorf("Family(%q) = %q, want %q", nsid, got, want)
		}
	}
	for code, want := range map[int]string{200: "2xx", 204: "2xx", 302: "3xx", 404: "4xx", 503: "5xx", 0: "other", 999: "other", 100: "other"} {
		if got := metrics.StatusClass(code); got != want {
			t.Errorf("StatusClass(%d) = %q, want %q", code, got, want)
		}
	}
}
