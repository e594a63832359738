package atoauthtest_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/atoauth/atoauth/atoauthtest"
	"github.com/bluesky-social/indigo/atproto/syntax"
)

const genericScope = "atproto transition:generic"

func newNet(t *testing.T) *atoauthtest.Network {
	return atoauthtest.NewNetwork(t, atoauthtest.Options{})
}

func TestHappyPath(t *testing.T) {
	n := newNet(t)
	did := n.CreateAccount("alice.test")
	c := newLoopbackClient(t, n, genericScope)

	// Identity: handle → DID on the PDS, DID → document on the PLC. The
	// resolveHandle response also hands the client the PDS nonce, so no PDS
	// nonce challenge happens below.
	r := c.xrpc(http.MethodGet, "com.atproto.identity.resolveHandle", url.Values{"handle": {"Alice.Test"}}, nil, "")
	if r.status != http.StatusOK || r.str("did") != did.String() {
		t.Fatalf("resolveHandle: %d %s", r.status, r.raw)
	}
	doc := getJSON(t, n.PLC.URL+"/"+did.String())
	if doc["id"] != did.String() || !strings.Contains(string(mustJSON(doc)), `"serviceEndpoint":"`+n.PDS.URL+`"`) {
		t.Fatalf("DID document: %v", doc)
	}

	tok := c.login(genericScope, did)
	if tok.sub != did.String() || tok.scope != genericScope || tok.refresh == "" {
		t.Fatalf("tokens: %+v", tok)
	}
	r = c.xrpc(http.MethodGet, "com.atproto.server.getSession", nil, nil, tok.access)
	if r.status != http.StatusOK || r.str("did") != did.String() || r.str("handle") != "alice.test" {
		t.Fatalf("getSession: %d %s", r.status, r.raw)
	}
	r = createPost(c, did, tok.access, "hello")
	if r.status != http.StatusOK || !strings.HasPrefix(r.str("uri"), "at://"+did.String()+"/app.bsky.feed.post/") ||
		!strings.HasPrefix(r.str("cid"), "bafyrei") {
		t.Fatalf("createRecord: %d %s", r.status, r.raw)
	}
	uri, err := syntax.ParseATURI(r.str("uri"))
	if err != nil {
		t.Fatal(err)
	}
	r = c.xrpc(http.MethodGet, "com.atproto.repo.getRecord", url.Values{
		"repo": {"alice.test"}, "collection": {"app.bsky.feed.post"}, "rkey": {uri.RecordKey().String()},
	}, nil, "")
	if v, _ := r.body["value"].(map[string]any); r.status != http.StatusOK || v["text"] != "hello" {
		t.Fatalf("getRecord: %d %s", r.status, r.raw)
	}

	// Refresh rotates both tokens; the old access token stops working.
	tok2 := toTokens(t, c.refresh(tok.refresh, nil))
	if tok2.access == tok.access || tok2.refresh == tok.refresh || tok2.sub != did.String() {
		t.Fatalf("refresh did not rotate: %+v", tok2)
	}
	wantPDSAuthError(t, createPost(c, did, tok.access, "stale"), "invalid_token")
	if r := createPost(c, did, tok2.access, "again"); r.status != http.StatusOK {
		t.Fatalf("createRecord after refresh: %d %s", r.status, r.raw)
	}

	// Blobs.
	r = c.do(req{method: http.MethodPost, url: n.PDS.URL + "/xrpc/com.atproto.repo.uploadBlob", raw: []byte("\x89PNG..."), ctype: "image/png", token: tok2.access})
	blob, _ := r.body["blob"].(map[string]any)
	ref, _ := blob["ref"].(map[string]any)
	cid, _ := ref["$link"].(string)
	if r.status != http.StatusOK || blob["$type"] != "blob" || blob["mimeType"] != "image/png" || blob["size"] != float64(7) || !strings.HasPrefix(cid, "bafkrei") {
		t.Fatalf("uploadBlob: %d %s", r.status, r.raw)
	}
	res, err := http.Get(n.PDS.URL + "/xrpc/com.atproto.sync.getBlob?" + url.Values{"did": {did.String()}, "cid": {cid}}.Encode())
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "image/png" {
		t.Fatalf("getBlob: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}

	// Revocation ends the session: both tokens die.
	if r := c.revoke(tok2.refresh); r.status != http.StatusOK {
		t.Fatalf("revoke: %d %s", r.status, r.raw)
	}
	if n.AccessTokenValid(tok2.access) || n.RefreshTokenValid(tok2.refresh) {
		t.Fatal("tokens still valid after revocation")
	}
	wantPDSAuthError(t, createPost(c, did, tok2.access, "revoked"), "invalid_token")
	wantOAuthError(t, c.refresh(tok2.refresh, nil), "invalid_grant")

	got := n.Counters()
	if got.PAR != 1 || got.CodeExchanges != 1 || got.Refreshes != 1 || got.Revocations != 1 ||
		got.ASNonceChallenges != 1 || got.PDSNonceChallenges != 0 || got.RefreshReplays != 0 {
		t.Errorf("counters: %+v", got)
	}
}

func TestMetadata(t *testing.T) {
	n := newNet(t)
	res, err := http.Get(n.Issuer() + "/.well-known/oauth-authorization-server")
	if err != nil {
		t.Fatal(err)
	}
	var as map[string]any
	_ = json.NewDecoder(res.Body).Decode(&as)
	res.Body.Close()
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "application/json" || res.Header.Get("DPoP-Nonce") == "" {
		t.Fatalf("AS metadata: %d %v", res.StatusCode, res.Header)
	}
	for k, want := range map[string]any{
		"issuer":                                         n.Issuer(),
		"pushed_authorization_request_endpoint":          n.Issuer() + "/oauth/par",
		"revocation_endpoint":                            n.Issuer() + "/oauth/revoke",
		"require_pushed_authorization_requests":          true,
		"authorization_response_iss_parameter_supported": true,
		"client_id_metadata_document_supported":          true,
	} {
		if as[k] != want {
			t.Errorf("%s = %v, want %v", k, as[k], want)
		}
	}
	for k, want := range map[string]string{
		"code_challenge_methods_supported":      "S256",
		"dpop_signing_alg_values_supported":     "ES256",
		"token_endpoint_auth_methods_supported": "private_key_jwt",
		"scopes_supported":                      "transition:email",
		"protected_resources":                   n.PDS.URL,
	} {
		if !slices.Contains(as[k].([]any), any(want)) {
			t.Errorf("%s = %v, want it to contain %q", k, as[k], want)
		}
	}
	rm := getJSON(t, n.PDS.URL+"/.well-known/oauth-protected-resource")
	if rm["resource"] != n.PDS.URL || len(rm["authorization_servers"].([]any)) != 1 || rm["authorization_servers"].([]any)[0] != n.Issuer() {
		t.Fatalf("resource metadata: %v", rm)
	}
}

func TestPARRejections(t *testing.T) {
	host := atoauthtest.NewClientHost(t)
	n := atoauthtest.NewNetwork(t, atoauthtest.Options{ClientHTTPClient: host.HTTPClient()})
	tests := []struct {
		name string
		edit func(f url.Values)
		want string
	}{
		{"missing PKCE", func(f url.Values) { f.Del("code_challenge"); f.Del("code_challenge_method") }, "invalid_request"},
		{"plain PKCE", func(f url.Values) { f.Set("code_challenge_method", "plain") }, "invalid_request"},
		{"PKCE without method", func(f url.Values) { f.Del("code_challenge_method") }, "invalid_request"},
		{"scope not in metadata", func(f url.Values) { f.Set("scope", genericScope) }, "invalid_scope"},
		{"scope without atproto", func(f url.Values) { f.Set("scope", "transition:generic") }, "invalid_scope"},
		{"unknown client", func(f url.Values) { f.Set("client_id", atoauthtest.ClientHostURL+"/nobody.json") }, "invalid_client"},
		{"http client_id", func(f url.Values) { f.Set("client_id", "http://app.example.com/client-metadata.json") }, "invalid_client"},
		{"loopback client_id with extra param", func(f url.Values) { f.Set("client_id", f.Get("client_id")+"&client_name=x") }, "invalid_client"},
		{"loopback client_id with port", func(f url.Values) {
			f.Set("client_id", strings.Replace(f.Get("client_id"), "localhost", "localhost:8080", 1))
		}, "invalid_client"},
		{"loopback redirect on localhost", func(f url.Values) {
			f.Set("client_id", atoauthtest.LoopbackClientID("atproto", "http://localhost/callback"))
		}, "invalid_client"},
		{"redirect_uri not registered", func(f url.Values) { f.Set("redirect_uri", "http://127.0.0.1:54321/other") }, "invalid_request"},
		{"missing state", func(f url.Values) { f.Del("state") }, "invalid_request"},
		{"response_type token", func(f url.Values) { f.Set("response_type", "token") }, "unsupported_response_type"},
		{"assertion from public client", func(f url.Values) {
			f.Set("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
			f.Set("client_assertion", "x.y.z")
		}, "invalid_client"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newLoopbackClient(t, n, "atproto")
			ar := c.newAuthRequest("atproto")
			tt.edit(ar.form)
			wantOAuthError(t, c.par(ar), tt.want)
		})
	}

	t.Run("reused code_challenge", func(t *testing.T) {
		c := newLoopbackClient(t, n, "atproto")
		ar := c.newAuthRequest("atproto")
		if r := c.par(ar); r.status != http.StatusCreated {
			t.Fatalf("PAR: %d %s", r.status, r.raw)
		}
		ar.form.Set("state", randString())
		wantOAuthError(t, c.par(ar), "invalid_request")
	})
	t.Run("reused state", func(t *testing.T) {
		c := newLoopbackClient(t, n, "atproto")
		ar := c.newAuthRequest("atproto")
		if r := c.par(ar); r.status != http.StatusCreated {
			t.Fatalf("PAR: %d %s", r.status, r.raw)
		}
		_, challenge := pkce()
		ar.form.Set("code_challenge", challenge)
		wantOAuthError(t, c.par(ar), "invalid_request")
	})
	t.Run("query parameters", func(t *testing.T) {
		c := newLoopbackClient(t, n, "atproto")
		ar := c.newAuthRequest("atproto")
		wantOAuthError(t, c.do(req{method: http.MethodPost, url: n.Issuer() + "/oauth/par?" + ar.form.Encode(), form: url.Values{}}), "invalid_request")
	})
}

func TestTokenRejections(t *testing.T) {
	n := newNet(t)
	did := n.CreateAccount("alice.test")

	t.Run("wrong verifier", func(t *testing.T) {
		c := newLoopbackClient(t, n, "atproto")
		ar := c.newAuthRequest("atproto")
		code := c.authorize(ar, did)
		ar.verifier, _ = pkce()
		wantOAuthError(t, c.exchange(ar, code, nil), "invalid_grant")
	})
	t.Run("reused code", func(t *testing.T) {
		c := newLoopbackClient(t, n, "atproto")
		ar := c.newAuthRequest("atproto")
		code := c.authorize(ar, did)
		tok := toTokens(t, c.exchange(ar, code, nil))
		wantOAuthError(t, c.exchange(ar, code, nil), "invalid_grant")
		if n.AccessTokenValid(tok.access) {
			t.Error("session issued from a replayed code is still alive")
		}
	})
	t.Run("wrong DPoP key", func(t *testing.T) {
		c := newLoopbackClient(t, n, "atproto")
		ar := c.newAuthRequest("atproto")
		code := c.authorize(ar, did)
		other := newKey(t)
		wantOAuthError(t, c.exchange(ar, code, func(r *req) { r.key = other }), "invalid_grant")
	})
	t.Run("redirect_uri mismatch", func(t *testing.T) {
		c := newLoopbackClient(t, n, "atproto")
		ar := c.newAuthRequest("atproto")
		code := c.authorize(ar, did)
		c.redirect = "http://127.0.0.1:1/callback"
		wantOAuthError(t, c.exchange(ar, code, nil), "invalid_grant")
	})
	t.Run("code of another client", func(t *testing.T) {
		c := newLoopbackClient(t, n, "atproto")
		ar := c.newAuthRequest("atproto")
		code := c.authorize(ar, did)
		c.clientID = atoauthtest.LoopbackClientID("atproto", testRedirect, "http://127.0.0.1/other")
		wantOAuthError(t, c.exchange(ar, code, nil), "invalid_grant")
	})
}

func TestRefreshReplay(t *testing.T) {
	n := newNet(t)
	did := n.CreateAccount("alice.test")
	c := newLoopbackClient(t, n, "atproto")
	tok := c.login("atproto", did)
	tok2 := toTokens(t, c.refresh(tok.refresh, nil))

	r := c.refresh(tok.refresh, nil)
	wantOAuthError(t, r, "invalid_grant")
	if r.str("error_description") != "refresh token replayed" {
		t.Errorf("description %q", r.str("error_description"))
	}
	// The replay ended the whole session.
	wantOAuthError(t, c.refresh(tok2.refresh, nil), "invalid_grant")
	if n.AccessTokenValid(tok2.access) || n.Counters().RefreshReplays != 1 {
		t.Errorf("session survived a replay: %+v", n.Counters())
	}
}

func TestRefreshBurnedByStaleNonce(t *testing.T) {
	n := newNet(t)
	did := n.CreateAccount("alice.test")
	c := newLoopbackClient(t, n, "atproto")
	tok := c.login("atproto", did)

	c.nonces[n.Issuer()] = "stale"
	r := c.refresh(tok.refresh, func(r *req) { r.noRetry = true })
	wantOAuthError(t, r, "use_dpop_nonce")
	if r.header.Get("DPoP-Nonce") == "" {
		t.Fatal("nonce challenge without DPoP-Nonce")
	}
	// The token was consumed before the proof was checked: the retry is a
	// replay.
	r = c.refresh(tok.refresh, nil)
	wantOAuthError(t, r, "invalid_grant")
	if r.str("error_description") != "refresh token replayed" {
		t.Errorf("description %q", r.str("error_description"))
	}
}

func TestDPoPRejections(t *testing.T) {
	n := newNet(t)
	did := n.CreateAccount("alice.test")
	c := newLoopbackClient(t, n, genericScope)
	tok := c.login(genericScope, did)
	getSession := func(mod func(r *req)) resp {
		r := req{method: http.MethodGet, url: n.PDS.URL + "/xrpc/com.atproto.server.getSession", token: tok.access}
		if mod != nil {
			mod(&r)
		}
		return c.do(r)
	}
	par := func(mod func(r *req)) resp {
		r := req{method: http.MethodPost, url: n.Issuer() + "/oauth/par", form: c.newAuthRequest("atproto").form}
		mod(&r)
		return c.do(r)
	}
	if r := getSession(nil); r.status != http.StatusOK {
		t.Fatalf("getSession: %d %s", r.status, r.raw)
	}

	asTests := []struct {
		name string
		mod  func(r *req)
		want string
	}{
		{"no proof", func(r *req) { r.noProof = true }, "invalid_dpop_proof"},
		{"stale iat", func(r *req) {
			r.claims = func(c map[string]any) { c["iat"] = time.Now().Add(-30 * time.Second).Unix() }
		}, "invalid_dpop_proof"},
		{"future iat", func(r *req) { r.claims = func(c map[string]any) { c["iat"] = time.Now().Add(30 * time.Second).Unix() } }, "invalid_dpop_proof"},
		{"ath at the AS", func(r *req) { r.claims = func(c map[string]any) { c["ath"] = ath("x") } }, "invalid_dpop_proof"},
		{"wrong htm", func(r *req) { r.claims = func(c map[string]any) { c["htm"] = "GET" } }, "invalid_dpop_proof"},
		{"htu with query", func(r *req) { r.claims = func(c map[string]any) { c["htu"] = c["htu"].(string) + "?a=b" } }, "invalid_dpop_proof"},
		{"htu of another origin", func(r *req) { r.claims = func(c map[string]any) { c["htu"] = n.PDS.URL + "/oauth/par" } }, "invalid_dpop_proof"},
		{"no jti", func(r *req) { r.claims = func(c map[string]any) { delete(c, "jti") } }, "invalid_dpop_proof"},
		{"unknown nonce", func(r *req) {
			r.noRetry = true
			r.claims = func(c map[string]any) { c["nonce"] = "made-up" }
		}, "use_dpop_nonce"},
	}
	for _, tt := range asTests {
		t.Run("AS/"+tt.name, func(t *testing.T) { wantOAuthError(t, par(tt.mod), tt.want) })
	}

	other := newKey(t)
	pdsTests := []struct {
		name string
		mod  func(r *req)
		want string
	}{
		{"stale iat", func(r *req) {
			r.claims = func(c map[string]any) { c["iat"] = time.Now().Add(-11 * time.Second).Unix() }
		}, "invalid_dpop_proof"},
		{"missing ath", func(r *req) { r.claims = func(c map[string]any) { delete(c, "ath") } }, "invalid_dpop_proof"},
		{"wrong ath", func(r *req) { r.claims = func(c map[string]any) { c["ath"] = ath("other") } }, "invalid_dpop_proof"},
		{"htu with query", func(r *req) { r.claims = func(c map[string]any) { c["htu"] = c["htu"].(string) + "?x=1" } }, "invalid_dpop_proof"},
		{"no nonce", func(r *req) {
			r.noRetry = true
			r.claims = func(c map[string]any) { delete(c, "nonce") }
		}, "use_dpop_nonce"},
		{"key not bound to the token", func(r *req) { r.key = other }, "invalid_token"},
	}
	for _, tt := range pdsTests {
		t.Run("PDS/"+tt.name, func(t *testing.T) { wantPDSAuthError(t, getSession(tt.mod), tt.want) })
	}

	t.Run("PDS/replayed jti", func(t *testing.T) {
		first := getSession(nil)
		if first.status != http.StatusOK {
			t.Fatalf("getSession: %d %s", first.status, first.raw)
		}
		wantPDSAuthError(t, getSession(func(r *req) { r.proof = first.proof }), "invalid_dpop_proof")
	})
	t.Run("AS/replayed jti", func(t *testing.T) {
		first := par(func(*req) {})
		if first.status != http.StatusCreated {
			t.Fatalf("PAR: %d %s", first.status, first.raw)
		}
		wantOAuthError(t, par(func(r *req) { r.proof = first.proof }), "invalid_dpop_proof")
	})
	t.Run("PDS/nonce challenge form", func(t *testing.T) {
		r := getSession(func(r *req) {
			r.noRetry = true
			r.claims = func(c map[string]any) { c["nonce"] = "old" }
		})
		wantPDSAuthError(t, r, "use_dpop_nonce")
		if r.header.Get("DPoP-Nonce") == "" || !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "DPoP ") {
			t.Errorf("challenge headers: %v", r.header)
		}
	})
}

func TestBearerAtPDS(t *testing.T) {
	n := newNet(t)
	did := n.CreateAccount("alice.test")
	c := newLoopbackClient(t, n, genericScope)
	tok := c.login(genericScope, did)
	r := c.do(req{method: http.MethodGet, url: n.PDS.URL + "/xrpc/com.atproto.server.getSession", token: tok.access, bearer: true})
	if r.status != http.StatusBadRequest || r.str("error") != "InvalidToken" || r.str("message") != "Bad token scope" {
		t.Fatalf("got %d %s, want 400 InvalidToken Bad token scope", r.status, r.raw)
	}
}

func TestScopeEnforcement(t *testing.T) {
	n := newNet(t)
	did := n.CreateAccount("alice.test")
	post := func(c *testClient, tok, nsid, collection string) resp {
		return c.xrpc(http.MethodPost, nsid, nil, map[string]any{
			"repo": did.String(), "collection": collection, "rkey": "self",
			"record": map[string]any{"$type": collection},
		}, tok)
	}
	blob := func(c *testClient, tok, mime string) resp {
		return c.do(req{method: http.MethodPost, url: n.PDS.URL + "/xrpc/com.atproto.repo.uploadBlob", raw: []byte("data"), ctype: mime, token: tok})
	}
	wantMissing := func(t *testing.T, r resp, scope string) {
		t.Helper()
		if r.status != http.StatusForbidden || r.str("error") != "ScopeMissingError" || r.str("message") != `Missing required scope "`+scope+`"` {
			t.Fatalf("got %d %s, want ScopeMissingError for %s", r.status, r.raw, scope)
		}
	}

	t.Run("atproto only", func(t *testing.T) {
		c := newLoopbackClient(t, n, "atproto")
		tok := c.login("atproto", did)
		wantMissing(t, createPost(c, did, tok.access, "x"), "repo:app.bsky.feed.post?action=create")
		wantMissing(t, blob(c, tok.access, "image/png"), "blob:image/png")
		if r := c.xrpc(http.MethodGet, "com.atproto.server.getSession", nil, nil, tok.access); r.status != http.StatusOK || r.body["email"] != nil {
			t.Fatalf("getSession: %d %s", r.status, r.raw)
		}
	})
	t.Run("granular", func(t *testing.T) {
		scope := "atproto repo:app.bsky.feed.post?action=create blob:image/* transition:email"
		c := newLoopbackClient(t, n, scope)
		tok := c.login(scope, did)
		if r := post(c, tok.access, "com.atproto.repo.createRecord", "app.bsky.feed.post"); r.status != http.StatusOK {
			t.Fatalf("createRecord: %d %s", r.status, r.raw)
		}
		wantMissing(t, post(c, tok.access, "com.atproto.repo.putRecord", "app.bsky.feed.post"), "repo:app.bsky.feed.post?action=update")
		wantMissing(t, post(c, tok.access, "com.atproto.repo.createRecord", "app.bsky.actor.profile"), "repo:app.bsky.actor.profile?action=create")
		wantMissing(t, post(c, tok.access, "com.atproto.repo.deleteRecord", "app.bsky.feed.post"), "repo:app.bsky.feed.post?action=delete")
		if r := blob(c, tok.access, "image/jpeg"); r.status != http.StatusOK {
			t.Fatalf("uploadBlob: %d %s", r.status, r.raw)
		}
		wantMissing(t, blob(c, tok.access, "text/plain"), "blob:text/plain")
		if r := c.xrpc(http.MethodGet, "com.atproto.server.getSession", nil, nil, tok.access); r.body["email"] == nil {
			t.Fatalf("getSession without email under transition:email: %s", r.raw)
		}
	})
	t.Run("granted less than requested", func(t *testing.T) {
		c := newLoopbackClient(t, n, genericScope)
		tok := c.login(genericScope, did, atoauthtest.GrantScope("atproto"))
		if tok.scope != "atproto" {
			t.Fatalf("granted scope %q", tok.scope)
		}
		wantMissing(t, createPost(c, did, tok.access, "x"), "repo:app.bsky.feed.post?action=create")
	})
}

func TestApprove(t *testing.T) {
	n := newNet(t)
	alice := n.CreateAccount("alice.test")
	bob := n.CreateAccount("bob.test")
	ctx := context.Background()
	pushed := func(c *testClient, edit func(url.Values)) (*authRequest, string) {
		ar := c.newAuthRequest("atproto")
		if edit != nil {
			edit(ar.form)
		}
		r := c.par(ar)
		if r.status != http.StatusCreated {
			t.Fatalf("PAR: %d %s", r.status, r.raw)
		}
		return ar, c.authorizeURL(r.str("request_uri"))
	}

	t.Run("deny", func(t *testing.T) {
		c := newLoopbackClient(t, n, "atproto")
		ar, u := pushed(c, nil)
		cb, err := n.Approve(ctx, u, alice, atoauthtest.Deny())
		if err != nil {
			t.Fatal(err)
		}
		q := cb.Query()
		if q.Get("error") != "access_denied" || q.Get("state") != ar.state || q.Get("iss") != n.Issuer() || q.Get("code") != "" {
			t.Fatalf("callback %s", cb)
		}
		if !strings.HasPrefix(cb.String(), c.redirect+"?") {
			t.Fatalf("callback %s does not go to %s", cb, c.redirect)
		}
	})
	t.Run("request_uri single use", func(t *testing.T) {
		c := newLoopbackClient(t, n, "atproto")
		_, u := pushed(c, nil)
		if _, err := n.Approve(ctx, u, alice); err != nil {
			t.Fatal(err)
		}
		if _, err := n.Approve(ctx, u, alice); err == nil {
			t.Fatal("request_uri used twice")
		}
	})
	t.Run("extra parameter", func(t *testing.T) {
		c := newLoopbackClient(t, n, "atproto")
		_, u := pushed(c, nil)
		if _, err := n.Approve(ctx, u+"&scope=atproto", alice); err == nil {
			t.Fatal("authorization URL with extra parameters accepted")
		}
	})
	t.Run("login_hint", func(t *testing.T) {
		c := newLoopbackClient(t, n, "atproto")
		_, u := pushed(c, func(f url.Values) { f.Set("login_hint", "Bob.Test") })
		if _, err := n.Approve(ctx, u, alice); err == nil {
			t.Fatal("signed in as alice with login_hint bob")
		}
		_, u = pushed(c, func(f url.Values) { f.Set("login_hint", "bob.test") })
		if _, err := n.Approve(ctx, u, bob); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("tampered iss", func(t *testing.T) {
		c := newLoopbackClient(t, n, "atproto")
		for _, iss := range []string{"", "http://evil.example"} {
			n.UpdateTamper(func(t *atoauthtest.Tamper) { t.CallbackIss = &iss })
			_, u := pushed(c, nil)
			cb, err := n.Approve(ctx, u, alice)
			if err != nil {
				t.Fatal(err)
			}
			if got, ok := cb.Query()["iss"]; (iss == "" && ok) || (iss != "" && got[0] != iss) {
				t.Errorf("iss %q: callback %s", iss, cb)
			}
		}
		n.SetTamper(atoauthtest.Tamper{})
	})
}

func TestExpireAccessTokensForcesRefresh(t *testing.T) {
	n := newNet(t)
	did := n.CreateAccount("alice.test")
	c := newLoopbackClient(t, n, genericScope)
	tok := c.login(genericScope, did)
	n.ExpireAccessTokens()
	r := createPost(c, did, tok.access, "x")
	wantPDSAuthError(t, r, "invalid_token")
	if r.str("error") != "InvalidToken" {
		t.Errorf("body %s", r.raw)
	}
	tok2 := toTokens(t, c.refresh(tok.refresh, nil))
	if r := createPost(c, did, tok2.access, "y"); r.status != http.StatusOK {
		t.Fatalf("after refresh: %d %s", r.status, r.raw)
	}
	n.RevokeAll(did)
	if n.ActiveSessions(did) != 0 || n.RefreshTokenValid(tok2.refresh) {
		t.Fatal("RevokeAll left a session")
	}
}

func TestForeignAccount(t *testing.T) {
	n := newNet(t)
	other := newNet(t)
	did := n.CreateForeignAccount("mallory.test", other.PDS.URL)
	doc := getJSON(t, n.PLC.URL+"/"+did.String())
	if !strings.Contains(string(mustJSON(doc)), other.PDS.URL) {
		t.Fatalf("DID document %v does not point at the other PDS", doc)
	}
	c := newLoopbackClient(t, n, "atproto")
	tok := c.login("atproto", did)
	if tok.sub != did.String() {
		t.Fatalf("sub %q", tok.sub)
	}
	// The issuing network's PDS does not host the account.
	wantPDSAuthError(t, c.xrpc(http.MethodGet, "com.atproto.server.getSession", nil, nil, tok.access), "invalid_token")
}

func TestListRecordsCursor(t *testing.T) {
	n := newNet(t)
	did := n.CreateAccount("alice.test")
	c := newLoopbackClient(t, n, genericScope)
	tok := c.login(genericScope, did)
	for i := range 5 {
		if r := createPost(c, did, tok.access, strings.Repeat("x", i)); r.status != http.StatusOK {
			t.Fatal(r.status, string(r.raw))
		}
	}
	var texts []string
	cursor := ""
	for pages := 0; ; pages++ {
		q := url.Values{"repo": {did.String()}, "collection": {"app.bsky.feed.post"}, "limit": {"2"}}
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		r := c.xrpc(http.MethodGet, "com.atproto.repo.listRecords", q, nil, "")
		recs, _ := r.body["records"].([]any)
		for _, rec := range recs {
			texts = append(texts, rec.(map[string]any)["value"].(map[string]any)["text"].(string))
		}
		cursor = r.str("cursor")
		if len(recs) == 0 || pages > 5 {
			break
		}
	}
	if len(texts) != 5 || texts[0] != "xxxx" || texts[4] != "" {
		t.Fatalf("listed %q", texts)
	}
}

func getJSON(t *testing.T, u string) map[string]any {
	t.Helper()
	res, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var m map[string]any
	if err := json.NewDecoder(res.Body).Decode(&m); err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %v", u, res.StatusCode, err)
	}
	return m
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}
