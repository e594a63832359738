package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/atoauth/atoauth/auth"
	"github.com/atoauth/atoauth/internal/safetext"
	"github.com/bluesky-social/indigo/atproto/identity"
)

// Identity resolves the account's DID document again and verifies it:
// the document must still name the PDS calls go to (Auth.Host), and, for
// an OAuth session, that PDS the session's authorization server (atproto
// OAuth spec, "Identity Authentication"). The handle in the result is
// verified in both directions (handle.invalid when it is not);
// ident.DIDDocument() is the document. A move to another PDS gives an
// error matching auth.ErrIdentityMismatch: sign in again.
func (a *Agent) Identity(ctx context.Context) (*identity.Identity, error) {
	did := a.DID()
	if did == "" {
		return nil, errors.New("agent: Identity needs an Auth that acts for an account")
	}
	var ident *identity.Identity
	var pds string
	var err error
	if s, ok := a.auth.(interface{ Issuer() string }); ok {
		ident, pds, err = a.resolver.VerifyIssuer(ctx, did, s.Issuer())
	} else {
		ident, pds, err = a.resolver.ResolvePDS(ctx, did)
	}
	if err != nil {
		return nil, fmt.Errorf("agent: verifying %s: %w", did, err)
	}
	if host := a.auth.Host(); pds != host {
		return nil, fmt.Errorf("%w: %s now lives on %s, the session on %s", auth.ErrIdentityMismatch, did, safetext.Clean(pds, 200), host)
	}
	return ident, nil
}

// ServerSession is the output of com.atproto.server.getSession. With an
// OAuth token, Email and EmailConfirmed are only filled with the
// account:email (or transition:email) permission.
type ServerSession struct {
	DID            string          `json:"did"`
	Handle         string          `json:"handle"`
	Email          string          `json:"email,omitempty"`
	EmailConfirmed bool            `json:"emailConfirmed,omitempty"`
	Active         *bool           `json:"active,omitempty"`
	Status         string          `json:"status,omitempty"`
	DIDDoc         json.RawMessage `json:"didDoc,omitempty"`
}

// GetSession asks the PDS who the session is
// (com.atproto.server.getSession). It works with OAuth sessions.
func (a *Agent) GetSession(ctx context.Context) (*ServerSession, error) {
	var out ServerSession
	if err := a.xc.Query(ctx, "com.atproto.server.getSession", nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}
