package xrpc_test

import (
	"testing"

	"github.com/atoauth/atoauth/xrpc"
)

func TestGrantedScope(t *testing.T) {
	const appview = "did:web:api.bsky.app#bsky_appview"
	post := func(action string) xrpc.Requirement { return xrpc.RepoRequirement("app.bsky.feed.post", action) }
	profile := xrpc.RepoRequirement("app.bsky.actor.profile", "update")
	png := xrpc.BlobRequirement("image/png")
	mp4 := xrpc.BlobRequirement("video/mp4")
	getProfile := xrpc.RPCRequirement("app.bsky.actor.getProfile", appview)
	listConvos := xrpc.RPCRequirement("chat.bsky.convo.listConvos", "did:web:api.bsky.chat#bsky_chat")

	for _, tc := range []struct {
		scope string
		req   xrpc.Requirement
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
		{"atproto blob:image/svg+xml", xrpc.BlobRequirement("image/svg+xml"), true},
		// The rest of the grammar (scope package): account:, identity:, include:.
		{"atproto account:email?action=manage", xrpc.Requirement{Resource: "account", Attr: "email", Action: "read"}, true},
		{"atproto transition:email", xrpc.Requirement{Resource: "account", Attr: "email", Action: "read"}, true},
		{"atproto identity:*", xrpc.Requirement{Resource: "identity", Attr: "handle"}, true},
		{"atproto include:app.bsky.authFullApp", xrpc.Requirement{Resource: "identity", Attr: "handle"}, false},
		{"atproto include:app.bsky.authFullApp", xrpc.RepoRequirement("app.bskyx.feed.post", "create"), false},
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
		// An unexpanded permission set: the most it could grant, never more.
		{"atproto include:app.bsky.authFullApp?aud=did:web:api.bsky.app%23bsky_appview", getProfile, true},
		{"atproto include:app.bsky.authFullApp", post("delete"), true},
		{"atproto include:app.bsky.authFullApp", png, false},
		{"atproto include:app.bsky.authFullApp", listConvos, false},
		{"atproto include:com.example.authBasic", post("create"), false},
		{"atproto account:email identity:handle", post("create"), false},
	} {
		if got := xrpc.GrantedScope(tc.scope).Allows(tc.req); got != tc.want {
			t.Errorf("GrantedScope(%q).Allows(%s) = %v, want %v", tc.scope, tc.req, got, tc.want)
		}
	}
}

func TestRequirementString(t *testing.T) {
	for _, tc := range []struct {
		r    xrpc.Requirement
		want string
	}{
		{xrpc.RepoRequirement("app.bsky.feed.post", "create"), "repo:app.bsky.feed.post?action=create"},
		{xrpc.BlobRequirement("image/png"), "blob:image/png"},
		{xrpc.RPCRequirement("app.bsky.actor.getProfile", xrpc.AppViewService), "rpc:app.bsky.actor.getProfile?aud=did:web:api.bsky.app%23bsky_appview"},
		{xrpc.RPCRequirement("com.example.x", "did:web:a.example#c&d+e"), "rpc:com.example.x?aud=did:web:a.example%23c%26d%2Be"},
		{xrpc.Requirement{Resource: "account", Attr: "email", Action: "manage"}, "account:email?action=manage"},
	} {
		if got := tc.r.String(); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.r, got, tc.want)
		}
		// A requirement, written as a permission, grants itself.
		if !xrpc.GrantedScope("atproto " + tc.want).Allows(tc.r) {
			t.Errorf("%s does not grant itself", tc.want)
		}
	}
}
