package scope_test

import (
	"errors"
	"fmt"

	"github.com/atoauth/atoauth/scope"
)

func Example() {
	// What a posting app asks for: post, with images.
	ask := scope.NewSet(
		scope.Atproto,
		scope.Repo("app.bsky.feed.post", scope.ActionCreate),
		scope.Blob("image/*"),
	)
	fmt.Println(ask)
	for _, p := range ask {
		fmt.Println("-", p.Describe())
	}
	// Output:
	// atproto blob:image/* repo:app.bsky.feed.post?action=create
	// - Know who you are: your DID and handle.
	// - Create posts.
	// - Upload images.
}

func ExampleSet_Allows() {
	granted := scope.ParseGranted("atproto repo:app.bsky.feed.post?action=create blob:image/* rpc:app.bsky.actor.getProfile?aud=did:web:api.bsky.app%23bsky_appview")
	fmt.Println(granted.Allows(scope.NeedRepo("app.bsky.feed.post", scope.ActionCreate)))
	fmt.Println(granted.Allows(scope.NeedRepo("app.bsky.actor.profile", scope.ActionUpdate)))
	fmt.Println(granted.Allows(scope.NeedBlob("image/webp")))
	fmt.Println(granted.Allows(scope.NeedRPC("app.bsky.actor.getProfile", "did:web:api.bsky.app#bsky_appview")))

	// transition:generic grants every repo write, blob and call except chat.
	generic := scope.ParseGranted("atproto transition:generic")
	fmt.Println(generic.Allows(scope.NeedRepo("app.bsky.actor.profile", scope.ActionUpdate)))
	fmt.Println(generic.Allows(scope.NeedRPC("chat.bsky.convo.listConvos", "did:web:api.bsky.chat#bsky_chat")))
	// Output:
	// true
	// false
	// true
	// true
	// true
	// false
}

func ExampleParsePermission() {
	for _, s := range []string{
		"repo?collection=app.bsky.feed.post&action=update&action=create",
		"rpc:app.bsky.actor.getProfile?aud=did:web:api.bsky.app#bsky_appview",
		"BLOB:image/png",
		"rpc:*?aud=*",
	} {
		p, err := scope.ParsePermission(s)
		if err != nil {
			fmt.Println(errors.Is(err, scope.ErrInvalid), err)
			continue
		}
		fmt.Println(p)
	}
	// Output:
	// repo:app.bsky.feed.post?action=create&action=update
	// rpc:app.bsky.actor.getProfile?aud=did:web:api.bsky.app%23bsky_appview
	// true scope: invalid permission "BLOB:image/png": unknown resource "BLOB" (want repo, rpc, blob, account, identity, include, atproto or transition:*)
	// true scope: invalid permission "rpc:*?aud=*": lxm and aud may not both be "*"
}

func ExampleParseRequirements() {
	reqs, err := scope.ParseRequirements("repo:app.bsky.feed.post")
	if err != nil {
		panic(err)
	}
	for _, r := range reqs {
		fmt.Println(r, "-", r.Describe())
	}
	// Output:
	// repo:app.bsky.feed.post?action=create - Create posts.
	// repo:app.bsky.feed.post?action=update - Change posts.
	// repo:app.bsky.feed.post?action=delete - Delete posts.
}

func ExampleIncludeScope_Expand() {
	inc := scope.Include("app.bsky.authFullApp", "did:web:api.bsky.app#bsky_appview")
	perms := inc.Expand([]scope.LexPermission{
		{Resource: "repo", Collection: []string{"app.bsky.feed.post"}},
		{Resource: "rpc", LXM: []string{"app.bsky.actor.getProfile"}, InheritAud: true},
		{Resource: "repo", Collection: []string{"com.example.elsewhere"}}, // not under app.bsky.: dropped
	})
	fmt.Println(scope.NewSet(perms...))
	// Output:
	// repo:app.bsky.feed.post rpc:app.bsky.actor.getProfile?aud=did:web:api.bsky.app%23bsky_appview
}

// The presets and what the consent screen shows for them.
func ExamplePostingApp() {
	for _, set := range []scope.Set{scope.PostingApp(), scope.ReadOnly(scope.BskyAppView), scope.ProfileEditor(), scope.ChatClient(scope.BskyChat)} {
		fmt.Println(set)
		for _, p := range set[1:] {
			fmt.Println("  -", p.Describe())
		}
	}
	// Output:
	// atproto blob:image/* repo:app.bsky.feed.post?action=create
	//   - Create posts.
	//   - Upload images.
	// atproto rpc:*?aud=did:web:api.bsky.app%23bsky_appview
	//   - Call any method on the service did:web:api.bsky.app#bsky_appview, through your server.
	// atproto blob:image/* repo:app.bsky.actor.profile?action=create&action=update
	//   - Create and change your profile.
	//   - Upload images.
	// atproto repo:chat.bsky.actor.declaration rpc:*?aud=did:web:api.bsky.chat%23bsky_chat
	//   - Call any method on the service did:web:api.bsky.chat#bsky_chat, through your server.
	//   - Create, change and delete your chat settings.
}

func ExampleCover() {
	// What a profile write (putRecord) and an avatar upload need, as one
	// scope string to ask for in a step-up.
	set := scope.Cover(
		scope.NeedRepo("app.bsky.actor.profile", scope.ActionUpdate),
		scope.NeedRepo("app.bsky.actor.profile", scope.ActionCreate),
		scope.NeedBlob("image/png"),
		scope.NeedBlob("image/jpeg"),
	)
	fmt.Println(set)
	fmt.Println(set.AllowsAll(scope.NeedRepo("app.bsky.actor.profile", scope.ActionCreate), scope.NeedBlob("image/jpeg")))
	// Output:
	// blob?accept=image/jpeg&accept=image/png repo:app.bsky.actor.profile?action=create&action=update
	// true
}
