package agent

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/atoauth/atoauth"
	"github.com/bluesky-social/indigo/atproto/identity"
)

// Identity resolves the account's DID document again and verifies it:
// the document must still name the session's PDS, and that PDS the
// session's authorization server (atproto OAuth spec, "Identity
// Authentication"). The handle in the result is verified in both
// directions (handle.invalid when it is not); ident.DIDDocument() is the
// document. It uses Options.Resolver, by default the session's client's. A move to another PDS gives an
// error matching atoauth.ErrIdentityMismatch: sign in again.
func (a *Agent) Identity(ctx context.Context) (*identity.Identity, error) {
	info := a.sess.Info()
	ident, pds, err := a.resolver.VerifyIssuer(ctx, info.DID, info.Issuer)
	if err != nil {
		return nil, fmt.Errorf("agent: verifying %s: %w", info.DID, err)
	}
	if pds != info.PDS {
		return nil, fmt.Errorf("%w: %s now lives on %s, the session on %s", atoauth.ErrIdentityMismatch, info.DID, pds, info.PDS)
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
