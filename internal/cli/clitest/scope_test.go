package clitest

import (
	"context"
	"encoding/json"
	"net/url"
	"strings"
	"testing"

	scopecmd "github.com/atoauth/atoauth/internal/cli/scope"
)

func TestScopeParse(t *testing.T) {
	e := New(t)
	r := e.Run("", "scope", "parse", "atproto repo:app.bsky.feed.post?action=create&action=create blob?accept=image/*&accept=image/png")
	if r.Code != 0 || !Contains(r.Out, "atproto ", "repo:app.bsky.feed.post?action=create ", "Create posts.",
		"blob:image/* ", "Upload images.") {
		t.Fatalf("scope parse: exit %d\n%s\n%s", r.Code, r.Out, r.ErrOut)
	}
	r = e.Run("", "scope", "parse", "--json", "account:email?action=manage identity:handle atproto")
	var got struct {
		Scope       string
		Permissions []struct{ Scope, Description string }
	}
	if r.Code != 0 || json.Unmarshal([]byte(r.Out), &got) != nil || got.Scope != "account:email?action=manage atproto identity:handle" ||
		len(got.Permissions) != 3 || got.Permissions[0].Description != "See and change your email address." {
		t.Fatalf("scope parse --json: exit %d\n%s\n%s", r.Code, r.Out, r.ErrOut)
	}
	r = e.Run("", "scope", "parse", "atproto repo:app.bsky.feed.post?action=publish")
	if r.Code != 1 || !Contains(r.ErrOut, `invalid permission "repo:app.bsky.feed.post?action=publish"`, `action "publish" is not valid`) {
		t.Fatalf("scope parse invalid: exit %d\n%s\n%s", r.Code, r.Out, r.ErrOut)
	}
	if r = e.Run("", "scope", "parse", " "); r.Code != 1 || !Contains(r.ErrOut, "empty") {
		t.Fatalf("scope parse of an empty string: exit %d %s", r.Code, r.ErrOut)
	}
	if r = e.Run("", "scope", "parse"); r.Code != 2 {
		t.Fatalf("scope parse without argument: exit %d", r.Code)
	}
}

func TestScopeAllows(t *testing.T) {
	e := New(t)
	const granted = "atproto repo:app.bsky.feed.post?action=create blob:image/* rpc:app.bsky.actor.getProfile?aud=did:web:api.bsky.app%23bsky_appview transition:email"
	for _, tc := range []struct {
		args []string
		code int
		out  string
	}{
		{[]string{"repo:app.bsky.feed.post?action=create"}, 0, "allowed: repo:app.bsky.feed.post?action=create"},
		{[]string{"blob:image/png"}, 0, "allowed: blob:image/png"},
		{[]string{"rpc:app.bsky.actor.getProfile?aud=did:web:api.bsky.app%23bsky_appview"}, 0, "allowed: rpc:"},
		{[]string{"account:email?action=read"}, 0, "allowed: account:email"},
		{[]string{"blob:image/png", "repo:app.bsky.feed.post?action=create"}, 0, "allowed: blob:image/png"},
		{[]string{"repo:app.bsky.actor.profile?action=update"}, 1, "not allowed: missing repo:app.bsky.actor.profile?action=update"},
		{[]string{"repo:app.bsky.feed.post"}, 1, "not allowed: missing repo:app.bsky.feed.post?action=update"},
		{[]string{"blob:video/mp4"}, 1, "not allowed: missing blob:video/mp4"},
		{[]string{"identity:handle"}, 1, "not allowed: missing identity:handle"},
		{[]string{"account:email?action=manage"}, 1, "not allowed: missing account:email?action=manage"},
		{[]string{"rpc:app.bsky.actor.getProfile?aud=did:web:other.example%23bsky_appview"}, 1, "not allowed"},
		{[]string{"blob:image/*"}, 2, ""},
		{[]string{"repo:app.bsky.feed.post?action=publish"}, 2, ""},
		{[]string{"nonsense"}, 2, ""},
	} {
		r := e.Run("", append([]string{"scope", "allows", "--granted", granted}, tc.args...)...)
		if r.Code != tc.code || !strings.Contains(r.Out, tc.out) {
			t.Errorf("scope allows %v: exit %d (want %d)\n%s\n%s", tc.args, r.Code, tc.code, r.Out, r.ErrOut)
		}
		if tc.code == 1 && r.ErrOut != "" {
			t.Errorf("scope allows %v: not allowed prints to stderr: %s", tc.args, r.ErrOut)
		}
	}
	if r := e.Run("", "scope", "allows", "blob:image/png"); r.Code != 2 || !strings.Contains(r.ErrOut, "--granted") {
		t.Errorf("scope allows without --granted: exit %d %s", r.Code, r.ErrOut)
	}
	if r := e.Run("", "scope", "allows", "--granted", "atproto repo:x", "blob:image/png"); r.Code != 2 {
		t.Errorf("scope allows with a malformed --granted: exit %d %s", r.Code, r.ErrOut)
	}
	for _, cmd := range [][]string{{"scope"}, {"scope", "parse"}, {"scope", "allows"}} {
		if r := e.Run("", append(cmd, "--help")...); r.Code != 0 || !strings.Contains(r.Out, "Examples:") {
			t.Errorf("%v --help: exit %d, no examples", cmd, r.Code)
		}
	}
}

func TestLoginScope(t *testing.T) {
	e := New(t)
	r := e.Run("", "login", "--scope", "atproto repo:app.bsky.feed.post?action=create blob:image/*", "alice.test")
	if r.Code != 0 || !Contains(r.Out, "Logged in as alice.test", "Granted:\n", "  Create posts.\n", "  Upload images.\n") {
		t.Fatalf("login --scope: exit %d\n%s\n%s", r.Code, r.Out, r.ErrOut)
	}
	r = e.Run("", "whoami")
	if r.Code != 0 || !Contains(r.Out, "repo:app.bsky.feed.post?action=create  Create posts.") {
		t.Fatalf("whoami: exit %d\n%s\n%s", r.Code, r.Out, r.ErrOut)
	}
	r = e.Run("", "login", "--scope", "atproto repo:app.bsky.feed.post?action=publish", "alice.test")
	if r.Code != 2 || !Contains(r.ErrOut, `--scope: scope: invalid permission "repo:app.bsky.feed.post?action=publish"`) {
		t.Fatalf("login with a malformed --scope: exit %d\n%s", r.Code, r.ErrOut)
	}
}

func TestDoctorPermissionSets(t *testing.T) {
	e := New(t)
	r := e.Run("", "doctor", "http://localhost?scope="+url.QueryEscape("atproto include:com.example.nowhere.authBasic")+"&redirect_uri="+url.QueryEscape("http://127.0.0.1/cb"))
	if r.Code != 0 || !Contains(r.Out, "- include:com.example.nowhere.authBasic: the permission set could not be resolved here") {
		t.Fatalf("doctor with an unresolvable permission set: exit %d\n%s%s", r.Code, r.Out, r.ErrOut)
	}
	r = e.Run("", "doctor", "http://localhost?scope="+url.QueryEscape("atproto repo:app.bsky.feed.post?action=publish")+"&redirect_uri="+url.QueryEscape("http://127.0.0.1/cb"))
	if r.Code != 1 || !Contains(r.Out, `✗ scope: scope: invalid permission "repo:app.bsky.feed.post?action=publish"`) {
		t.Fatalf("doctor with an invalid scope: exit %d\n%s%s", r.Code, r.Out, r.ErrOut)
	}
}

// A session granted only posting fails a profile edit with the exact
// `atoauth scope request` line to run; running it (the fake person
// consents) replaces the session under the same id, and the edit works.
func TestScopeRequestStepsUpTheSession(t *testing.T) {
	e := New(t)
	if r := e.Run("", "login", "--scope", "atproto repo:app.bsky.feed.post?action=create blob:image/*", "alice.test"); r.Code != 0 {
		t.Fatalf("login: exit %d\n%s", r.Code, r.ErrOut)
	}
	before := e.sessionIDs()
	want := `atoauth scope request 'repo:app.bsky.actor.profile?action=create&action=update'`
	r := e.Run("", "profile", "set", "--display-name", "Alice")
	if r.Code != 1 || !Contains(r.ErrOut, "missing permission repo:app.bsky.actor.profile?action=create (checked before sending; nothing was sent)", "\n  "+want+"\n") {
		t.Fatalf("profile set without the permission: exit %d\n%s", r.Code, r.ErrOut)
	}
	t.Logf("profile set without the permission:\n%s", r.ErrOut)

	r = e.Run("", "scope", "request", "repo:app.bsky.actor.profile?action=create&action=update")
	if r.Code != 0 || !Contains(r.Out, "now has these permissions", "Create posts.", "Upload images.") {
		t.Fatalf("scope request: exit %d\n%s\n%s", r.Code, r.Out, r.ErrOut)
	}
	if after := e.sessionIDs(); len(after) != 1 || after[0] != before[0] {
		t.Fatalf("sessions after the step-up: %v, want the one session %v", after, before)
	}
	if n := e.Net.ActiveSessions(e.Alice); n != 1 {
		t.Errorf("the server has %d sessions of alice, want 1 (the old tokens revoked)", n)
	}
	if r = e.Run("", "profile", "set", "--display-name", "Alice"); r.Code != 0 {
		t.Fatalf("profile set after the step-up: exit %d\n%s", r.Code, r.ErrOut)
	}
	if r = e.Run("", "sessions"); r.Code != 0 || strings.Count(r.Out, "alice.test") != 1 {
		t.Fatalf("sessions: exit %d\n%s", r.Code, r.Out)
	}

	// Asking again for what it has: nothing to do, no browser.
	if r = e.Run("", "scope", "request", "repo:app.bsky.actor.profile?action=update&action=create"); r.Code != 0 || !Contains(r.Out, "nothing to ask for") {
		t.Fatalf("scope request for what is granted: exit %d\n%s\n%s", r.Code, r.Out, r.ErrOut)
	}
	// A malformed permission is a usage error; a declined consent leaves
	// the session as it was.
	if r = e.Run("", "scope", "request", "repo:app.bsky.actor.profile?action=publish"); r.Code != 2 {
		t.Fatalf("scope request with a malformed permission: exit %d\n%s", r.Code, r.ErrOut)
	}
	e.SetDeny(true)
	if r = e.Run("", "scope", "request", "blob:video/mp4"); r.Code == 0 || !Contains(r.ErrOut, "access_denied") {
		t.Fatalf("declined step-up: exit %d\n%s", r.Code, r.ErrOut)
	}
	e.SetDeny(false)
	if r = e.Run("", "profile", "set", "--display-name", "Alice again"); r.Code != 0 {
		t.Fatalf("profile set after a declined step-up: exit %d\n%s", r.Code, r.ErrOut)
	}
	// With an app password there is no scope to ask for.
	e.Getenv = map[string]string{"ATOAUTH_APP_PASSWORD_FOR": "alice.test"}
	if r = e.Run("", "scope", "request", "blob:video/mp4"); r.Code != 2 {
		t.Fatalf("scope request with --app-password-for: exit %d\n%s", r.Code, r.ErrOut)
	}
}

// sessionIDs lists the ids of the stored sessions.
func (e *Env) sessionIDs() []string {
	e.T.Helper()
	all, err := e.Store.ListSessions(context.Background(), "")
	if err != nil {
		e.T.Fatal(err)
	}
	var ids []string
	for _, d := range all {
		ids = append(ids, d.ID)
	}
	return ids
}

func TestRequestCommandQuoting(t *testing.T) {
	for in, want := range map[string]string{
		"blob:video/mp4": "atoauth scope request blob:video/mp4",
		"repo:app.bsky.actor.profile?action=create&action=update": `atoauth scope request 'repo:app.bsky.actor.profile?action=create&action=update'`,
		"blob:image/* transition:chat.bsky":                       `atoauth scope request 'blob:image/*' transition:chat.bsky`,
		"a'b":                                                     `atoauth scope request 'a'\''b'`,
	} {
		if got := scopecmd.RequestCommand(in); got != want {
			t.Errorf("RequestCommand(%q) = %s, want %s", in, got, want)
		}
	}
}
