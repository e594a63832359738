package clitest

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/atoauth/atoauth"
)

const narrowScope = "atproto repo:app.bsky.feed.post?action=create"

// loopbackClientID is the client_id the command line's client for scope
// has.
func loopbackClientID(t *testing.T, scope string) string {
	t.Helper()
	c, err := atoauth.NewClient(atoauth.LoopbackConfig(scope))
	if err != nil {
		t.Fatal(err)
	}
	return c.ClientID()
}

// sessionByScope returns the stored session alice made with scope.
func (e *Env) sessionByScope(scope string) *atoauth.SessionData {
	e.T.Helper()
	all, err := e.Store.ListSessions(context.Background(), "")
	if err != nil {
		e.T.Fatal(err)
	}
	for _, d := range all {
		if d.Scope == scope {
			return d
		}
	}
	e.T.Fatalf("no session with scope %q among %v", scope, all)
	return nil
}

// cliJSON returns the keys of cli.json.
func (e *Env) cliJSON() map[string]json.RawMessage {
	e.T.Helper()
	b, err := os.ReadFile(filepath.Join(e.Dir, "cli.json"))
	if err != nil {
		e.T.Fatal(err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		e.T.Fatal(err)
	}
	return m
}

// Two sessions made with different scopes have different loopback
// client_ids; each records its own, and every command acts through the
// right client, with nothing kept per session in cli.json.
func TestSessionsOfTwoScopes(t *testing.T) {
	e := New(t)
	if r := e.Run("", "login", "--scope", narrowScope, "alice.test"); r.Code != 0 {
		t.Fatalf("login --scope: %s", r.ErrOut)
	}
	if r := e.Run("", "login", "alice.test"); r.Code != 0 {
		t.Fatalf("login: %s", r.ErrOut)
	}
	narrow, wide := e.sessionByScope(narrowScope), e.sessionByScope("atproto transition:generic")
	if narrow.ClientID != loopbackClientID(t, narrowScope) || wide.ClientID != loopbackClientID(t, "atproto transition:generic") {
		t.Fatalf("stored client_ids: %q and %q", narrow.ClientID, wide.ClientID)
	}
	if m := e.cliJSON(); len(m) != 1 || string(m["current"]) != `"`+wide.ID+`"` {
		t.Fatalf("cli.json keeps more than the current session: %v", m)
	}
	// Every access token refused: each command refreshes, which works only
	// through the client that made the session.
	e.Net.ExpireAccessTokens()
	if r := e.Run("", "post", "through the default session"); r.Code != 0 {
		t.Fatalf("post with the current session: exit %d\n%s", r.Code, r.ErrOut)
	}
	if r := e.Run("", "post", "--session", narrow.ID[:12], "through the narrow session"); r.Code != 0 {
		t.Fatalf("post with the narrow session: exit %d\n%s", r.Code, r.ErrOut)
	}
	if r := e.Run("", "whoami", "--session", narrow.ID[:12]); r.Code != 0 || !strings.Contains(r.Out, "Scopes:   "+narrowScope+"\n") {
		t.Fatalf("whoami --session: exit %d\n%s%s", r.Code, r.Out, r.ErrOut)
	}
	if r := e.Run("", "logout", "--all"); r.Code != 0 || e.Net.ActiveSessions(e.Alice) != 0 {
		t.Fatalf("logout --all: exit %d, %d sessions left at the server\n%s", r.Code, e.Net.ActiveSessions(e.Alice), r.ErrOut)
	}
}

// A cli.json from before sessions recorded their client (a table of the
// scope each session's client_id was built with) is moved into the store
// on first use: each session it names that the store still holds, with no
// client recorded, gets the loopback client_id of its scope, and cli.json
// loses the table but keeps the current session.
func TestOldCLIJSONIsMigrated(t *testing.T) {
	e := New(t)
	ctx := context.Background()
	if r := e.Run("", "login", "--scope", narrowScope, "alice.test"); r.Code != 0 {
		t.Fatalf("login --scope: %s", r.ErrOut)
	}
	if r := e.Run("", "login", "alice.test"); r.Code != 0 {
		t.Fatalf("login: %s", r.ErrOut)
	}
	// Make the store as the previous release left it: the sessions under
	// the ids the fixture names, with no client recorded.
	for scope, id := range map[string]string{
		narrowScope:                  "fixture-narrow-session-0000000000000000000",
		"atproto transition:generic": "fixture-default-session-000000000000000000",
	} {
		d := e.sessionByScope(scope)
		if err := e.Store.DeleteSession(ctx, d.ID); err != nil {
			t.Fatal(err)
		}
		d.ID, d.ClientID = id, ""
		if err := e.Store.SaveSession(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	old, err := os.ReadFile("testdata/cli-before-issue13.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(e.Dir, "cli.json"), old, 0o600); err != nil {
		t.Fatal(err)
	}

	// The first command migrates. The narrow session is the current one:
	// without its scope it would be refreshed through the default client,
	// which the server refuses (and the session would end).
	e.Net.ExpireAccessTokens()
	if r := e.Run("", "post", "after the upgrade"); r.Code != 0 {
		t.Fatalf("post with the migrated narrow session: exit %d\n%s", r.Code, r.ErrOut)
	}
	for id, scope := range map[string]string{
		"fixture-narrow-session-0000000000000000000": narrowScope,
		"fixture-default-session-000000000000000000": "atproto transition:generic",
	} {
		d, err := e.Store.GetSession(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if want := loopbackClientID(t, scope); d.ClientID != want {
			t.Errorf("session %s: ClientID %q, want %q", id, d.ClientID, want)
		}
	}
	m := e.cliJSON()
	if _, ok := m["sessions"]; ok || string(m["current"]) != `"fixture-narrow-session-0000000000000000000"` {
		t.Errorf("cli.json after the migration: %v", m)
	}
	if st, err := os.Stat(filepath.Join(e.Dir, "cli.json")); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("cli.json: %v %v", st, err)
	}
	if r := e.Run("", "post", "--session", "fixture-default", "the other one"); r.Code != 0 {
		t.Fatalf("post with the migrated default session: exit %d\n%s", r.Code, r.ErrOut)
	}
	if r := e.Run("", "logout", "--all"); r.Code != 0 || e.Net.ActiveSessions(e.Alice) != 0 {
		t.Fatalf("logout --all: exit %d, %d sessions left at the server\n%s", r.Code, e.Net.ActiveSessions(e.Alice), r.ErrOut)
	}
}
