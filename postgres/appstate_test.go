package postgres_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/atoauth/atoauth"
	"github.com/atoauth/atoauth/internal/sqlstore"
	"github.com/atoauth/atoauth/jwk"
	"github.com/atoauth/atoauth/storecrypt"
	"github.com/jackc/pgx/v5"
)

// A pending login stored, sealed, by the release before
// AuthRequest.AppState (migration 0004) is still completed after the
// upgrade, without app state; a new one keeps its app state sealed.
func TestAuthRequestFromBeforeAppState(t *testing.T) {
	connString := freshSchema(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, connString)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	files, _ := filepath.Glob("migrations/*.sql")
	sort.Strings(files)
	if _, err := conn.Exec(ctx, `CREATE TABLE atoauth_schema (version integer NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	for i, f := range files {
		if filepath.Base(f) >= "0004" {
			break
		}
		body, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := conn.Exec(ctx, string(body)); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if _, err := conn.Exec(ctx, `INSERT INTO atoauth_schema VALUES ($1)`, i+1); err != nil {
			t.Fatal(err)
		}
	}
	k, err := storecrypt.NewKey("k1", bytes.Repeat([]byte{7}, storecrypt.SecretSize))
	if err != nil {
		t.Fatal(err)
	}
	ring, err := storecrypt.NewKeyring(k)
	if err != nil {
		t.Fatal(err)
	}
	dk, err := jwk.Generate()
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	r, err := (&sqlstore.Codec{Ring: ring}).AuthRequestRow(&atoauth.AuthRequest{State: "old", Issuer: "https://as.example",
		PKCEVerifier: "verifier-old", DPoPKey: dk, CreatedAt: now, ExpiresAt: now.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `INSERT INTO atoauth_auth_requests (state, issuer, pds, expected_did, login_hint, redirect_uri, scope,
		key_id, pkce_verifier, dpop_key, client_key_id, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
		r.State, r.Issuer, r.PDS, r.ExpectedDID, r.LoginHint, r.RedirectURI, r.Scope,
		r.KeyID, r.PKCEVerifier, r.DPoPKey, r.ClientKeyID, r.CreatedAt, r.ExpiresAt); err != nil {
		t.Fatal(err)
	}

	s := open(t, connString, k) // upgrades the schema
	got, err := s.ConsumeAuthRequest(ctx, "old")
	if err != nil {
		t.Fatalf("a pending login from before app states: %v", err)
	}
	if got.PKCEVerifier != "verifier-old" || got.AppState != "" {
		t.Fatalf("read back as verifier %q, app state %q", got.PKCEVerifier, got.AppState)
	}

	const appState = "/drafts/42?tab=media"
	if err := s.SaveAuthRequest(ctx, &atoauth.AuthRequest{State: "new", PKCEVerifier: "v", AppState: appState, DPoPKey: dk,
		CreatedAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	var stored []byte
	if err := conn.QueryRow(ctx, `SELECT app_state FROM atoauth_auth_requests WHERE state = 'new'`).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if len(stored) == 0 || bytes.Contains(stored, []byte(appState)) {
		t.Fatalf("the app state is not sealed although the store has a key: %q", stored)
	}
	if got, err := s.ConsumeAuthRequest(ctx, "new"); err != nil || got.AppState != appState {
		t.Fatalf("sealed app state: %q, %v", got.AppState, err)
	}
}
