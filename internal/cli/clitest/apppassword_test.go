package clitest

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/atoauth/atoauth/atoauthtest"
)

const appPassword = "zq7x-mk2p-9wvd-hr4c"

// leaks tells whether the app password appears in a run's output.
func leaks(r Result) bool {
	return strings.Contains(r.Out, appPassword) || strings.Contains(r.ErrOut, appPassword)
}

// With --app-password-for and ATOAUTH_APP_PASSWORD, post and call act
// for the account without any OAuth session, store nothing, and never
// print the password.
func TestAppPasswordPostAndCall(t *testing.T) {
	e := New(t)
	e.Net.SetAppPassword(e.Alice, appPassword)
	e.Getenv = map[string]string{"ATOAUTH_APP_PASSWORD": appPassword}
	var mu sync.Mutex
	calls := map[string]int{}
	e.Net.SetTamper(atoauthtest.Tamper{RateLimit: func(nsid string) *atoauthtest.RateLimitAnswer {
		mu.Lock()
		defer mu.Unlock()
		calls[nsid]++
		return nil
	}})

	r := e.Run("", "post", "hello from an app password", "--app-password-for", "alice.test")
	if r.Code != 0 || !strings.HasPrefix(r.Out, "at://"+e.Alice.String()+"/app.bsky.feed.post/") || leaks(r) {
		t.Fatalf("post: exit %d %q %s", r.Code, r.Out, r.ErrOut)
	}
	rkey := strings.TrimPrefix(strings.Fields(r.Out)[0], "at://"+e.Alice.String()+"/app.bsky.feed.post/")
	rec, ok := e.Net.Record(e.Alice, "app.bsky.feed.post", rkey)
	if !ok || !strings.Contains(string(rec), "hello from an app password") {
		t.Fatalf("the post is not in the repo: %s", rec)
	}

	// The account from the environment, by DID.
	e.Getenv["ATOAUTH_APP_PASSWORD_FOR"] = e.Alice.String()
	r = e.Run("", "call", "com.atproto.server.getSession")
	var got struct{ DID, Handle string }
	if r.Code != 0 || json.Unmarshal([]byte(r.Out), &got) != nil || got.DID != e.Alice.String() || got.Handle != "alice.test" || leaks(r) {
		t.Fatalf("call getSession: exit %d %q %s", r.Code, r.Out, r.ErrOut)
	}
	r = e.Run("", "call", "com.atproto.repo.createRecord", "--data",
		`{"repo":"`+e.Alice.String()+`","collection":"app.bsky.feed.post","record":{"$type":"app.bsky.feed.post","text":"by call","createdAt":"2026-11-27T12:00:00Z"}}`)
	if r.Code != 0 || !strings.Contains(r.Out, `"uri"`) || leaks(r) {
		t.Fatalf("call createRecord: exit %d %s %s", r.Code, r.Out, r.ErrOut)
	}
	r = e.Run("", "records", "list", "app.bsky.feed.post")
	if r.Code != 0 || !Contains(r.Out, "hello from an app password", "by call") || leaks(r) {
		t.Fatalf("records list: exit %d %s %s", r.Code, r.Out, r.ErrOut)
	}

	// whoami shows the account the app password signs in to.
	r = e.Run("", "whoami", "--json")
	var who struct{ DID, Handle, PDS, Auth string }
	if r.Code != 0 || json.Unmarshal([]byte(r.Out), &who) != nil || who.DID != e.Alice.String() || who.Auth != "app-password" || who.PDS != e.Net.PDS.URL || leaks(r) {
		t.Fatalf("whoami: exit %d %s %s", r.Code, r.Out, r.ErrOut)
	}

	// Each command signed in once and out at its end.
	mu.Lock()
	if c, d := calls["com.atproto.server.createSession"], calls["com.atproto.server.deleteSession"]; c != 5 || d != 5 {
		t.Errorf("%d createSession, %d deleteSession; want 5 each", c, d)
	}
	mu.Unlock()

	// Nothing was stored: no OAuth session, no state.
	if list, err := e.Store.ListSessions(context.Background(), ""); err != nil || len(list) != 0 {
		t.Fatalf("stored sessions: %d %v", len(list), err)
	}
	if n := e.Net.Counters().TokenRequests; n != 0 {
		t.Fatalf("%d OAuth token requests", n)
	}
}

// A wrong app password is refused with a clear message and exit code 4
// (sign-in needed), and the password is not printed.
func TestAppPasswordRefused(t *testing.T) {
	e := New(t)
	e.Net.SetAppPassword(e.Alice, "the-right-one")
	e.Getenv = map[string]string{"ATOAUTH_APP_PASSWORD": appPassword, "ATOAUTH_APP_PASSWORD_FOR": "alice.test"}
	for _, args := range [][]string{{"post", "nope"}, {"call", "com.atproto.server.getSession"}, {"whoami"}} {
		r := e.Run("", args...)
		if r.Code != 4 || !Contains(r.ErrOut, "refused the app password from ATOAUTH_APP_PASSWORD for alice.test", "atoauth login") || leaks(r) {
			t.Errorf("%v: exit %d %q", args, r.Code, r.ErrOut)
		}
	}
}

// Without ATOAUTH_APP_PASSWORD the password is asked on the terminal,
// without echo; with no terminal it is a usage error. It is never a flag.
func TestAppPasswordPromptOrUsage(t *testing.T) {
	e := New(t)
	e.Net.SetAppPassword(e.Alice, appPassword)
	r := e.Run("", "post", "no password", "--app-password-for", "alice.test")
	if r.Code != 2 || !strings.Contains(r.ErrOut, "ATOAUTH_APP_PASSWORD") {
		t.Fatalf("no password, no terminal: exit %d %s", r.Code, r.ErrOut)
	}
	asked := 0
	e.ReadSecret = func() ([]byte, error) { asked++; return []byte(appPassword + "\n"), nil }
	r = e.Run("", "post", "typed on the terminal", "--app-password-for", "alice.test")
	if r.Code != 0 || asked != 1 || !strings.Contains(r.ErrOut, "App password for alice.test") || leaks(r) {
		t.Fatalf("prompt: exit %d, asked %d, %q", r.Code, asked, r.ErrOut)
	}
	e.ReadSecret = func() ([]byte, error) { return nil, errors.New("terminal gone") }
	if r = e.Run("", "post", "x", "--app-password-for", "alice.test"); r.Code != 1 || !strings.Contains(r.ErrOut, "terminal gone") {
		t.Fatalf("read error: exit %d %s", r.Code, r.ErrOut)
	}
	if r = e.Run("", "post", "x", "--app-password-for", "alice.test", "--app-password", appPassword); r.Code != 2 {
		t.Fatalf("a password flag: exit %d %s", r.Code, r.ErrOut)
	}
	// --session names a stored OAuth session: not both.
	e.Getenv = map[string]string{"ATOAUTH_APP_PASSWORD": appPassword}
	if r = e.Run("", "post", "x", "--app-password-for", "alice.test", "--session", "abc"); r.Code != 2 || leaks(r) {
		t.Fatalf("--session and --app-password-for: exit %d %s", r.Code, r.ErrOut)
	}
}
