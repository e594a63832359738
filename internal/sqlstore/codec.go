// Package sqlstore holds what the SQL session stores (sqlite, postgres)
// share: the explicit row form of sessions and pending logins with their
// secrets sealed, and the wait loop of the lease locks.
package sqlstore

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/atoauth/atoauth"
	"github.com/atoauth/atoauth/jwk"
	"github.com/atoauth/atoauth/storecrypt"
	"github.com/bluesky-social/indigo/atproto/syntax"
)

// Table names, also part of the additional data that binds each sealed
// value to its place.
const (
	SessionsTable     = "atoauth_sessions"
	AuthRequestsTable = "atoauth_auth_requests"
)

// SessionKey returns the primary key of session id: its SHA-256 in hex.
// The session ID is a credential (it is the app's cookie), so the
// database keeps only its hash in the clear and the ID itself sealed.
func SessionKey(id string) string {
	h := sha256.Sum256([]byte(id))
	return hex.EncodeToString(h[:])
}

// SessionRow is a session as stored: every field explicit, the secrets
// (the session ID included) sealed under KeyID ("" = in the clear).
type SessionRow struct {
	Key                                       string // SessionKey(ID)
	ID                                        []byte // sealed
	DID, Handle, PDS                          string
	Issuer, TokenEndpoint, RevocationEndpoint string
	Scope                                     string
	KeyID                                     string
	AccessToken, RefreshToken, DPoPKey        []byte
	ExpiresAt                                 time.Time // zero: unknown
	ClientKeyID                               string
	ClientID                                  string // in the clear: a public URL, "" = unknown
	CreatedAt, UpdatedAt                      time.Time
}

// AuthRequestRow is a pending login as stored.
type AuthRequestRow struct {
	State, Issuer, PDS, ExpectedDID, LoginHint string
	RedirectURI, Scope                         string
	KeyID                                      string
	PKCEVerifier, DPoPKey                      []byte
	ClientKeyID                                string
	CreatedAt, ExpiresAt                       time.Time
	// AppState is sealed like the secrets when not empty; empty (no app
	// state, and every row stored before the column existed) stays empty.
	AppState []byte
}

// Codec turns sessions and pending logins into rows and back.
type Codec struct {
	Ring *storecrypt.Keyring
}

// aad binds a sealed value to its table, column and row.
func aad(table, column, rowKey string) []byte {
	return []byte("atoauth-store-v1\x00" + table + "\x00" + column + "\x00" + rowKey)
}

// sealer seals several columns of one row under one key.
type sealer struct {
	ring       *storecrypt.Keyring
	table, row string
	keyID      string
	err        error
}

func (s *sealer) seal(column string, plain []byte) []byte {
	if s.err != nil {
		return nil
	}
	id, out, err := s.ring.Seal(plain, aad(s.table, column, s.row))
	if err != nil {
		s.err = err
		return nil
	}
	s.keyID = id
	return out
}

func (s *sealer) open(column string, sealed []byte) []byte {
	if s.err != nil {
		return nil
	}
	out, err := s.ring.Open(s.keyID, sealed, aad(s.table, column, s.row))
	if err != nil {
		s.err = fmt.Errorf("column %s: %w", column, err)
	}
	return out
}

func marshalKey(k *jwk.Key) ([]byte, error) {
	if k == nil {
		return nil, nil
	}
	return k.MarshalPrivate()
}

func parseKey(b []byte) (*jwk.Key, error) {
	if len(b) == 0 {
		return nil, nil
	}
	return jwk.Parse(b)
}

// SessionRow returns the row form of s, its secrets sealed.
func (c *Codec) SessionRow(s *atoauth.SessionData) (*SessionRow, error) {
	dk, err := marshalKey(s.DPoPKey)
	if err != nil {
		return nil, fmt.Errorf("encoding the DPoP key: %w", err)
	}
	defer clear(dk)
	rowKey := SessionKey(s.ID)
	sl := &sealer{ring: c.Ring, table: SessionsTable, row: rowKey}
	r := &SessionRow{
		Key: rowKey, ID: sl.seal("id", []byte(s.ID)),
		DID: s.DID.String(), Handle: s.Handle.String(), PDS: s.PDS,
		Issuer: s.Issuer, TokenEndpoint: s.TokenEndpoint, RevocationEndpoint: s.RevocationEndpoint,
		Scope:        s.Scope,
		AccessToken:  sl.seal("access_token", []byte(s.AccessToken)),
		RefreshToken: sl.seal("refresh_token", []byte(s.RefreshToken)),
		DPoPKey:      sl.seal("dpop_key", dk),
		ExpiresAt:    s.ExpiresAt, ClientKeyID: s.ClientKeyID, ClientID: s.ClientID, CreatedAt: s.CreatedAt, UpdatedAt: s.UpdatedAt,
	}
	if sl.err != nil {
		return nil, sl.err
	}
	r.KeyID = c.Ring.Primary()
	return r, nil
}

// Session opens a row into session data.
func (c *Codec) Session(r *SessionRow) (*atoauth.SessionData, error) {
	sl := &sealer{ring: c.Ring, table: SessionsTable, row: r.Key, keyID: r.KeyID}
	id := sl.open("id", r.ID)
	at := sl.open("access_token", r.AccessToken)
	rt := sl.open("refresh_token", r.RefreshToken)
	kb := sl.open("dpop_key", r.DPoPKey)
	defer clear(kb)
	if sl.err != nil {
		return nil, sl.err
	}
	if SessionKey(string(id)) != r.Key {
		return nil, fmt.Errorf("the session ID does not match its key")
	}
	key, err := parseKey(kb)
	if err != nil {
		return nil, fmt.Errorf("decoding the DPoP key: %w", err)
	}
	return &atoauth.SessionData{
		ID: string(id), DID: syntax.DID(r.DID), Handle: syntax.Handle(r.Handle), PDS: r.PDS,
		Issuer: r.Issuer, TokenEndpoint: r.TokenEndpoint, RevocationEndpoint: r.RevocationEndpoint,
		Scope: r.Scope, AccessToken: string(at), RefreshToken: string(rt), ExpiresAt: r.ExpiresAt,
		DPoPKey: key, ClientKeyID: r.ClientKeyID, ClientID: r.ClientID, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt,
	}, nil
}

// AuthRequestRow returns the row form of a, its secrets sealed.
func (c *Codec) AuthRequestRow(a *atoauth.AuthRequest) (*AuthRequestRow, error) {
	key, err := marshalKey(a.DPoPKey)
	if err != nil {
		return nil, fmt.Errorf("encoding the DPoP key: %w", err)
	}
	defer clear(key)
	sl := &sealer{ring: c.Ring, table: AuthRequestsTable, row: a.State}
	r := &AuthRequestRow{
		State: a.State, Issuer: a.Issuer, PDS: a.PDS, ExpectedDID: a.ExpectedDID.String(), LoginHint: a.LoginHint,
		RedirectURI: a.RedirectURI, Scope: a.Scope,
		PKCEVerifier: sl.seal("pkce_verifier", []byte(a.PKCEVerifier)),
		DPoPKey:      sl.seal("dpop_key", key),
		ClientKeyID:  a.ClientKeyID, CreatedAt: a.CreatedAt, ExpiresAt: a.ExpiresAt,
	}
	if a.AppState != "" {
		r.AppState = sl.seal("app_state", []byte(a.AppState))
	}
	if sl.err != nil {
		return nil, sl.err
	}
	r.KeyID = c.Ring.Primary()
	return r, nil
}

// AuthRequest opens a row into a pending login.
func (c *Codec) AuthRequest(r *AuthRequestRow) (*atoauth.AuthRequest, error) {
	sl := &sealer{ring: c.Ring, table: AuthRequestsTable, row: r.State, keyID: r.KeyID}
	v := sl.open("pkce_verifier", r.PKCEVerifier)
	kb := sl.open("dpop_key", r.DPoPKey)
	defer clear(kb)
	var appState []byte
	if len(r.AppState) > 0 {
		appState = sl.open("app_state", r.AppState)
	}
	if sl.err != nil {
		return nil, sl.err
	}
	key, err := parseKey(kb)
	if err != nil {
		return nil, fmt.Errorf("decoding the DPoP key: %w", err)
	}
	return &atoauth.AuthRequest{
		State: r.State, Issuer: r.Issuer, PDS: r.PDS, ExpectedDID: syntax.DID(r.ExpectedDID), LoginHint: r.LoginHint,
		RedirectURI: r.RedirectURI, Scope: r.Scope, PKCEVerifier: string(v), DPoPKey: key,
		ClientKeyID: r.ClientKeyID, CreatedAt: r.CreatedAt, ExpiresAt: r.ExpiresAt, AppState: string(appState),
	}, nil
}

// Reseal re-seals the secrets of a session row under the primary key. It
// reports false when the row is sealed under the primary key already.
func (c *Codec) Reseal(r *SessionRow) (*SessionRow, bool, error) {
	if r.KeyID == c.Ring.Primary() {
		return r, false, nil
	}
	s, err := c.Session(r)
	if err != nil {
		return nil, false, err
	}
	nr, err := c.SessionRow(s)
	return nr, err == nil, err
}

// ResealAuthRequest is Reseal for a pending-login row.
func (c *Codec) ResealAuthRequest(r *AuthRequestRow) (*AuthRequestRow, bool, error) {
	if r.KeyID == c.Ring.Primary() {
		return r, false, nil
	}
	a, err := c.AuthRequest(r)
	if err != nil {
		return nil, false, err
	}
	nr, err := c.AuthRequestRow(a)
	return nr, err == nil, err
}

// SortSessions orders sessions oldest first, then by ID, as
// atoauth.MemoryStore does. (The database cannot: the IDs are sealed.)
func SortSessions(list []*atoauth.SessionData) {
	slices.SortFunc(list, func(a, b *atoauth.SessionData) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
}
