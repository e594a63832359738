package atoauthtest_test

// A minimal, deliberately naive OAuth client used to drive the fake. It is
// independent of atoauth's own client code: go-jose signs everything.

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/atoauth/atoauth/atoauthtest"
	"github.com/bluesky-social/indigo/atproto/syntax"
	jose "github.com/go-jose/go-jose/v4"
)

const testRedirect = "http://127.0.0.1/callback"

type testClient struct {
	t        *testing.T
	net      *atoauthtest.Network
	clientID string
	redirect string // redirect_uri sent in requests
	key      *ecdsa.PrivateKey
	hc       *http.Client

	// confidential clients only
	assertKey *ecdsa.PrivateKey
	kid       string

	mu     sync.Mutex
	nonces map[string]string // origin → latest DPoP nonce
}

// newLoopbackClient returns a public loopback client declaring scope; its
// requests use a port on the registered port-less redirect URI.
func newLoopbackClient(t *testing.T, n *atoauthtest.Network, scope string) *testClient {
	return &testClient{
		t:        t,
		net:      n,
		clientID: atoauthtest.LoopbackClientID(scope, testRedirect),
		redirect: "http://127.0.0.1:54321/callback",
		key:      newKey(t),
		hc:       &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
		nonces:   map[string]string{},
	}
}

// clone returns a copy of c with its own nonce cache.
func (c *testClient) clone() *testClient {
	c.mu.Lock()
	defer c.mu.Unlock()
	c2 := &testClient{t: c.t, net: c.net, clientID: c.clientID, redirect: c.redirect, key: c.key, hc: c.hc,
		assertKey: c.assertKey, kid: c.kid, nonces: map[string]string{}}
	for k, v := range c.nonces {
		c2.nonces[k] = v
	}
	return c2
}

func newKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func randString() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func ath(tok string) string {
	sum := sha256.Sum256([]byte(tok))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

func originOf(raw string) string {
	u, _ := url.Parse(raw)
	return u.Scheme + "://" + u.Host
}

// signJWT signs claims with key (ES256) using the given header options.
func signJWT(t *testing.T, key *ecdsa.PrivateKey, opts *jose.SignerOptions, claims map[string]any) string {
	t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key}, opts)
	if err != nil {
		t.Fatal(err)
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	s, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// req describes one HTTP request of the test client.
type req struct {
	method string
	url    string
	form   url.Values // POST form body
	json   any        // POST JSON body
	raw    []byte     // POST raw body (with contentType)
	ctype  string
	header http.Header // extra request headers

	token   string                 // access token, sent as "DPoP <token>" with ath
	bearer  bool                   // send the token as Bearer, without DPoP
	key     *ecdsa.PrivateKey      // DPoP key (default: the client's)
	claims  func(c map[string]any) // edits the proof claims
	proof   string                 // send this exact proof
	noProof bool
	noRetry bool // do not retry on a nonce challenge
}

type resp struct {
	status int
	header http.Header
	body   map[string]any
	raw    []byte
	proof  string // the proof sent with the final attempt
}

func (r resp) str(key string) string {
	s, _ := r.body[key].(string)
	return s
}

// wwwAuthError returns the error parameter of a DPoP WWW-Authenticate header.
func (r resp) wwwAuthError() string {
	m := regexp.MustCompile(`error="([^"]*)"`).FindStringSubmatch(r.header.Get("WWW-Authenticate"))
	if m == nil {
		return ""
	}
	return m[1]
}

func (c *testClient) proofFor(r req) string {
	key := c.key
	if r.key != nil {
		key = r.key
	}
	u, err := url.Parse(r.url)
	if err != nil {
		c.t.Fatal(err)
	}
	claims := map[string]any{
		"jti": randString(),
		"htm": r.method,
		"htu": u.Scheme + "://" + u.Host + u.Path,
		"iat": time.Now().Unix(),
	}
	c.mu.Lock()
	if n := c.nonces[originOf(r.url)]; n != "" {
		claims["nonce"] = n
	}
	c.mu.Unlock()
	if r.token != "" && !r.bearer {
		claims["ath"] = ath(r.token)
	}
	if r.claims != nil {
		r.claims(claims)
	}
	opts := (&jose.SignerOptions{EmbedJWK: true}).WithType("dpop+jwt")
	return signJWT(c.t, key, opts, claims)
}

// do sends r, retrying once on a DPoP nonce challenge, and records the
// DPoP-Nonce of every response.
func (c *testClient) do(r req) resp {
	c.t.Helper()
	for attempt := 0; ; attempt++ {
		var body io.Reader
		ctype := ""
		switch {
		case r.form != nil:
			body, ctype = strings.NewReader(r.form.Encode()), "application/x-www-form-urlencoded"
		case r.json != nil:
			b, _ := json.Marshal(r.json)
			body, ctype = bytes.NewReader(b), "application/json"
		case r.raw != nil:
			body, ctype = bytes.NewReader(r.raw), r.ctype
		}
		hr, err := http.NewRequestWithContext(context.Background(), r.method, r.url, body)
		if err != nil {
			c.t.Fatal(err)
		}
		if ctype != "" {
			hr.Header.Set("Content-Type", ctype)
		}
		for k, vs := range r.header {
			hr.Header[k] = vs
		}
		proof := r.proof
		switch {
		case r.bearer:
			hr.Header.Set("Authorization", "Bearer "+r.token)
		case r.token != "":
			hr.Header.Set("Authorization", "DPoP "+r.token)
		}
		if !r.bearer && !r.noProof {
			if proof == "" {
				proof = c.proofFor(r)
			}
			hr.Header.Set("DPoP", proof)
		}
		res, err := c.hc.Do(hr)
		if err != nil {
			c.t.Fatal(err)
		}
		raw, _ := io.ReadAll(res.Body)
		res.Body.Close()
		out := resp{status: res.StatusCode, header: res.Header, raw: raw, proof: proof}
		_ = json.Unmarshal(raw, &out.body)
		if n := res.Header.Get("DPoP-Nonce"); n != "" {
			c.mu.Lock()
			c.nonces[originOf(r.url)] = n
			c.mu.Unlock()
		}
		challenged := (out.status == http.StatusBadRequest && out.str("error") == "use_dpop_nonce") ||
			(out.status == http.StatusUnauthorized && out.wwwAuthError() == "use_dpop_nonce")
		if !challenged || r.noRetry || r.proof != "" || attempt > 0 {
			return out
		}
	}
}

// addAuth adds client authentication to an AS form.
func (c *testClient) addAuth(form url.Values) {
	form.Set("client_id", c.clientID)
	if c.assertKey != nil {
		form.Set("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
		form.Set("client_assertion", c.assertion(nil))
	}
}

func (c *testClient) assertion(edit func(map[string]any)) string {
	now := time.Now()
	claims := map[string]any{
		"iss": c.clientID, "sub": c.clientID, "aud": c.net.Issuer(),
		"jti": randString(), "iat": now.Unix(), "exp": now.Add(time.Minute).Unix(),
	}
	if edit != nil {
		edit(claims)
	}
	opts := (&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", c.kid)
	return signJWT(c.t, c.assertKey, opts, claims)
}

// pkce returns a fresh verifier and its S256 challenge.
func pkce() (verifier, challenge string) {
	verifier = randString() + randString()
	sum := sha256.Sum256([]byte(verifier))
	return verifier, base64.RawURLEncoding.EncodeToString(sum[:])
}

// authRequest is a pushed authorization request in progress.
type authRequest struct {
	form     url.Values
	verifier string
	state    string
}

// newAuthRequest builds a valid PAR form for scope.
func (c *testClient) newAuthRequest(scope string) *authRequest {
	verifier, challenge := pkce()
	ar := &authRequest{verifier: verifier, state: randString(), form: url.Values{
		"response_type":         {"code"},
		"code_challenge":        {challenge},
		"code_challenge_method": {"S256"},
		"redirect_uri":          {c.redirect},
		"scope":                 {scope},
	}}
	ar.form.Set("state", ar.state)
	c.addAuth(ar.form)
	return ar
}

func (c *testClient) par(ar *authRequest) resp {
	return c.do(req{method: http.MethodPost, url: c.net.Issuer() + "/oauth/par", form: ar.form})
}

// authorizeURL is the URL a client sends the browser to.
func (c *testClient) authorizeURL(requestURI string) string {
	return c.net.Issuer() + "/oauth/authorize?" + url.Values{"client_id": {c.clientID}, "request_uri": {requestURI}}.Encode()
}

// authorize runs PAR and Approve and returns the code.
func (c *testClient) authorize(ar *authRequest, did syntax.DID, opts ...atoauthtest.ApproveOption) string {
	c.t.Helper()
	r := c.par(ar)
	if r.status != http.StatusCreated {
		c.t.Fatalf("PAR: %d %s", r.status, r.raw)
	}
	cb, err := c.net.Approve(context.Background(), c.authorizeURL(r.str("request_uri")), did, opts...)
	if err != nil {
		c.t.Fatalf("Approve: %v", err)
	}
	q := cb.Query()
	if q.Get("state") != ar.state || q.Get("iss") != c.net.Issuer() || q.Get("code") == "" {
		c.t.Fatalf("callback %s: want state %q, iss %q and a code", cb, ar.state, c.net.Issuer())
	}
	return q.Get("code")
}

type tokens struct {
	access, refresh, sub, scope string
}

func (c *testClient) exchange(ar *authRequest, code string, mod func(r *req)) resp {
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {c.redirect}, "code_verifier": {ar.verifier}}
	c.addAuth(form)
	r := req{method: http.MethodPost, url: c.net.Issuer() + "/oauth/token", form: form}
	if mod != nil {
		mod(&r)
	}
	return c.do(r)
}

func (c *testClient) refresh(refreshToken string, mod func(r *req)) resp {
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refreshToken}}
	c.addAuth(form)
	r := req{method: http.MethodPost, url: c.net.Issuer() + "/oauth/token", form: form}
	if mod != nil {
		mod(&r)
	}
	return c.do(r)
}

func (c *testClient) revoke(tok string) resp {
	form := url.Values{"token": {tok}}
	c.addAuth(form)
	return c.do(req{method: http.MethodPost, url: c.net.Issuer() + "/oauth/revoke", form: form})
}

func toTokens(t *testing.T, r resp) tokens {
	t.Helper()
	if r.status != http.StatusOK {
		t.Fatalf("token request: %d %s", r.status, r.raw)
	}
	return tokens{access: r.str("access_token"), refresh: r.str("refresh_token"), sub: r.str("sub"), scope: r.str("scope")}
}

// login runs a complete authorization for did and returns the tokens.
func (c *testClient) login(scope string, did syntax.DID, opts ...atoauthtest.ApproveOption) tokens {
	c.t.Helper()
	ar := c.newAuthRequest(scope)
	code := c.authorize(ar, did, opts...)
	return toTokens(c.t, c.exchange(ar, code, nil))
}

// xrpc calls the PDS.
func (c *testClient) xrpc(method, nsid string, query url.Values, body any, token string) resp {
	u := c.net.PDS.URL + "/xrpc/" + nsid
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	r := req{method: method, url: u, json: body, token: token}
	if token == "" {
		r.noProof = true
	}
	return c.do(r)
}

func createPost(c *testClient, did syntax.DID, token, text string) resp {
	return c.xrpc(http.MethodPost, "com.atproto.repo.createRecord", nil, map[string]any{
		"repo":       did.String(),
		"collection": "app.bsky.feed.post",
		"record":     map[string]any{"$type": "app.bsky.feed.post", "text": text, "createdAt": time.Now().UTC().Format(time.RFC3339)},
	}, token)
}

// wantOAuthError checks an authorization server error response.
func wantOAuthError(t *testing.T, r resp, code string) {
	t.Helper()
	if r.status != http.StatusBadRequest || r.str("error") != code {
		t.Fatalf("got %d %s, want 400 error %q", r.status, r.raw, code)
	}
	if r.str("error_description") == "" {
		t.Errorf("error %q without error_description", code)
	}
}

// wantPDSAuthError checks a 401 DPoP error of the PDS.
func wantPDSAuthError(t *testing.T, r resp, code string) {
	t.Helper()
	if r.status != http.StatusUnauthorized || r.wwwAuthError() != code {
		t.Fatalf("got %d (WWW-Authenticate %q) %s, want 401 error=%q", r.status, r.header.Get("WWW-Authenticate"), r.raw, code)
	}
}
