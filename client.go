package atoauth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/atoauth/atoauth/discovery"
	"github.com/atoauth/atoauth/dpop"
	"github.com/atoauth/atoauth/jwk"
	"github.com/atoauth/atoauth/safehttp"
	"github.com/atoauth/atoauth/scope"
	"github.com/bluesky-social/indigo/atproto/syntax"
	"golang.org/x/sync/singleflight"
)

// Client is an atproto OAuth client. Create it with NewClient; it is safe
// for concurrent use, and one Client should serve the whole program so
// that nonces, metadata caches and in-process refresh coordination are
// shared.
type Client struct {
	cfg      Config
	md       *ClientMetadata
	store    Store
	base     http.RoundTripper // the hardened transport of Config.HTTPClient
	resolver *discovery.Resolver
	nonces   *dpop.NonceCache
	log      *slog.Logger
	keys     map[string]*jwk.Key

	refreshes singleflight.Group // key: session id
}

// NewClient validates cfg and returns a Client. Configuration mistakes
// are reported as *ConfigError (matching ErrInvalidConfig).
func NewClient(cfg Config) (*Client, error) {
	md, err := buildMetadata(&cfg)
	if err != nil {
		return nil, err
	}
	if r := cfg.Resolver; r != nil {
		switch {
		case cfg.PLCURL != "" || cfg.HandleResolver != "":
			return nil, &ConfigError{Field: "Resolver", Reason: "a Resolver carries its own PLC directory and handle resolver: set them on its Directory, not PLCURL or HandleResolver"}
		case cfg.AllowInsecureDevelopment != r.AllowInsecureDevelopment:
			return nil, &ConfigError{Field: "AllowInsecureDevelopment", Reason: "differs from the Resolver's AllowInsecureDevelopment; set both the same"}
		}
	}
	if cfg.Store == nil {
		cfg.Store = NewMemoryStore()
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.AuthRequestTTL <= 0 {
		cfg.AuthRequestTTL = 10 * time.Minute
	}
	if cfg.RefreshMargin <= 0 {
		cfg.RefreshMargin = 2 * time.Minute
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = safehttp.NewClient(safehttp.Options{AllowInsecureDevelopment: cfg.AllowInsecureDevelopment})
	}
	if cfg.Resolver == nil {
		cfg.Resolver = &discovery.Resolver{
			HTTPClient: cfg.HTTPClient,
			Directory: discovery.NewDirectory(discovery.DirectoryOptions{
				HTTPClient:               cfg.HTTPClient,
				PLCURL:                   cfg.PLCURL,
				HandleResolver:           cfg.HandleResolver,
				AllowInsecureDevelopment: cfg.AllowInsecureDevelopment,
			}),
			AllowInsecureDevelopment: cfg.AllowInsecureDevelopment,
			Clock:                    cfg.Clock,
			Logger:                   cfg.Logger,
		}
	}
	base := cfg.HTTPClient.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	c := &Client{
		cfg:      cfg,
		md:       md,
		store:    cfg.Store,
		resolver: cfg.Resolver,
		nonces:   newNonceCache(&cfg),
		log:      cfg.Logger,
		keys:     make(map[string]*jwk.Key),
	}
	c.base = base
	for _, k := range cfg.Keys {
		c.keys[k.KeyID()] = k
	}
	return c, nil
}

// ClientID returns the client_id: the metadata document URL, or the
// http://localhost?… identifier of a loopback development client.
func (c *Client) ClientID() string { return c.md.ClientID }

// Metadata returns a copy of the client metadata document.
func (c *Client) Metadata() ClientMetadata {
	m := *c.md
	m.GrantTypes = slices.Clone(m.GrantTypes)
	m.ResponseTypes = slices.Clone(m.ResponseTypes)
	m.RedirectURIs = slices.Clone(m.RedirectURIs)
	return m
}

// JWKS returns the public keys of a confidential client (empty for public
// clients), to be served at the JWKS URI.
func (c *Client) JWKS() jwk.Set {
	var s jwk.Set
	for _, k := range c.cfg.Keys {
		s.Keys = append(s.Keys, k.PublicJWK())
	}
	return s
}

// Store returns the store the client keeps sessions in.
func (c *Client) Store() Store { return c.store }

// Resolver returns the resolver used for identities and server metadata.
func (c *Client) Resolver() *discovery.Resolver { return c.resolver }

// MetadataHandler serves the client metadata document as JSON, with no
// redirect, as authorization servers require.
func (c *Client) MetadataHandler() http.Handler { return jsonHandler(c.Metadata()) }

// JWKSHandler serves the client's public keys (RFC 7517 §5).
func (c *Client) JWKSHandler() http.Handler { return jsonHandler(c.JWKS()) }

func jsonHandler(v any) http.Handler {
	body, err := json.MarshalIndent(v, "", "  ")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err != nil {
			http.Error(w, "metadata unavailable", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "public, max-age=300")
		_, _ = w.Write(body)
	})
}

// StartOptions adjusts one login.
type StartOptions struct {
	// Scope asks for these scopes (space-separated) instead of the whole
	// metadata scope. It must be a subset of Config.Scope and include
	// "atproto"; the server may grant fewer.
	Scope string
	// Prompt is sent as the prompt parameter: "login", "consent",
	// "select_account", "create" or "none".
	Prompt string
	// RedirectURI selects one of Config.RedirectURIs. Default: the first.
	RedirectURI string
	// Display is sent as the display parameter (OpenID Connect Core
	// §3.1.2.1), the kind of page the authorization server should show:
	// "page", "popup", "touch" or "wap", the values the reference server
	// accepts.
	Display string
	// UILocales is sent as ui_locales: the person's preferred languages
	// for the authorization pages, most preferred first, as
	// space-separated BCP 47 tags. atoauth accepts the form the reference
	// server does — a 2- or 3-letter language with an optional 2-letter
	// region, like "fr-CA fr en", at most MaxUILocales — and sends it with
	// its case fixed ("en-us" as "en-US"). UILocalesFromAcceptLanguage
	// converts an Accept-Language header.
	UILocales string
	// LoginHint is sent as login_hint: a handle (a leading "@" is
	// dropped, the case folded) or a DID naming the account to sign in.
	// By default a login that starts from a handle or a DID sends the
	// account's verified handle, or its DID when the handle does not
	// verify, and a login that starts from a server URL sends none. For a
	// login from a handle or DID, LoginHint must name that account (its
	// DID or its verified handle); for one from a server URL it is only a
	// hint: the session is for whoever signs in (see Session.DID).
	LoginHint string
	// AppState is the app's own data for this login — where to return
	// after it, say — kept with the pending login (sealed in stores that
	// seal secrets), never sent to a server, and returned by
	// CallbackWithAppState. At most MaxAppState bytes. It is not a CSRF
	// defence: bind the login to the browser with CallbackOptions.State.
	AppState string
}

// Authorization is a started login: send the browser to URL. State is the
// login's single-use state; a web app should also keep it in an HttpOnly
// cookie and pass it back as CallbackOptions.State, which binds the login
// to the browser that started it.
type Authorization struct {
	URL       string
	State     string
	ExpiresAt time.Time
}

// registeredRedirect tells whether uri is one of the client's redirect
// URIs. For a loopback client the port does not count (RFC 8252 §7.3), so
// a command-line tool can register http://127.0.0.1/callback once, keep a
// stable client_id, and listen on a different free port for each login.
func (c *Client) registeredRedirect(uri string) bool {
	if slices.Contains(c.md.RedirectURIs, uri) {
		return true
	}
	if c.cfg.ClientID != "" {
		return false
	}
	u, err := url.Parse(uri)
	if err != nil || checkLoopbackRedirect(uri) != nil {
		return false
	}
	for _, r := range c.md.RedirectURIs {
		ru, err := url.Parse(r)
		if err == nil && ru.Hostname() == u.Hostname() && ru.Path == u.Path && ru.RawQuery == u.RawQuery {
			return true
		}
	}
	return false
}

var validPrompts = []string{"login", "consent", "select_account", "create", "none"}

// Start begins a login for identifier — a handle, a DID, or the URL of a
// PDS or entryway (the account is then chosen at the server). It resolves
// the identifier to its authorization server, sends a pushed authorization
// request (RFC 9126) with PKCE S256 and a DPoP proof, stores the pending
// request, and returns the URL to send the browser to.
func (c *Client) Start(ctx context.Context, identifier string, opts *StartOptions) (*Authorization, error) {
	auth, err := c.start(ctx, identifier, opts)
	c.observeLogin(LoginStart, err)
	return auth, err
}

func (c *Client) start(ctx context.Context, identifier string, opts *StartOptions) (*Authorization, error) {
	if opts == nil {
		opts = &StartOptions{}
	}
	// Checked here, before PAR: a malformed permission would only come
	// back as the server's invalid_scope.
	if _, err := scope.Parse(opts.Scope); err != nil {
		return nil, fmt.Errorf("atoauth: StartOptions.Scope: %w", err)
	}
	wantScope := c.md.Scope
	if opts.Scope != "" {
		requested := scopeList(opts.Scope)
		allowed := scopeList(c.md.Scope)
		for _, s := range requested {
			if !slices.Contains(allowed, s) {
				return nil, fmt.Errorf("atoauth: scope %q is not declared in the client metadata scope %q: declare every scope a login may ask for", s, c.md.Scope)
			}
		}
		if !slices.Contains(requested, "atproto") {
			return nil, fmt.Errorf("%w: a login must ask for the \"atproto\" scope", ErrScopeMissing)
		}
		wantScope = strings.Join(requested, " ")
	}
	if opts.Prompt != "" && !slices.Contains(validPrompts, opts.Prompt) {
		return nil, fmt.Errorf("%w: prompt %q is not one of %s", ErrInvalidStartOptions, cleanText(opts.Prompt), strings.Join(validPrompts, ", "))
	}
	redirectURI := c.md.RedirectURIs[0]
	if opts.RedirectURI != "" {
		if !c.registeredRedirect(opts.RedirectURI) {
			return nil, fmt.Errorf("%w: redirect URI %q is not one of the client's redirect URIs", ErrInvalidStartOptions, cleanText(opts.RedirectURI))
		}
		redirectURI = opts.RedirectURI
	}
	uiLocales, explicitHint, err := checkStartOptions(opts)
	if err != nil {
		return nil, err
	}

	target, err := c.resolver.ResolveLogin(ctx, identifier)
	if err != nil {
		return nil, fmt.Errorf("atoauth: cannot start login for %q: %w", cleanText(identifier), err)
	}
	as := target.AuthServer
	loginHint, err := loginHintFor(target, explicitHint)
	if err != nil {
		return nil, err
	}

	key, err := jwk.Generate()
	if err != nil {
		return nil, err
	}
	verifier := randomToken(32)
	challenge := sha256.Sum256([]byte(verifier))
	state := randomToken(32)
	now := c.cfg.Clock()

	req := &AuthRequest{
		State:        state,
		Issuer:       as.Issuer,
		PDS:          target.PDS,
		LoginHint:    loginHint,
		RedirectURI:  redirectURI,
		Scope:        wantScope,
		PKCEVerifier: verifier,
		DPoPKey:      key,
		AppState:     opts.AppState,
		CreatedAt:    now,
		ExpiresAt:    now.Add(c.cfg.AuthRequestTTL),
	}
	if target.Identity != nil {
		req.ExpectedDID = target.Identity.DID
	}
	if c.isConfidential() {
		req.ClientKeyID = c.cfg.Keys[0].KeyID()
	}

	form := url.Values{
		"response_type":         {"code"},
		"code_challenge":        {base64.RawURLEncoding.EncodeToString(challenge[:])},
		"code_challenge_method": {"S256"},
		"state":                 {state},
		"redirect_uri":          {redirectURI},
		"scope":                 {wantScope},
	}
	for k, v := range map[string]string{"login_hint": loginHint, "prompt": opts.Prompt, "display": opts.Display, "ui_locales": uiLocales} {
		if v != "" {
			form.Set(k, v)
		}
	}
	if err := c.clientAuth(form, req.ClientKeyID, as.Issuer); err != nil {
		return nil, err
	}
	var par struct {
		RequestURI string `json:"request_uri"`
		ExpiresIn  int64  `json:"expires_in"`
	}
	if err := c.postForm(ctx, key, "par", as.PushedAuthorizationRequestEndpoint, form, &par); err != nil {
		return nil, err
	}
	if par.RequestURI == "" {
		return nil, fmt.Errorf("atoauth: par endpoint returned no request_uri")
	}
	if err := c.store.SaveAuthRequest(ctx, req); err != nil {
		return nil, fmt.Errorf("atoauth: saving the pending login: %w", err)
	}
	authURL, err := url.Parse(as.AuthorizationEndpoint)
	if err != nil {
		return nil, fmt.Errorf("atoauth: authorization endpoint: %w", err)
	}
	q := url.Values{"client_id": {c.md.ClientID}, "request_uri": {par.RequestURI}}
	authURL.RawQuery = q.Encode()
	c.log.DebugContext(ctx, "atoauth: login started", "issuer", as.Issuer, "hint", loginHint)
	return &Authorization{URL: authURL.String(), State: state, ExpiresAt: req.ExpiresAt}, nil
}

// CallbackOptions adjusts Callback.
type CallbackOptions struct {
	// State, when set, must equal the callback's state: pass the value a
	// web app kept in the browser's cookie when it started the login, so
	// that a login cannot be completed in another browser (login CSRF).
	State string
	// Replace, when set, is the id of a session the new one replaces, as
	// after [Session.StepUp]: the new session must be for the same account
	// (else ErrIdentityMismatch, and the new tokens are revoked) and the
	// old one made by this client (else ErrOtherClient; a loopback
	// client may replace another loopback client's session, as in a
	// step-up to a larger scope), takes over the old id, and the old
	// tokens are revoked.
	Replace string
}

// Callback completes a login from the query parameters of the request to
// the redirect URI. It consumes the pending login (each state works once),
// checks iss (RFC 9207), turns error responses into *CallbackError,
// exchanges the code with PKCE and DPoP, checks the token response, and
// verifies that the token's subject is hosted by the issuing server before
// it stores and returns the new session. With Config.Events, it reports
// the new session (Created), or for a step-up the replaced one (Updated),
// before it returns.
func (c *Client) Callback(ctx context.Context, query url.Values, opts *CallbackOptions) (*Session, error) {
	sess, err := c.callback(ctx, query, opts, nil)
	c.observeLogin(LoginCallback, err)
	return sess, err
}

// CallbackWithAppState is Callback that also returns the app state the
// login was started with (StartOptions.AppState). The app state comes
// back whenever the callback matched a pending login, also with an error
// (the person declined, the token exchange failed, …), so that the app
// can send the person back where they were and say what went wrong; it
// is "" when the callback matched no pending login (ErrInvalidState) or
// the login had none.
func (c *Client) CallbackWithAppState(ctx context.Context, query url.Values, opts *CallbackOptions) (sess *Session, appState string, err error) {
	sess, err = c.callback(ctx, query, opts, &appState)
	c.observeLogin(LoginCallback, err)
	return sess, appState, err
}

// callback is Callback, telling the login's app state to appState when
// it is not nil.
func (c *Client) callback(ctx context.Context, query url.Values, opts *CallbackOptions, appState *string) (*Session, error) {
	params, err := parseCallback(query)
	if err != nil {
		return nil, err
	}
	if opts != nil && opts.State != "" && subtle.ConstantTimeCompare([]byte(opts.State), []byte(params.state)) != 1 {
		return nil, fmt.Errorf("%w: the login was started in another browser", ErrInvalidState)
	}
	req, err := c.store.ConsumeAuthRequest(ctx, params.state)
	if errors.Is(err, ErrStoreNotFound) {
		return nil, ErrInvalidState
	}
	if err != nil {
		return nil, fmt.Errorf("atoauth: loading the pending login: %w", err)
	}
	if appState != nil {
		*appState = req.AppState
	}
	if !req.ExpiresAt.After(c.cfg.Clock()) {
		return nil, fmt.Errorf("%w: the login took too long", ErrInvalidState)
	}
	if params.hasIss && params.iss != req.Issuer {
		return nil, fmt.Errorf("%w: the callback's iss is %q, the login went to %q", ErrCallbackIssuer, cleanText(params.iss), req.Issuer)
	}
	if params.errCode != "" {
		return nil, &CallbackError{Code: cleanText(params.errCode), Description: cleanText(params.errDesc)}
	}
	if !params.hasIss {
		// Every atproto authorization server advertises
		// authorization_response_iss_parameter_supported, so iss is required.
		return nil, fmt.Errorf("%w: the callback has no iss parameter", ErrCallbackIssuer)
	}
	if params.code == "" {
		return nil, &CallbackError{Code: "invalid_request", Description: "the callback has neither code nor error"}
	}

	as, err := c.resolver.AuthServerMetadata(ctx, req.Issuer)
	if err != nil {
		return nil, fmt.Errorf("atoauth: authorization server metadata: %w", err)
	}
	form := url.Values{
		"grant_type":    {"authorization_code"},
		"code":          {params.code},
		"redirect_uri":  {req.RedirectURI},
		"code_verifier": {req.PKCEVerifier},
	}
	if err := c.clientAuth(form, req.ClientKeyID, as.Issuer); err != nil {
		return nil, err
	}
	// The exchange, once sent, must finish even if ctx is cancelled: the
	// code is single-use and the tokens must be verified or revoked.
	xctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 60*time.Second)
	defer cancel()
	tok, err := c.requestToken(xctx, req.DPoPKey, "token", as.TokenEndpoint, form)
	if err != nil {
		return nil, err
	}
	data := &SessionData{
		ID:                 randomToken(32),
		DPoPKey:            req.DPoPKey,
		ClientKeyID:        req.ClientKeyID,
		ClientID:           c.md.ClientID,
		Issuer:             as.Issuer,
		TokenEndpoint:      as.TokenEndpoint,
		RevocationEndpoint: as.RevocationEndpoint,
		CreatedAt:          c.cfg.Clock(),
	}
	if err := c.acceptToken(xctx, data, tok, req.ExpectedDID, true); err != nil {
		c.revokeQuietly(xctx, data, tok)
		return nil, err
	}
	var replaced *SessionData
	if opts != nil && opts.Replace != "" {
		if replaced, err = c.replaceable(xctx, opts.Replace, data); err != nil {
			c.revokeQuietly(xctx, data, tok)
			return nil, err
		}
		data.ID, data.CreatedAt = replaced.ID, replaced.CreatedAt
	}
	if err := c.store.SaveSession(xctx, data); err != nil {
		c.revokeQuietly(xctx, data, tok)
		return nil, fmt.Errorf("atoauth: saving the new session (its tokens were revoked): %w", err)
	}
	var ev events
	if replaced != nil {
		c.revokeReplaced(xctx, replaced)
		ev.updated(replaced, data, UpdateStepUp)
	} else {
		ev.created(data)
	}
	c.log.InfoContext(ctx, "atoauth: signed in", "did", data.DID, "handle", data.Handle, "pds", data.PDS, "session", shortID(data.ID))
	c.deliver(ctx, &ev)
	return c.newSession(data), nil
}

type callbackParams struct {
	state, code, iss, errCode, errDesc string
	hasIss                             bool
}

// parseCallback reads the redirect's query strictly: each parameter at
// most once (RFC 6749 §3.1), a state present.
func parseCallback(q url.Values) (callbackParams, error) {
	var p callbackParams
	for _, k := range []string{"state", "code", "iss", "error", "error_description"} {
		if len(q[k]) > 1 {
			return p, fmt.Errorf("%w: the callback repeats the %q parameter", ErrInvalidState, k)
		}
	}
	p.state = q.Get("state")
	p.code = q.Get("code")
	p.iss = q.Get("iss")
	_, p.hasIss = q["iss"]
	p.errCode = q.Get("error")
	p.errDesc = q.Get("error_description")
	if p.state == "" {
		if p.errCode != "" {
			return p, &CallbackError{Code: cleanText(p.errCode), Description: cleanText(p.errDesc)}
		}
		return p, fmt.Errorf("%w: the callback has no state", ErrInvalidState)
	}
	if len(p.state) > 512 || len(p.code) > 4096 {
		return p, fmt.Errorf("%w: oversized callback parameter", ErrInvalidState)
	}
	return p, nil
}

// tokenResponse is a successful token endpoint response (RFC 6749 §5.1)
// with the atproto additions.
type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	RefreshToken string `json:"refresh_token"`
	Scope        string `json:"scope"`
	Sub          string `json:"sub"`
}

// acceptToken checks a token response for data's session and copies it in.
// expected, when set, is the DID the tokens must belong to. With verify,
// it also resolves the subject and requires its PDS to name data.Issuer
// as its authorization server, filling in DID, Handle and PDS; without,
// the caller has just done that check.
func (c *Client) acceptToken(ctx context.Context, data *SessionData, tok *tokenResponse, expected syntax.DID, verify bool) error {
	if !strings.EqualFold(tok.TokenType, "DPoP") {
		return fmt.Errorf("%w: token_type is %q, not DPoP", ErrInvalidTokenResponse, cleanText(tok.TokenType))
	}
	if tok.AccessToken == "" {
		return fmt.Errorf("%w: no access_token", ErrInvalidTokenResponse)
	}
	sub, err := syntax.ParseDID(tok.Sub)
	if err != nil {
		return fmt.Errorf("%w: sub %q is not a DID", ErrInvalidTokenResponse, cleanText(tok.Sub))
	}
	if tok.Scope == "" {
		return fmt.Errorf("%w: the response has no scope", ErrInvalidTokenResponse)
	}
	if !slices.Contains(strings.Fields(tok.Scope), "atproto") {
		return fmt.Errorf("%w: the granted scope %q lacks \"atproto\"", ErrScopeMissing, cleanText(tok.Scope))
	}
	if expected != "" && sub != expected {
		return fmt.Errorf("%w: the login was for %s, the token is for %s", ErrIdentityMismatch, expected, sub)
	}
	if data.DID != "" && sub != data.DID {
		return fmt.Errorf("%w: the session is %s, the refreshed token is for %s", ErrIdentityMismatch, data.DID, sub)
	}
	if verify {
		ident, pds, err := c.resolver.VerifyIssuer(ctx, sub, data.Issuer)
		if err != nil {
			if errors.Is(err, discovery.ErrIssuerMismatch) {
				return fmt.Errorf("%w: %s is not hosted by %s: %w", ErrIdentityMismatch, sub, data.Issuer, err)
			}
			return fmt.Errorf("atoauth: verifying that %s is hosted by %s: %w", sub, data.Issuer, err)
		}
		data.Handle = ident.Handle
		data.PDS = pds
	}
	data.DID = sub
	data.Scope = tok.Scope
	data.AccessToken = tok.AccessToken
	if tok.RefreshToken != "" {
		data.RefreshToken = tok.RefreshToken
	}
	data.ExpiresAt = time.Time{}
	if tok.ExpiresIn > 0 {
		data.ExpiresAt = c.cfg.Clock().Add(time.Duration(tok.ExpiresIn) * time.Second)
	}
	data.UpdatedAt = c.cfg.Clock()
	if data.ClientID == "" {
		// A session stored before ClientID was recorded is adopted by the
		// client that refreshes it (see Client.Session).
		data.ClientID = c.md.ClientID
	}
	return nil
}

func (c *Client) isConfidential() bool { return c.md.TokenEndpointAuthMethod == "private_key_jwt" }

// clientAuth adds client_id and, for confidential clients, a
// private_key_jwt client assertion (RFC 7523 §2.2) signed with key kid.
func (c *Client) clientAuth(form url.Values, kid, issuer string) error {
	form.Set("client_id", c.md.ClientID)
	if kid == "" {
		return nil
	}
	key, ok := c.keys[kid]
	if !ok {
		return fmt.Errorf("%w (kid %q)", ErrClientKeyRemoved, kid)
	}
	now := c.cfg.Clock()
	claims := map[string]any{
		"iss": c.md.ClientID,
		"sub": c.md.ClientID,
		"aud": issuer,
		"jti": randomToken(16),
		"iat": now.Unix(),
		"exp": now.Add(60 * time.Second).Unix(),
	}
	assertion, err := key.SignJWT(map[string]any{"typ": "JWT"}, claims)
	if err != nil {
		return fmt.Errorf("atoauth: signing the client assertion: %w", err)
	}
	form.Set("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
	form.Set("client_assertion", assertion)
	return nil
}

// authServerClient returns an HTTP client that signs requests with a DPoP
// proof from key and follows no redirects.
func (c *Client) authServerClient(key *jwk.Key) *http.Client {
	return &http.Client{
		Transport:     &dpop.Transport{Base: c.base, Key: key, Nonces: c.nonces, Clock: c.cfg.Clock, OnNonceChallenge: c.onNonceChallenge()},
		CheckRedirect: func(*http.Request, []*http.Request) error { return safehttp.ErrRedirect },
		Timeout:       30 * time.Second,
	}
}

// maxASResponse caps authorization server response bodies.
const maxASResponse = 64 << 10

// postForm sends a form to an authorization server endpoint and decodes a
// JSON success response into out. Errors become *OAuthError.
func (c *Client) postForm(ctx context.Context, key *jwk.Key, endpoint, target string, form url.Values, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, strings.NewReader(form.Encode()))
	if err != nil {
		return fmt.Errorf("atoauth: %s endpoint: %w", endpoint, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	resp, err := c.authServerClient(key).Do(req)
	if err != nil {
		return fmt.Errorf("atoauth: %s endpoint: %w", endpoint, err)
	}
	defer resp.Body.Close()
	body, err := safehttp.ReadBody(resp, maxASResponse)
	if err != nil {
		return fmt.Errorf("atoauth: %s endpoint: reading the response: %w", endpoint, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return oauthError(endpoint, resp.StatusCode, body)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("atoauth: %s endpoint: the response is not valid JSON", endpoint)
	}
	return nil
}

func (c *Client) requestToken(ctx context.Context, key *jwk.Key, endpoint, target string, form url.Values) (*tokenResponse, error) {
	var tok tokenResponse
	if err := c.postForm(ctx, key, endpoint, target, form, &tok); err != nil {
		return nil, err
	}
	return &tok, nil
}

func oauthError(endpoint string, status int, body []byte) *OAuthError {
	var e struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	_ = json.Unmarshal(body, &e)
	return &OAuthError{Endpoint: endpoint, StatusCode: status, Code: cleanText(e.Error), Description: cleanText(e.Description)}
}

// revokeQuietly revokes freshly issued tokens that will not be kept.
func (c *Client) revokeQuietly(ctx context.Context, data *SessionData, tok *tokenResponse) {
	for _, t := range []struct{ token, hint string }{{tok.RefreshToken, "refresh_token"}, {tok.AccessToken, "access_token"}} {
		if t.token == "" || data.RevocationEndpoint == "" {
			continue
		}
		if err := c.revoke(ctx, data, t.token, t.hint); err != nil {
			c.log.WarnContext(ctx, "atoauth: could not revoke unused tokens", "issuer", data.Issuer, "err", err)
		}
	}
}

// revoke sends one token to the revocation endpoint (RFC 7009 §2.1).
func (c *Client) revoke(ctx context.Context, data *SessionData, token, hint string) error {
	form := url.Values{"token": {token}, "token_type_hint": {hint}}
	if err := c.clientAuth(form, data.ClientKeyID, data.Issuer); err != nil {
		return err
	}
	if data.ClientKeyID == "" && data.ClientID != "" {
		// A public client's token is revoked for the client it was issued
		// to (RFC 7009 §2.1): a replaced loopback session may be another
		// loopback client's.
		form.Set("client_id", data.ClientID)
	}
	return c.postForm(ctx, data.DPoPKey, "revoke", data.RevocationEndpoint, form, nil)
}

// randomToken returns n random bytes, base64url-encoded.
func randomToken(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return base64.RawURLEncoding.EncodeToString(b)
}

// drain discards a little of a body so the connection can be reused.
func drain(r io.ReadCloser) {
	_, _ = io.Copy(io.Discard, io.LimitReader(r, 64<<10))
	_ = r.Close()
}
