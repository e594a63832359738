package atoauth

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/atoauth/atoauth/discovery"
	"github.com/atoauth/atoauth/dpop"
	"github.com/bluesky-social/indigo/atproto/syntax"
)

// Session is a handle on one signed-in session. Its HTTPClient signs every
// request to the session's PDS; requests to any other origin are sent
// without credentials. A Session is safe for concurrent use, and any
// number of Sessions for the same id (in this process, through one Client)
// share a single refresh at a time; across processes the Store's lock
// keeps it to one.
type Session struct {
	c  *Client
	id string
	// jitter, in [0, 1), scales the random extra margin of this handle's
	// proactive refreshes (see Config.RefreshMargin).
	jitter float64

	mu   sync.Mutex
	data *SessionData

	transport *sessionTransport
}

// SessionInfo describes a session without its secrets.
type SessionInfo struct {
	ID          string
	DID         syntax.DID
	Handle      syntax.Handle
	PDS         string
	Issuer      string
	Scope       string
	ExpiresAt   time.Time
	ClientKeyID string
	ClientID    string // see SessionData.ClientID
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

func infoOf(d *SessionData) SessionInfo {
	return SessionInfo{
		ID: d.ID, DID: d.DID, Handle: d.Handle, PDS: d.PDS, Issuer: d.Issuer, Scope: d.Scope,
		ExpiresAt: d.ExpiresAt, ClientKeyID: d.ClientKeyID, ClientID: d.ClientID, CreatedAt: d.CreatedAt, UpdatedAt: d.UpdatedAt,
	}
}

func (c *Client) newSession(d *SessionData) *Session {
	s := &Session{c: c, id: d.ID, data: d.clone(), jitter: rand.Float64()}
	s.transport = &sessionTransport{s: s}
	return s
}

// Session loads the session with the given id from the store. It returns
// ErrSessionNotFound when there is none, and an *OtherClientError
// (ErrOtherClient) when another client created it.
func (c *Client) Session(ctx context.Context, id string) (*Session, error) {
	d, err := c.store.GetSession(ctx, id)
	if errors.Is(err, ErrStoreNotFound) {
		return nil, ErrSessionNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("atoauth: loading session: %w", err)
	}
	if err := c.checkClient(d); err != nil {
		return nil, err
	}
	return c.newSession(d), nil
}

// Sessions lists the stored sessions of did (all sessions when did is
// empty), oldest first: those this client can use, leaving out the ones
// another client created (see ErrOtherClient; Store().ListSessions lists
// every session).
func (c *Client) Sessions(ctx context.Context, did syntax.DID) ([]SessionInfo, error) {
	list, err := c.store.ListSessions(ctx, did)
	if err != nil {
		return nil, fmt.Errorf("atoauth: listing sessions: %w", err)
	}
	out := make([]SessionInfo, 0, len(list))
	for _, d := range list {
		if c.owns(d) {
			out = append(out, infoOf(d))
		}
	}
	return out, nil
}

// Logout revokes the session's tokens at the authorization server (RFC
// 7009) and deletes the session. The session is deleted even when the
// revocation fails; the returned error then says so. A session another
// client created is left alone (*OtherClientError): this client could not
// revoke its tokens. Store().DeleteSession forgets it without revoking.
// With Config.Events, the deletion is reported (Deleted, DeleteSignedOut)
// before Logout returns, unless another process deleted it first.
func (c *Client) Logout(ctx context.Context, id string) error {
	d, err := c.store.GetSession(ctx, id)
	if errors.Is(err, ErrStoreNotFound) {
		return ErrSessionNotFound
	}
	if err != nil {
		return fmt.Errorf("atoauth: loading session: %w", err)
	}
	if err := c.checkClient(d); err != nil {
		return err
	}
	var revokeErr error
	if d.RevocationEndpoint != "" {
		token, hint := d.RefreshToken, "refresh_token"
		if token == "" {
			token, hint = d.AccessToken, "access_token"
		}
		if err := c.revoke(ctx, d, token, hint); err != nil {
			revokeErr = fmt.Errorf("atoauth: revoking the session's tokens: %w", err)
		}
	}
	var ev events
	switch err := c.store.DeleteSession(ctx, id); {
	case err == nil:
		ev.deleted(d, DeleteSignedOut, nil)
	case !errors.Is(err, ErrStoreNotFound):
		return errors.Join(revokeErr, fmt.Errorf("atoauth: deleting session: %w", err))
	}
	c.log.InfoContext(ctx, "atoauth: signed out", "did", d.DID, "session", shortID(id))
	c.deliver(ctx, &ev)
	return revokeErr
}

// ID returns the session id: random, unrelated to the login state, and a
// credential for whoever holds it (keep it in an HttpOnly cookie at most).
func (s *Session) ID() string { return s.id }

// Info describes the session as last loaded or refreshed.
func (s *Session) Info() SessionInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	return infoOf(s.data)
}

// DID returns the account's DID.
func (s *Session) DID() syntax.DID { return s.Info().DID }

// Handle returns the account's verified handle, or handle.invalid.
func (s *Session) Handle() syntax.Handle { return s.Info().Handle }

// PDS returns the origin of the account's PDS, the only origin that
// receives the session's credentials.
func (s *Session) PDS() string { return s.Info().PDS }

// Scope returns the granted scope, as the server returned it
// (auth.Permissions).
func (s *Session) Scope() string { return s.Info().Scope }

// Host returns the origin of the account's PDS: a Session is an
// auth.Auth, which packages xrpc and agent take.
func (s *Session) Host() string { return s.PDS() }

// Issuer returns the origin of the session's authorization server.
func (s *Session) Issuer() string { return s.Info().Issuer }

// Resolver returns the resolver of the session's Client, which resolves
// and verifies identities as it does.
func (s *Session) Resolver() *discovery.Resolver { return s.c.resolver }

// HTTPClient returns an *http.Client that authenticates requests to the
// session's PDS (DPoP proof and "Authorization: DPoP" token), refreshing
// the token before it expires and once more when the PDS reports it
// invalid. It sets no timeout: use request contexts.
//
// Credentials follow the request, not the hop: the client follows
// redirects within the origin a request started at (at most 10), and
// never one that changes origin — it returns that 3xx answer to the
// caller instead, who may fetch its Location without the session. So a
// request to the PDS never carries its credentials (or its body) to
// another host, and a request that started elsewhere (a link preview, a
// webhook) is never signed, even if it is redirected into the PDS. Its
// Transport keeps that rule whatever client it is used in: it signs a
// request only when the request and every earlier one of its redirect
// chain (Request.Response) go to the PDS.
func (s *Session) HTTPClient() *http.Client {
	return &http.Client{Transport: s.transport, CheckRedirect: sameOriginRedirects}
}

// sameOriginRedirects is the CheckRedirect of Session.HTTPClient.
func sameOriginRedirects(req *http.Request, via []*http.Request) error {
	if dpop.Origin(req.URL) != dpop.Origin(via[0].URL) {
		return http.ErrUseLastResponse
	}
	if len(via) >= 10 {
		return errors.New("atoauth: stopped after 10 redirects")
	}
	return nil
}

// Refresh refreshes the session's tokens now.
func (s *Session) Refresh(ctx context.Context) error {
	s.mu.Lock()
	observed := s.data.AccessToken
	s.mu.Unlock()
	_, err := s.refresh(ctx, observed)
	return err
}

// Logout revokes the session's tokens and deletes it (see Client.Logout).
func (s *Session) Logout(ctx context.Context) error { return s.c.Logout(ctx, s.id) }

func (s *Session) current() *SessionData {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.data
}

func (s *Session) set(d *SessionData) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if d.UpdatedAt.Before(s.data.UpdatedAt) {
		return
	}
	s.data = d.clone()
}

// refreshMargin is how long before d's access token expires it is
// refreshed proactively: Config.RefreshMargin, or a quarter of the
// token's lifetime when that is shorter, scaled up by jitter (in [0, 1))
// times a quarter. The lifetime is ExpiresAt - UpdatedAt: both are set
// when the token is accepted.
func (c *Client) refreshMargin(d *SessionData, jitter float64) time.Duration {
	m := c.cfg.RefreshMargin
	if life := d.ExpiresAt.Sub(d.UpdatedAt); !d.UpdatedAt.IsZero() && life > 0 && life/4 < m {
		m = life / 4
	}
	return m + time.Duration(jitter*float64(m/4))
}

// needsRefresh tells whether d's access token is within its refresh
// margin of expiry (see refreshMargin).
func (c *Client) needsRefresh(d *SessionData, jitter float64) bool {
	if d.ExpiresAt.IsZero() {
		return false
	}
	return !c.cfg.Clock().Before(d.ExpiresAt.Add(-c.refreshMargin(d, jitter)))
}

// usable returns session data with a token fit to send, refreshing first
// when it is about to expire. A temporary refresh failure while the token
// is still valid keeps the current token.
func (s *Session) usable(ctx context.Context) (*SessionData, error) {
	d := s.current()
	if !s.c.needsRefresh(d, s.jitter) {
		return d, nil
	}
	nd, err := s.refresh(ctx, d.AccessToken)
	if err != nil {
		var re *RefreshError
		if errors.As(err, &re) && re.Temporary && s.c.cfg.Clock().Before(d.ExpiresAt) {
			s.c.log.WarnContext(ctx, "atoauth: proactive refresh failed; using the current token", "session", shortID(s.id), "err", err)
			return d, nil
		}
		return nil, err
	}
	return nd, nil
}

// refresh runs at most one refresh of this session at a time in the
// process; callers join a running one. The refresh itself is detached
// from ctx: once sent it completes (and its result is stored) even if
// every caller has given up.
func (s *Session) refresh(ctx context.Context, observed string) (*SessionData, error) {
	ch := s.c.refreshes.DoChan(s.id, func() (any, error) {
		return s.c.refreshSession(ctx, s.id, observed)
	})
	select {
	case r := <-ch:
		if r.Err != nil {
			return nil, r.Err
		}
		d := r.Val.(*SessionData)
		s.set(d)
		return s.current(), nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

const (
	// refreshTimeout bounds a whole refresh (metadata, identity check,
	// nonce, token request, save).
	refreshTimeout = 60 * time.Second
	// refreshLease outlasts refreshTimeout, so that no other process takes
	// the lock over while a slow refresh may still spend the token.
	refreshLease = refreshTimeout + 15*time.Second
)

// refreshSession refreshes session id under the store's lock unless
// another holder of the lock already replaced the token observed.
//
// Every failure is a *RefreshError. One rule decides what happens to the
// session: a definitive failure — the refresh token refused
// (invalid_grant, after the store is re-read in case another process
// refreshed first) or any other OAuth error that the server will repeat
// (invalid_client, unauthorized_client, …), the account now hosted by
// another authorization server, a token for another account, a token
// response that breaks the atproto profile, the client key the session is
// bound to no longer configured, new tokens that cannot be saved — deletes
// the session from the store, and the error matches ErrSessionExpired
// with the cause wrapped. A temporary failure — the store, the network, a
// timeout, HTTP 5xx or 429, a DPoP nonce or proof the server wants again,
// an identity lookup that did not answer — keeps the session untouched.
//
// ctx gives only its values (to the session events): the refresh runs to
// its end whatever becomes of the callers. The events of the refresh are
// delivered once the lock is released.
func (c *Client) refreshSession(ctx context.Context, id, observed string) (*SessionData, error) {
	var ev events
	start := time.Now()
	d, err := c.refreshUnderLock(ctx, id, observed, &ev)
	c.observeRefresh(start, len(ev.list) > 0, err)
	if len(ev.list) > 0 {
		// The refresh is done but for the app's callbacks: a refresh
		// asked for from now on — by a callback's own requests among
		// others — starts afresh (and finds the new tokens) rather than
		// wait for this one, which waits for the callback.
		c.refreshes.Forget(id)
	}
	c.deliver(ctx, &ev)
	return d, err
}

// refreshUnderLock is refreshSession with the store's lock held, adding
// its session events to ev.
func (c *Client) refreshUnderLock(ctx context.Context, id, observed string, ev *events) (*SessionData, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), refreshTimeout)
	defer cancel()
	temporary := func(err error) (*SessionData, error) {
		return nil, &RefreshError{SessionID: id, Temporary: true, Err: err}
	}

	lockStart := time.Now()
	unlock, err := c.store.LockSession(ctx, id, refreshLease)
	c.observeLockWait(lockStart)
	if err != nil {
		return temporary(fmt.Errorf("taking the refresh lock: %w", err))
	}
	defer unlock()

	cur, err := c.store.GetSession(ctx, id)
	if errors.Is(err, ErrStoreNotFound) {
		return nil, &RefreshError{SessionID: id, Err: errors.New("it was signed out or ended elsewhere")}
	}
	if err != nil {
		return temporary(fmt.Errorf("loading the session: %w", err))
	}
	if cur.AccessToken != observed && !c.needsRefresh(cur, 0) {
		return cur, nil // refreshed by someone else meanwhile
	}
	dead := func(err error) (*SessionData, error) {
		return nil, c.endSession(ctx, cur, err, ev)
	}
	if cur.RefreshToken == "" {
		return dead(errors.New("the session has no refresh token"))
	}

	// Before spending the single-use refresh token, make sure the account
	// still lives where the session's issuer says.
	as, err := c.resolver.AuthServerMetadata(ctx, cur.Issuer)
	if err != nil {
		return temporary(fmt.Errorf("authorization server metadata: %w", err))
	}
	ident, pds, err := c.resolver.ReverifyIssuer(ctx, cur.DID, cur.Issuer)
	if errors.Is(err, discovery.ErrIssuerMismatch) {
		// As the reference client: the account moved to another server,
		// or someone is impersonating it; either way these tokens are done.
		return dead(fmt.Errorf("%w: %s is no longer hosted by %s: %w", ErrIdentityMismatch, cur.DID, cur.Issuer, err))
	}
	if err != nil {
		return temporary(fmt.Errorf("re-verifying the account's issuer: %w", err))
	}

	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {cur.RefreshToken}}
	if err := c.clientAuth(form, cur.ClientKeyID, as.Issuer); err != nil {
		if errors.Is(err, ErrClientKeyRemoved) {
			return dead(err)
		}
		return temporary(err)
	}
	// The reference server spends a refresh token before it checks the
	// DPoP proof, so a nonce challenge there would cost the session: make
	// sure a fresh nonce is known first.
	c.ensureNonce(ctx, cur, as)

	tok, err := c.requestToken(ctx, cur.DPoPKey, "refresh", as.TokenEndpoint, form)
	if err != nil {
		var oe *OAuthError
		if errors.As(err, &oe) && oe.Code == "invalid_grant" {
			// Another process may have refreshed with this token already.
			if again, gerr := c.store.GetSession(ctx, id); gerr == nil && again.RefreshToken != cur.RefreshToken {
				return again, nil
			}
		}
		if errors.As(err, &oe) && definitiveOAuthError(oe) {
			return dead(err)
		}
		return temporary(err)
	}
	next := cur.clone()
	if err := c.acceptToken(ctx, next, tok, cur.DID, false); err != nil {
		c.revokeQuietly(ctx, next, tok)
		return dead(fmt.Errorf("%w (the new tokens were revoked)", err))
	}
	next.Handle = ident.Handle
	next.PDS = pds
	if err := c.store.SaveSession(ctx, next); err != nil {
		// The old refresh token is spent and the new one cannot be kept:
		// revoke it rather than leave live tokens nobody holds.
		c.revokeQuietly(ctx, next, tok)
		return dead(fmt.Errorf("saving the refreshed session failed (its new tokens were revoked): %w", err))
	}
	ev.updated(cur, next, UpdateRefresh)
	c.log.DebugContext(ctx, "atoauth: session refreshed", "did", next.DID, "session", shortID(id))
	return next, nil
}

// definitiveOAuthError tells whether an authorization server's error
// answer to a refresh will not change on a retry. Everything but a
// server-side failure (5xx), a rate limit (429), an answer without an
// OAuth error code (a proxy's error page) and a DPoP nonce or proof the
// server wants again is definitive. The reference client deletes the
// session on invalid_grant only and keeps it on other 4xx errors; atoauth
// ends it on every definitive error, because the reference server spends
// the refresh token before most of its checks, and a kept session would
// then fail the same way on every request without ever telling the app to
// sign the person in again.
func definitiveOAuthError(oe *OAuthError) bool {
	switch {
	case oe.StatusCode >= 500, oe.StatusCode == http.StatusTooManyRequests, oe.Code == "":
		return false
	}
	switch oe.Code {
	case "use_dpop_nonce", "invalid_dpop_proof", "temporarily_unavailable", "server_error", "slow_down":
		return false
	}
	return true
}

// endSession deletes a session that can no longer be used and returns the
// definitive *RefreshError that says why. The deletion is best effort: a
// store that fails here has the session end at its next refresh instead.
// A deletion it made is added to ev, to be reported.
func (c *Client) endSession(ctx context.Context, d *SessionData, cause error, ev *events) error {
	switch err := c.store.DeleteSession(ctx, d.ID); {
	case err == nil:
		ev.deleted(d, deleteCause(cause), cause)
	case !errors.Is(err, ErrStoreNotFound):
		c.log.WarnContext(ctx, "atoauth: could not delete an ended session", "session", shortID(d.ID), "err", err)
	}
	c.log.InfoContext(ctx, "atoauth: session ended", "did", d.DID, "session", shortID(d.ID), "cause", cause)
	return &RefreshError{SessionID: d.ID, Err: cause}
}

// ensureNonce makes sure a recent DPoP nonce of the token endpoint's
// origin is known, asking the revocation endpoint for one when not.
func (c *Client) ensureNonce(ctx context.Context, d *SessionData, as *discovery.AuthServerMetadata) {
	u, err := url.Parse(as.TokenEndpoint)
	if err != nil || as.RevocationEndpoint == "" {
		return
	}
	if c.nonces.FreshContext(ctx, dpop.Origin(u), time.Minute) {
		return
	}
	c.probeNonce(ctx, d, as)
}

// probeNonce gets a fresh DPoP nonce from the authorization server with
// one request: the RFC 7009 revocation of a random token, which the
// server answers without side effects (RFC 7009 §2.2). Whatever the
// answer — 200, or 400 use_dpop_nonce when the nonce sent is stale — it
// carries a new nonce in DPoP-Nonce (RFC 9449 §8), which is all this
// request is for, so it is not retried.
func (c *Client) probeNonce(ctx context.Context, d *SessionData, as *discovery.AuthServerMetadata) {
	u, err := url.Parse(as.RevocationEndpoint)
	if err != nil {
		return
	}
	origin := dpop.Origin(u)
	form := url.Values{"token": {randomToken(24)}, "token_type_hint": {"access_token"}}
	if err := c.clientAuth(form, d.ClientKeyID, as.Issuer); err != nil {
		return
	}
	proof, err := dpop.NewProof(d.DPoPKey, http.MethodPost, as.RevocationEndpoint, dpop.ProofOptions{Nonce: c.nonces.Get(origin), Now: c.cfg.Clock()})
	if err != nil {
		return
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, as.RevocationEndpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("DPoP", proof)
	resp, err := c.base.RoundTrip(req)
	if err != nil {
		c.log.DebugContext(ctx, "atoauth: nonce probe failed", "issuer", as.Issuer, "err", err)
		return
	}
	if n := resp.Header.Get("DPoP-Nonce"); n != "" {
		c.nonces.SetContext(ctx, origin, n)
	}
	drain(resp.Body)
}

type sessionTransport struct {
	s *Session
	d dpopTransports
}

// dpopTransports keeps one dpop.Transport per key so that its clock-skew
// correction persists.
type dpopTransports struct {
	mu sync.Mutex
	t  *dpop.Transport
}

func (t *sessionTransport) dpop(d *SessionData) *dpop.Transport {
	t.d.mu.Lock()
	defer t.d.mu.Unlock()
	if t.d.t == nil || t.d.t.Key != d.DPoPKey {
		c := t.s.c
		t.d.t = &dpop.Transport{Base: c.base, Key: d.DPoPKey, Nonces: c.nonces, Clock: c.cfg.Clock, OnNonceChallenge: c.onNonceChallenge()}
	}
	return t.d.t
}

// RoundTrip implements http.RoundTripper.
func (t *sessionTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	s := t.s
	d := s.current()
	if !chainAt(req, d.PDS) {
		// Credentials go to the session's PDS only — never to an AppView
		// or any other host, and never to a request redirected into the
		// PDS from elsewhere.
		return s.c.base.RoundTrip(req)
	}
	// Sent again after a refresh (and by dpop.Transport after a nonce
	// challenge): buffered once, here.
	req, rerr := dpop.Replayable(req)
	if rerr != nil {
		return nil, rerr
	}
	ctx := req.Context()
	d, err := s.usable(ctx)
	if err != nil {
		closeBody(req)
		return nil, err
	}
	resp, err := t.send(req, d, true)
	if err != nil || resp.StatusCode != http.StatusUnauthorized || !isInvalidToken(resp) {
		return resp, err
	}
	// The PDS no longer accepts the token: refresh once and retry once.
	drain(resp.Body)
	nd, err := s.refresh(ctx, d.AccessToken)
	if err != nil {
		return nil, err
	}
	resp, err = t.send(req, nd, false)
	if err != nil || resp.StatusCode != http.StatusUnauthorized || !isInvalidToken(resp) {
		return resp, err
	}
	// Refused again with the newest token: the PDS does not accept this
	// session's tokens at all (the account moved, or the PDS no longer
	// trusts the issuer). Like the reference client, end the session
	// rather than refresh it on every request.
	drain(resp.Body)
	return nil, s.c.rejected(ctx, nd)
}

// rejected ends a session whose freshly refreshed token the PDS refuses,
// unless the store already holds another token for it.
func (c *Client) rejected(ctx context.Context, d *SessionData) error {
	cause := fmt.Errorf("%w (%s answered HTTP 401 invalid_token)", ErrTokenRejected, d.PDS)
	cur, err := c.store.GetSession(context.WithoutCancel(ctx), d.ID)
	if err == nil && cur.AccessToken != d.AccessToken {
		return &RefreshError{SessionID: d.ID, Temporary: true, Err: fmt.Errorf("%s; the session has newer tokens since: try again", cause)}
	}
	var ev events
	err = c.endSession(context.WithoutCancel(ctx), d, cause, &ev)
	c.deliver(ctx, &ev)
	return err
}

func (t *sessionTransport) send(req *http.Request, d *SessionData, first bool) (*http.Response, error) {
	r := req.Clone(req.Context())
	if !first && req.GetBody != nil {
		body, err := req.GetBody()
		if err != nil {
			return nil, err
		}
		r.Body = body
	}
	r.Header.Set("Authorization", "DPoP "+d.AccessToken)
	return t.dpop(d).RoundTrip(r)
}

// chainAt tells whether req, and every request of the redirect chain that
// led to it, goes to origin.
func chainAt(req *http.Request, origin string) bool {
	for r, hops := req, 0; r != nil && hops <= 20; hops++ {
		if r.URL == nil || dpop.Origin(r.URL) != origin {
			return false
		}
		if r.Response == nil {
			return true
		}
		r = r.Response.Request
	}
	return false
}

func closeBody(req *http.Request) {
	if req.Body != nil {
		req.Body.Close()
	}
}

// isInvalidToken tells whether a 401 carries the DPoP invalid_token
// challenge (RFC 9449 §7.1, RFC 6750 §3.1).
func isInvalidToken(resp *http.Response) bool {
	for _, h := range resp.Header.Values("WWW-Authenticate") {
		chs, err := dpop.ParseWWWAuthenticate(h)
		if err != nil {
			continue
		}
		for _, ch := range chs {
			if strings.EqualFold(ch.Scheme, "DPoP") && ch.Params["error"] == "invalid_token" {
				return true
			}
		}
	}
	return false
}
