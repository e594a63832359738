package atoauthtest

import (
	"net/http"
	"strings"
	"time"

	"github.com/bluesky-social/indigo/atproto/syntax"
)

// Legacy (app-password) sessions, as the reference PDS serves them:
// com.atproto.server.createSession with an identifier and an app
// password, Bearer access and refresh tokens, refreshSession, and
// deleteSession. The access token lives Options.AccessTokenTTL; an expired
// one is answered 400 ExpiredToken, as the reference PDS does. As there,
// access tokens are not revoked: a refresh or a sign-out spends the
// refresh token, and the access token works until it expires.

// legacySession is one app-password session.
type legacySession struct {
	did       syntax.DID
	access    string
	accessExp time.Time
	refresh   string
}

// SetAppPassword lets account sign in with password
// (com.atproto.server.createSession), as an app password does.
func (n *Network) SetAppPassword(account syntax.DID, password string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.appPasswords == nil {
		n.appPasswords = map[syntax.DID]string{}
	}
	n.appPasswords[account] = password
}

// ExpireLegacyAccessTokens makes every app-password session's access
// token expired, so that the next call is answered 400 ExpiredToken.
func (n *Network) ExpireLegacyAccessTokens() {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, s := range n.legacy {
		s.accessExp = n.now().Add(-time.Second)
	}
}

func (n *Network) legacySessionJSON(s *legacySession) map[string]any {
	return map[string]any{"accessJwt": s.access, "refreshJwt": s.refresh, "did": s.did.String(),
		"handle": n.accounts[s.did].handle.String(), "active": true}
}

func (n *Network) newLegacySessionLocked(did syntax.DID) *legacySession {
	s := &legacySession{did: did, access: "legacy-access-" + randomBase32(32), refresh: "legacy-refresh-" + randomBase32(32),
		accessExp: n.now().Add(n.opts.AccessTokenTTL)}
	if n.legacy == nil {
		n.legacy = map[string]*legacySession{}
	}
	n.legacy[s.access] = s
	n.legacy[s.refresh] = s
	return s
}

// xCreateSession is com.atproto.server.createSession.
func (n *Network) xCreateSession(w http.ResponseWriter, r *http.Request, _ *pdsAuth) *xrpcError {
	var in struct {
		Identifier string `json:"identifier"`
		Password   string `json:"password"`
	}
	if e := readJSONBody(r, &in); e != nil {
		return e
	}
	a, ok := n.lookupIdentifier(strings.TrimSpace(in.Identifier))
	n.mu.Lock()
	defer n.mu.Unlock()
	if !ok || a.foreign || n.appPasswords[a.did] == "" || n.appPasswords[a.did] != in.Password {
		return xerr(http.StatusUnauthorized, "AuthenticationRequired", "Invalid identifier or password")
	}
	writeJSON(w, http.StatusOK, n.legacySessionJSON(n.newLegacySessionLocked(a.did)))
	return nil
}

// xRefreshSession is com.atproto.server.refreshSession: the refresh token
// is single-use.
func (n *Network) xRefreshSession(w http.ResponseWriter, r *http.Request, _ *pdsAuth) *xrpcError {
	n.mu.Lock()
	defer n.mu.Unlock()
	s := n.spendRefreshLocked(r)
	if s == nil {
		return xerr(http.StatusBadRequest, "ExpiredToken", "Token has been revoked")
	}
	n.counters.LegacyRefreshes++
	writeJSON(w, http.StatusOK, n.legacySessionJSON(n.newLegacySessionLocked(s.did)))
	return nil
}

// xDeleteSession is com.atproto.server.deleteSession.
func (n *Network) xDeleteSession(w http.ResponseWriter, r *http.Request, _ *pdsAuth) *xrpcError {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.spendRefreshLocked(r)
	w.WriteHeader(http.StatusOK)
	return nil
}

// spendRefreshLocked spends the refresh token that r bears and returns
// its session; nil if r bears no live refresh token.
func (n *Network) spendRefreshLocked(r *http.Request) *legacySession {
	tok, ok := bearer(r)
	s := n.legacy[tok]
	if !ok || s == nil || s.refresh != tok {
		return nil
	}
	delete(n.legacy, s.refresh)
	s.refresh = ""
	return s
}

func bearer(r *http.Request) (string, bool) {
	scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	return strings.TrimSpace(tok), ok && strings.EqualFold(scheme, "Bearer")
}

// legacyAuthLocked authenticates a Bearer access token of an app-password
// session; n.mu is held. It answers as the reference PDS: an expired token
// is 400 ExpiredToken.
func (n *Network) legacyAuthLocked(tok string) (*pdsAuth, *xrpcError, bool) {
	s := n.legacy[tok]
	if s == nil || s.access != tok {
		return nil, nil, false
	}
	if !n.now().Before(s.accessExp) {
		return nil, xerr(http.StatusBadRequest, "ExpiredToken", "Token has expired"), true
	}
	const scope = "atproto transition:generic"
	n.counters.PDSAuthenticated++
	return &pdsAuth{did: s.did, scope: scope, perms: parsePermissions(scope), legacy: true}, nil, true
}
