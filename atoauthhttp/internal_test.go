package atoauthhttp

import (
	"errors"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/atoauth/atoauth"
	"github.com/atoauth/atoauth/discovery"
)

func TestLimiter(t *testing.T) {
	now := time.Unix(1000, 0)
	l := newLimiter(3, time.Minute, func() time.Time { return now })
	for i := range 3 {
		if ok, _ := l.allow("a"); !ok {
			t.Fatalf("attempt %d refused", i+1)
		}
	}
	ok, wait := l.allow("a")
	if ok || wait <= 0 || wait > 20*time.Second {
		t.Fatalf("4th: %v %v", ok, wait)
	}
	if ok, _ := l.allow("b"); !ok {
		t.Fatal("another key is limited")
	}
	now = now.Add(20 * time.Second) // one token back
	if ok, _ := l.allow("a"); !ok {
		t.Fatal("no token after the refill")
	}
	if ok, _ := l.allow("a"); ok {
		t.Fatal("two tokens after one refill")
	}
	now = now.Add(time.Hour) // never more than the burst
	for range 3 {
		l.allow("a")
	}
	if ok, _ := l.allow("a"); ok {
		t.Fatal("the burst grew")
	}
}

func TestLimiterMemoryIsBounded(t *testing.T) {
	now := time.Unix(1000, 0)
	l := newLimiter(1, time.Minute, func() time.Time { return now })
	for i := range maxTracked + 10 {
		l.allow(fmt.Sprint(i))
	}
	if len(l.buckets) > maxTracked {
		t.Fatalf("%d buckets", len(l.buckets))
	}
}

func TestExplainStart(t *testing.T) {
	for _, tc := range []struct {
		err  error
		code ErrorCode
		want string
	}{
		{&discovery.ResolveError{Input: "x", Kind: discovery.ErrHandleNotFound}, CodeInvalidIdentifier, "No account has the handle “x”"},
		{&discovery.ResolveError{Input: "x", Kind: discovery.ErrInvalidIdentifier}, CodeInvalidIdentifier, "“x” is not a handle"},
		{&discovery.ResolveError{Input: "https://pds.example.com", Kind: discovery.ErrUnreachable}, CodeSignInFailed, "could not be reached"},
		// Offline, a handle cannot be checked: never "no account".
		{&discovery.ResolveError{Input: "alice.bsky.social", Kind: discovery.ErrUnreachable}, CodeSignInFailed, "could not be checked"},
		{&discovery.MetadataError{URL: "u", Reason: "bad"}, CodeSignInFailed, "not set up for OAuth"},
		{&discovery.IssuerMismatchError{}, CodeSignInFailed, "does not vouch"},
		{&atoauth.OAuthError{Endpoint: "par", StatusCode: 400, Code: "invalid_client_metadata"}, CodeSignInFailed, "This is the app's fault"},
		{&atoauth.OAuthError{Endpoint: "par", StatusCode: 400, Code: "invalid_request", Description: "nope"}, CodeSignInFailed, "refused to start the sign-in: nope (invalid_request)"},
		{errors.New("other"), CodeSignInFailed, "could not start"},
	} {
		if got := explainStart(tc.err, "x"); got.Code != tc.code || !strings.Contains(got.Message, tc.want) || !errors.Is(got, tc.err) {
			t.Errorf("%v: %+v, want %s %q", tc.err, got, tc.code, tc.want)
		}
	}
	// What was typed is quoted cut, with controls escaped.
	got := explainStart(&discovery.ResolveError{Input: "x", Kind: discovery.ErrHandleNotFound}, "\x1b[2J"+strings.Repeat("a", 100))
	if strings.Contains(got.Message, "\x1b") || !strings.Contains(got.Message, `\x1b[2J`) || !strings.Contains(got.Message, "a…”") {
		t.Errorf("message %q", got.Message)
	}
}

func TestLoginStateRoundTrip(t *testing.T) {
	st := loginState{Return: "/" + strings.Repeat("a", MaxReturnPath-1), StepUp: strings.Repeat("x", 43), App: strings.Repeat("\x00<", 256)}
	raw := st.encode()
	if len(raw) > atoauth.MaxAppState {
		t.Errorf("login state of %d bytes", len(raw))
	}
	if got := parseLoginState(raw); got != st {
		t.Errorf("round trip: %+v", got)
	}
	if (loginState{}).encode() != "" {
		t.Error("an empty state is not empty")
	}
	for _, bad := range []string{"", "not json", `{"r":1}`, `[]`} {
		if got := parseLoginState(bad); got != (loginState{}) {
			t.Errorf("parseLoginState(%q) = %+v", bad, got)
		}
	}
}

func TestWantsJSON(t *testing.T) {
	for _, tc := range []struct {
		accept, dest string
		want         bool
	}{
		{"", "", false},
		{"text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", "document", false},
		{"application/json", "", true},
		{"application/problem+json, text/html", "", true},
		{"text/html, application/json", "", false},
		{"*/*", "empty", true},
		{"*/*", "document", false},
		{"text/html", "empty", false},
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("Accept", tc.accept)
		r.Header.Set("Sec-Fetch-Dest", tc.dest)
		if got := wantsJSON(r); got != tc.want {
			t.Errorf("Accept %q, Sec-Fetch-Dest %q: %v", tc.accept, tc.dest, got)
		}
	}
}

func TestExplainCallback(t *testing.T) {
	for _, tc := range []struct {
		err    error
		code   ErrorCode
		status int
		title  string
	}{
		{&atoauth.CallbackError{Code: "access_denied"}, CodeDenied, 400, "Sign-in cancelled"},
		{&atoauth.CallbackError{Code: "login_required"}, CodeSignInFailed, 400, "Sign-in needed"},
		{&atoauth.CallbackError{Code: "whatever"}, CodeSignInFailed, 400, "Sign-in failed"},
		{fmt.Errorf("%w: late", atoauth.ErrInvalidState), CodeInvalidState, 400, "Sign-in link expired"},
		{atoauth.ErrIdentityMismatch, CodeSignInFailed, 400, "Sign-in refused"},
		{&atoauth.OAuthError{Code: "invalid_grant"}, CodeSignInFailed, 400, "Sign-in link expired"},
		{&discovery.ResolveError{Input: "x", Kind: discovery.ErrUnreachable}, CodeSignInFailed, 502, "did not answer"},
		{errors.New("other"), CodeSignInFailed, 502, "Sign-in failed"},
	} {
		e := explainCallback(tc.err)
		if e.Code != tc.code || e.Status != tc.status || !strings.Contains(e.Title, tc.title) || e.Message == "" || !errors.Is(e, tc.err) {
			t.Errorf("%v: %+v", tc.err, e)
		}
	}
}

func TestLine(t *testing.T) {
	if got := line(5, "abcdefgh"); got != "abcde…" {
		t.Errorf("line: %q", got)
	}
	if got := line(80, "a\x1b[2J\u202eb"); got != `a\x1b[2J\u202eb` {
		t.Errorf("line: %q", got)
	}
}
