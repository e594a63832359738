package web

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/atoauth/atoauth"
	"github.com/atoauth/atoauth/xrpc"
)

func TestDescribeScope(t *testing.T) {
	for scope, want := range map[string]string{
		"atproto":                                           "Know who you are",
		"transition:generic":                                "any records",
		"transition:chat.bsky":                              "chat messages",
		"transition:email":                                  "email address",
		"repo:app.bsky.feed.post?action=create":             "Create posts.",
		"repo:app.bsky.feed.like":                           "Create, change and delete likes.",
		"repo:*?action=delete":                              "Delete any records in your repository.",
		"repo:com.example.note?action=create&action=update": "Create and change records of type com.example.note.",
		"blob:image/*":                                      "Upload images",
		"blob:*/*":                                          "Upload files of any kind",
		"blob?accept=video/*&accept=image/png":              "Upload image/png files and videos.",
		"rpc:app.bsky.actor.getProfile?aud=did:web:api.bsky.app%23bsky_appview": "Call app.bsky.actor.getProfile on the service did:web:api.bsky.app#bsky_appview",
		"rpc:*?aud=did:web:api.bsky.app%23bsky_appview":                         "Call any method on the service did:web:api.bsky.app#bsky_appview",
		"rpc:app.bsky.actor.getProfile?aud=*":                                   "Call app.bsky.actor.getProfile on any service",
		"rpc:*?aud=*":                                                           "does not know how to describe", // invalid: not both "*"
		"account:email":                                                         "See your email address.",
		"account:email?action=manage":                                           "See and change your email address.",
		"identity:handle":                                                       "Change your handle.",
		"identity:*":                                                            "Manage your identity",
		"include:com.example.authFull":                                          "The permissions of the set com.example.authFull (records and calls under com.example.* only).",
		"weird:thing":                                                           "does not know how to describe",
	} {
		got := describeScope(scope)
		if len(got) != 1 || !strings.Contains(got[0].Words, want) || got[0].Scope != scope {
			t.Errorf("%s: %+v, want %q", scope, got, want)
		}
	}
	if got := describeScope("atproto  transition:generic "); len(got) != 2 {
		t.Errorf("two scopes: %+v", got)
	}
}

func TestExplainAction(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{&xrpc.ScopeMissingError{Permission: "repo:x"}, "(repo:x)"},
		{&xrpc.Error{Name: "InvalidSwap"}, "changed elsewhere"},
		{&xrpc.Error{StatusCode: 429}, "too often"},
		{&xrpc.Error{Name: "InvalidRecord", Message: "Record/text must not be longer than 300 graphemes"}, "“Record/text must not be longer than 300 graphemes”"},
		{&atoauth.RefreshError{Temporary: true, Err: errors.New("x")}, "could not be reached"},
	} {
		if got := explainAction(tc.err, "post"); !strings.Contains(got, tc.want) || !strings.HasPrefix(got, "Could not post") {
			t.Errorf("%v: %q, want %q", tc.err, got, tc.want)
		}
	}
	if !sessionEnded(&atoauth.RefreshError{Err: atoauth.ErrSessionExpired}) || sessionEnded(&atoauth.RefreshError{Temporary: true, Err: errors.New("x")}) {
		t.Error("sessionEnded")
	}
}

func TestWhen(t *testing.T) {
	now := time.Now()
	for d, want := range map[time.Duration]string{
		-10 * time.Second: "just now",
		-5 * time.Minute:  "5 min ago",
		-3 * time.Hour:    "3 h ago",
		50 * time.Minute:  "in 49 min",
	} {
		if got := when(now.Add(d)); got != want && !(d > 0 && strings.HasPrefix(got, "in ")) {
			t.Errorf("%v: %q, want %q", d, got, want)
		}
	}
	if got := when(time.Date(2025, 1, 2, 3, 4, 0, 0, time.UTC)); got != "Jan 2, 2025 03:04 UTC" {
		t.Errorf("old: %q", got)
	}
	if preferredLanguage("de-CH, en;q=0.8") != "de" || preferredLanguage("xx, en-GB;q=0.5") != "en" || preferredLanguage("") != "" {
		t.Error("preferredLanguage")
	}
}

// Over https the sign-in form may only go to https servers and images
// only come from https hosts, unless the app talks to a development
// network whose servers speak http (Options.InsecureDev).
func TestContentSecurityPolicyHTTPServers(t *testing.T) {
	for _, tc := range []struct {
		https, insecureDev, allowsHTTP bool
	}{
		{https: true, allowsHTTP: false},
		{https: true, insecureDev: true, allowsHTTP: true},
		{https: false, allowsHTTP: true},
	} {
		csp := contentSecurityPolicy(tc.https && !tc.insecureDev)
		if got := strings.Contains(csp, "form-action 'self' https: http:"); got != tc.allowsHTTP {
			t.Errorf("https=%v insecureDev=%v: CSP %q", tc.https, tc.insecureDev, csp)
		}
		if !strings.Contains(csp, "form-action 'self' https:") {
			t.Errorf("CSP %q does not allow https authorization servers", csp)
		}
	}
}
