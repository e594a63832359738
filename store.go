package atoauth

import (
	"context"
	"fmt"
	"time"

	"github.com/atoauth/atoauth/jwk"
	"github.com/bluesky-social/indigo/atproto/syntax"
)

// Store keeps pending logins and sessions. Implementations must be safe
// for concurrent use, and every method must honour ctx.
//
// The contract, which the storetest conformance suite checks:
//   - SaveAuthRequest creates a pending login keyed by its State.
//   - ConsumeAuthRequest returns and removes it atomically: of any number
//     of concurrent calls for one state, exactly one succeeds; a missing
//     or expired request gives ErrNotFound.
//   - SaveSession inserts or replaces the session with the same ID
//     (upsert); GetSession and DeleteSession give ErrNotFound for a
//     missing id (DeleteSession may also return nil); ListSessions returns
//     every session of one DID (an account may have several), and every
//     session when did is empty, oldest first.
//   - Times round-trip to at least the microsecond.
//   - LockSession takes the per-session refresh lock and holds it for every
//     process that shares the store, until unlock is called or lease has
//     passed (so that a crashed process cannot wedge a session); the lease
//     runs on the store's clock (for PostgreSQL, the database server's).
//     It waits for the lock until ctx is done.
//
// Values passed in and returned are owned by the caller: implementations
// store and return copies.
type Store interface {
	SaveAuthRequest(ctx context.Context, req *AuthRequest) error
	ConsumeAuthRequest(ctx context.Context, state string) (*AuthRequest, error)

	GetSession(ctx context.Context, id string) (*SessionData, error)
	SaveSession(ctx context.Context, s *SessionData) error
	DeleteSession(ctx context.Context, id string) error
	ListSessions(ctx context.Context, did syntax.DID) ([]*SessionData, error)

	LockSession(ctx context.Context, id string, lease time.Duration) (unlock func(), err error)
}

// AuthRequest is a pending login, kept between Client.Start and
// Client.Callback under its State. It holds secrets (the PKCE verifier
// and the DPoP key); its String method hides them.
type AuthRequest struct {
	State        string
	Issuer       string     // authorization server the PAR went to
	PDS          string     // PDS origin, "" when the login started from an entryway URL
	ExpectedDID  syntax.DID // the account the login was started for, if known
	LoginHint    string     // as sent to the server
	RedirectURI  string     // redirect_uri sent with PAR
	Scope        string     // scope sent with PAR
	PKCEVerifier string     // RFC 7636 code_verifier
	DPoPKey      *jwk.Key   // the session's DPoP key, used from PAR onward
	ClientKeyID  string     // kid of the client assertion key, "" for public clients
	CreatedAt    time.Time
	ExpiresAt    time.Time
}

// String describes the request without its secrets.
func (r *AuthRequest) String() string {
	if r == nil {
		return "<nil>"
	}
	return fmt.Sprintf("AuthRequest{issuer=%s hint=%q expires=%s}", r.Issuer, r.LoginHint, r.ExpiresAt.Format(time.RFC3339))
}

// GoString is String, so that %#v does not reveal secrets either.
func (r *AuthRequest) GoString() string { return r.String() }

// SessionData is the persisted state of one signed-in session: who, where,
// the granted scope, the tokens, and the DPoP key they are bound to. It
// holds secrets; its String method hides them.
type SessionData struct {
	ID     string        // random, unrelated to the login state
	DID    syntax.DID    // the account (token sub)
	Handle syntax.Handle // bidirectionally verified handle, or handle.invalid
	PDS    string        // PDS origin, the only origin that gets credentials

	Issuer             string // authorization server origin
	TokenEndpoint      string
	RevocationEndpoint string

	Scope        string    // granted scope, as the server returned it
	AccessToken  string    // DPoP-bound access token
	RefreshToken string    // single-use refresh token
	ExpiresAt    time.Time // absolute access-token expiry (zero: unknown)

	DPoPKey     *jwk.Key // bound to the tokens for the session's whole life
	ClientKeyID string   // kid of the client assertion key, "" for public clients

	CreatedAt time.Time
	UpdatedAt time.Time
}

// String describes the session without its secrets.
func (s *SessionData) String() string {
	if s == nil {
		return "<nil>"
	}
	return fmt.Sprintf("SessionData{id=%s did=%s handle=%s pds=%s expires=%s}",
		shortID(s.ID), s.DID, s.Handle, s.PDS, s.ExpiresAt.Format(time.RFC3339))
}

// GoString is String, so that %#v does not reveal secrets either.
func (s *SessionData) GoString() string { return s.String() }

// clone returns a copy; the key is immutable and shared.
func (s *SessionData) clone() *SessionData {
	c := *s
	return &c
}
