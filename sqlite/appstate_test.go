package sqlite_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/atoauth/atoauth"
	"github.com/atoauth/atoauth/internal/sqlstore"
	"github.com/atoauth/atoauth/jwk"
	"github.com/atoauth/atoauth/storecrypt"
)

// A pending login stored, sealed, by the release before
// AuthRequest.AppState (migration 0004) is still completed after the
// upgrade, without app state; a new one keeps its app state sealed.
func TestAuthRequestFromBeforeAppState(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "atoauth.db")
	files, _ := filepath.Glob("migrations/*.sql")
	sort.Strings(files)
	db := rawDB(t, path)
	version := 0
	for _, f := range files {
		if filepath.Base(f) >= "0004" {
			break
		}
		body, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(string(body)); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		version++
	}
	if _, err := db.Exec(fmt.Sprintf("PRAGMA user_version = %d", version)); err != nil {
		t.Fatal(err)
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
	if _, err := db.Exec(`INSERT INTO atoauth_auth_requests (state, issuer, pds, expected_did, login_hint, redirect_uri, scope,
		key_id, pkce_verifier, dpop_key, client_key_id, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		r.State, r.Issuer, r.PDS, r.ExpectedDID, r.LoginHint, r.RedirectURI, r.Scope,
		r.KeyID, r.PKCEVerifier, r.DPoPKey, r.ClientKeyID, r.CreatedAt.UnixMicro(), r.ExpiresAt.UnixMicro()); err != nil {
		t.Fatal(err)
	}
	db.Close()

	s := open(t, path, k) // upgrades the file
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
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	wal, _ := os.ReadFile(path + "-wal")
	if strings.Contains(string(raw)+string(wal), appState) {
		t.Fatal("the app state is stored in the clear although the store has a key")
	}
	if got, err := s.ConsumeAuthRequest(ctx, "new"); err != nil || got.AppState != appState {
		t.Fatalf("sealed app state: %q, %v", got.AppState, err)
	}
}
