package atoauthtest

import (
	"github.com/bluesky-social/indigo/atproto/syntax"
)

// AccessTokenValid reports whether tok is a current, unexpired access token
// of a live session.
func (n *Network) AccessTokenValid(tok string) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	s := n.accessTokens[tok]
	return s != nil && n.now().Before(s.accessExp)
}

// RefreshTokenValid reports whether tok is an unused, unexpired refresh
// token of a live session.
func (n *Network) RefreshTokenValid(tok string) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	ent := n.refreshTokens[tok]
	return ent != nil && !ent.used && n.now().Before(ent.expires) && n.sessions[ent.sess.id] == ent.sess
}

// ActiveSessions returns the number of live OAuth sessions of an account.
func (n *Network) ActiveSessions(did syntax.DID) int {
	n.mu.Lock()
	defer n.mu.Unlock()
	count := 0
	for _, s := range n.sessions {
		if s.did == did {
			count++
		}
	}
	return count
}

// RevokeAll ends every OAuth session of an account, as if the user revoked
// them in the server's UI: access and refresh tokens stop working.
func (n *Network) RevokeAll(did syntax.DID) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, s := range n.sessions {
		if s.did == did {
			n.endSessionLocked(s)
		}
	}
}

// ExpireAccessTokens makes every current access token invalid (the PDS
// answers 401 WWW-Authenticate: DPoP error="invalid_token"), while refresh
// tokens keep working: the next request of a client must refresh.
func (n *Network) ExpireAccessTokens() {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, s := range n.sessions {
		s.accessExp = n.now()
	}
}
