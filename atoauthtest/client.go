package atoauthtest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

const (
	authMethodNone       = "none"
	authMethodPrivateKey = "private_key_jwt"
	assertionTypeJWT     = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
	maxClientDocSize     = 512 << 10
	// clientAssertionMaxAge bounds how old a client assertion's iat may be.
	clientAssertionMaxAge = time.Minute
	// clientAssertionMaxLife bounds how far in the future its exp may be.
	clientAssertionMaxLife = 5 * time.Minute
)

// client is a validated client: a loopback development client or a client
// described by an https client ID metadata document.
type client struct {
	id           string
	loopback     bool
	native       bool
	idURL        *url.URL // https clients only
	redirectURIs []string
	scopes       []string
	grantTypes   []string
	authMethod   string
	jwks         *jose.JSONWebKeySet // private_key_jwt: inline jwks, or nil with jwksURI
	jwksURI      string
}

// clientAuth records how a request authenticated its client.
type clientAuth struct {
	method string
	kid    string
}

// oauthError is an OAuth error response {"error","error_description"}.
type oauthError struct {
	status int
	code   string
	desc   string
}

func (e *oauthError) Error() string { return e.code + ": " + e.desc }

func oauthErr(code, format string, args ...any) *oauthError {
	status := http.StatusBadRequest
	return &oauthError{status: status, code: code, desc: fmt.Sprintf(format, args...)}
}

// LoopbackClientID builds a loopback development client_id
// ("http://localhost?redirect_uri=...&scope=..."). scope "" leaves the scope
// parameter out (the server then uses "atproto").
func LoopbackClientID(scope string, redirectURIs ...string) string {
	q := url.Values{}
	for _, r := range redirectURIs {
		q.Add("redirect_uri", r)
	}
	if scope != "" {
		q.Set("scope", scope)
	}
	if len(q) == 0 {
		return "http://localhost"
	}
	return "http://localhost?" + q.Encode()
}

// resolveClient identifies the client named by clientID.
func (n *Network) resolveClient(ctx context.Context, clientID string) (*client, *oauthError) {
	if clientID == "" {
		return nil, oauthErr("invalid_request", `"client_id" is required`)
	}
	if clientID == "http://localhost" || strings.HasPrefix(clientID, "http://localhost?") {
		return parseLoopbackClient(clientID)
	}
	if strings.HasPrefix(clientID, "http://localhost") {
		return nil, oauthErr("invalid_client", "loopback client_id must be exactly http://localhost with optional query (no port, path or fragment)")
	}
	return n.fetchClient(ctx, clientID)
}

func parseLoopbackClient(clientID string) (*client, *oauthError) {
	bad := func(format string, args ...any) (*client, *oauthError) {
		return nil, oauthErr("invalid_client", "loopback client_id: "+format, args...)
	}
	u, err := url.Parse(clientID)
	if err != nil {
		return bad("%v", err)
	}
	if u.Fragment != "" || strings.Contains(clientID, "#") {
		return bad("must not contain a fragment")
	}
	if u.Scheme != "http" || u.Host != "localhost" || u.User != nil || (u.Path != "" && u.Path != "/") {
		return bad("must be http://localhost without port or path")
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return bad("invalid query: %v", err)
	}
	c := &client{id: clientID, loopback: true, native: true, authMethod: authMethodNone,
		grantTypes: []string{"authorization_code", "refresh_token"}}
	for k, vs := range q {
		switch k {
		case "redirect_uri":
			for _, v := range vs {
				ru, err := url.Parse(v)
				if err != nil || ru.Scheme != "http" || ru.User != nil || ru.Fragment != "" {
					return bad("redirect_uri %q must be an http URL", v)
				}
				if h := ru.Hostname(); h != "127.0.0.1" && h != "::1" {
					return bad("redirect_uri %q must use 127.0.0.1 or [::1] (not %q)", v, h)
				}
				c.redirectURIs = append(c.redirectURIs, v)
			}
		case "scope":
			if len(vs) != 1 {
				return bad("scope must appear at most once")
			}
			c.scopes = strings.Split(vs[0], " ")
		default:
			return bad("unexpected query parameter %q (only redirect_uri and scope are allowed)", k)
		}
	}
	if len(c.redirectURIs) == 0 {
		c.redirectURIs = []string{"http://127.0.0.1/", "http://[::1]/"}
	}
	if c.scopes == nil {
		c.scopes = []string{"atproto"}
	}
	if err := checkClientScopes(c.scopes); err != nil {
		return bad("%s", err)
	}
	return c, nil
}

// clientMetadataDoc is the part of a client ID metadata document the fake
// checks.
type clientMetadataDoc struct {
	ClientID                    *string         `json:"client_id"`
	ApplicationType             *string         `json:"application_type"`
	GrantTypes                  []string        `json:"grant_types"`
	ResponseTypes               []string        `json:"response_types"`
	RedirectURIs                []string        `json:"redirect_uris"`
	Scope                       *string         `json:"scope"`
	TokenEndpointAuthMethod     *string         `json:"token_endpoint_auth_method"`
	TokenEndpointAuthSigningAlg *string         `json:"token_endpoint_auth_signing_alg"`
	DPoPBoundAccessTokens       *bool           `json:"dpop_bound_access_tokens"`
	JWKS                        json.RawMessage `json:"jwks"`
	JWKSURI                     *string         `json:"jwks_uri"`
	ClientURI                   *string         `json:"client_uri"`
}

// fetchClient fetches and validates an https client ID metadata document.
// Nothing is cached: every request fetches the document again, so changes
// (such as a key removed from the JWKS) take effect immediately.
func (n *Network) fetchClient(ctx context.Context, clientID string) (*client, *oauthError) {
	bad := func(format string, args ...any) (*client, *oauthError) {
		return nil, oauthErr("invalid_client", "client metadata: "+format, args...)
	}
	u, err := url.Parse(clientID)
	if err != nil {
		return nil, oauthErr("invalid_client", "client_id is not a URL: %v", err)
	}
	switch {
	case u.Scheme != "https":
		return nil, oauthErr("invalid_client", "client_id must be an https URL (or a loopback http://localhost client)")
	case u.User != nil, u.Fragment != "", strings.Contains(clientID, "#"):
		return nil, oauthErr("invalid_client", "client_id must not contain credentials or a fragment")
	case u.Port() != "":
		return nil, oauthErr("invalid_client", "client_id must not contain a port")
	case u.Hostname() == "" || net.ParseIP(u.Hostname()) != nil || u.Hostname() == "localhost":
		return nil, oauthErr("invalid_client", "client_id hostname must be a domain name")
	case u.Path == "" || u.Path == "/":
		return nil, oauthErr("invalid_client", `client_id must contain a path component (e.g. "/client-metadata.json")`)
	}
	body, ferr := n.fetchClientJSON(ctx, clientID)
	if ferr != nil {
		return bad("%v", ferr)
	}
	var doc clientMetadataDoc
	if err := json.Unmarshal(body, &doc); err != nil {
		return bad("invalid JSON: %v", err)
	}
	if doc.ClientID == nil || *doc.ClientID != clientID {
		return bad("client_id in the document must equal %q", clientID)
	}
	c := &client{id: clientID, idURL: u}
	switch at := deref(doc.ApplicationType); at {
	case "", "web":
	case "native":
		c.native = true
	default:
		return bad("application_type must be web or native, got %q", at)
	}
	if doc.DPoPBoundAccessTokens == nil || !*doc.DPoPBoundAccessTokens {
		return bad(`"dpop_bound_access_tokens" must be true`)
	}
	if len(doc.GrantTypes) == 0 {
		return bad("grant_types is required")
	}
	for i, g := range doc.GrantTypes {
		if g != "authorization_code" && g != "refresh_token" {
			return bad("grant type %q is not supported", g)
		}
		if slices.Contains(doc.GrantTypes[i+1:], g) {
			return bad("duplicate grant type %q", g)
		}
	}
	if !slices.Contains(doc.GrantTypes, "authorization_code") {
		return bad(`grant_types must include "authorization_code"`)
	}
	c.grantTypes = doc.GrantTypes
	if len(doc.ResponseTypes) == 0 {
		return bad(`response_types must include "code"`)
	}
	for _, rt := range doc.ResponseTypes {
		if rt != "code" {
			return bad("response type %q is not supported", rt)
		}
	}
	if doc.Scope == nil {
		return bad("scope is required")
	}
	c.scopes = strings.Split(*doc.Scope, " ")
	if err := checkClientScopes(c.scopes); err != nil {
		return bad("%s", err)
	}
	if len(doc.RedirectURIs) == 0 {
		return bad("at least one redirect_uri is required")
	}
	for _, r := range doc.RedirectURIs {
		if err := checkRedirectURI(u, c.native, r); err != nil {
			return bad("redirect_uri %q: %s", r, err)
		}
	}
	c.redirectURIs = doc.RedirectURIs
	if doc.ClientURI != nil {
		cu, err := url.Parse(*doc.ClientURI)
		if err != nil || cu.Scheme != "https" || cu.Host != u.Host {
			return bad("client_uri must have the same origin as the client_id")
		}
	}
	if doc.JWKS != nil && doc.JWKSURI != nil {
		return bad("jwks and jwks_uri are mutually exclusive")
	}
	switch m := deref(doc.TokenEndpointAuthMethod); m {
	case "":
		return bad("token_endpoint_auth_method is required (none or private_key_jwt)")
	case authMethodNone:
		if doc.TokenEndpointAuthSigningAlg != nil {
			return bad(`token_endpoint_auth_method "none" must not have token_endpoint_auth_signing_alg`)
		}
		c.authMethod = m
	case authMethodPrivateKey:
		c.authMethod = m
		if alg := deref(doc.TokenEndpointAuthSigningAlg); alg != "ES256" {
			return bad(`token_endpoint_auth_signing_alg must be "ES256" for private_key_jwt, got %q`, alg)
		}
		switch {
		case doc.JWKS != nil:
			set, err := parseClientJWKS(doc.JWKS)
			if err != nil {
				return bad("jwks: %s", err)
			}
			c.jwks = set
		case doc.JWKSURI != nil:
			ju, err := url.Parse(*doc.JWKSURI)
			if err != nil || ju.Scheme != "https" || ju.Host == "" {
				return bad("jwks_uri must be an https URL")
			}
			c.jwksURI = *doc.JWKSURI
		default:
			return bad("private_key_jwt requires jwks or jwks_uri")
		}
	default:
		return bad("token_endpoint_auth_method %q is not supported (use none or private_key_jwt)", m)
	}
	return c, nil
}

// fetchClientJSON GETs an application/json document with the client HTTP
// client: 200 only, no redirects, size capped.
func (n *Network) fetchClientJSON(ctx context.Context, target string) ([]byte, error) {
	if n.opts.ClientHTTPClient == nil {
		return nil, errors.New("cannot fetch " + target + ": Options.ClientHTTPClient is nil")
	}
	n.count(func(c *Counters) { c.ClientMetadataFetches++ })
	hc := *n.opts.ClientHTTPClient
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	if hc.Timeout == 0 {
		hc.Timeout = 10 * time.Second
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetching %s: %w", target, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetching %s: status %d (must be 200, redirects are not followed)", target, resp.StatusCode)
	}
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if mt != "application/json" {
		return nil, fmt.Errorf("fetching %s: content type %q (must be application/json)", target, mt)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxClientDocSize+1))
	if err != nil {
		return nil, fmt.Errorf("fetching %s: %w", target, err)
	}
	if len(body) > maxClientDocSize {
		return nil, fmt.Errorf("fetching %s: document larger than %d bytes", target, maxClientDocSize)
	}
	return body, nil
}

// parseClientJWKS parses a client JWKS: public keys only, each with a kid,
// at least one usable ES256 signing key.
func parseClientJWKS(raw []byte) (*jose.JSONWebKeySet, error) {
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(raw, &set); err != nil {
		return nil, err
	}
	usable := 0
	for _, k := range set.Keys {
		if !k.IsPublic() {
			return nil, errors.New("must contain public keys only")
		}
		if k.KeyID == "" {
			return nil, errors.New(`every key must have a "kid"`)
		}
		if isES256Key(k) {
			usable++
		}
	}
	if usable == 0 {
		return nil, errors.New("no ES256 (P-256) signing key")
	}
	return &set, nil
}

func isES256Key(k jose.JSONWebKey) bool {
	pub, ok := k.Key.(*ecdsa.PublicKey)
	return ok && pub.Curve == elliptic.P256() && (k.Algorithm == "" || k.Algorithm == "ES256") && (k.Use == "" || k.Use == "sig")
}

// checkClientScopes validates the scope set declared by a client.
func checkClientScopes(scopes []string) error {
	if !slices.Contains(scopes, "atproto") {
		return errors.New(`scope must include "atproto"`)
	}
	for i, s := range scopes {
		if !supportedScope(s) {
			return fmt.Errorf("unsupported scope %q", s)
		}
		if slices.Contains(scopes[i+1:], s) {
			return fmt.Errorf("duplicate scope %q", s)
		}
	}
	return nil
}

// checkRedirectURI applies the atproto rules for a redirect URI registered
// by an https client.
func checkRedirectURI(clientURL *url.URL, native bool, raw string) error {
	r, err := url.Parse(raw)
	if err != nil {
		return err
	}
	if r.User != nil {
		return errors.New("must not contain credentials")
	}
	if r.Fragment != "" || strings.Contains(raw, "#") {
		return errors.New("must not contain a fragment")
	}
	switch {
	case r.Hostname() == "localhost":
		return errors.New("use 127.0.0.1 or [::1] instead of localhost")
	case r.Scheme == "http" && (r.Hostname() == "127.0.0.1" || r.Hostname() == "::1"):
		if !native {
			return errors.New("loopback redirect URIs are only allowed for native clients")
		}
	case r.Scheme == "http":
		return errors.New(`only loopback redirect URIs may use "http"`)
	case r.Scheme == "https":
		if r.Hostname() != clientURL.Hostname() {
			return fmt.Errorf("must be on the client_id host %q", clientURL.Hostname())
		}
		if r.Port() == "443" {
			return errors.New("must not include the default port")
		}
	case strings.Contains(r.Scheme, "."):
		if !native {
			return errors.New("private-use URI schemes are only allowed for native clients")
		}
		if want := reverseDomain(clientURL.Hostname()); r.Scheme != want {
			return fmt.Errorf("private-use scheme must be the reversed client_id host %q", want)
		}
		if strings.HasPrefix(raw, r.Scheme+"://") || r.Host != "" || !strings.HasPrefix(r.Path, "/") {
			return fmt.Errorf("private-use URI must have the form %s:/<path>", r.Scheme)
		}
	default:
		return fmt.Errorf("invalid redirect URI scheme %q", r.Scheme)
	}
	return nil
}

func reverseDomain(host string) string {
	parts := strings.Split(host, ".")
	slices.Reverse(parts)
	return strings.Join(parts, ".")
}

// redirectURIMatches reports whether requested is one of the client's
// redirect URIs (ports are ignored for loopback IP redirect URIs).
func (c *client) redirectURIMatches(requested string) bool {
	if slices.Contains(c.redirectURIs, requested) {
		return true
	}
	ru, err := url.Parse(requested)
	if err != nil || ru.Scheme != "http" || (ru.Hostname() != "127.0.0.1" && ru.Hostname() != "::1") {
		return false
	}
	for _, reg := range c.redirectURIs {
		gu, err := url.Parse(reg)
		if err != nil || gu.Scheme != "http" {
			continue
		}
		if gu.Hostname() == ru.Hostname() && samePath(gu.Path, ru.Path) && gu.RawQuery == ru.RawQuery && ru.Fragment == "" {
			return true
		}
	}
	return false
}

func samePath(a, b string) bool {
	if a == "" {
		a = "/"
	}
	if b == "" {
		b = "/"
	}
	return a == b
}

// authenticateClient checks the client authentication of a PAR, token or
// revocation request.
func (n *Network) authenticateClient(ctx context.Context, c *client, form url.Values) (clientAuth, *oauthError) {
	if form.Get("client_secret") != "" {
		return clientAuth{}, oauthErr("invalid_client", "client_secret is not supported")
	}
	assertion, atype := form.Get("client_assertion"), form.Get("client_assertion_type")
	if c.authMethod == authMethodNone {
		if assertion != "" || atype != "" {
			return clientAuth{}, oauthErr("invalid_client", `public client (token_endpoint_auth_method "none") must not send a client assertion`)
		}
		return clientAuth{method: authMethodNone}, nil
	}
	if assertion == "" || atype == "" {
		return clientAuth{}, oauthErr("invalid_client", "confidential client must authenticate with client_assertion and client_assertion_type")
	}
	if atype != assertionTypeJWT {
		return clientAuth{}, oauthErr("invalid_client", "client_assertion_type must be %q", assertionTypeJWT)
	}
	tok, err := jwt.ParseSigned(assertion, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		return clientAuth{}, oauthErr("invalid_client", "client_assertion is not an ES256 JWT: %v", err)
	}
	if len(tok.Headers) != 1 || tok.Headers[0].KeyID == "" {
		return clientAuth{}, oauthErr("invalid_client", `client_assertion must carry a "kid" header`)
	}
	kid := tok.Headers[0].KeyID
	set := c.jwks
	if set == nil {
		body, ferr := n.fetchClientJSON(ctx, c.jwksURI)
		if ferr != nil {
			return clientAuth{}, oauthErr("invalid_client", "jwks_uri: %v", ferr)
		}
		if set, err = parseClientJWKS(body); err != nil {
			return clientAuth{}, oauthErr("invalid_client", "jwks_uri: %v", err)
		}
	}
	var key *jose.JSONWebKey
	for _, k := range set.Key(kid) {
		if isES256Key(k) {
			key = &k
			break
		}
	}
	if key == nil {
		return clientAuth{}, oauthErr("invalid_client", "client_assertion kid %q is not an ES256 key of the client's JWKS", kid)
	}
	var claims jwt.Claims
	if err := tok.Claims(key.Key, &claims); err != nil {
		return clientAuth{}, oauthErr("invalid_client", "client_assertion signature invalid: %v", err)
	}
	now := n.now()
	switch {
	case claims.Issuer != c.id:
		return clientAuth{}, oauthErr("invalid_client", `client_assertion "iss" must be the client_id`)
	case claims.Subject != c.id:
		return clientAuth{}, oauthErr("invalid_client", `client_assertion "sub" must be the client_id`)
	case !claims.Audience.Contains(n.Issuer()):
		return clientAuth{}, oauthErr("invalid_client", `client_assertion "aud" must be the issuer %q`, n.Issuer())
	case claims.Expiry == nil:
		return clientAuth{}, oauthErr("invalid_client", `client_assertion "exp" is required`)
	case !claims.Expiry.Time().After(now):
		return clientAuth{}, oauthErr("invalid_client", "client_assertion expired")
	case claims.Expiry.Time().After(now.Add(clientAssertionMaxLife)):
		return clientAuth{}, oauthErr("invalid_client", `client_assertion "exp" too far in the future (max %s)`, clientAssertionMaxLife)
	case claims.IssuedAt == nil:
		return clientAuth{}, oauthErr("invalid_client", `client_assertion "iat" is required`)
	case claims.IssuedAt.Time().After(now.Add(dpopMaxSkew)):
		return clientAuth{}, oauthErr("invalid_client", "client_assertion issued in the future")
	case claims.IssuedAt.Time().Before(now.Add(-clientAssertionMaxAge - dpopMaxSkew)):
		return clientAuth{}, oauthErr("invalid_client", "client_assertion too old (max age %s)", clientAssertionMaxAge)
	case claims.ID == "":
		return clientAuth{}, oauthErr("invalid_client", `client_assertion "jti" is required`)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	for jti, exp := range n.assertionJTIs {
		if now.After(exp.Add(time.Hour)) {
			delete(n.assertionJTIs, jti)
		}
	}
	jtiKey := c.id + "\x00" + claims.ID
	if _, seen := n.assertionJTIs[jtiKey]; seen {
		return clientAuth{}, oauthErr("invalid_client", `client_assertion replayed ("jti" already used)`)
	}
	n.assertionJTIs[jtiKey] = claims.Expiry.Time()
	return clientAuth{method: authMethodPrivateKey, kid: kid}, nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
