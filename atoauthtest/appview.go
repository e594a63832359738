package atoauthtest

import (
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/bluesky-social/indigo/atproto/syntax"
)

// Services of the network reached through the PDS with the atproto-proxy
// header.
const (
	// DefaultAppViewDID is the default [Options.AppViewDID].
	DefaultAppViewDID = "did:web:api.bsky.app"
	// DefaultChatDID is the default [Options.ChatDID].
	DefaultChatDID = "did:web:api.bsky.chat"
	// CDNPrefix starts the image URLs of the fake AppView's views, as on
	// the Bluesky network: CDNPrefix + "/avatar/plain/<did>/<cid>@jpeg".
	CDNPrefix = "https://cdn.bsky.app/img"

	proxyHeader = "atproto-proxy"
)

// serviceHandler answers a call forwarded by the PDS on behalf of viewer.
type serviceHandler func(w http.ResponseWriter, r *http.Request, viewer syntax.DID, nsid string) *xrpcError

// proxyCall handles a method the PDS does not implement, like the
// reference PDS's proxy handler: it authenticates the caller, routes the
// call to the service named by the atproto-proxy header or, without one,
// to the network's AppView (with Options.NoDefaultService, "No service
// configured"), checks the rpc permission for that method and audience,
// and forwards it.
func (n *Network) proxyCall(w http.ResponseWriter, r *http.Request, nsid string) {
	if _, err := syntax.ParseNSID(nsid); err != nil {
		n.xrpcFail(w, r, invalidRequest("invalid xrpc path"))
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead && r.Method != http.MethodPost {
		n.xrpcFail(w, r, invalidRequest("XRPC requests only supports GET and POST"))
		return
	}
	a, e := n.pdsAuthenticate(r)
	if e != nil {
		n.xrpcFail(w, r, e)
		return
	}
	ref := r.Header.Get(proxyHeader)
	if ref == "" {
		if n.opts.NoDefaultService {
			n.xrpcFail(w, r, invalidRequest("No service configured for %s", nsid))
			return
		}
		// The reference PDS's default for every method it does not know
		// (chat.bsky.* included) is its AppView; the permission checked is
		// rpc:<nsid>?aud=<appview did>#bsky_appview.
		ref = n.opts.AppViewDID + "#bsky_appview"
		n.count(func(c *Counters) { c.ProxiedByDefault++ })
	}
	svc, e := n.resolveService(ref)
	if e != nil {
		n.xrpcFail(w, r, e)
		return
	}
	if !a.perms.allowsRPC(nsid, ref) {
		n.xrpcFail(w, r, scopeMissing(rpcScope(nsid, ref)))
		return
	}
	if n.currentTamper().ServiceUnreachable {
		n.xrpcFail(w, r, xerr(http.StatusBadGateway, "UpstreamFailure", "Upstream service unreachable"))
		return
	}
	n.count(func(c *Counters) { c.Proxied++ })
	if e := svc(w, r, a.did, nsid); e != nil {
		n.xrpcFail(w, r, e)
	}
}

// resolveService finds the service of a "did#service_id" reference, with
// the reference PDS's error messages.
func (n *Network) resolveService(ref string) (serviceHandler, *xrpcError) {
	i := strings.IndexByte(ref, '#')
	switch {
	case i == 0:
		return nil, invalidRequest("no did specified in proxy header")
	case i < 0 || i == len(ref)-1:
		return nil, invalidRequest("no service id specified in proxy header")
	case strings.IndexByte(ref[i+1:], '#') >= 0:
		return nil, invalidRequest("invalid proxy header format")
	case strings.Contains(ref, " "):
		return nil, invalidRequest("proxy header cannot contain spaces")
	}
	did, id := ref[:i], ref[i:]
	switch did {
	case n.opts.AppViewDID:
		if id == "#bsky_appview" {
			return n.appView, nil
		}
	case n.opts.ChatDID:
		if id == "#bsky_chat" {
			return n.chatService, nil
		}
	default:
		return nil, invalidRequest("could not resolve proxy did")
	}
	return nil, invalidRequest("could not resolve proxy did service url")
}

func notImplemented() *xrpcError {
	return xerr(http.StatusNotImplemented, "MethodNotImplemented", "Method Not Implemented")
}

func wantGET(r *http.Request) *xrpcError {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return invalidRequest("Incorrect HTTP method (%s) expected GET", r.Method)
	}
	return nil
}

// chatService is the fake Bluesky chat service: every account has no
// conversations.
func (n *Network) chatService(w http.ResponseWriter, r *http.Request, _ syntax.DID, nsid string) *xrpcError {
	switch nsid {
	case "chat.bsky.convo.listConvos":
		if e := wantGET(r); e != nil {
			return e
		}
		writeJSON(w, http.StatusOK, map[string]any{"convos": []any{}})
		return nil
	}
	return notImplemented()
}

// appView is the fake Bluesky AppView. It reads the PDS's repositories
// directly, so every write is visible at once (the real AppView indexes
// with a delay, which the reference PDS papers over for the author's own
// reads). It answers app.bsky.actor.getProfile, app.bsky.feed.getAuthorFeed
// and app.bsky.feed.getTimeline; other methods are not implemented.
func (n *Network) appView(w http.ResponseWriter, r *http.Request, viewer syntax.DID, nsid string) *xrpcError {
	switch nsid {
	case "app.bsky.actor.getProfile", "app.bsky.feed.getAuthorFeed", "app.bsky.feed.getTimeline":
	default:
		return notImplemented()
	}
	if e := wantGET(r); e != nil {
		return e
	}
	q := r.URL.Query()
	limit := 50
	if s := q.Get("limit"); s != "" && nsid != "app.bsky.actor.getProfile" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 1 || v > 100 {
			return invalidRequest("limit must be an integer between 1 and 100")
		}
		limit = v
	}
	var actor *account
	if nsid != "app.bsky.feed.getTimeline" {
		a, ok := n.lookupIdentifier(q.Get("actor"))
		if !ok {
			return invalidRequest("Profile not found")
		}
		actor = a
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	switch nsid {
	case "app.bsky.actor.getProfile":
		writeJSON(w, http.StatusOK, n.profileDetailedLocked(actor))
		return nil
	case "app.bsky.feed.getAuthorFeed":
		filter := q.Get("filter")
		switch filter {
		case "", "posts_with_replies", "posts_no_replies", "posts_with_media", "posts_and_author_threads":
		default:
			return invalidRequest("Invalid filter: %q", filter)
		}
		keep := func(_ syntax.DID, rec map[string]any) bool {
			_, isReply := rec["reply"]
			switch filter {
			case "posts_no_replies", "posts_and_author_threads":
				return !isReply
			case "posts_with_media":
				emb, _ := rec["embed"].(map[string]any)
				return emb["$type"] == "app.bsky.embed.images"
			}
			return true
		}
		writeJSON(w, http.StatusOK, n.feedLocked([]syntax.DID{actor.did}, keep, q.Get("cursor"), limit))
		return nil
	}
	authors := []syntax.DID{viewer}
	for _, rec := range n.repos[viewer].records["app.bsky.graph.follow"] {
		var f struct {
			Subject syntax.DID `json:"subject"`
		}
		if json.Unmarshal(rec.value, &f) == nil && f.Subject != "" && !slices.Contains(authors, f.Subject) {
			authors = append(authors, f.Subject)
		}
	}
	writeJSON(w, http.StatusOK, n.feedLocked(authors, nil, q.Get("cursor"), limit))
	return nil
}

type feedEntry struct {
	did  syntax.DID
	rkey string
	rec  storedRecord
	val  map[string]any
}

// feedLocked builds a feed of the authors' posts, newest record key first,
// as {feed, cursor}; the cursor is the last record key of the page. The
// caller holds n.mu.
func (n *Network) feedLocked(authors []syntax.DID, keep func(syntax.DID, map[string]any) bool, cursor string, limit int) map[string]any {
	var entries []feedEntry
	for _, did := range authors {
		rp := n.repos[did]
		if rp == nil {
			continue
		}
		for rkey, rec := range rp.records["app.bsky.feed.post"] {
			if cursor != "" && rkey >= cursor {
				continue
			}
			var val map[string]any
			_ = json.Unmarshal(rec.value, &val)
			if keep != nil && !keep(did, val) {
				continue
			}
			entries = append(entries, feedEntry{did: did, rkey: rkey, rec: rec, val: val})
		}
	}
	slices.SortFunc(entries, func(a, b feedEntry) int {
		if c := strings.Compare(b.rkey, a.rkey); c != 0 {
			return c
		}
		return strings.Compare(string(a.did), string(b.did))
	})
	out := map[string]any{}
	if len(entries) > limit {
		entries = entries[:limit]
		out["cursor"] = entries[len(entries)-1].rkey
	}
	feed := make([]map[string]any, 0, len(entries))
	for _, e := range entries {
		item := map[string]any{"post": n.postViewLocked(e.did, e.rkey, e.rec, e.val)}
		if reply := n.replyViewLocked(e.val); reply != nil {
			item["reply"] = reply
		}
		feed = append(feed, item)
	}
	out["feed"] = feed
	return out
}

// postViewLocked builds an app.bsky.feed.defs#postView.
func (n *Network) postViewLocked(did syntax.DID, rkey string, rec storedRecord, val map[string]any) map[string]any {
	indexedAt, _ := val["createdAt"].(string)
	if indexedAt == "" {
		indexedAt = n.now().UTC().Format("2006-01-02T15:04:05.000Z")
	}
	uri := atURI(did, "app.bsky.feed.post", rkey)
	replies := 0
	for _, rp := range n.repos {
		for _, other := range rp.records["app.bsky.feed.post"] {
			var o struct {
				Reply struct {
					Parent struct {
						URI string `json:"uri"`
					} `json:"parent"`
				} `json:"reply"`
			}
			if json.Unmarshal(other.value, &o) == nil && o.Reply.Parent.URI == uri {
				replies++
			}
		}
	}
	view := map[string]any{
		"uri":         uri,
		"cid":         rec.cid,
		"author":      n.profileBasicLocked(n.accounts[did]),
		"record":      json.RawMessage(rec.value),
		"indexedAt":   indexedAt,
		"replyCount":  replies,
		"repostCount": 0,
		"likeCount":   0,
		"quoteCount":  0,
		"labels":      []any{},
	}
	if emb := imagesView(did, val); emb != nil {
		view["embed"] = emb
	}
	return view
}

// imagesView builds the app.bsky.embed.images#view of a post with images,
// with CDN URLs as the Bluesky AppView gives them.
func imagesView(did syntax.DID, val map[string]any) map[string]any {
	emb, _ := val["embed"].(map[string]any)
	if emb["$type"] != "app.bsky.embed.images" {
		return nil
	}
	imgs, _ := emb["images"].([]any)
	views := make([]map[string]any, 0, len(imgs))
	for _, it := range imgs {
		img, _ := it.(map[string]any)
		cid := blobCID(img["image"])
		v := map[string]any{
			"thumb":    CDNPrefix + "/feed_thumbnail/plain/" + did.String() + "/" + cid + "@jpeg",
			"fullsize": CDNPrefix + "/feed_fullsize/plain/" + did.String() + "/" + cid + "@jpeg",
			"alt":      img["alt"],
		}
		if ar, ok := img["aspectRatio"]; ok {
			v["aspectRatio"] = ar
		}
		views = append(views, v)
	}
	return map[string]any{"$type": "app.bsky.embed.images#view", "images": views}
}

// blobCID returns the CID of a blob reference {"$type":"blob","ref":{"$link":…}}.
func blobCID(v any) string {
	b, _ := v.(map[string]any)
	ref, _ := b["ref"].(map[string]any)
	cid, _ := ref["$link"].(string)
	return cid
}

// replyViewLocked builds a feed item's reply {root, parent} for a reply
// post, or nil.
func (n *Network) replyViewLocked(val map[string]any) map[string]any {
	reply, ok := val["reply"].(map[string]any)
	if !ok {
		return nil
	}
	out := map[string]any{}
	for _, k := range []string{"root", "parent"} {
		ref, _ := reply[k].(map[string]any)
		uriStr, _ := ref["uri"].(string)
		out[k] = map[string]any{"$type": "app.bsky.feed.defs#notFoundPost", "uri": uriStr, "notFound": true}
		u, err := syntax.ParseATURI(uriStr)
		if err != nil {
			continue
		}
		did, err := u.Authority().AsDID()
		if err != nil || n.repos[did] == nil {
			continue
		}
		rkey := u.RecordKey().String()
		rec, ok := n.repos[did].records[u.Collection().String()][rkey]
		if !ok || u.Collection().String() != "app.bsky.feed.post" {
			continue
		}
		var pv map[string]any
		_ = json.Unmarshal(rec.value, &pv)
		view := n.postViewLocked(did, rkey, rec, pv)
		view["$type"] = "app.bsky.feed.defs#postView"
		out[k] = view
	}
	return out
}

// profileRecordLocked returns the account's app.bsky.actor.profile/self
// record, or nil.
func (n *Network) profileRecordLocked(did syntax.DID) map[string]any {
	rp := n.repos[did]
	if rp == nil {
		return nil
	}
	rec, ok := rp.records["app.bsky.actor.profile"]["self"]
	if !ok {
		return nil
	}
	var p map[string]any
	_ = json.Unmarshal(rec.value, &p)
	return p
}

// profileBasicLocked builds an app.bsky.actor.defs#profileViewBasic.
func (n *Network) profileBasicLocked(a *account) map[string]any {
	v := map[string]any{"did": a.did.String(), "handle": a.handle.String(), "labels": []any{}}
	p := n.profileRecordLocked(a.did)
	if s, ok := p["displayName"].(string); ok {
		v["displayName"] = s
	}
	if cid := blobCID(p["avatar"]); cid != "" {
		v["avatar"] = CDNPrefix + "/avatar/plain/" + a.did.String() + "/" + cid + "@jpeg"
	}
	if s, ok := p["createdAt"].(string); ok {
		v["createdAt"] = s
	}
	return v
}

// profileDetailedLocked builds an app.bsky.actor.defs#profileViewDetailed.
func (n *Network) profileDetailedLocked(a *account) map[string]any {
	v := n.profileBasicLocked(a)
	p := n.profileRecordLocked(a.did)
	if s, ok := p["description"].(string); ok {
		v["description"] = s
	}
	if cid := blobCID(p["banner"]); cid != "" {
		v["banner"] = CDNPrefix + "/banner/plain/" + a.did.String() + "/" + cid + "@jpeg"
	}
	followers := 0
	for _, rp := range n.repos {
		for _, rec := range rp.records["app.bsky.graph.follow"] {
			var f struct {
				Subject string `json:"subject"`
			}
			if json.Unmarshal(rec.value, &f) == nil && f.Subject == a.did.String() {
				followers++
			}
		}
	}
	posts, follows := 0, 0
	if rp := n.repos[a.did]; rp != nil {
		posts = len(rp.records["app.bsky.feed.post"])
		follows = len(rp.records["app.bsky.graph.follow"])
	}
	v["followersCount"] = followers
	v["followsCount"] = follows
	v["postsCount"] = posts
	v["indexedAt"] = n.now().UTC().Format("2006-01-02T15:04:05.000Z")
	return v
}
