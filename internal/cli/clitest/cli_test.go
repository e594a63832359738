package clitest

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/atoauth/atoauth/atoauthtest"
)

func TestLoginWhoamiLogout(t *testing.T) {
	e := New(t)
	r := e.Run("", "whoami")
	if r.Code != 4 {
		t.Fatalf("whoami before login: exit %d, want 4 (needs login)", r.Code)
	}
	r = e.Run("", "login", "alice.test")
	if r.Code != 0 || !Contains(r.Out, "Logged in as alice.test ("+e.Alice.String()+") on "+e.Net.PDS.URL) {
		t.Fatalf("login: exit %d\n%s\n%s", r.Code, r.Out, r.ErrOut)
	}
	if !strings.Contains(r.ErrOut, "\n"+e.Net.AS.URL+"/oauth/authorize?") {
		t.Errorf("the authorization URL is not on a line of its own:\n%s", r.ErrOut)
	}
	st, err := os.Stat(filepath.Join(e.Dir, "cli.json"))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("cli.json: %v %v", st, err)
	}
	r = e.Run("", "whoami", "--json")
	var info struct {
		DID, Handle, PDS string
		Scopes           []string
	}
	if r.Code != 0 || json.Unmarshal([]byte(r.Out), &info) != nil || info.DID != e.Alice.String() || info.Handle != "alice.test" {
		t.Fatalf("whoami --json: %d %s %s", r.Code, r.Out, r.ErrOut)
	}
	r = e.Run("", "whoami")
	if r.Code != 0 || !Contains(r.Out, "alice.test", "Scopes:   atproto transition:generic", "Token:",
		"Permissions:\n  atproto             Know who you are: your DID and handle.\n  transition:generic  Create, change and delete any records") {
		t.Fatalf("whoami: %s", r.Out)
	}
	r = e.Run("", "logout")
	if r.Code != 0 || e.Net.ActiveSessions(e.Alice) != 0 {
		t.Fatalf("logout: %d %s %s (active %d)", r.Code, r.Out, r.ErrOut, e.Net.ActiveSessions(e.Alice))
	}
	if r = e.Run("", "whoami"); r.Code != 4 {
		t.Fatalf("whoami after logout: exit %d", r.Code)
	}
}

func TestLoginDenied(t *testing.T) {
	e := New(t)
	e.SetDeny(true)
	r := e.Run("", "login", "alice.test")
	if r.Code != 1 || !strings.Contains(r.ErrOut, "access_denied") {
		t.Fatalf("denied login: %d %s", r.Code, r.ErrOut)
	}
}

func TestPostRecordsBlobProfileCall(t *testing.T) {
	e := New(t)
	if r := e.Run("", "login", "alice.test"); r.Code != 0 {
		t.Fatal(r.ErrOut)
	}
	img := filepath.Join(t.TempDir(), "img.png")
	if err := os.WriteFile(img, pngBytes, 0o644); err != nil {
		t.Fatal(err)
	}
	r := e.Run("", "post", "hello from the CLI https://example.com", "--image", img, "--alt", "a pixel", "--lang", "en")
	if r.Code != 0 || !strings.HasPrefix(r.Out, "at://"+e.Alice.String()+"/app.bsky.feed.post/") || !strings.Contains(r.Out, "https://bsky.app/profile/") {
		t.Fatalf("post: %d %q %s", r.Code, r.Out, r.ErrOut)
	}
	uri := strings.Fields(r.Out)[0]

	r = e.Run("", "records", "list", "app.bsky.feed.post")
	if r.Code != 0 || !Contains(r.Out, uri, "hello from the CLI") {
		t.Fatalf("records list: %s %s", r.Out, r.ErrOut)
	}
	r = e.Run("", "records", "get", uri)
	if r.Code != 0 || !Contains(r.Out, `"alt": "a pixel"`, `"langs"`) {
		t.Fatalf("records get: %s %s", r.Out, r.ErrOut)
	}
	r = e.Run(`{"$type":"app.bsky.feed.post","text":"from stdin","createdAt":"2026-11-27T12:00:00Z"}`, "records", "create", "app.bsky.feed.post", "-")
	if r.Code != 0 || !strings.Contains(r.Out, `"uri"`) {
		t.Fatalf("records create: %s %s", r.Out, r.ErrOut)
	}
	r = e.Run(`{"$type":"app.bsky.actor.profile","displayName":"Put"}`, "records", "put", "app.bsky.actor.profile", "self", "-")
	if r.Code != 0 {
		t.Fatalf("records put: %s %s", r.Out, r.ErrOut)
	}
	if r = e.Run("", "records", "delete", uri); r.Code != 0 {
		t.Fatalf("records delete: %s", r.ErrOut)
	}
	if r = e.Run("", "records", "get", uri); r.Code != 1 || !strings.Contains(r.ErrOut, "RecordNotFound") {
		t.Fatalf("get deleted: %d %s", r.Code, r.ErrOut)
	}
	if r = e.Run("", "records", "get", "not-a-uri"); r.Code != 2 {
		t.Fatalf("bad uri: exit %d", r.Code)
	}

	r = e.Run("", "blob", "upload", img)
	var ref struct {
		Ref struct {
			Link string `json:"$link"`
		}
		MimeType string
	}
	if r.Code != 0 || json.Unmarshal([]byte(r.Out), &ref) != nil || ref.Ref.Link == "" || ref.MimeType != "image/png" {
		t.Fatalf("blob upload: %s %s", r.Out, r.ErrOut)
	}
	out := filepath.Join(t.TempDir(), "back.png")
	if r = e.Run("", "blob", "get", e.Alice.String(), ref.Ref.Link, "-o", out); r.Code != 0 {
		t.Fatalf("blob get: %s", r.ErrOut)
	}
	if b, _ := os.ReadFile(out); string(b) != string(pngBytes) {
		t.Fatal("blob get returned other bytes")
	}

	if r = e.Run("", "profile", "set", "--display-name", "Alice CLI", "--avatar", img); r.Code != 0 {
		t.Fatalf("profile set: %s", r.ErrOut)
	}
	r = e.Run("", "profile")
	if r.Code != 0 || !Contains(r.Out, "Display name:  Alice CLI", "Avatar:") {
		t.Fatalf("profile: %s %s", r.Out, r.ErrOut)
	}
	if r = e.Run("", "profile", "set"); r.Code != 2 {
		t.Fatalf("profile set with nothing: exit %d", r.Code)
	}

	r = e.Run("", "call", "com.atproto.server.getSession")
	if r.Code != 0 || !strings.Contains(r.Out, `"handle": "alice.test"`) {
		t.Fatalf("call getSession: %s %s", r.Out, r.ErrOut)
	}
	r = e.Run("", "call", "com.atproto.repo.describeRepo", "repo="+e.Alice.String())
	if r.Code != 0 || !strings.Contains(r.Out, "app.bsky.actor.profile") {
		t.Fatalf("call describeRepo: %s %s", r.Out, r.ErrOut)
	}
	if r = e.Run("", "call", "com.atproto.repo.describeRepo", "bad"); r.Code != 2 {
		t.Fatalf("call with a bad parameter: exit %d", r.Code)
	}
}

func TestSessionsAndSwitch(t *testing.T) {
	e := New(t)
	bob := e.Net.CreateAccount("bob.test")
	if r := e.Run("", "login", "alice.test"); r.Code != 0 {
		t.Fatal(r.ErrOut)
	}
	e.mu.Lock()
	e.Account = bob
	e.mu.Unlock()
	if r := e.Run("", "login", "bob.test"); r.Code != 0 {
		t.Fatal(r.ErrOut)
	}
	r := e.Run("", "sessions", "--json")
	var rows []struct {
		Session, Handle string
		Current         bool
	}
	if r.Code != 0 || json.Unmarshal([]byte(r.Out), &rows) != nil || len(rows) != 2 {
		t.Fatalf("sessions: %s", r.Out)
	}
	var aliceID string
	for _, row := range rows {
		if row.Handle == "alice.test" {
			aliceID = row.Session
			if row.Current {
				t.Error("alice is current after bob's login")
			}
		}
	}
	if r = e.Run("", "sessions", "--use", aliceID); r.Code != 0 {
		t.Fatalf("sessions --use: %s", r.ErrOut)
	}
	if r = e.Run("", "whoami", "--json"); !strings.Contains(r.Out, "alice.test") {
		t.Fatalf("whoami after --use: %s", r.Out)
	}
	if r = e.Run("", "logout", "--all"); r.Code != 0 || e.Net.ActiveSessions(e.Alice)+e.Net.ActiveSessions(bob) != 0 {
		t.Fatalf("logout --all: %s", r.ErrOut)
	}
}

func TestDoctor(t *testing.T) {
	e := New(t)
	r := e.Run("", "doctor", "alice.test")
	if r.Code != 0 || !Contains(r.Out, "✓ handle alice.test → "+e.Alice.String(), "✓ authorization server "+e.Net.Issuer()) {
		t.Fatalf("doctor chain: %d\n%s%s", r.Code, r.Out, r.ErrOut)
	}
	r = e.Run("", "doctor", e.Net.PDS.URL)
	if r.Code != 0 || !strings.Contains(r.Out, "✓ protected-resource metadata") {
		t.Fatalf("doctor PDS URL: %s", r.Out)
	}
	r = e.Run("", "doctor", "nobody.test")
	if r.Code != 1 || !strings.Contains(r.Out, "✗ handle nobody.test") {
		t.Fatalf("doctor unknown handle: %d %s", r.Code, r.Out)
	}
	r = e.Run("", "doctor", "http://localhost?redirect_uri=http%3A%2F%2Flocalhost%3A8080%2Fcb")
	if r.Code != 1 || !strings.Contains(r.Out, "127.0.0.1") {
		t.Fatalf("doctor loopback with localhost redirect: %d %s", r.Code, r.Out)
	}
	r = e.Run("", "doctor", "--explain", `{"error":"InvalidToken","message":"Bad token scope"}`)
	if r.Code != 0 || !Contains(r.Out, "bad token scope", "Bearer", "DPoP") {
		t.Fatalf("doctor --explain: %s", r.Out)
	}
	if r = e.Run("", "doctor", "--explain", "something nobody has seen"); r.Code != 1 {
		t.Fatalf("unknown error: exit %d", r.Code)
	}
}

func TestHelpHasExamples(t *testing.T) {
	e := New(t)
	for _, cmd := range [][]string{{"login"}, {"whoami"}, {"post"}, {"records"}, {"records", "list"}, {"records", "get"}, {"records", "put"}, {"records", "create"}, {"records", "delete"},
		{"blob"}, {"blob", "upload"}, {"blob", "get"}, {"profile"}, {"profile", "set"}, {"call"}, {"logout"}, {"sessions"}, {"doctor"}, {"serve"}, {"keygen"}} {
		r := e.Run("", append(cmd, "--help")...)
		if r.Code != 0 || !strings.Contains(r.Out, "Examples:") {
			t.Errorf("%v --help: exit %d, no examples:\n%s", cmd, r.Code, r.Out)
		}
	}
}

// pngBytes is a 1×1 PNG.
var pngBytes = []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\xcf\xc0\xf0\x1f\x00\x05\x00\x01\xff\x89\x99=\x1d\x00\x00\x00\x00IEND\xaeB`\x82")

// A session the server ends makes every command exit 4 with a line that
// says why; a temporary failure exits 1 and keeps the session.
func TestSessionEnded(t *testing.T) {
	for _, tc := range []struct {
		name   string
		break_ func(e *Env)
		code   int
		says   string
	}{
		{"revoked", func(e *Env) { e.Net.RevokeAll(e.Alice); e.Net.ExpireAccessTokens() },
			4, "your session has ended: your server revoked it"},
		{"moved", func(e *Env) {
			e.Net.UpdateTamper(func(tm *atoauthtest.Tamper) {
				tm.ResourceMetadata = func(m map[string]any) { m["authorization_servers"] = []any{"https://elsewhere.example.com"} }
			})
			e.Net.ExpireAccessTokens()
		}, 4, "your session has ended: your account is now hosted by another server"},
		{"refused", func(e *Env) { e.Net.UpdateTamper(func(tm *atoauthtest.Tamper) { tm.RejectAccessTokens = true }) },
			4, "your session has ended: your PDS no longer accepts this session"},
		{"server down", func(e *Env) {
			e.Net.UpdateTamper(func(tm *atoauthtest.Tamper) {
				tm.TokenError = func(string) *atoauthtest.ErrorAnswer { return &atoauthtest.ErrorAnswer{Status: 503} }
			})
			e.Net.ExpireAccessTokens()
		}, 1, "temporary; the session is kept"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := New(t)
			if r := e.Run("", "login", "alice.test"); r.Code != 0 {
				t.Fatalf("login: %s", r.ErrOut)
			}
			tc.break_(e)
			r := e.Run("", "post", "hello")
			if r.Code != tc.code || !strings.Contains(r.ErrOut, tc.says) {
				t.Fatalf("exit %d, want %d saying %q:\n%s", r.Code, tc.code, tc.says, r.ErrOut)
			}
			if tc.code == 4 && !strings.Contains(r.ErrOut, "Sign in again with `atoauth login <handle>`") {
				t.Fatalf("no way forward:\n%s", r.ErrOut)
			}
			list, _ := e.Store.ListSessions(context.Background(), e.Alice)
			if kept := len(list) == 1; kept != (tc.code != 4) {
				t.Fatalf("sessions left: %d", len(list))
			}
		})
	}
}

// An error names the command once (not "atoauth: atoauth: …") and ends
// with the error's own hint.
func TestErrorMessageAndHint(t *testing.T) {
	e := New(t)
	r := e.Run("", "login", "nobody.test")
	if r.Code != 1 || strings.Contains(r.ErrOut, "atoauth: atoauth:") || !strings.HasPrefix(r.ErrOut, "atoauth: ") {
		t.Fatalf("exit %d:\n%s", r.Code, r.ErrOut)
	}
	if !strings.Contains(r.ErrOut, "\nhint: no account answers to this handle") {
		t.Fatalf("no hint:\n%s", r.ErrOut)
	}
}
