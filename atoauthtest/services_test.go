package atoauthtest_test

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/atoauth/atoauth/atoauthtest"
)

// proxied sends a PDS request with an atproto-proxy header (none when ref
// is "").
func proxied(c *testClient, method, nsid string, query url.Values, body any, token, ref string) resp {
	u := c.net.PDS.URL + "/xrpc/" + nsid
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	r := req{method: method, url: u, json: body, token: token, noProof: token == ""}
	if ref != "" {
		r.header = http.Header{"Atproto-Proxy": {ref}}
	}
	return c.do(r)
}

func wantXRPCError(t *testing.T, r resp, status int, name, message string) {
	t.Helper()
	if r.status != status || r.str("error") != name || (message != "" && r.str("message") != message) {
		t.Fatalf("got %d %s, want %d %s %q", r.status, r.raw, status, name, message)
	}
}

func TestProxyToServices(t *testing.T) {
	n := newNet(t)
	alice := n.CreateAccount("alice.test")
	c := newLoopbackClient(t, n, genericScope)
	tok := c.login(genericScope, alice)
	const appview = "did:web:api.bsky.app#bsky_appview"
	actor := url.Values{"actor": {"alice.test"}}

	r := proxied(c, http.MethodGet, "app.bsky.actor.getProfile", actor, nil, tok.access, appview)
	if r.status != http.StatusOK || r.str("did") != alice.String() || r.str("handle") != "alice.test" || r.body["postsCount"] != float64(0) {
		t.Fatalf("getProfile: %d %s", r.status, r.raw)
	}
	// Without the header, the PDS's default: its AppView.
	if r := proxied(c, http.MethodGet, "app.bsky.actor.getProfile", actor, nil, tok.access, ""); r.status != http.StatusOK || r.str("did") != alice.String() {
		t.Fatalf("getProfile without a header: %d %s", r.status, r.raw)
	}
	wantXRPCError(t, proxied(c, http.MethodGet, "app.bsky.actor.getProfile", actor, nil, tok.access, "did:web:elsewhere.test#bsky_appview"),
		400, "InvalidRequest", "could not resolve proxy did")
	wantXRPCError(t, proxied(c, http.MethodGet, "app.bsky.actor.getProfile", actor, nil, tok.access, "did:web:api.bsky.app#nope"),
		400, "InvalidRequest", "could not resolve proxy did service url")
	wantXRPCError(t, proxied(c, http.MethodGet, "app.bsky.actor.getProfile", actor, nil, tok.access, "did:web:api.bsky.app"),
		400, "InvalidRequest", "no service id specified in proxy header")
	wantXRPCError(t, proxied(c, http.MethodGet, "app.bsky.actor.getProfile", actor, nil, "", appview),
		401, "AuthenticationRequired", "")
	wantXRPCError(t, proxied(c, http.MethodGet, "app.bsky.actor.getProfile", url.Values{"actor": {"nobody.test"}}, nil, tok.access, appview),
		400, "InvalidRequest", "Profile not found")
	wantXRPCError(t, proxied(c, http.MethodGet, "app.bsky.feed.searchPosts", nil, nil, tok.access, appview),
		501, "MethodNotImplemented", "")
	wantXRPCError(t, proxied(c, http.MethodPost, "app.bsky.actor.getProfile", nil, map[string]any{}, tok.access, appview),
		400, "InvalidRequest", "Incorrect HTTP method (POST) expected GET")
	// transition:generic does not cover chat.
	wantXRPCError(t, proxied(c, http.MethodGet, "chat.bsky.convo.listConvos", nil, nil, tok.access, "did:web:api.bsky.chat#bsky_chat"),
		403, "ScopeMissingError", `Missing required scope "rpc:chat.bsky.convo.listConvos?aud=did:web:api.bsky.chat%23bsky_chat"`)

	// A PDS-local method is served locally even with the header, and counted.
	if r := proxied(c, http.MethodGet, "com.atproto.server.getSession", nil, nil, tok.access, appview); r.status != http.StatusOK {
		t.Fatalf("getSession with a proxy header: %d %s", r.status, r.raw)
	}
	n.UpdateTamper(func(t *atoauthtest.Tamper) { t.ServiceUnreachable = true })
	wantXRPCError(t, proxied(c, http.MethodGet, "app.bsky.feed.getTimeline", nil, nil, tok.access, appview),
		502, "UpstreamFailure", "Upstream service unreachable")
	if got := n.Counters(); got.Proxied != 5 || got.ProxiedByDefault != 1 || got.ProxyHeaderOnLocal != 1 {
		t.Fatalf("counters: %+v", got)
	}

	// Granular rpc permissions, and chat with transition:chat.bsky.
	const scope = "atproto rpc:app.bsky.actor.getProfile?aud=did:web:api.bsky.app%23bsky_appview transition:generic transition:chat.bsky"
	c2 := newLoopbackClient(t, n, scope)
	n.SetTamper(atoauthtest.Tamper{})
	tok2 := c2.login(scope, alice, atoauthtest.GrantScope("atproto rpc:app.bsky.actor.getProfile?aud=did:web:api.bsky.app%23bsky_appview"))
	if r := proxied(c2, http.MethodGet, "app.bsky.actor.getProfile", actor, nil, tok2.access, appview); r.status != http.StatusOK {
		t.Fatalf("granular getProfile: %d %s", r.status, r.raw)
	}
	wantXRPCError(t, proxied(c2, http.MethodGet, "app.bsky.feed.getTimeline", nil, nil, tok2.access, appview),
		403, "ScopeMissingError", `Missing required scope "rpc:app.bsky.feed.getTimeline?aud=did:web:api.bsky.app%23bsky_appview"`)
	tok3 := c2.login(scope, alice)
	if r := proxied(c2, http.MethodGet, "chat.bsky.convo.listConvos", nil, nil, tok3.access, "did:web:api.bsky.chat#bsky_chat"); r.status != http.StatusOK {
		t.Fatalf("listConvos: %d %s", r.status, r.raw)
	}
}

func TestAppViewFeeds(t *testing.T) {
	n := atoauthtest.NewNetwork(t, atoauthtest.Options{AppViewDID: "did:web:appview.test"})
	alice := n.CreateAccount("alice.test")
	bob := n.CreateAccount("bob.test")
	c := newLoopbackClient(t, n, genericScope)
	ta := c.login(genericScope, alice)
	tb := c.login(genericScope, bob)
	const appview = "did:web:appview.test#bsky_appview"
	for i := range 3 {
		createPost(c, bob, tb.access, "bob "+strconv.Itoa(i))
	}
	r := createPost(c, alice, ta.access, "alice")
	root := map[string]any{"uri": r.str("uri"), "cid": r.str("cid")}
	c.xrpc(http.MethodPost, "com.atproto.repo.createRecord", nil, map[string]any{
		"repo": bob.String(), "collection": "app.bsky.feed.post",
		"record": map[string]any{"$type": "app.bsky.feed.post", "text": "re", "createdAt": time.Now().UTC().Format(time.RFC3339),
			"reply": map[string]any{"root": root, "parent": root}},
	}, tb.access)

	feed := func(nsid string, q url.Values, tok string) []any {
		t.Helper()
		r := proxied(c, http.MethodGet, nsid, q, nil, tok, appview)
		if r.status != http.StatusOK {
			t.Fatalf("%s: %d %s", nsid, r.status, r.raw)
		}
		items, _ := r.body["feed"].([]any)
		return items
	}
	if got := feed("app.bsky.feed.getTimeline", nil, ta.access); len(got) != 1 {
		t.Fatalf("alice's timeline before following: %d items", len(got))
	}
	c.xrpc(http.MethodPost, "com.atproto.repo.createRecord", nil, map[string]any{
		"repo": alice.String(), "collection": "app.bsky.graph.follow",
		"record": map[string]any{"$type": "app.bsky.graph.follow", "subject": bob.String(), "createdAt": time.Now().UTC().Format(time.RFC3339)},
	}, ta.access)
	if got := feed("app.bsky.feed.getTimeline", nil, ta.access); len(got) != 5 {
		t.Fatalf("alice's timeline: %d items", len(got))
	}
	items := feed("app.bsky.feed.getAuthorFeed", url.Values{"actor": {"bob.test"}}, ta.access)
	first := items[0].(map[string]any)
	reply, _ := first["reply"].(map[string]any)
	parent, _ := reply["parent"].(map[string]any)
	if len(items) != 4 || parent["$type"] != "app.bsky.feed.defs#postView" || parent["uri"] != root["uri"] {
		t.Fatalf("bob's feed: %v", items)
	}
	if got := feed("app.bsky.feed.getAuthorFeed", url.Values{"actor": {bob.String()}, "filter": {"posts_no_replies"}, "limit": {"2"}}, ta.access); len(got) != 2 {
		t.Fatalf("bob's posts, limit 2: %d", len(got))
	}
	r = proxied(c, http.MethodGet, "app.bsky.actor.getProfile", url.Values{"actor": {"bob.test"}}, nil, ta.access, appview)
	if r.body["followersCount"] != float64(1) || r.body["postsCount"] != float64(4) {
		t.Fatalf("bob's profile: %s", r.raw)
	}
	// The default AppView DID is not this network's.
	wantXRPCError(t, proxied(c, http.MethodGet, "app.bsky.actor.getProfile", url.Values{"actor": {"bob.test"}}, nil, ta.access, "did:web:api.bsky.app#bsky_appview"),
		400, "InvalidRequest", "could not resolve proxy did")
}

func TestRepoWrites(t *testing.T) {
	n := newNet(t)
	alice := n.CreateAccount("alice.test")
	c := newLoopbackClient(t, n, genericScope)
	tok := c.login(genericScope, alice)
	write := func(nsid string, in map[string]any) resp {
		in["repo"] = alice.String()
		return c.xrpc(http.MethodPost, "com.atproto.repo."+nsid, nil, in, tok.access)
	}
	rec := func(text string) map[string]any { return map[string]any{"$type": "com.example.note", "text": text} }

	r := write("putRecord", map[string]any{"collection": "com.example.note", "rkey": "a", "record": rec("1"), "swapRecord": nil})
	if r.status != 200 {
		t.Fatalf("put with swapRecord null: %d %s", r.status, r.raw)
	}
	commit, _ := r.body["commit"].(map[string]any)
	wantXRPCError(t, write("putRecord", map[string]any{"collection": "com.example.note", "rkey": "a", "record": rec("2"), "swapRecord": nil}),
		400, "InvalidSwap", "Record was at "+r.str("cid"))
	wantXRPCError(t, write("putRecord", map[string]any{"collection": "com.example.note", "rkey": "b", "record": rec("2"), "swapRecord": r.str("cid")}),
		400, "InvalidSwap", "Record was at null")
	r2 := write("createRecord", map[string]any{"collection": "com.example.note", "record": rec("3"), "swapCommit": commit["cid"]})
	if r2.status != 200 {
		t.Fatalf("create with the current swapCommit: %d %s", r2.status, r2.raw)
	}
	wantXRPCError(t, write("deleteRecord", map[string]any{"collection": "com.example.note", "rkey": "a", "swapCommit": commit["cid"]}),
		400, "InvalidSwap", "")

	r = write("applyWrites", map[string]any{"writes": []any{
		map[string]any{"$type": "com.atproto.repo.applyWrites#create", "collection": "com.example.note", "rkey": "c", "value": rec("c")},
		map[string]any{"$type": "com.atproto.repo.applyWrites#update", "collection": "com.example.note", "rkey": "a", "value": rec("a2")},
		map[string]any{"$type": "com.atproto.repo.applyWrites#delete", "collection": "com.example.note", "rkey": "c"},
	}})
	results, _ := r.body["results"].([]any)
	if r.status != 200 || len(results) != 3 || results[0].(map[string]any)["$type"] != "com.atproto.repo.applyWrites#createResult" ||
		results[2].(map[string]any)["$type"] != "com.atproto.repo.applyWrites#deleteResult" {
		t.Fatalf("applyWrites: %d %s", r.status, r.raw)
	}
	if v, _ := n.Record(alice, "com.example.note", "a"); !strings.Contains(string(v), "a2") {
		t.Fatalf("update not applied: %s", v)
	}
	if _, ok := n.Record(alice, "com.example.note", "c"); ok {
		t.Fatal("create+delete left the record")
	}
	wantXRPCError(t, write("applyWrites", map[string]any{"writes": []any{
		map[string]any{"$type": "com.atproto.repo.applyWrites#create", "collection": "com.example.note", "rkey": "d", "value": rec("d")},
		map[string]any{"$type": "com.atproto.repo.applyWrites#delete", "collection": "com.example.note", "rkey": "missing"},
	}}), 400, "InvalidRequest", "")
	if _, ok := n.Record(alice, "com.example.note", "d"); ok {
		t.Fatal("a failed applyWrites was partly applied")
	}
	wantXRPCError(t, write("applyWrites", map[string]any{"writes": []any{
		map[string]any{"$type": "com.atproto.repo.applyWrites#upsert", "collection": "com.example.note", "rkey": "d", "value": rec("d")},
	}}), 400, "InvalidRequest", "")

	// Scopes apply per write.
	const scope = "atproto repo:com.example.note?action=create"
	c2 := newLoopbackClient(t, n, scope)
	tok2 := c2.login(scope, alice)
	r = c2.xrpc(http.MethodPost, "com.atproto.repo.applyWrites", nil, map[string]any{"repo": alice.String(), "writes": []any{
		map[string]any{"$type": "com.atproto.repo.applyWrites#create", "collection": "com.example.note", "value": rec("ok")},
		map[string]any{"$type": "com.atproto.repo.applyWrites#delete", "collection": "com.example.note", "rkey": "a"},
	}}, tok2.access)
	wantXRPCError(t, r, 403, "ScopeMissingError", `Missing required scope "repo:com.example.note?action=delete"`)

	r = c.xrpc(http.MethodGet, "com.atproto.repo.describeRepo", url.Values{"repo": {"alice.test"}}, nil, "")
	doc, _ := r.body["didDoc"].(map[string]any)
	colls, _ := r.body["collections"].([]any)
	if r.status != 200 || r.str("did") != alice.String() || doc["id"] != alice.String() || len(colls) != 1 || colls[0] != "com.example.note" {
		t.Fatalf("describeRepo: %d %s", r.status, r.raw)
	}
}

func TestRateLimitKnob(t *testing.T) {
	n := newNet(t)
	alice := n.CreateAccount("alice.test")
	c := newLoopbackClient(t, n, genericScope)
	tok := c.login(genericScope, alice)
	reset := time.Now().Add(time.Minute).Truncate(time.Second)
	n.UpdateTamper(func(tp *atoauthtest.Tamper) {
		tp.RateLimit = func(nsid string) *atoauthtest.RateLimitAnswer {
			if nsid != "com.atproto.repo.createRecord" {
				return nil
			}
			return &atoauthtest.RateLimitAnswer{Limit: 10, Window: time.Hour, Reset: reset, RetryAfter: 1500 * time.Millisecond}
		}
	})
	r := createPost(c, alice, tok.access, "x")
	wantXRPCError(t, r, 429, "RateLimitExceeded", "")
	for k, want := range map[string]string{
		"RateLimit-Limit": "10", "RateLimit-Remaining": "0", "RateLimit-Reset": strconv.FormatInt(reset.Unix(), 10),
		"RateLimit-Policy": "10;w=3600", "Retry-After": "2",
	} {
		if got := r.header.Get(k); got != want {
			t.Errorf("%s: %q, want %q", k, got, want)
		}
	}
	if r := c.xrpc(http.MethodGet, "com.atproto.server.getSession", nil, nil, tok.access); r.status != 200 {
		t.Fatalf("other methods: %d", r.status)
	}
	if n.Counters().RateLimited != 1 {
		t.Fatalf("counters: %+v", n.Counters())
	}
}

func TestStartOutsideTests(t *testing.T) {
	n := atoauthtest.Start(atoauthtest.Options{})
	did := n.CreateAccount("alice.test")
	res, err := http.Get(n.PLC.URL + "/" + did.String())
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("PLC: %d", res.StatusCode)
	}
	n.Close()
	n.Close()
	if _, err := http.Get(n.PLC.URL + "/" + did.String()); err == nil {
		t.Fatal("network still up after Close")
	}
}

// A PDS with no default service (NoDefaultService) answers a call that
// names none as the reference PDS without an AppView does, and still
// forwards calls that name one.
func TestNoDefaultService(t *testing.T) {
	n := atoauthtest.NewNetwork(t, atoauthtest.Options{NoDefaultService: true, AppViewDID: "did:web:appview.test"})
	alice := n.CreateAccount("alice.test")
	c := newLoopbackClient(t, n, genericScope)
	tok := c.login(genericScope, alice)
	actor := url.Values{"actor": {"alice.test"}}
	wantXRPCError(t, proxied(c, http.MethodGet, "app.bsky.actor.getProfile", actor, nil, tok.access, ""),
		400, "InvalidRequest", "No service configured for app.bsky.actor.getProfile")
	if r := proxied(c, http.MethodGet, "app.bsky.actor.getProfile", actor, nil, tok.access, "did:web:appview.test#bsky_appview"); r.status != http.StatusOK {
		t.Fatalf("getProfile through the named AppView: %d %s", r.status, r.raw)
	}
	// Bluesky's AppView is not this network's.
	wantXRPCError(t, proxied(c, http.MethodGet, "app.bsky.actor.getProfile", actor, nil, tok.access, "did:web:api.bsky.app#bsky_appview"),
		400, "InvalidRequest", "could not resolve proxy did")
}
