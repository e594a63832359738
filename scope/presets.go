package scope

// Service references of Bluesky's AppView and chat service, for rpc:
// permissions (permission spec, "rpc").
const (
	BskyAppView = "did:web:api.bsky.app#bsky_appview"
	BskyChat    = "did:web:api.bsky.chat#bsky_chat"
)

// PostingApp is the least privilege of an app that publishes posts with
// images: it may create posts (not edit or delete them) and upload images.
// The consent screen lists "Create posts." and "Upload images.".
func PostingApp() Set {
	return NewSet(Atproto, Repo("app.bsky.feed.post", ActionCreate), Blob("image/*"))
}

// ReadOnly is what an app that only reads Bluesky for the account
// (timeline, notifications, profiles, feeds) asks for: calls to the
// AppView appview ("did#service", e.g. [BskyAppView]) through the PDS, and
// no writes at all.
func ReadOnly(appview string) Set {
	return NewSet(Atproto, RPC("*", appview))
}

// ProfileEditor is what a profile editor asks for: write the profile
// record (putRecord needs create and update) and upload the avatar and
// banner images.
func ProfileEditor() Set {
	return NewSet(Atproto, Repo("app.bsky.actor.profile", ActionCreate, ActionUpdate), Blob("image/*"))
}

// ChatClient is what a Bluesky chat client asks for: calls to the chat
// service chat ("did#service", e.g. [BskyChat]) and its chat settings
// record.
func ChatClient(chat string) Set {
	return NewSet(Atproto, RPC("*", chat), Repo("chat.bsky.actor.declaration"))
}
