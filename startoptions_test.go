package atoauth_test

import (
	"context"
	"errors"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/atoauth/atoauth"
	"github.com/atoauth/atoauth/atoauthtest"
	"github.com/bluesky-social/indigo/atproto/syntax"
)

// pushed returns the parameters of the pushed authorization request that
// auth came from.
func (e *env) pushed(auth *atoauth.Authorization) url.Values {
	e.t.Helper()
	u, err := url.Parse(auth.URL)
	if err != nil {
		e.t.Fatal(err)
	}
	for _, p := range e.net.PushedRequests() {
		if p.RequestURI == u.Query().Get("request_uri") {
			return p.Params
		}
	}
	e.t.Fatalf("the server received no PAR for %s", auth.URL)
	return nil
}

// Display, ui_locales, prompt and login_hint reach the PAR, in the form
// the reference server accepts; the app state does not.
func TestStartSendsAuthorizationOptions(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	const appState = "/compose?draft=7&secret-ish=1"
	auth, err := e.client.Start(ctx, "alice.test", &atoauth.StartOptions{
		Prompt: "login", Display: "popup", UILocales: " fr-ca  FR en fr-CA ", LoginHint: "@Alice.Test", AppState: appState,
	})
	if err != nil {
		t.Fatal(err)
	}
	p := e.pushed(auth)
	for k, want := range map[string]string{"prompt": "login", "display": "popup", "ui_locales": "fr-CA fr en", "login_hint": "alice.test"} {
		if got := p.Get(k); got != want {
			t.Errorf("PAR %s = %q, want %q", k, got, want)
		}
	}
	var keys []string
	for k, vs := range p {
		keys = append(keys, k)
		for _, v := range vs {
			if strings.Contains(v, "draft=7") {
				t.Errorf("the app state was sent to the server in %s", k)
			}
		}
	}
	slices.Sort(keys)
	want := []string{"client_id", "code_challenge", "code_challenge_method", "display", "login_hint", "prompt", "redirect_uri", "response_type", "scope", "state", "ui_locales"}
	if !slices.Equal(keys, want) {
		t.Errorf("PAR parameters %v, want %v", keys, want)
	}
	// The login completes: the fake server accepts every value.
	redirect, err := e.net.Approve(ctx, auth.URL, e.alice)
	if err != nil {
		t.Fatal(err)
	}
	s, got, err := e.client.CallbackWithAppState(ctx, redirect.Query(), &atoauth.CallbackOptions{State: auth.State})
	if err != nil || got != appState || s.DID() != e.alice {
		t.Fatalf("CallbackWithAppState = %v, %q, %v", s, got, err)
	}

	// Nothing set, nothing sent.
	auth, err = e.client.Start(ctx, e.net.PDS.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"prompt", "display", "ui_locales", "login_hint"} {
		if v, ok := e.pushed(auth)[k]; ok {
			t.Errorf("PAR sent %s = %q without being asked", k, v)
		}
	}
}

// The default login_hint is the verified handle, for a login that starts
// from the handle or from the DID; the DID when the handle does not
// verify; none for a login from a server URL. An explicit hint must name
// the login's account.
func TestDefaultLoginHint(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	hint := func(identifier string, opts *atoauth.StartOptions) string {
		t.Helper()
		auth, err := e.client.Start(ctx, identifier, opts)
		if err != nil {
			t.Fatalf("Start(%q): %v", identifier, err)
		}
		p := e.pushed(auth)
		if _, ok := p["login_hint"]; !ok {
			return "(none)"
		}
		return p.Get("login_hint")
	}
	for _, tc := range []struct {
		identifier string
		opts       *atoauth.StartOptions
		want       string
	}{
		{"alice.test", nil, "alice.test"},
		{"@ALICE.test", nil, "alice.test"},
		{e.alice.String(), nil, "alice.test"},
		{e.net.PDS.URL, nil, "(none)"},
		{e.net.PDS.URL, &atoauth.StartOptions{LoginHint: "bob.test"}, "bob.test"},
		{"alice.test", &atoauth.StartOptions{LoginHint: e.alice.String()}, e.alice.String()},
		{e.alice.String(), &atoauth.StartOptions{LoginHint: "Alice.Test"}, "alice.test"},
	} {
		if got := hint(tc.identifier, tc.opts); got != tc.want {
			t.Errorf("Start(%q, %+v): login_hint %q, want %q", tc.identifier, tc.opts, got, tc.want)
		}
	}
	// A hint for another account than the login's is refused before PAR.
	before := e.net.Counters().PAR
	if _, err := e.client.Start(ctx, "alice.test", &atoauth.StartOptions{LoginHint: "bob.test"}); !errors.Is(err, atoauth.ErrInvalidStartOptions) {
		t.Fatalf("a hint naming another account: %v", err)
	}
	if e.net.Counters().PAR != before {
		t.Fatal("the refused login sent a PAR")
	}

	// Alice's DID document now claims a handle that does not point back:
	// a login from her DID hints the DID.
	e2 := newEnv(t)
	e2.net.UpdateTamper(func(tp *atoauthtest.Tamper) {
		tp.DIDDocument = func(did syntax.DID, doc map[string]any) {
			if did == e2.alice {
				doc["alsoKnownAs"] = []any{"at://not-alice.test"}
			}
		}
	})
	auth, err := e2.client.Start(ctx, e2.alice.String(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := e2.pushed(auth).Get("login_hint"); got != e2.alice.String() {
		t.Fatalf("login_hint for a DID whose handle does not verify: %q, want the DID", got)
	}
	if _, err := e2.client.Start(ctx, e2.alice.String(), &atoauth.StartOptions{LoginHint: "not-alice.test"}); !errors.Is(err, atoauth.ErrInvalidStartOptions) {
		t.Fatalf("a hint naming the unverified handle: %v", err)
	}
}

// Values the server would refuse are refused before anything is sent,
// with an error that says what is wrong.
func TestStartOptionsRefusedBeforePAR(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	for _, tc := range []struct {
		opts atoauth.StartOptions
		says string
	}{
		{atoauth.StartOptions{Display: "fullscreen"}, "Display"},
		{atoauth.StartOptions{Display: "Popup"}, "Display"},
		{atoauth.StartOptions{UILocales: "zh-Hant"}, "UILocales"},
		{atoauth.StartOptions{UILocales: "english"}, "UILocales"},
		{atoauth.StartOptions{UILocales: "en-US-x-private"}, "UILocales"},
		{atoauth.StartOptions{UILocales: "en,fr"}, "UILocales"},
		{atoauth.StartOptions{UILocales: strings.Repeat("en ", atoauth.MaxUILocales+1)}, "MaxUILocales"},
		{atoauth.StartOptions{LoginHint: "not a handle"}, "LoginHint"},
		{atoauth.StartOptions{LoginHint: "https://bsky.social"}, "LoginHint"},
		{atoauth.StartOptions{AppState: strings.Repeat("x", atoauth.MaxAppState+1)}, "MaxAppState"},
		{atoauth.StartOptions{Prompt: "always"}, "prompt"},
	} {
		_, err := e.client.Start(ctx, "alice.test", &tc.opts)
		if !errors.Is(err, atoauth.ErrInvalidStartOptions) || !strings.Contains(err.Error(), tc.says) {
			t.Errorf("Start(%+v) = %v; want ErrInvalidStartOptions naming %s", tc.opts, err, tc.says)
		}
	}
	if c := e.net.Counters(); c.PAR != 0 || c.ResourceMetadata != 0 {
		t.Fatalf("refused logins reached the network: %+v", c)
	}
	// The limits themselves are fine.
	if _, err := e.client.Start(ctx, "alice.test", &atoauth.StartOptions{AppState: strings.Repeat("x", atoauth.MaxAppState),
		UILocales: "en en-GB fr de es it pt nl sv da", Display: "wap"}); err != nil {
		t.Fatalf("at the limits: %v", err)
	}
}

// referenceUILocales is the ui_locales rule of the reference server
// (@atproto/oauth-types, oauthAuthorizationRequestParametersSchema).
var referenceUILocales = regexp.MustCompile(`^[a-z]{2,3}(-[A-Z]{2})?( [a-z]{2,3}(-[A-Z]{2})?)*$`)

func TestUILocalesFromAcceptLanguage(t *testing.T) {
	for in, want := range map[string]string{
		"":  "",
		"*": "",
		"fr-CH, fr;q=0.9, en;q=0.8, de;q=0.7, *;q=0.5": "fr-CH fr en de",
		"en-us":                               "en-US",
		"de;q=0.5, zh-Hant-TW, es-419;q=0.8":  "zh-TW es de",
		"sr-Latn, en;q=0":                     "sr",
		"i-klingon, x-pig-latin, EN":          "en",
		"en, en, en-GB;q=0.9, en;q=0.1":       "en en-GB",
		"fr;q=oops, it":                       "it",
		"a,b,c":                               "",
		"ja,ko,zh,en,fr,de,es,it,pt,nl,sv,da": "ja ko zh en fr de es it pt nl",
	} {
		got := atoauth.UILocalesFromAcceptLanguage(in)
		if got != want {
			t.Errorf("UILocalesFromAcceptLanguage(%q) = %q, want %q", in, got, want)
		}
		// What it returns is what the reference server accepts.
		if got != "" && !referenceUILocales.MatchString(got) {
			t.Errorf("UILocalesFromAcceptLanguage(%q) = %q, which the reference server refuses", in, got)
		}
	}
}

// The app state comes back from the callback — also when the login
// failed — and stays on this side.
func TestAppStateReturnedByCallback(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	start := func(appState string) *atoauth.Authorization {
		t.Helper()
		auth, err := e.client.Start(ctx, "alice.test", &atoauth.StartOptions{AppState: appState})
		if err != nil {
			t.Fatal(err)
		}
		return auth
	}

	// Declined: the error and the app state.
	auth := start("/after-denial")
	redirect, err := e.net.Approve(ctx, auth.URL, e.alice, atoauthtest.Deny())
	if err != nil {
		t.Fatal(err)
	}
	s, got, err := e.client.CallbackWithAppState(ctx, redirect.Query(), &atoauth.CallbackOptions{State: auth.State})
	var ce *atoauth.CallbackError
	if !errors.As(err, &ce) || ce.Code != "access_denied" || got != "/after-denial" || s != nil {
		t.Fatalf("denied login: %v, %q, %v", s, got, err)
	}
	// Replayed: no pending login, no app state.
	if _, got, err := e.client.CallbackWithAppState(ctx, redirect.Query(), nil); !errors.Is(err, atoauth.ErrInvalidState) || got != "" {
		t.Fatalf("replayed callback: %q, %v", got, err)
	}
	// In another browser (cookie mismatch): refused before the pending
	// login is touched, no app state.
	auth = start("/other-browser")
	redirect, err = e.net.Approve(ctx, auth.URL, e.alice)
	if err != nil {
		t.Fatal(err)
	}
	if _, got, err := e.client.CallbackWithAppState(ctx, redirect.Query(), &atoauth.CallbackOptions{State: "someone-else"}); !errors.Is(err, atoauth.ErrInvalidState) || got != "" {
		t.Fatalf("callback in another browser: %q, %v", got, err)
	}
	// Completed: the session and the app state; Callback still works the
	// old way.
	if s, got, err := e.client.CallbackWithAppState(ctx, redirect.Query(), &atoauth.CallbackOptions{State: auth.State}); err != nil || got != "/other-browser" || s == nil {
		t.Fatalf("completed login: %v, %q, %v", s, got, err)
	}
	auth = start("")
	redirect, err = e.net.Approve(ctx, auth.URL, e.alice)
	if err != nil {
		t.Fatal(err)
	}
	if s, got, err := e.client.CallbackWithAppState(ctx, redirect.Query(), nil); err != nil || got != "" || s == nil {
		t.Fatalf("login without app state: %v, %q, %v", s, got, err)
	}
	for _, p := range e.net.PushedRequests() {
		for k, vs := range p.Params {
			for _, v := range vs {
				if strings.Contains(v, "/after-denial") || strings.Contains(v, "/other-browser") {
					t.Errorf("the app state reached the server in %s", k)
				}
			}
		}
	}
}

// StepUp forwards the authorization options and the app state; its
// default hint is the account's verified handle.
func TestStepUpForwardsOptions(t *testing.T) {
	const (
		posting = "atproto repo:app.bsky.feed.post?action=create"
		profile = "repo:app.bsky.actor.profile?action=update"
	)
	e := newEnv(t, func(c *atoauth.Config) { c.Scope = posting + " " + profile })
	ctx := context.Background()
	auth, err := e.client.Start(ctx, "alice.test", &atoauth.StartOptions{Scope: posting})
	if err != nil {
		t.Fatal(err)
	}
	redirect, err := e.net.Approve(ctx, auth.URL, e.alice)
	if err != nil {
		t.Fatal(err)
	}
	s, err := e.client.Callback(ctx, redirect.Query(), &atoauth.CallbackOptions{State: auth.State})
	if err != nil {
		t.Fatal(err)
	}
	auth, err = s.StepUp(ctx, profile, &atoauth.StartOptions{Display: "touch", UILocales: "pt-br", Prompt: "consent", AppState: "/settings/profile"})
	if err != nil {
		t.Fatal(err)
	}
	p := e.pushed(auth)
	for k, want := range map[string]string{"display": "touch", "ui_locales": "pt-BR", "prompt": "consent", "login_hint": "alice.test", "scope": posting + " " + profile} {
		if got := p.Get(k); got != want {
			t.Errorf("step-up PAR %s = %q, want %q", k, got, want)
		}
	}
	redirect, err = e.net.Approve(ctx, auth.URL, e.alice)
	if err != nil {
		t.Fatal(err)
	}
	s2, appState, err := e.client.CallbackWithAppState(ctx, redirect.Query(), &atoauth.CallbackOptions{State: auth.State, Replace: s.ID()})
	if err != nil || appState != "/settings/profile" || s2.ID() != s.ID() {
		t.Fatalf("step-up callback: %v, %q, %v", s2, appState, err)
	}
	if _, err := s.StepUp(ctx, profile, &atoauth.StartOptions{LoginHint: "bob.test"}); !errors.Is(err, atoauth.ErrInvalidStartOptions) {
		t.Fatalf("a step-up hinting another account: %v", err)
	}
}
