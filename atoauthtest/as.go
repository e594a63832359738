package atoauthtest

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"html"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/bluesky-social/indigo/atproto/syntax"
)

const (
	parLifetime     = 5 * time.Minute
	codeLifetime    = 5 * time.Minute
	maxFormSize     = 64 << 10
	requestURIPfx   = "urn:ietf:params:oauth:request_uri:"
	approvalHeader  = "Atoauthtest-Approval"
	validPrompts    = "login consent select_account create none"
	validDisplays   = "page popup touch wap"
	pkceUnreserved  = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~"
	challengeLength = 43 // base64url of a SHA-256 digest
)

// parRequest is a pushed authorization request awaiting the browser.
type parRequest struct {
	requestURI  string
	client      *client
	auth        clientAuth
	redirectURI string
	scope       string
	state       string
	challenge   string
	loginHint   string
	prompt      string
	jkt         string
	expires     time.Time
}

// authCode is an authorization code and what it is bound to.
type authCode struct {
	clientID    string
	auth        clientAuth
	redirectURI string
	challenge   string
	jkt         string
	scope       string
	did         syntax.DID
	expires     time.Time
	used        bool
	session     *session // minted from the code, ended if the code is replayed
}

// session is an OAuth session: one access token and one current refresh
// token at a time, bound to a DPoP key and a client.
type session struct {
	id         string
	did        syntax.DID
	clientID   string
	auth       clientAuth
	scope      string
	jkt        string
	refreshOK  bool // the client may use refresh tokens
	access     string
	accessExp  time.Time
	refreshAll []string // every refresh token of the session
}

type refreshEntry struct {
	sess    *session
	used    bool
	expires time.Time
}

func (n *Network) asHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc(asMetadataPath, n.serveASMetadata)
	mux.HandleFunc(movedPrefix+asMetadataPath, n.serveASMetadata)
	mux.HandleFunc(parPath, n.handlePAR)
	mux.HandleFunc(authorizePath, n.handleAuthorize)
	mux.HandleFunc(tokenPath, n.handleToken)
	mux.HandleFunc(revokePath, n.handleRevoke)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "not_found", "error_description": "no such endpoint: " + r.URL.Path})
	})
	return mux
}

// asError writes an OAuth error response and logs it.
func (n *Network) asError(w http.ResponseWriter, r *http.Request, e *oauthError) {
	n.log.Info("atoauthtest: authorization server rejected request", "path", r.URL.Path, "error", e.code, "description", e.desc)
	if e.code == "use_dpop_nonce" {
		n.count(func(c *Counters) { c.ASNonceChallenges++ })
	}
	if e.status == http.StatusMethodNotAllowed {
		w.Header().Set("Allow", http.MethodPost)
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, e.status, map[string]string{"error": e.code, "error_description": e.desc})
}

func dpopToOAuth(e *dpopError) *oauthError {
	return &oauthError{status: http.StatusBadRequest, code: e.code, desc: e.desc}
}

// parseForm reads a form-encoded POST body strictly: POST only, the right
// content type, no query string, no repeated parameters. Parameters with an
// empty value are dropped (RFC 6749 §3.1).
func parseForm(r *http.Request) (url.Values, *oauthError) {
	if r.Method != http.MethodPost {
		return nil, &oauthError{status: http.StatusMethodNotAllowed, code: "invalid_request", desc: "method must be POST"}
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/x-www-form-urlencoded" {
		return nil, oauthErr("invalid_request", "content type must be application/x-www-form-urlencoded, got %q", r.Header.Get("Content-Type"))
	}
	if r.URL.RawQuery != "" {
		return nil, oauthErr("invalid_request", "parameters must be sent in the request body, not the query string")
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxFormSize+1))
	if err != nil {
		return nil, oauthErr("invalid_request", "reading body: %v", err)
	}
	if len(body) > maxFormSize {
		return nil, oauthErr("invalid_request", "request body too large")
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, oauthErr("invalid_request", "malformed form body: %v", err)
	}
	for k, vs := range form {
		if len(vs) > 1 {
			return nil, oauthErr("invalid_request", "parameter %q must not be repeated", k)
		}
		if vs[0] == "" {
			delete(form, k)
		}
	}
	return form, nil
}

// handlePAR is the pushed authorization request endpoint (RFC 9126).
func (n *Network) handlePAR(w http.ResponseWriter, r *http.Request) {
	par, e := n.pushAuthorizationRequest(r)
	if e != nil {
		n.asError(w, r, e)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusCreated, map[string]any{
		"request_uri": par.requestURI,
		"expires_in":  int(parLifetime / time.Second),
	})
}

// checkClientRequest checks, in the reference server's order, what a
// PAR, a code exchange and a revocation start with: the DPoP proof, then
// the client and its authentication.
func (n *Network) checkClientRequest(r *http.Request, form url.Values) (*dpopProof, *client, clientAuth, *oauthError) {
	proof, de := n.asDPoP.verify(r, false, "")
	if de != nil {
		return nil, nil, clientAuth{}, dpopToOAuth(de)
	}
	c, e := n.resolveClient(r.Context(), form.Get("client_id"))
	if e != nil {
		return nil, nil, clientAuth{}, e
	}
	auth, e := n.authenticateClient(r.Context(), c, form)
	if e != nil {
		return nil, nil, clientAuth{}, e
	}
	return proof, c, auth, nil
}

func (n *Network) pushAuthorizationRequest(r *http.Request) (*parRequest, *oauthError) {
	form, e := parseForm(r)
	if e != nil {
		return nil, e
	}
	proof, c, auth, e := n.checkClientRequest(r, form)
	if e != nil {
		return nil, e
	}
	switch {
	case form.Get("request") != "":
		return nil, oauthErr("request_not_supported", "request objects (JAR) are not supported")
	case form.Get("request_uri") != "":
		return nil, oauthErr("invalid_request", "request_uri must not be used in a pushed authorization request")
	case form.Get("response_type") == "":
		return nil, oauthErr("invalid_request", `"response_type" is required and must be "code"`)
	case form.Get("response_type") != "code":
		return nil, oauthErr("unsupported_response_type", `response_type must be "code"`)
	case form.Get("response_mode") != "" && form.Get("response_mode") != "query":
		return nil, oauthErr("invalid_request", `response_mode must be "query"`)
	}
	challenge, method := form.Get("code_challenge"), form.Get("code_challenge_method")
	switch {
	case challenge == "":
		return nil, oauthErr("invalid_request", `PKCE is required: "code_challenge" missing`)
	case method == "":
		return nil, oauthErr("invalid_request", `"code_challenge_method" is required (only S256 is supported; plain is not allowed)`)
	case method != "S256":
		return nil, oauthErr("invalid_request", "code_challenge_method %q is not supported: use S256", method)
	case len(challenge) != challengeLength || strings.Trim(challenge, pkceUnreserved) != "" || strings.ContainsAny(challenge, ".~"):
		return nil, oauthErr("invalid_request", "code_challenge must be the base64url SHA-256 of the verifier (43 characters)")
	}
	redirectURI := form.Get("redirect_uri")
	if redirectURI == "" {
		return nil, oauthErr("invalid_request", `"redirect_uri" is required`)
	}
	if !c.redirectURIMatches(redirectURI) {
		return nil, oauthErr("invalid_request", "redirect_uri %q is not registered for this client", redirectURI)
	}
	scope := form.Get("scope")
	if scope == "" {
		return nil, oauthErr("invalid_scope", `"scope" is required and must include "atproto"`)
	}
	scopes := strings.Split(scope, " ")
	if !slices.Contains(scopes, ScopeAtproto) {
		return nil, oauthErr("invalid_scope", `scope must include "atproto"`)
	}
	for i, s := range scopes {
		if s == "" {
			return nil, oauthErr("invalid_scope", "scope values must be separated by single spaces")
		}
		if !slices.Contains(c.scopes, s) {
			return nil, oauthErr("invalid_scope", "scope %q is not declared in the client metadata scope %q", s, strings.Join(c.scopes, " "))
		}
		if slices.Contains(scopes[i+1:], s) {
			return nil, oauthErr("invalid_scope", "duplicate scope %q", s)
		}
	}
	state := form.Get("state")
	if state == "" {
		return nil, oauthErr("invalid_request", `"state" is required`)
	}
	if hint := form.Get("login_hint"); hint != "" {
		if _, err := syntax.ParseAtIdentifier(hint); err != nil {
			return nil, oauthErr("invalid_request", "login_hint must be a handle or a DID")
		}
	}
	if p := form.Get("prompt"); p != "" && !slices.Contains(strings.Fields(validPrompts), p) {
		return nil, oauthErr("invalid_request", "unsupported prompt %q", p)
	}
	// As the reference server's request schema (@atproto/oauth-types).
	if d := form.Get("display"); d != "" && !slices.Contains(strings.Fields(validDisplays), d) {
		return nil, oauthErr("invalid_request", "unsupported display %q", d)
	}
	if l := form.Get("ui_locales"); l != "" && !uiLocalesPattern.MatchString(l) {
		return nil, oauthErr("invalid_request", "invalid ui_locales %q", l)
	}
	if jkt := form.Get("dpop_jkt"); jkt != "" && jkt != proof.jkt {
		return nil, oauthErr("invalid_request", "dpop_jkt does not match the DPoP proof key")
	}

	n.mu.Lock()
	defer n.mu.Unlock()
	if n.challenges[challenge] {
		return nil, oauthErr("invalid_request", "code_challenge already used: use a fresh PKCE verifier for every request")
	}
	stateKey := c.id + "\x00" + state
	if n.states[stateKey] {
		return nil, oauthErr("invalid_request", "state already used: use a fresh random state for every request")
	}
	n.challenges[challenge] = true
	n.states[stateKey] = true
	par := &parRequest{
		requestURI:  requestURIPfx + randomToken("req-", 16),
		client:      c,
		auth:        auth,
		redirectURI: redirectURI,
		scope:       scope,
		state:       state,
		challenge:   challenge,
		loginHint:   form.Get("login_hint"),
		prompt:      form.Get("prompt"),
		jkt:         proof.jkt,
		expires:     n.now().Add(parLifetime),
	}
	n.pars[par.requestURI] = par
	n.pushed.addLocked(par.requestURI, form)
	n.counters.PAR++
	return par, nil
}

// handleAuthorize is the browser-facing authorization endpoint. A plain GET
// shows a placeholder page; [Network.Approve] drives the actual decision.
func (n *Network) handleAuthorize(w http.ResponseWriter, r *http.Request) {
	fail := func(e *oauthError) {
		n.log.Info("atoauthtest: authorization endpoint rejected request", "error", e.code, "description", e.desc)
		writeJSON(w, e.status, map[string]string{"error": e.code, "error_description": e.desc})
	}
	if r.Method != http.MethodGet {
		fail(&oauthError{status: http.StatusMethodNotAllowed, code: "invalid_request", desc: "method must be GET"})
		return
	}
	q := r.URL.Query()
	for k := range q {
		if k != "client_id" && k != "request_uri" {
			fail(oauthErr("invalid_request", "unexpected parameter %q: the authorization URL must carry only client_id and request_uri (PAR is required)", k))
			return
		}
	}
	if len(q["client_id"]) != 1 || len(q["request_uri"]) != 1 {
		fail(oauthErr("invalid_request", "client_id and request_uri are required, once each"))
		return
	}
	ticket := r.Header.Get(approvalHeader)
	if ticket == "" {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = io.WriteString(w, "<!doctype html><title>atoauthtest</title><p>Fake authorization page for "+
			html.EscapeString(q.Get("client_id"))+". Use Network.Approve to sign in and decide.</p>")
		return
	}
	target, e := n.decide(ticket, q.Get("client_id"), q.Get("request_uri"))
	if e != nil {
		fail(e)
		return
	}
	w.Header().Set("Location", target)
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusFound)
}

// decide consumes the pushed request and the approval ticket and returns the
// redirect target.
func (n *Network) decide(ticket, clientID, requestURI string) (string, *oauthError) {
	n.mu.Lock()
	defer n.mu.Unlock()
	ap := n.approvals[ticket]
	delete(n.approvals, ticket)
	if ap == nil {
		return "", oauthErr("invalid_request", "unknown approval ticket")
	}
	par := n.pars[requestURI]
	if par == nil {
		return "", oauthErr("invalid_request", "unknown or already used request_uri")
	}
	delete(n.pars, requestURI) // single use
	if par.client.id != clientID {
		return "", oauthErr("invalid_request", "client_id does not match the pushed authorization request")
	}
	if !n.now().Before(par.expires) {
		return "", oauthErr("invalid_request", "request_uri expired")
	}
	params := url.Values{"state": {par.state}}
	t := n.tamper
	switch {
	case t.CallbackIss == nil:
		params.Set("iss", n.Issuer())
	case *t.CallbackIss != "":
		params.Set("iss", *t.CallbackIss)
	}
	switch {
	case ap.deny:
		params.Set("error", "access_denied")
		params.Set("error_description", "The user denied the authorization request")
	case par.prompt == "none":
		params.Set("error", "login_required")
		params.Set("error_description", "prompt=none: the fake has no existing browser session")
	default:
		acct := n.accounts[ap.account]
		if acct == nil {
			return "", oauthErr("access_denied", "Approve: %s is not an account of this network", ap.account)
		}
		if par.loginHint != "" && !hintMatches(par.loginHint, acct) {
			return "", oauthErr("access_denied", "Approve: login_hint %q allows signing in only as that account, not as %s (%s)", par.loginHint, acct.did, acct.handle)
		}
		granted := par.scope
		if ap.scope != "" {
			req := strings.Split(par.scope, " ")
			got := strings.Fields(ap.scope)
			if !scopeSubset(got, req) || !slices.Contains(got, ScopeAtproto) {
				return "", oauthErr("invalid_scope", "Approve: granted scope %q must include atproto and be a subset of the requested %q", ap.scope, par.scope)
			}
			granted = strings.Join(got, " ")
		}
		code := randomToken("cod-", 32)
		n.codes[code] = &authCode{
			clientID:    par.client.id,
			auth:        par.auth,
			redirectURI: par.redirectURI,
			challenge:   par.challenge,
			jkt:         par.jkt,
			scope:       granted,
			did:         acct.did,
			expires:     n.now().Add(codeLifetime),
		}
		params.Set("code", code)
	}
	n.counters.Authorizations++
	return appendQuery(par.redirectURI, params), nil
}

func hintMatches(hint string, a *account) bool {
	id, err := syntax.ParseAtIdentifier(hint)
	if err != nil {
		return false
	}
	if id.IsDID() {
		return id.DID() == a.did
	}
	h, _ := id.AsHandle()
	return h.Normalize() == a.handle
}

// appendQuery adds params to the query of target, keeping its own.
func appendQuery(target string, params url.Values) string {
	u, err := url.Parse(target)
	if err != nil {
		return target
	}
	q := u.Query()
	for k, vs := range params {
		q[k] = vs
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// tokenResponse is the body of a successful token response.
type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	RefreshToken string `json:"refresh_token,omitempty"`
	Scope        string `json:"scope"`
	Sub          string `json:"sub"`
}

// handleToken is the token endpoint.
func (n *Network) handleToken(w http.ResponseWriter, r *http.Request) {
	n.count(func(c *Counters) { c.TokenRequests++ })
	form, e := parseForm(r)
	if e != nil {
		n.asError(w, r, e)
		return
	}
	if te := n.currentTamper().TokenError; te != nil {
		if a := te(form.Get("grant_type")); a != nil {
			if a.Code == "" {
				http.Error(w, http.StatusText(a.Status), a.Status)
				return
			}
			n.asError(w, r, &oauthError{status: a.Status, code: a.Code, desc: a.Description})
			return
		}
	}
	var resp *tokenResponse
	switch gt := form.Get("grant_type"); gt {
	case "authorization_code":
		resp, e = n.codeGrant(r, form)
	case "refresh_token":
		resp, e = n.refreshGrant(r, form)
	case "":
		e = oauthErr("invalid_request", `"grant_type" is required`)
	default:
		e = oauthErr("unsupported_grant_type", "grant_type %q is not supported", gt)
	}
	if e != nil {
		n.asError(w, r, e)
		return
	}
	t := n.currentTamper()
	m := toGeneric(resp)
	if t.TokenResponse != nil {
		t.TokenResponse(m)
	}
	n.sleepCtx(r.Context(), t.TokenDelay)
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	writeJSON(w, http.StatusOK, m)
}

func (n *Network) codeGrant(r *http.Request, form url.Values) (*tokenResponse, *oauthError) {
	proof, c, auth, e := n.checkClientRequest(r, form)
	if e != nil {
		return nil, e
	}
	code, redirectURI, verifier := form.Get("code"), form.Get("redirect_uri"), form.Get("code_verifier")
	switch {
	case code == "":
		return nil, oauthErr("invalid_request", `"code" is required`)
	case redirectURI == "":
		return nil, oauthErr("invalid_request", `"redirect_uri" is required`)
	case verifier == "":
		return nil, oauthErr("invalid_request", `"code_verifier" is required (PKCE)`)
	}

	n.mu.Lock()
	defer n.mu.Unlock()
	ac := n.codes[code]
	switch {
	case ac == nil:
		return nil, oauthErr("invalid_grant", "invalid authorization code")
	case ac.used:
		if ac.session != nil {
			n.endSessionLocked(ac.session)
		}
		return nil, oauthErr("invalid_grant", "authorization code replayed (the session issued from it is revoked)")
	}
	ac.used = true // any presentation consumes the code
	switch {
	case !n.now().Before(ac.expires):
		return nil, oauthErr("invalid_grant", "authorization code expired")
	case ac.clientID != c.id:
		return nil, oauthErr("invalid_grant", "authorization code was issued to another client")
	case ac.redirectURI != redirectURI:
		return nil, oauthErr("invalid_grant", "redirect_uri does not match the one of the authorization request")
	case !pkceMatches(verifier, ac.challenge):
		return nil, oauthErr("invalid_grant", "PKCE verification failed: code_verifier does not match code_challenge")
	case proof.jkt != ac.jkt:
		return nil, oauthErr("invalid_grant", "DPoP key differs from the key used for the pushed authorization request")
	case auth != ac.auth:
		return nil, oauthErr("invalid_grant", "client authentication (method and kid) differs from the pushed authorization request")
	}
	s := &session{
		id:        randomToken("ses-", 16),
		did:       ac.did,
		clientID:  c.id,
		auth:      auth,
		scope:     ac.scope,
		jkt:       ac.jkt,
		refreshOK: slices.Contains(c.grantTypes, "refresh_token"),
	}
	n.sessions[s.id] = s
	ac.session = s
	n.counters.CodeExchanges++
	return n.issueTokensLocked(s), nil
}

func (n *Network) refreshGrant(r *http.Request, form url.Values) (*tokenResponse, *oauthError) {
	c, e := n.resolveClient(r.Context(), form.Get("client_id"))
	if e != nil {
		return nil, e
	}
	if !slices.Contains(c.grantTypes, "refresh_token") {
		return nil, oauthErr("unauthorized_client", `client metadata does not declare the "refresh_token" grant type`)
	}
	auth, e := n.authenticateClient(r.Context(), c, form)
	if e != nil {
		return nil, e
	}
	rt := form.Get("refresh_token")
	if rt == "" {
		return nil, oauthErr("invalid_request", `"refresh_token" is required`)
	}

	// Like the reference server, consume the refresh token before the DPoP
	// proof is checked: a refresh with a stale nonce burns the token.
	n.mu.Lock()
	ent := n.refreshTokens[rt]
	switch {
	case ent == nil:
		n.mu.Unlock()
		return nil, oauthErr("invalid_grant", "invalid refresh token")
	case ent.sess.clientID != c.id:
		n.mu.Unlock()
		return nil, oauthErr("invalid_grant", "refresh token was issued to another client")
	case ent.used:
		n.endSessionLocked(ent.sess)
		n.counters.RefreshReplays++
		n.mu.Unlock()
		return nil, oauthErr("invalid_grant", "refresh token replayed")
	}
	ent.used = true
	s := ent.sess
	if !n.now().Before(ent.expires) {
		n.endSessionLocked(s)
		n.mu.Unlock()
		return nil, oauthErr("invalid_grant", "refresh token expired")
	}
	n.mu.Unlock()

	proof, de := n.asDPoP.verify(r, false, "")
	if de != nil {
		return nil, dpopToOAuth(de)
	}

	n.mu.Lock()
	defer n.mu.Unlock()
	switch {
	case n.sessions[s.id] != s:
		return nil, oauthErr("invalid_grant", "session revoked")
	case proof.jkt != s.jkt:
		return nil, oauthErr("invalid_grant", "DPoP key differs from the session's key")
	case auth != s.auth:
		return nil, oauthErr("invalid_grant", "client authentication (method and kid) differs from the one the session is bound to")
	}
	n.counters.Refreshes++
	return n.issueTokensLocked(s), nil
}

// issueTokensLocked mints a new access token (and refresh token) for s,
// replacing the current access token.
func (n *Network) issueTokensLocked(s *session) *tokenResponse {
	now := n.now()
	if s.access != "" {
		delete(n.accessTokens, s.access)
	}
	s.access = randomToken("at-", 32)
	s.accessExp = now.Add(n.opts.AccessTokenTTL)
	n.accessTokens[s.access] = s
	n.issuedAccess[s.access] = true
	resp := &tokenResponse{
		AccessToken: s.access,
		TokenType:   "DPoP",
		ExpiresIn:   int64(n.opts.AccessTokenTTL / time.Second),
		Scope:       s.scope,
		Sub:         s.did.String(),
	}
	if s.refreshOK {
		rt := randomToken("ref-", 32)
		n.refreshTokens[rt] = &refreshEntry{sess: s, expires: now.Add(n.opts.RefreshTokenTTL)}
		s.refreshAll = append(s.refreshAll, rt)
		resp.RefreshToken = rt
	}
	return resp
}

// endSessionLocked invalidates every token of s.
func (n *Network) endSessionLocked(s *session) {
	delete(n.sessions, s.id)
	delete(n.accessTokens, s.access)
	for _, rt := range s.refreshAll {
		delete(n.refreshTokens, rt)
	}
}

func pkceMatches(verifier, challenge string) bool {
	if len(verifier) < 43 || len(verifier) > 128 || strings.Trim(verifier, pkceUnreserved) != "" {
		return false
	}
	sum := sha256.Sum256([]byte(verifier))
	got := base64.RawURLEncoding.EncodeToString(sum[:])
	return subtle.ConstantTimeCompare([]byte(got), []byte(challenge)) == 1
}

// handleRevoke is the RFC 7009 revocation endpoint. Revoking either token
// of a session ends the session.
func (n *Network) handleRevoke(w http.ResponseWriter, r *http.Request) {
	e := n.revoke(r)
	if e != nil {
		n.asError(w, r, e)
		return
	}
	if n.currentTamper().RevokeNoContent {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	w.WriteHeader(http.StatusOK)
}

func (n *Network) revoke(r *http.Request) *oauthError {
	form, e := parseForm(r)
	if e != nil {
		return e
	}
	_, c, _, e := n.checkClientRequest(r, form)
	if e != nil {
		return e
	}
	tok := form.Get("token")
	if tok == "" {
		return oauthErr("invalid_request", `"token" is required`)
	}
	if h := form.Get("token_type_hint"); h != "" && h != "access_token" && h != "refresh_token" {
		return oauthErr("unsupported_token_type", "token_type_hint %q is not supported", h)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	var s *session
	if x := n.accessTokens[tok]; x != nil {
		s = x
	} else if ent := n.refreshTokens[tok]; ent != nil {
		s = ent.sess
	}
	if s != nil && s.clientID == c.id {
		n.endSessionLocked(s)
	}
	n.counters.Revocations++
	return nil
}
