package atoauth_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/atoauth/atoauth"
	"github.com/atoauth/atoauth/atoauthtest"
	"github.com/atoauth/atoauth/jwk"
)

// One rule for a dead session: every definitive refresh failure deletes
// the session and matches ErrSessionExpired with its cause wrapped; every
// temporary one keeps the session and says so.
func TestRefreshFailureRule(t *testing.T) {
	tokenError := func(a *atoauthtest.ErrorAnswer) func(*env) {
		return func(e *env) {
			e.net.UpdateTamper(func(tp *atoauthtest.Tamper) {
				tp.TokenError = func(grant string) *atoauthtest.ErrorAnswer {
					if grant == "refresh_token" {
						return a
					}
					return nil
				}
			})
		}
	}
	oauthCode := func(code string) func(error) bool {
		return func(err error) bool {
			var oe *atoauth.OAuthError
			return errors.As(err, &oe) && oe.Code == code
		}
	}
	tests := []struct {
		name       string
		break_     func(e *env)
		definitive bool
		cause      func(error) bool // what the error must also match
	}{
		{name: "invalid_grant (revoked)", definitive: true, cause: oauthCode("invalid_grant"),
			break_: func(e *env) { e.net.RevokeAll(e.alice) }},
		{name: "invalid_client", definitive: true, cause: oauthCode("invalid_client"),
			break_: tokenError(&atoauthtest.ErrorAnswer{Status: 401, Code: "invalid_client", Description: "client authentication failed"})},
		{name: "unauthorized_client", definitive: true, cause: oauthCode("unauthorized_client"),
			break_: tokenError(&atoauthtest.ErrorAnswer{Status: 400, Code: "unauthorized_client"})},
		{name: "token for another account", definitive: true,
			cause: func(err error) bool { return errors.Is(err, atoauth.ErrIdentityMismatch) },
			break_: func(e *env) {
				bob := e.net.CreateAccount("bob.test")
				e.net.UpdateTamper(func(tp *atoauthtest.Tamper) {
					tp.TokenResponse = func(m map[string]any) { m["sub"] = bob.String() }
				})
			}},
		{name: "account moved to another authorization server", definitive: true,
			cause: func(err error) bool { return errors.Is(err, atoauth.ErrIdentityMismatch) },
			break_: func(e *env) {
				e.net.UpdateTamper(func(tp *atoauthtest.Tamper) {
					tp.ResourceMetadata = func(m map[string]any) { m["authorization_servers"] = []any{"https://other-issuer.example.com"} }
				})
			}},
		{name: "token response breaks the profile", definitive: true,
			cause: func(err error) bool { return errors.Is(err, atoauth.ErrInvalidTokenResponse) },
			break_: func(e *env) {
				e.net.UpdateTamper(func(tp *atoauthtest.Tamper) {
					tp.TokenResponse = func(m map[string]any) { m["token_type"] = "Bearer" }
				})
			}},

		{name: "HTTP 503 page", break_: tokenError(&atoauthtest.ErrorAnswer{Status: 503})},
		{name: "HTTP 500 server_error", break_: tokenError(&atoauthtest.ErrorAnswer{Status: 500, Code: "server_error"}),
			cause: oauthCode("server_error")},
		{name: "HTTP 429", break_: tokenError(&atoauthtest.ErrorAnswer{Status: 429, Code: "rate_limited"})},
		{name: "nonce asked for again and again", break_: tokenError(&atoauthtest.ErrorAnswer{Status: 400, Code: "use_dpop_nonce"})},
		{name: "connection dropped", break_: func(e *env) {
			next := e.net.AS.Config.Handler
			e.net.AS.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path != "/oauth/token" {
					next.ServeHTTP(w, r)
					return
				}
				conn, _, err := w.(http.Hijacker).Hijack()
				if err == nil {
					conn.Close()
				}
			})
		}, cause: func(err error) bool {
			var ne net.Error
			var oe *atoauth.OAuthError
			return errors.As(err, &ne) || !errors.As(err, &oe)
		}},
		{name: "identity lookup fails", break_: func(e *env) {
			e.net.PLC.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				http.Error(w, "down", http.StatusBadGateway)
			})
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			s := e.login("alice.test")
			tc.break_(e)
			err := s.Refresh(context.Background())
			if err == nil {
				t.Fatal("the refresh succeeded")
			}
			var re *atoauth.RefreshError
			if !errors.As(err, &re) {
				t.Fatalf("err = %v, want a *RefreshError", err)
			}
			if got := errors.Is(err, atoauth.ErrSessionExpired); got != tc.definitive || re.Temporary == tc.definitive {
				t.Fatalf("err = %v: matches ErrSessionExpired %v, Temporary %v; want definitive=%v", err, got, re.Temporary, tc.definitive)
			}
			if tc.cause != nil && !tc.cause(err) {
				t.Fatalf("err = %v does not carry its cause", err)
			}
			_, gerr := e.client.Session(context.Background(), s.ID())
			if tc.definitive {
				if !errors.Is(gerr, atoauth.ErrSessionNotFound) {
					t.Fatalf("a definitive failure left the session in the store (%v)", gerr)
				}
				if !strings.Contains(err.Error(), "sign in again") {
					t.Errorf("message %q does not say what to do", err)
				}
			} else {
				if gerr != nil {
					t.Fatalf("a temporary failure deleted the session: %v", gerr)
				}
				if !strings.Contains(err.Error(), "temporary; the session is kept") {
					t.Errorf("message %q does not say the session is kept", err)
				}
			}
		})
	}
}

// A proactive refresh that fails definitively ends the session for an
// *http.Client user too: the error of Do matches ErrSessionExpired.
func TestProactiveRefreshEndsSessionThroughHTTPClient(t *testing.T) {
	e, clk := newClockedEnv(t, 10*time.Minute)
	s := e.login("alice.test")
	e.net.RevokeAll(e.alice)
	clk.Advance(11 * time.Minute)
	_, _, err := createRecord(context.Background(), s, "hello")
	e.ended(t, s, err)
}

// A PDS that refuses even a freshly refreshed token ends the session
// after one refresh, instead of refreshing on every request.
func TestTokenRejectedAfterRefreshEndsSession(t *testing.T) {
	e := newEnv(t)
	s := e.login("alice.test")
	e.net.UpdateTamper(func(tp *atoauthtest.Tamper) { tp.RejectAccessTokens = true })
	_, _, err := createRecord(context.Background(), s, "hello")
	e.ended(t, s, err)
	if !errors.Is(err, atoauth.ErrTokenRejected) {
		t.Errorf("err = %v does not carry ErrTokenRejected", err)
	}
	// The same handle does not refresh again.
	_, _, err = createRecord(context.Background(), s, "hello")
	if !errors.Is(err, atoauth.ErrSessionExpired) {
		t.Fatalf("second request: %v, want ErrSessionExpired", err)
	}
	if c := e.net.Counters(); c.Refreshes != 1 {
		t.Fatalf("refreshes = %d, want exactly 1", c.Refreshes)
	}
}

// Removing the client key a confidential session is bound to ends it.
func TestRemovedClientKeyDeletesSession(t *testing.T) {
	host := atoauthtest.NewClientHost(t)
	key := mustGenerate(t).WithKeyID("k1")
	clientID := atoauthtest.ClientHostURL + "/oauth-client-metadata.json"
	e := newEnvWith(t, atoauthtest.Options{ClientHTTPClient: host.HTTPClient()}, func(c *atoauth.Config) {
		c.ClientID, c.RedirectURIs, c.Keys = clientID, []string{atoauthtest.ClientHostURL + "/callback"}, []*jwk.Key{key}
	})
	host.Handle("/oauth-client-metadata.json", e.client.MetadataHandler())
	s := e.login("alice.test")
	other, err := atoauth.NewClient(atoauth.Config{
		ClientID: clientID, RedirectURIs: []string{atoauthtest.ClientHostURL + "/callback"},
		Scope: "atproto transition:generic", Keys: []*jwk.Key{mustGenerate(t).WithKeyID("k2")}, Store: e.store,
		PLCURL: e.net.PLC.URL, HandleResolver: e.net.PDS.URL, AllowInsecureDevelopment: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	os, err := other.Session(context.Background(), s.ID())
	if err != nil {
		t.Fatal(err)
	}
	err = os.Refresh(context.Background())
	if !errors.Is(err, atoauth.ErrSessionExpired) || !errors.Is(err, atoauth.ErrClientKeyRemoved) || !strings.Contains(err.Error(), `kid "k1"`) {
		t.Fatalf("err = %v, want ErrSessionExpired naming the key", err)
	}
	if _, err := other.Session(context.Background(), s.ID()); !errors.Is(err, atoauth.ErrSessionNotFound) {
		t.Fatalf("session still stored: %v", err)
	}
	if e.net.Counters().TokenRequests != 1 {
		t.Fatal("a refresh was sent without the bound key")
	}
}
