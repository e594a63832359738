package atoauth_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/atoauth/atoauth"
	"github.com/atoauth/atoauth/jwk"
)

// Secret-holding types stay secret in every printing path: fmt verbs on
// values, pointers and structs holding them, encoding/json, and slog with
// the text and JSON handlers (serve --log-json).
func TestSecretsNeverPrinted(t *testing.T) {
	key, err := jwk.Generate()
	if err != nil {
		t.Fatal(err)
	}
	const (
		sessionID = "SESSIONIDSECRET0123456789abcdefghijklmnop"
		access    = "ACCESSTOKENSECRET"
		refresh   = "REFRESHTOKENSECRET"
		state     = "STATESECRET0123456789"
		verifier  = "PKCEVERIFIERSECRET"
		appState  = "/APPSTATERETURNPATH"
	)
	now := time.Now()
	sd := atoauth.SessionData{ID: sessionID, DID: "did:plc:ewvi7nxzyoun6zhxrhs64oiz", Handle: "alice.test", PDS: "https://pds.example.com",
		Issuer: "https://pds.example.com", Scope: "atproto", AccessToken: access, RefreshToken: refresh, ExpiresAt: now, DPoPKey: key, CreatedAt: now, UpdatedAt: now}
	ar := atoauth.AuthRequest{State: state, Issuer: "https://pds.example.com", PKCEVerifier: verifier, DPoPKey: key, AppState: appState, CreatedAt: now, ExpiresAt: now}
	private, err := key.MarshalPrivate()
	if err != nil {
		t.Fatal(err)
	}
	var d struct{ D string }
	if err := json.Unmarshal(private, &struct {
		D *string `json:"d"`
	}{&d.D}); err != nil || d.D == "" {
		t.Fatalf("private key member: %v", err)
	}
	secrets := []string{sessionID, access, refresh, state, verifier, appState, d.D}

	type holder struct {
		S  atoauth.SessionData
		PS *atoauth.SessionData
		A  atoauth.AuthRequest
		PA *atoauth.AuthRequest
	}
	h := holder{S: sd, PS: &sd, A: ar, PA: &ar}
	var out bytes.Buffer
	for _, v := range []any{sd, &sd, ar, &ar, h, &h, []atoauth.SessionData{sd}, map[string]atoauth.AuthRequest{"x": ar}} {
		fmt.Fprintf(&out, "%v\n%+v\n%#v\n%s\n", v, v, v, v)
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatalf("json.Marshal(%T): %v", v, err)
		}
		out.Write(b)
		out.WriteByte('\n')
	}
	for _, handler := range []slog.Handler{slog.NewTextHandler(&out, nil), slog.NewJSONHandler(&out, nil)} {
		l := slog.New(handler)
		l.Info("session", "value", sd, "pointer", &sd, "request", ar, "requestPointer", &ar, "holder", h)
		l.Info("any", slog.Any("s", sd), slog.Any("a", &ar))
	}
	all := out.String()
	for _, s := range secrets {
		if strings.Contains(all, s) {
			t.Errorf("a secret (%.12s…) was printed:\n%s", s, all)
		}
	}
	// And what is shown is useful.
	for _, want := range []string{"did:plc:ewvi7nxzyoun6zhxrhs64oiz", "alice.test", "https://pds.example.com", "SESSIONI…"} {
		if !strings.Contains(all, want) {
			t.Errorf("%q is not shown:\n%s", want, all)
		}
	}
}
