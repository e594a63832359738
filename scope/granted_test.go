package scope_test

import (
	"testing"

	"github.com/atoauth/atoauth/scope"
)

// The one permission rule (Set.Allows), as the xrpc pre-check,
// Session.Can and the fake PDS use it.
func TestGrantedScope(t *testing.T) {
	const appview = "did:web:api.bsky.app#bsky_appview"
	post := func(action string) scope.Requirement { return scope.NeedRepo("app.bsky.feed.post", action) }
	profile := scope.NeedRepo("app.bsky.actor.profile", "update")
	png := scope.NeedBlob("image/png")
	mp4 := scope.NeedBlob("video/mp4")
	getProfile := scope.NeedRPC("app.bsky.actor.getProfile", appview)
	listConvos := scope.NeedRPC("chat.bsky.convo.listConvos", "did:web:api.bsky.chat#bsky_chat")

	for _, tc := range []struct {
		scope string
		req   scope.Requirement
		want  bool
	}{
		{"atproto", post("create"), false},
		{"atproto", png, false},
		{"atproto", getProfile, false},
		{"atproto transition:generic", post("delete"), true},
		{"atproto transition:generic", mp4, true},
		{"atproto transition:generic", getProfile, true},
		{"atproto transition:generic", listConvos, false},
		{"atproto transition:generic transition:chat.bsky", listConvos, true},
		{"atproto transition:chat.bsky", getProfile, false},
		{"atproto transition:email", post("create"), false},

		{"atproto repo:app.bsky.feed.post", post("create"), true},
		{"atproto repo:app.bsky.feed.post", post("delete"), true},
		{"atproto repo:app.bsky.feed.post?action=create", post("create"), true},
		{"atproto repo:app.bsky.feed.post?action=create", post("update"), false},
		{"atproto repo:app.bsky.feed.post?action=create&action=update", post("update"), true},
		{"atproto repo:app.bsky.feed.post?action=create", profile, false},
		{"atproto repo:*?action=update", profile, true},
		{"atproto repo:*", post("delete"), true},
		{"atproto repo?collection=app.bsky.feed.post&collection=app.bsky.actor.profile&action=update", profile, true},
		{"atproto repo?collection=app.bsky.feed.post&action=update", profile, false},
		{"atproto repo?action=create", post("create"), false},                        // no collection
		{"atproto repo:app.bsky.feed.post?action=publish", post("create"), false},    // bad action: entry ignored
		{"atproto repo:app.bsky.feed.postx", post("create"), false},                  // exact NSID match
		{"atproto repo:app.bsky.feed.*", post("create"), false},                      // no partial wildcards
		{"atproto%20repo:app.bsky.feed.post", post("create"), false},                 // not split on encoded space
		{"atproto repo:app.bsky.feed.post?action=create ", post("create"), true},     // trailing space
		{"atproto  repo:app.bsky.feed.post?action=create", post("create"), true},     // double space
		{"atproto repo:app.bsky.feed.post?action=create%", post("create"), false},    // malformed query
		{"atproto repo:app.bsky.feed.post%3Fx?action=create", post("create"), false}, // encoded ? stays in the NSID

		{"atproto blob:image/*", png, true},
		{"atproto blob:image/*", mp4, false},
		{"atproto blob:*/*", mp4, true},
		{"atproto blob:image/png", png, true},
		{"atproto blob:image/jpeg", png, false},
		{"atproto blob?accept=video/*&accept=image/png", png, true},
		{"atproto blob?accept=video/*&accept=image/png", mp4, true},
		{"atproto blob:IMAGE/*", png, false},                     // case-sensitive, as the reference PDS matches
		{"atproto blob:image/png?accept=image/jpeg", png, false}, // positional and named: invalid
		{"atproto blob:image/svg+xml", scope.NeedBlob("image/svg+xml"), true},
		// The rest of the grammar (scope package): account:, identity:, include:.
		{"atproto account:email?action=manage", scope.Requirement{Resource: "account", Attr: "email", Action: "read"}, true},
		{"atproto transition:email", scope.Requirement{Resource: "account", Attr: "email", Action: "read"}, true},
		{"atproto identity:*", scope.Requirement{Resource: "identity", Attr: "handle"}, true},
		{"atproto include:app.bsky.authFullApp", scope.Requirement{Resource: "identity", Attr: "handle"}, false},
		{"atproto include:app.bsky.authFullApp", scope.NeedRepo("app.bskyx.feed.post", "create"), false},
		{"atproto blob:image", png, false},

		{"atproto rpc:app.bsky.actor.getProfile?aud=did:web:api.bsky.app%23bsky_appview", getProfile, true},
		{"atproto rpc:app.bsky.actor.getProfile?aud=did:web:api.bsky.app#bsky_appview", getProfile, true}, // read leniently, as URLSearchParams does
		{"atproto rpc:app.bsky.actor.getProfile?aud=*", getProfile, true},
		{"atproto rpc:*?aud=did:web:api.bsky.app%23bsky_appview", getProfile, true},
		{"atproto rpc:*?aud=*", getProfile, false}, // wildcards in both are invalid
		{"atproto rpc:app.bsky.actor.getProfile", getProfile, false},
		{"atproto rpc:app.bsky.actor.getProfile?aud=did:web:other.example%23bsky_appview", getProfile, false},
		{"atproto rpc:app.bsky.actor.getProfile?aud=did:web:api.bsky.app", getProfile, false},
		{"atproto rpc?lxm=app.bsky.feed.getTimeline&lxm=app.bsky.actor.getProfile&aud=did:web:api.bsky.app%23bsky_appview", getProfile, true},
		{"atproto rpc:chat.bsky.convo.listConvos?aud=*", listConvos, true},
		// An unexpanded permission set grants nothing: the authorization
		// server expands it before it issues a token, and the reference
		// PDS ignores an include: left in one.
		{"atproto include:app.bsky.authFullApp?aud=did:web:api.bsky.app%23bsky_appview", getProfile, false},
		{"atproto include:app.bsky.authFullApp", post("delete"), false},
		{"atproto include:app.bsky.authFullApp", png, false},
		{"atproto include:app.bsky.authFullApp", listConvos, false},
		{"atproto include:com.example.authBasic", post("create"), false},
		{"atproto account:email identity:handle", post("create"), false},
	} {
		if got := scope.ParseGranted(tc.scope).Allows(tc.req); got != tc.want {
			t.Errorf("ParseGranted(%q).Allows(%s) = %v, want %v", tc.scope, tc.req, got, tc.want)
		}
	}
}

func TestRequirementString(t *testing.T) {
	for _, tc := range []struct {
		r    scope.Requirement
		want string
	}{
		{scope.NeedRepo("app.bsky.feed.post", "create"), "repo:app.bsky.feed.post?action=create"},
		{scope.NeedBlob("image/png"), "blob:image/png"},
		{scope.NeedRPC("app.bsky.actor.getProfile", scope.BskyAppView), "rpc:app.bsky.actor.getProfile?aud=did:web:api.bsky.app%23bsky_appview"},
		{scope.NeedRPC("com.example.x", "did:web:a.example#c&d+e"), "rpc:com.example.x?aud=did:web:a.example%23c%26d%2Be"},
		{scope.Requirement{Resource: "account", Attr: "email", Action: "manage"}, "account:email?action=manage"},
	} {
		if got := tc.r.String(); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.r, got, tc.want)
		}
		// A requirement, written as a permission, grants itself.
		if !scope.ParseGranted("atproto " + tc.want).Allows(tc.r) {
			t.Errorf("%s does not grant itself", tc.want)
		}
	}
}
