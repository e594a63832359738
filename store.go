package atoauth

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
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
//     or expired request gives ErrStoreNotFound.
//   - SaveSession inserts or replaces the session with the same ID
//     (upsert); GetSession and DeleteSession give ErrStoreNotFound for a
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
// Client.Callback under its State. It holds secrets (the state, the PKCE
// verifier and the DPoP key) and the app's own AppState, which no printing
// path shows (see SessionData).
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
	// AppState is StartOptions.AppState, opaque to atoauth and never sent
	// to a server, returned by Client.CallbackWithAppState. Stores that
	// seal secrets seal it too: it may hold a return path or other data
	// of the person's.
	AppState  string
	CreatedAt time.Time
	ExpiresAt time.Time
}

// String describes the request without its secrets. It has a value
// receiver, so that a request printed by value is hidden too.
func (r AuthRequest) String() string {
	return fmt.Sprintf("AuthRequest{issuer=%s hint=%q expires=%s}", r.Issuer, r.LoginHint, r.ExpiresAt.Format(time.RFC3339))
}

// GoString is String, so that %#v does not reveal secrets either.
func (r AuthRequest) GoString() string { return r.String() }

// LogValue implements slog.LogValuer: logs show what String shows.
func (r AuthRequest) LogValue() slog.Value {
	return slog.GroupValue(slog.String("issuer", r.Issuer), slog.String("hint", r.LoginHint), slog.Time("expires", r.ExpiresAt))
}

// MarshalJSON encodes the request without its secrets (state, PKCE
// verifier, DPoP key): an AuthRequest is not a wire format, and a store
// keeps its fields itself.
func (r AuthRequest) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Issuer      string     `json:"issuer"`
		PDS         string     `json:"pds,omitempty"`
		ExpectedDID syntax.DID `json:"expectedDid,omitempty"`
		LoginHint   string     `json:"loginHint,omitempty"`
		RedirectURI string     `json:"redirectUri"`
		Scope       string     `json:"scope"`
		ClientKeyID string     `json:"clientKeyId,omitempty"`
		CreatedAt   time.Time  `json:"createdAt"`
		ExpiresAt   time.Time  `json:"expiresAt"`
	}{r.Issuer, r.PDS, r.ExpectedDID, r.LoginHint, r.RedirectURI, r.Scope, r.ClientKeyID, r.CreatedAt, r.ExpiresAt})
}

// SessionData is the persisted state of one signed-in session: who, where,
// the granted scope, the tokens, and the DPoP key they are bound to. It
// holds secrets, which no printing path shows: String and GoString (so
// %v, %+v, %#v), LogValue (slog, text or JSON) and MarshalJSON hide them.
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
	// ClientID is the client_id of the client that created the session,
	// which its tokens are bound to (see ErrOtherClient); "" for a session
	// stored before atoauth recorded it, until its next refresh.
	ClientID string

	CreatedAt time.Time
	// UpdatedAt is when the current tokens were issued (at sign-in or the
	// last refresh); with ExpiresAt it gives the access token's lifetime,
	// from which the proactive refresh margin is derived.
	UpdatedAt time.Time
}

// String describes the session without its secrets (tokens, DPoP key;
// the id only shortened, since it is a credential for a browser cookie).
// It has a value receiver, so that a session printed by value is hidden
// too.
func (s SessionData) String() string {
	return fmt.Sprintf("SessionData{id=%s did=%s handle=%s pds=%s expires=%s}",
		shortID(s.ID), s.DID, s.Handle, s.PDS, s.ExpiresAt.Format(time.RFC3339))
}

// GoString is String, so that %#v does not reveal secrets either.
func (s SessionData) GoString() string { return s.String() }

// LogValue implements slog.LogValuer: logs, text or JSON, show what
// String shows.
func (s SessionData) LogValue() slog.Value {
	return slog.GroupValue(slog.String("id", shortID(s.ID)), slog.String("did", s.DID.String()),
		slog.String("handle", s.Handle.String()), slog.String("pds", s.PDS), slog.Time("expires", s.ExpiresAt))
}

// MarshalJSON encodes the session without its secrets: tokens and DPoP
// key are left out and the id is shortened. SessionData is not a wire
// format (a store keeps its fields itself); this is what any JSON view
// of it, a log line or an API answer, may show.
func (s SessionData) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		ID          string        `json:"id"`
		DID         syntax.DID    `json:"did"`
		Handle      syntax.Handle `json:"handle"`
		PDS         string        `json:"pds"`
		Issuer      string        `json:"issuer"`
		Scope       string        `json:"scope"`
		ExpiresAt   time.Time     `json:"expiresAt"`
		ClientKeyID string        `json:"clientKeyId,omitempty"`
		ClientID    string        `json:"clientId,omitempty"`
		CreatedAt   time.Time     `json:"createdAt"`
		UpdatedAt   time.Time     `json:"updatedAt"`
	}{shortID(s.ID), s.DID, s.Handle, s.PDS, s.Issuer, s.Scope, s.ExpiresAt, s.ClientKeyID, s.ClientID, s.CreatedAt, s.UpdatedAt})
}

// clone returns a copy; the key is immutable and shared.
func (s *SessionData) clone() *SessionData {
	c := *s
	return &c
}
