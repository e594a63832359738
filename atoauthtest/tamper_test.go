package atoauthtest_test

import (
	"context"
	"crypto/ecdsa"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/atoauth/atoauth/atoauthtest"
	"github.com/bluesky-social/indigo/atproto/syntax"
	jose "github.com/go-jose/go-jose/v4"
)

func TestTamperMetadata(t *testing.T) {
	n := newNet(t)
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(u string) (*http.Response, []byte) {
		t.Helper()
		res, err := noFollow.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res, b
	}
	asURL := n.Issuer() + "/.well-known/oauth-authorization-server"
	rmURL := n.PDS.URL + "/.well-known/oauth-protected-resource"

	n.SetTamper(atoauthtest.Tamper{RedirectMetadata: true})
	for _, u := range []string{asURL, rmURL} {
		if res, _ := get(u); res.StatusCode != http.StatusFound || res.Header.Get("Location") == "" {
			t.Errorf("%s: %d, want 302", u, res.StatusCode)
		}
	}
	n.SetTamper(atoauthtest.Tamper{OversizeMetadata: true, MetadataContentType: "text/html", MetadataStatus: 203})
	for _, u := range []string{asURL, rmURL} {
		res, b := get(u)
		if len(b) <= 1<<20 || res.Header.Get("Content-Type") != "text/html" || res.StatusCode != 203 {
			t.Errorf("%s: %d bytes, %q, %d", u, len(b), res.Header.Get("Content-Type"), res.StatusCode)
		}
	}
	n.SetTamper(atoauthtest.Tamper{
		ASMetadata:       func(m map[string]any) { m["issuer"] = "http://evil.example" },
		ResourceMetadata: func(m map[string]any) { m["authorization_servers"] = []any{"http://a.example", "http://b.example"} },
	})
	if m := getJSON(t, asURL); m["issuer"] != "http://evil.example" {
		t.Errorf("issuer %v", m["issuer"])
	}
	if m := getJSON(t, rmURL); len(m["authorization_servers"].([]any)) != 2 {
		t.Errorf("authorization_servers %v", m["authorization_servers"])
	}
}

func TestTamperIdentity(t *testing.T) {
	n := newNet(t)
	alice := n.CreateAccount("alice.test")
	bob := n.CreateAccount("bob.test")
	n.SetTamper(atoauthtest.Tamper{
		DIDDocument: func(did syntax.DID, doc map[string]any) { doc["alsoKnownAs"] = []any{"at://someone.else"} },
		ResolveHandle: func(h syntax.Handle, did syntax.DID) syntax.DID {
			if h == "alice.test" {
				return bob
			}
			return did
		},
	})
	if doc := getJSON(t, n.PLC.URL+"/"+alice.String()); doc["alsoKnownAs"].([]any)[0] != "at://someone.else" {
		t.Errorf("alsoKnownAs %v", doc["alsoKnownAs"])
	}
	if m := getJSON(t, n.PDS.URL+"/xrpc/com.atproto.identity.resolveHandle?handle=alice.test"); m["did"] != bob.String() {
		t.Errorf("resolveHandle: %v", m)
	}
	res, err := http.Get(n.PLC.URL + "/did:plc:unknownunknownunknown")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusNotFound {
		t.Errorf("unknown DID: %d", res.StatusCode)
	}
}

func TestTamperNonces(t *testing.T) {
	n := newNet(t)
	nonce := func() string {
		res, err := http.Get(n.PDS.URL + "/.well-known/oauth-protected-resource")
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.Header.Get("DPoP-Nonce")
	}
	if a, b := nonce(), nonce(); a == "" || a == b {
		t.Errorf("nonce did not rotate: %q %q", a, b)
	}
	n.SetTamper(atoauthtest.Tamper{NoNonceRotation: true})
	if a, b := nonce(), nonce(); a == "" || a != b {
		t.Errorf("frozen nonce changed: %q %q", a, b)
	}
	n.SetTamper(atoauthtest.Tamper{OmitDPoPNonce: true})
	if a := nonce(); a != "" {
		t.Errorf("DPoP-Nonce %q sent", a)
	}
}

func TestTamperTokenResponse(t *testing.T) {
	n := newNet(t)
	did := n.CreateAccount("alice.test")
	c := newLoopbackClient(t, n, "atproto")
	n.SetTamper(atoauthtest.Tamper{
		TokenResponse:   func(m map[string]any) { m["token_type"] = "Bearer"; delete(m, "scope") },
		RevokeNoContent: true,
	})
	ar := c.newAuthRequest("atproto")
	r := c.exchange(ar, c.authorize(ar, did), nil)
	if r.status != http.StatusOK || r.str("token_type") != "Bearer" || r.body["scope"] != nil {
		t.Fatalf("token response %s", r.raw)
	}
	if r := c.revoke(r.str("access_token")); r.status != http.StatusNoContent {
		t.Fatalf("revoke: %d", r.status)
	}
}

func TestTokenDelayMintsAnyway(t *testing.T) {
	n := newNet(t)
	did := n.CreateAccount("alice.test")
	c := newLoopbackClient(t, n, "atproto")
	tok := c.login("atproto", did)
	// The client gives up as soon as the tokens are minted, during the
	// delay.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	n.SetTamper(atoauthtest.Tamper{TokenDelay: time.Hour, TokenResponse: func(map[string]any) { cancel() }})

	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.refresh}, "client_id": {c.clientID}}
	hr, _ := http.NewRequest(http.MethodPost, n.Issuer()+"/oauth/token", strings.NewReader(form.Encode()))
	hr.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	hr.Header.Set("DPoP", c.proofFor(req{method: http.MethodPost, url: n.Issuer() + "/oauth/token"}))
	if _, err := c.hc.Do(hr.WithContext(ctx)); !errors.Is(err, context.Canceled) {
		t.Fatalf("request: err = %v, want it cancelled during the delay", err)
	}
	// The server had already consumed the refresh token.
	if n.RefreshTokenValid(tok.refresh) || n.Counters().Refreshes != 1 {
		t.Fatalf("refresh not minted: %+v", n.Counters())
	}
}

// confidentialSetup serves the metadata of a confidential client on a
// ClientHost with two keys, k1 and k2.
func confidentialSetup(t *testing.T) (*atoauthtest.Network, *atoauthtest.ClientHost, *testClient, map[string]*ecdsa.PrivateKey, func(keys ...string) map[string]any) {
	host := atoauthtest.NewClientHost(t)
	n := atoauthtest.NewNetwork(t, atoauthtest.Options{ClientHTTPClient: host.HTTPClient()})
	keys := map[string]*ecdsa.PrivateKey{"k1": newKey(t), "k2": newKey(t)}
	clientID := atoauthtest.ClientHostURL + "/client-metadata.json"
	doc := func(kids ...string) map[string]any {
		set := jose.JSONWebKeySet{}
		for _, kid := range kids {
			set.Keys = append(set.Keys, jose.JSONWebKey{Key: keys[kid].Public(), KeyID: kid, Algorithm: "ES256", Use: "sig"})
		}
		return map[string]any{
			"client_id":                       clientID,
			"application_type":                "web",
			"grant_types":                     []string{"authorization_code", "refresh_token"},
			"response_types":                  []string{"code"},
			"redirect_uris":                   []string{atoauthtest.ClientHostURL + "/callback"},
			"scope":                           "atproto transition:generic",
			"dpop_bound_access_tokens":        true,
			"token_endpoint_auth_method":      "private_key_jwt",
			"token_endpoint_auth_signing_alg": "ES256",
			"jwks":                            set,
		}
	}
	host.ServeJSON("/client-metadata.json", doc("k1", "k2"))
	c := newLoopbackClient(t, n, "")
	c.clientID = clientID
	c.redirect = atoauthtest.ClientHostURL + "/callback"
	c.assertKey, c.kid = keys["k1"], "k1"
	return n, host, c, keys, doc
}

func TestConfidentialClient(t *testing.T) {
	n, host, c, keys, doc := confidentialSetup(t)
	did := n.CreateAccount("alice.test")

	t.Run("assertion checks", func(t *testing.T) {
		tests := []struct {
			name string
			edit func(f url.Values)
		}{
			{"missing assertion", func(f url.Values) { delete(f, "client_assertion"); delete(f, "client_assertion_type") }},
			{"wrong aud", func(f url.Values) {
				f["client_assertion"] = []string{c.assertion(func(m map[string]any) { m["aud"] = n.PDS.URL })}
			}},
			{"expired", func(f url.Values) {
				f["client_assertion"] = []string{c.assertion(func(m map[string]any) { m["exp"] = time.Now().Add(-time.Second).Unix() })}
			}},
			{"long-lived", func(f url.Values) {
				f["client_assertion"] = []string{c.assertion(func(m map[string]any) { m["exp"] = time.Now().Add(time.Hour).Unix() })}
			}},
			{"iss not client_id", func(f url.Values) {
				f["client_assertion"] = []string{c.assertion(func(m map[string]any) { m["iss"] = "https://other.example.com/x" })}
			}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				ar := c.newAuthRequest("atproto")
				tt.edit(ar.form)
				wantOAuthError(t, c.par(ar), "invalid_client")
			})
		}
		t.Run("replayed jti", func(t *testing.T) {
			ar := c.newAuthRequest("atproto")
			if r := c.par(ar); r.status != http.StatusCreated {
				t.Fatalf("PAR: %d %s", r.status, r.raw)
			}
			ar2 := c.newAuthRequest("atproto")
			ar2.form.Set("client_assertion", ar.form.Get("client_assertion"))
			wantOAuthError(t, c.par(ar2), "invalid_client")
		})
		t.Run("unknown kid", func(t *testing.T) {
			c2 := c.clone()
			c2.kid = "k3"
			ar := c2.newAuthRequest("atproto")
			wantOAuthError(t, c2.par(ar), "invalid_client")
		})
	})

	t.Run("session bound to kid", func(t *testing.T) {
		tok := c.login("atproto transition:generic", did)
		tok = toTokens(t, c.refresh(tok.refresh, nil))
		c2 := c.clone()
		c2.assertKey, c2.kid = keys["k2"], "k2"
		wantOAuthError(t, c2.refresh(tok.refresh, nil), "invalid_grant")
	})
	t.Run("key removed from JWKS", func(t *testing.T) {
		tok := c.login("atproto", did)
		host.ServeJSON("/client-metadata.json", doc("k2"))
		defer host.ServeJSON("/client-metadata.json", doc("k1", "k2"))
		wantOAuthError(t, c.refresh(tok.refresh, nil), "invalid_client")
	})
	t.Run("public client cannot use the session", func(t *testing.T) {
		tok := c.login("atproto", did)
		c2 := c.clone()
		c2.assertKey = nil
		wantOAuthError(t, c2.refresh(tok.refresh, nil), "invalid_client")
	})
}

func TestClientMetadataValidation(t *testing.T) {
	n, host, c, _, doc := confidentialSetup(t)
	tests := []struct {
		name string
		edit func(m map[string]any)
	}{
		{"client_id mismatch", func(m map[string]any) { m["client_id"] = atoauthtest.ClientHostURL + "/other.json" }},
		{"dpop_bound_access_tokens false", func(m map[string]any) { m["dpop_bound_access_tokens"] = false }},
		{"no atproto scope", func(m map[string]any) { m["scope"] = "transition:generic" }},
		{"implicit grant", func(m map[string]any) { m["grant_types"] = []string{"authorization_code", "implicit"} }},
		{"no response_types", func(m map[string]any) { delete(m, "response_types") }},
		{"redirect on another host", func(m map[string]any) { m["redirect_uris"] = []string{"https://elsewhere.example.com/callback"} }},
		{"http redirect", func(m map[string]any) { m["redirect_uris"] = []string{"http://client.example.com/callback"} }},
		{"loopback redirect for web", func(m map[string]any) { m["redirect_uris"] = []string{"http://127.0.0.1/callback"} }},
		{"custom scheme for web", func(m map[string]any) { m["redirect_uris"] = []string{"com.example.client:/callback"} }},
		{"native custom scheme with //", func(m map[string]any) {
			m["application_type"] = "native"
			m["redirect_uris"] = []string{"com.example.client://callback"}
		}},
		{"native wrong scheme", func(m map[string]any) {
			m["application_type"] = "native"
			m["redirect_uris"] = []string{"com.example.other:/callback"}
		}},
		{"no auth method", func(m map[string]any) { delete(m, "token_endpoint_auth_method") }},
		{"private_key_jwt without keys", func(m map[string]any) { delete(m, "jwks") }},
		{"jwks and jwks_uri", func(m map[string]any) { m["jwks_uri"] = atoauthtest.ClientHostURL + "/jwks.json" }},
		{"key without kid", func(m map[string]any) {
			m["jwks"] = jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: newKey(t).Public()}}}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := doc("k1")
			tt.edit(m)
			host.ServeJSON("/client-metadata.json", m)
			wantOAuthError(t, c.par(c.newAuthRequest("atproto")), "invalid_client")
		})
	}
	t.Run("native custom scheme", func(t *testing.T) {
		m := doc("k1")
		m["application_type"] = "native"
		m["redirect_uris"] = []string{"com.example.client:/callback"}
		host.ServeJSON("/client-metadata.json", m)
		c2 := c.clone()
		c2.redirect = "com.example.client:/callback"
		did := n.CreateAccount("native.test")
		ar := c2.newAuthRequest("atproto")
		r := c2.par(ar)
		if r.status != http.StatusCreated {
			t.Fatalf("PAR: %d %s", r.status, r.raw)
		}
		cb, err := n.Approve(context.Background(), c2.authorizeURL(r.str("request_uri")), did)
		if err != nil || !strings.HasPrefix(cb.String(), "com.example.client:/callback?") {
			t.Fatalf("callback %v, %v", cb, err)
		}
	})
	t.Run("jwks_uri", func(t *testing.T) {
		m := doc("k1")
		jwks := m["jwks"]
		delete(m, "jwks")
		m["jwks_uri"] = host.ServeJSON("/jwks.json", jwks)
		host.ServeJSON("/client-metadata.json", m)
		if r := c.par(c.newAuthRequest("atproto")); r.status != http.StatusCreated {
			t.Fatalf("PAR: %d %s", r.status, r.raw)
		}
	})
	t.Run("not JSON", func(t *testing.T) {
		host.Handle("/client-metadata.json", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain")
			_, _ = io.WriteString(w, "{}")
		}))
		wantOAuthError(t, c.par(c.newAuthRequest("atproto")), "invalid_client")
	})
	t.Run("redirect", func(t *testing.T) {
		host.Handle("/client-metadata.json", http.RedirectHandler("/moved.json", http.StatusFound))
		host.ServeJSON("/moved.json", doc("k1"))
		wantOAuthError(t, c.par(c.newAuthRequest("atproto")), "invalid_client")
	})
}
