package xrpc_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/atoauth/atoauth"
	"github.com/atoauth/atoauth/atoauthtest"
	"github.com/atoauth/atoauth/auth"
	"github.com/atoauth/atoauth/scope"
	"github.com/atoauth/atoauth/xrpc"
	"github.com/bluesky-social/indigo/atproto/syntax"
)

type recordOut struct {
	URI    string          `json:"uri"`
	CID    string          `json:"cid"`
	Value  json.RawMessage `json:"value"`
	Commit *struct {
		CID string `json:"cid"`
		Rev string `json:"rev"`
	} `json:"commit"`
}

func post(text string) map[string]any {
	return map[string]any{"$type": "app.bsky.feed.post", "text": text, "createdAt": "2026-11-27T12:00:00.000Z"}
}

func TestQueryAndProcedure(t *testing.T) {
	e := newEnv(t, genericScope)
	c := e.xrpc(xrpc.Options{})
	ctx := context.Background()

	var created recordOut
	err := c.Procedure(ctx, "com.atproto.repo.createRecord", nil, map[string]any{
		"repo": e.Account, "collection": "app.bsky.feed.post", "record": post("héllo 🌍"),
	}, &created)
	if err != nil {
		t.Fatal(err)
	}
	uri, err := syntax.ParseATURI(created.URI)
	if err != nil || created.Commit == nil || created.Commit.Rev == "" {
		t.Fatalf("createRecord: %+v %v", created, err)
	}

	var got recordOut
	err = c.Query(ctx, "com.atproto.repo.getRecord", xrpc.Params{
		"repo": e.Account, "collection": syntax.NSID("app.bsky.feed.post"), "rkey": uri.RecordKey(),
	}, &got)
	if err != nil {
		t.Fatal(err)
	}
	var v struct{ Text string }
	if err := json.Unmarshal(got.Value, &v); err != nil || v.Text != "héllo 🌍" || got.CID != created.CID {
		t.Fatalf("getRecord: %+v", got)
	}

	// Raw output and a response header.
	var raw []byte
	var hdr http.Header
	if err := c.Query(ctx, "com.atproto.server.getSession", nil, &raw, xrpc.WithResponseHeader(&hdr)); err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(raw, []byte(`"handle":"alice.test"`)) || !strings.HasPrefix(hdr.Get("Content-Type"), "application/json") {
		t.Fatalf("getSession: %s %v", raw, hdr)
	}

	// No PDS-local call carried the proxy header.
	if got := e.Net.Counters(); got.ProxyHeaderOnLocal != 0 || got.Proxied != 0 {
		t.Fatalf("counters: %+v", got)
	}
}

func TestInvalidArguments(t *testing.T) {
	c, err := xrpc.NewClient(xrpc.Options{Auth: public(t, "http://127.0.0.1:1")})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := c.Query(ctx, "not an nsid", nil, nil); err == nil || !strings.Contains(err.Error(), "not a valid NSID") {
		t.Errorf("bad NSID: %v", err)
	}
	if err := c.Query(ctx, "com.example.get", xrpc.Params{"x": map[string]string{}}, nil); err == nil {
		t.Error("map parameter accepted")
	}
	if err := c.Query(ctx, "com.example.get", nil, nil, xrpc.WithProxy("did:web:x")); err == nil {
		t.Error("service reference without #id accepted")
	}
	pds := public(t, "https://pds.example")
	for _, opts := range []xrpc.Options{
		{},
		{Auth: pds, Services: map[string]string{"app.bsky.": "api.bsky.app"}},
		{Auth: pds, Services: map[string]string{"app..bsky.": scope.BskyAppView}},
		{Auth: pds, Services: map[string]string{"not an nsid": scope.BskyAppView}},
	} {
		if _, err := xrpc.NewClient(opts); err == nil {
			t.Errorf("NewClient(%+v) accepted", opts)
		}
	}
	for _, host := range []string{"ftp://pds.example", "https://pds.example/xrpc", "https://user@pds.example", ""} {
		if _, err := auth.Public(host, nil); err == nil {
			t.Errorf("auth.Public(%q) accepted", host)
		}
	}
}

// recorder is a server that records each request and answers {}.
type recorder struct {
	mu   sync.Mutex
	reqs []*http.Request
	body [][]byte
}

func (rec *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	rec.mu.Lock()
	rec.reqs = append(rec.reqs, r)
	rec.body = append(rec.body, b)
	rec.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write([]byte(`{}`))
}

func (rec *recorder) last() (*http.Request, []byte) {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return rec.reqs[len(rec.reqs)-1], rec.body[len(rec.body)-1]
}

func TestProxyHeaderPerNSID(t *testing.T) {
	rec := &recorder{}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	c, err := xrpc.NewClient(xrpc.Options{Auth: public(t, srv.URL), Services: map[string]string{
		"com.example.":             "did:web:svc.example#example",
		"com.example.local.method": "",
	}})
	if err != nil {
		t.Fatal(err)
	}
	custom, err := xrpc.NewClient(xrpc.Options{Auth: public(t, srv.URL), Services: map[string]string{"app.bsky.": "did:web:appview.test#bsky_appview"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		c    *xrpc.Client
		nsid string
		opts []xrpc.CallOption
		want string
	}{
		{c, "com.atproto.repo.getRecord", nil, ""},
		{c, "com.atproto.server.getSession", nil, ""},
		{c, "com.atproto.repo.createRecord", nil, ""},
		// Left to the PDS's default AppView, as the TypeScript client does.
		{c, "app.bsky.actor.getProfile", nil, ""},
		{c, "app.bsky.feed.getTimeline", nil, ""},
		{c, "app.bsky.actor.getPreferences", nil, ""},
		{c, "app.bsky.actor.putPreferences", nil, ""},
		{c, "chat.bsky.convo.listConvos", nil, scope.BskyChat},
		{c, "com.example.thing", nil, "did:web:svc.example#example"},
		{c, "com.example.local.method", nil, ""},
		{c, "tools.ozone.moderation.queryEvents", nil, ""},
		{c, "com.atproto.moderation.createReport", []xrpc.CallOption{xrpc.WithProxy("did:plc:ar7c4by46qjdydhdevvrndac#atproto_labeler")}, "did:plc:ar7c4by46qjdydhdevvrndac#atproto_labeler"},
		{c, "app.bsky.actor.getProfile", []xrpc.CallOption{xrpc.WithProxy("")}, ""},
		{c, "app.bsky.actor.getProfile", []xrpc.CallOption{xrpc.WithProxy(scope.BskyAppView)}, scope.BskyAppView},
		{c, "app.bsky.actor.getProfile", []xrpc.CallOption{xrpc.WithHeader("atproto-proxy", "did:web:evil#x")}, ""},
		{custom, "app.bsky.feed.getAuthorFeed", nil, "did:web:appview.test#bsky_appview"},
		{custom, "chat.bsky.convo.listConvos", nil, scope.BskyChat},
		{custom, "com.atproto.repo.listRecords", []xrpc.CallOption{xrpc.WithHeader("atproto-proxy", "did:web:evil#x")}, ""},
	} {
		if got := tc.c.Service(tc.nsid); len(tc.opts) == 0 && got != tc.want {
			t.Errorf("Service(%s) = %q, want %q", tc.nsid, got, tc.want)
		}
		if err := tc.c.Query(context.Background(), tc.nsid, nil, nil, tc.opts...); err != nil {
			t.Fatal(err)
		}
		r, _ := rec.last()
		if got := r.Header.Values("Atproto-Proxy"); (tc.want == "" && len(got) != 0) || (tc.want != "" && (len(got) != 1 || got[0] != tc.want)) {
			t.Errorf("%s: atproto-proxy %q, want %q", tc.nsid, got, tc.want)
		}
		if r.URL.Path != "/xrpc/"+tc.nsid || r.Method != http.MethodGet {
			t.Errorf("%s: %s %s", tc.nsid, r.Method, r.URL.Path)
		}
	}
}

func TestParamsAndBodies(t *testing.T) {
	rec := &recorder{}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	c, err := xrpc.NewClient(xrpc.Options{Auth: public(t, srv.URL), Headers: http.Header{"User-Agent": {"atoauth-test"}}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	limit := int64(5)
	var nilPtr *string
	err = c.Query(ctx, "com.example.query", xrpc.Params{
		"actor":  syntax.DID("did:plc:abc"),
		"limit":  &limit,
		"flag":   true,
		"uris":   []string{"at://a/b/c", "at://d/e/f"},
		"since":  time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		"absent": nilPtr,
		"none":   nil,
		"n8":     uint8(7),
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	r, _ := rec.last()
	if got, want := r.URL.RawQuery, "actor=did%3Aplc%3Aabc&flag=true&limit=5&n8=7&since=2026-01-02T03%3A04%3A05Z&uris=at%3A%2F%2Fa%2Fb%2Fc&uris=at%3A%2F%2Fd%2Fe%2Ff"; got != want {
		t.Errorf("query %q, want %q", got, want)
	}
	if r.Header.Get("User-Agent") != "atoauth-test" || r.Header.Get("Accept") != "" {
		t.Errorf("headers %v", r.Header)
	}

	for _, tc := range []struct {
		in       any
		opts     []xrpc.CallOption
		wantType string
		wantBody string
	}{
		{map[string]int{"a": 1}, nil, "application/json", `{"a":1}`},
		{json.RawMessage(`{"raw":true}`), nil, "application/json", `{"raw":true}`},
		{[]byte("\x89PNG\r\n\x1a\n...."), nil, "image/png", "\x89PNG\r\n\x1a\n...."},
		{strings.NewReader("GIF89a..."), []xrpc.CallOption{xrpc.WithEncoding("*/*")}, "image/gif", "GIF89a..."},
		{io.MultiReader(strings.NewReader("plain text")), []xrpc.CallOption{xrpc.WithEncoding("text/markdown")}, "text/markdown", "plain text"},
	} {
		var out map[string]any
		if err := c.Procedure(ctx, "com.example.procedure", nil, tc.in, &out, tc.opts...); err != nil {
			t.Fatal(err)
		}
		r, body := rec.last()
		if r.Method != http.MethodPost || r.Header.Get("Content-Type") != tc.wantType || string(body) != tc.wantBody || r.Header.Get("Accept") != "application/json" {
			t.Errorf("%T: %s %q %q", tc.in, r.Method, r.Header.Get("Content-Type"), body)
		}
	}
	if err := c.Procedure(ctx, "com.example.procedure", nil, nil, nil); err != nil {
		t.Fatal(err)
	}
	if r, body := rec.last(); r.Header.Get("Content-Type") != "" || len(body) != 0 {
		t.Errorf("no input: %v %q", r.Header, body)
	}
}

func TestProxiedCallsThroughThePDS(t *testing.T) {
	e := newEnv(t, genericScope)
	c := e.xrpc(xrpc.Options{})
	ctx := context.Background()
	var prof struct {
		DID    string `json:"did"`
		Handle string `json:"handle"`
	}
	if err := c.Query(ctx, "app.bsky.actor.getProfile", xrpc.Params{"actor": "alice.test"}, &prof); err != nil {
		t.Fatal(err)
	}
	if prof.DID != e.Account.String() || prof.Handle != "alice.test" {
		t.Fatalf("getProfile: %+v", prof)
	}
	// chat.bsky needs transition:chat.bsky: refused before sending.
	err := c.Query(ctx, "chat.bsky.convo.listConvos", nil, nil)
	var sme *xrpc.ScopeMissingError
	if !errors.As(err, &sme) || !sme.ClientSide || sme.Permission != "rpc:chat.bsky.convo.listConvos?aud=did:web:api.bsky.chat%23bsky_chat" {
		t.Fatalf("listConvos: %v", err)
	}
	if got := e.Net.Counters(); got.Proxied != 1 || got.ProxyHeaderOnLocal != 0 {
		t.Fatalf("counters: %+v", got)
	}

	// With the chat scope, chat goes to the chat service.
	e2 := newEnv(t, genericScope+" transition:chat.bsky")
	var convos struct{ Convos []any }
	if err := e2.xrpc(xrpc.Options{}).Query(ctx, "chat.bsky.convo.listConvos", nil, &convos); err != nil || convos.Convos == nil {
		t.Fatalf("listConvos: %v %+v", err, convos)
	}
}

func TestNoService(t *testing.T) {
	e := newEnvWith(t, atoauthtest.Options{NoDefaultService: true}, genericScope)
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		opts xrpc.Options
		call []xrpc.CallOption
		want string
	}{
		{"no header", xrpc.Options{Services: map[string]string{"app.bsky.": ""}}, nil, "No service configured for app.bsky.actor.getProfile"},
		{"unknown DID", xrpc.Options{}, []xrpc.CallOption{xrpc.WithProxy("did:web:nowhere.test#bsky_appview")}, "could not resolve proxy did"},
		{"unknown service id", xrpc.Options{Services: map[string]string{"app.bsky.": "did:web:api.bsky.app#nope"}}, nil, "could not resolve proxy did service url"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := e.xrpc(tc.opts).Query(ctx, "app.bsky.actor.getProfile", xrpc.Params{"actor": "alice.test"}, nil, tc.call...)
			var xe *xrpc.Error
			if !errors.Is(err, xrpc.ErrNoService) || !errors.As(err, &xe) || xe.Message != tc.want || xe.StatusCode != 400 {
				t.Fatalf("got %v", err)
			}
			if !strings.Contains(err.Error(), "atproto-proxy") {
				t.Errorf("message does not say what to do: %v", err)
			}
		})
	}
	e.Net.UpdateTamper(func(t *atoauthtest.Tamper) { t.ServiceUnreachable = true })
	err := e.xrpc(xrpc.Options{}).Query(ctx, "app.bsky.feed.getTimeline", nil, nil, xrpc.WithProxy(scope.BskyAppView))
	var xe *xrpc.Error
	if !errors.Is(err, xrpc.ErrNoService) || !errors.As(err, &xe) || xe.StatusCode != http.StatusBadGateway || xe.Service != scope.BskyAppView ||
		!strings.Contains(err.Error(), "could not reach the service") {
		t.Fatalf("unreachable AppView: %v", err)
	}
	// The AppView does not implement everything.
	e.Net.SetTamper(atoauthtest.Tamper{})
	err = e.xrpc(xrpc.Options{}).Query(ctx, "app.bsky.feed.searchPosts", xrpc.Params{"q": "x"}, nil)
	if !errors.As(err, &xe) || xe.Name != "MethodNotImplemented" || !strings.Contains(err.Error(), "does not implement") {
		t.Fatalf("searchPosts: %v", err)
	}
}

func TestScopePreCheck(t *testing.T) {
	const declared = "atproto transition:generic repo:app.bsky.feed.post?action=create blob:image/*"
	const granted = "atproto repo:app.bsky.feed.post?action=create blob:image/*"
	e := newEnv(t, declared, atoauthtest.GrantScope(granted))
	ctx := context.Background()
	c := e.xrpc(xrpc.Options{})

	// Allowed: a post and an image.
	if err := c.Procedure(ctx, "com.atproto.repo.createRecord", nil, map[string]any{
		"repo": e.Account, "collection": "app.bsky.feed.post", "record": post("ok"),
	}, nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Procedure(ctx, "com.atproto.repo.uploadBlob", nil, []byte("\x89PNG\r\n\x1a\nrest"), nil); err != nil {
		t.Fatal(err)
	}

	profile := map[string]any{"repo": e.Account, "collection": "app.bsky.actor.profile", "rkey": "self",
		"record": map[string]any{"$type": "app.bsky.actor.profile", "displayName": "Alice"}}
	for _, tc := range []struct {
		nsid   string
		method string
		in     any
		opts   []xrpc.CallOption
		want   string
	}{
		{"com.atproto.repo.putRecord", http.MethodPost, profile, nil, "repo:app.bsky.actor.profile?action=create"},
		{"com.atproto.repo.deleteRecord", http.MethodPost, map[string]any{"repo": e.Account, "collection": "app.bsky.feed.post", "rkey": "abc"}, nil, "repo:app.bsky.feed.post?action=delete"},
		{"com.atproto.repo.applyWrites", http.MethodPost, map[string]any{"repo": e.Account, "writes": []any{
			map[string]any{"$type": "com.atproto.repo.applyWrites#create", "collection": "app.bsky.feed.post", "value": post("x")},
			map[string]any{"$type": "com.atproto.repo.applyWrites#update", "collection": "app.bsky.feed.post", "rkey": "abc", "value": post("y")},
		}}, nil, "repo:app.bsky.feed.post?action=update"},
		{"com.atproto.repo.uploadBlob", http.MethodPost, strings.NewReader("just text"), []xrpc.CallOption{xrpc.WithEncoding("text/plain")}, "blob:text/plain"},
		{"app.bsky.actor.getProfile", http.MethodGet, nil, []xrpc.CallOption{xrpc.WithProxy(scope.BskyAppView)}, "rpc:app.bsky.actor.getProfile?aud=did:web:api.bsky.app%23bsky_appview"},
	} {
		call := func(c *xrpc.Client) error {
			if tc.method == http.MethodGet {
				return c.Query(ctx, tc.nsid, xrpc.Params{"actor": "alice.test"}, nil, tc.opts...)
			}
			return c.Procedure(ctx, tc.nsid, nil, tc.in, nil, tc.opts...)
		}
		before := e.Net.Counters().PDSRequests
		err := call(c)
		var sme *xrpc.ScopeMissingError
		if !errors.As(err, &sme) || !errors.Is(err, atoauth.ErrScopeMissing) || !sme.ClientSide || sme.Permission != tc.want || sme.Err != nil {
			t.Fatalf("%s: %v", tc.nsid, err)
		}
		wantRequest := tc.want // every missing requirement, merged
		if tc.nsid == "com.atproto.repo.putRecord" {
			wantRequest = "repo:app.bsky.actor.profile?action=create&action=update"
		}
		if sme.Request != wantRequest {
			t.Errorf("%s: Request %q, want %q", tc.nsid, sme.Request, wantRequest)
		}
		if got := e.Net.Counters().PDSRequests; got != before {
			t.Errorf("%s: the pre-check sent %d requests", tc.nsid, got-before)
		}
		if !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "nothing was sent") {
			t.Errorf("message: %v", err)
		}
		if tc.nsid == "com.atproto.repo.uploadBlob" {
			continue // the reader is spent
		}
		// Without the pre-check, the PDS says the same.
		err = call(e.xrpc(xrpc.Options{NoPreCheck: true}))
		var xe *xrpc.Error
		if !errors.As(err, &sme) || sme.ClientSide || !errors.Is(err, atoauth.ErrScopeMissing) || !errors.As(err, &xe) ||
			xe.StatusCode != http.StatusForbidden || xe.Name != "ScopeMissingError" {
			t.Fatalf("%s without pre-check: %v", tc.nsid, err)
		}
		if tc.nsid != "com.atproto.repo.applyWrites" && (sme.Permission != tc.want || sme.Request != tc.want) {
			t.Errorf("%s: server names %q (request %q), client %q", tc.nsid, sme.Permission, sme.Request, tc.want)
		}
	}

	// A custom Authorizer replaces the granted-scope check.
	deny := e.xrpc(xrpc.Options{Authorizer: xrpc.AuthorizerFunc(func(r scope.Requirement) bool { return r.Resource != "repo" })})
	err := deny.Procedure(ctx, "com.atproto.repo.createRecord", nil, map[string]any{"repo": e.Account, "collection": "app.bsky.feed.post", "record": post("no")}, nil)
	if !errors.Is(err, atoauth.ErrScopeMissing) {
		t.Fatalf("custom authorizer: %v", err)
	}
}

func TestErrors(t *testing.T) {
	e := newEnv(t, genericScope)
	ctx := context.Background()
	c := e.xrpc(xrpc.Options{})

	var missing error = c.Query(ctx, "com.atproto.repo.getRecord", xrpc.Params{"repo": e.Account, "collection": "app.bsky.feed.post", "rkey": "nope"}, nil)
	var xe *xrpc.Error
	if !errors.Is(missing, xrpc.ErrRecordNotFound) || !errors.As(missing, &xe) || xe.StatusCode != 400 || xe.Name != "RecordNotFound" || xe.NSID != "com.atproto.repo.getRecord" {
		t.Fatalf("RecordNotFound: %v", missing)
	}
	if err := c.Query(ctx, "com.atproto.repo.getRecord", xrpc.Params{"repo": "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa", "collection": "app.bsky.feed.post", "rkey": "x"}, nil); !errors.Is(err, xrpc.ErrRepoNotFound) {
		t.Fatalf("RepoNotFound: %v", err)
	}

	put := func(swap any) error {
		in := map[string]any{"repo": e.Account, "collection": "app.bsky.actor.profile", "rkey": "self",
			"record": map[string]any{"$type": "app.bsky.actor.profile", "displayName": "A"}}
		if swap != "" {
			in["swapRecord"] = swap
		}
		var out recordOut
		return c.Procedure(ctx, "com.atproto.repo.putRecord", nil, in, &out)
	}
	if err := put(nil); err != nil { // null: must not exist yet
		t.Fatal(err)
	}
	if err := put(nil); !errors.Is(err, xrpc.ErrInvalidSwap) || !strings.Contains(err.Error(), "read it again") {
		t.Fatalf("InvalidSwap on null: %v", err)
	}
	if err := put("bafyreiaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"); !errors.Is(err, xrpc.ErrInvalidSwap) {
		t.Fatalf("InvalidSwap on CID: %v", err)
	}
	err := c.Procedure(ctx, "com.atproto.repo.createRecord", nil, map[string]any{
		"repo": e.Account, "collection": "app.bsky.feed.post", "record": post("x"), "swapCommit": "bafyreibbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
	}, nil)
	if !errors.Is(err, xrpc.ErrInvalidSwap) {
		t.Fatalf("swapCommit: %v", err)
	}

	// The seed complaint: an OAuth token sent as Bearer.
	tok := e.accessToken()
	bearer, err := xrpc.NewClient(xrpc.Options{Auth: public(t, e.Session.PDS()), Headers: http.Header{"Authorization": {"Bearer " + tok}}})
	if err != nil {
		t.Fatal(err)
	}
	err = bearer.Procedure(ctx, "com.atproto.repo.createRecord", nil, map[string]any{"repo": e.Account, "collection": "app.bsky.feed.post", "record": post("x")}, nil)
	if !errors.Is(err, xrpc.ErrTokenMisuse) || !errors.As(err, &xe) || xe.Message != "Bad token scope" || strings.Contains(err.Error(), tok) ||
		!strings.Contains(err.Error(), "Authorization: DPoP") {
		t.Fatalf("Bearer: %v", err)
	}
	// Calls to the PDS without the session carry no credentials.
	plain, _ := xrpc.NewClient(xrpc.Options{Auth: public(t, e.Session.PDS())})
	if err := plain.Query(ctx, "com.atproto.server.getSession", nil, nil); !errors.Is(err, xrpc.ErrAuthRequired) {
		t.Fatalf("no credentials: %v", err)
	}

	// A session revoked at the server: sign in again.
	e.Net.RevokeAll(e.Account)
	if err := c.Query(ctx, "com.atproto.server.getSession", nil, nil); !errors.Is(err, atoauth.ErrSessionExpired) {
		t.Fatalf("revoked: %v", err)
	}
}

func TestNonceLoop(t *testing.T) {
	e := newEnv(t, genericScope)
	// The PDS requires nonces but never sends one: the session's first
	// request cannot succeed.
	e.Net.UpdateTamper(func(tp *atoauthtest.Tamper) { tp.OmitDPoPNonce = true })
	err := e.xrpc(xrpc.Options{}).Query(context.Background(), "com.atproto.server.getSession", nil, nil)
	var xe *xrpc.Error
	if !errors.Is(err, xrpc.ErrNonceLoop) || !errors.As(err, &xe) || xe.StatusCode != 401 || !strings.Contains(err.Error(), "DPoP-Nonce") {
		t.Fatalf("got %v", err)
	}
}

func TestAuthErrors(t *testing.T) {
	answer := func(status int, wwwAuth, body string) *xrpc.Client {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if wwwAuth != "" {
				w.Header().Set("WWW-Authenticate", wwwAuth)
			}
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			_, _ = io.WriteString(w, body)
		}))
		t.Cleanup(srv.Close)
		c, err := xrpc.NewClient(xrpc.Options{Auth: public(t, srv.URL)})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		c      *xrpc.Client
		want   error
		auth   string
		prefix string
	}{
		{"invalid_token after refresh", answer(401, `DPoP algs="ES256", error="invalid_token", error_description="Token revoked"`, `{"error":"InvalidToken","message":"Token revoked"}`),
			atoauth.ErrSessionExpired, "invalid_token", "sign in again"},
		{"nonce loop", answer(401, `DPoP algs="ES256", error="use_dpop_nonce"`, `{"error":"use_dpop_nonce","message":"x"}`),
			xrpc.ErrNonceLoop, "use_dpop_nonce", "DPoP-Nonce"},
		{"bare challenge", answer(401, `DPoP error="use_dpop_nonce"`, ``), xrpc.ErrNonceLoop, "use_dpop_nonce", "DPoP-Nonce"},
		{"malformed token", answer(400, ``, `{"error":"InvalidToken","message":"Malformed token"}`), xrpc.ErrTokenMisuse, "", "Bearer"},
		{"too large", answer(413, ``, `{"error":"PayloadTooLarge","message":"request entity too large"}`), xrpc.ErrTooLarge, "", "larger"},
		{"not JSON", answer(500, ``, `<html>oops</html>`), nil, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.c.Query(ctx, "com.example.get", nil, nil)
			var xe *xrpc.Error
			if !errors.As(err, &xe) || (tc.want != nil && !errors.Is(err, tc.want)) || xe.AuthError() != tc.auth || !strings.Contains(err.Error(), tc.prefix) {
				t.Fatalf("got %v (auth %q)", err, xe.AuthError())
			}
			if tc.want == nil && (xe.Hint() != "" || xe.Name != "") {
				t.Errorf("unexpected classification: %v", err)
			}
		})
	}
}

func TestRateLimits(t *testing.T) {
	e := newEnv(t, genericScope)
	ctx := context.Background()
	reset := time.Now().Add(3 * time.Minute).Truncate(time.Second)
	var left atomic.Int32
	e.Net.UpdateTamper(func(tp *atoauthtest.Tamper) {
		tp.RateLimit = func(nsid string) *atoauthtest.RateLimitAnswer {
			if left.Add(-1) < 0 {
				return nil
			}
			return &atoauthtest.RateLimitAnswer{Limit: 30, Window: 5 * time.Minute, Reset: reset, RetryAfter: 2 * time.Second}
		}
	})
	c := e.xrpc(xrpc.Options{})
	var waits []time.Duration
	xrpc.SetSleep(c, func(_ context.Context, d time.Duration) error { waits = append(waits, d); return nil })

	// A write is never retried; the error carries the reset time.
	left.Store(1)
	err := c.Procedure(ctx, "com.atproto.repo.createRecord", nil, map[string]any{"repo": e.Account, "collection": "app.bsky.feed.post", "record": post("x")}, nil)
	var xe *xrpc.Error
	if !errors.Is(err, xrpc.ErrRateLimited) || !errors.As(err, &xe) || xe.StatusCode != 429 || !xe.RateLimit.Reset.Equal(reset) ||
		xe.RateLimit.Limit != 30 || xe.RateLimit.Policy != "30;w=300" || xe.RetryAfter != 2*time.Second || len(waits) != 0 {
		t.Fatalf("write: %v %+v %v", err, xe, waits)
	}
	if !strings.Contains(err.Error(), reset.UTC().Format(time.RFC3339)) {
		t.Errorf("message lacks the reset time: %v", err)
	}

	// A query is retried after Retry-After, at most twice.
	left.Store(2)
	if err := c.Query(ctx, "com.atproto.server.getSession", nil, nil); err != nil || len(waits) != 2 || waits[0] != 2*time.Second {
		t.Fatalf("query: %v %v", err, waits)
	}
	waits = nil
	left.Store(5)
	if err := c.Query(ctx, "com.atproto.server.getSession", nil, nil); !errors.Is(err, xrpc.ErrRateLimited) || len(waits) != 2 {
		t.Fatalf("query, 3 times limited: %v %v", err, waits)
	}

	// A Retry-After longer than MaxRetryWait is not waited for.
	short := e.xrpc(xrpc.Options{MaxRetryWait: time.Second})
	waits = nil
	xrpc.SetSleep(short, func(_ context.Context, d time.Duration) error { waits = append(waits, d); return nil })
	left.Store(1)
	if err := short.Query(ctx, "com.atproto.server.getSession", nil, nil); !errors.Is(err, xrpc.ErrRateLimited) || len(waits) != 0 {
		t.Fatalf("long Retry-After: %v %v", err, waits)
	}
	// A cancelled wait returns both causes.
	left.Store(1)
	xrpc.SetSleep(c, func(ctx context.Context, _ time.Duration) error { return context.Canceled })
	if err := c.Query(ctx, "com.atproto.server.getSession", nil, nil); !errors.Is(err, xrpc.ErrRateLimited) || !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled wait: %v", err)
	}
	if got := e.Net.Counters().RateLimited; got != 1+2+3+1+1 {
		t.Errorf("RateLimited = %d", got)
	}
}

// onceReader is a body that can be read only once.
type onceReader struct{ r io.Reader }

func (o *onceReader) Read(p []byte) (int, error) { return o.r.Read(p) }

func TestBlobReplayOnNonceRetry(t *testing.T) {
	e := newEnv(t, genericScope)
	ctx := context.Background()
	c := e.xrpc(xrpc.Options{})
	data := bytes.Repeat([]byte("\x89PNG\r\n\x1a\n0123456789"), 5000)
	before := e.Net.Counters()
	var out struct {
		Blob struct {
			Ref struct {
				Link string `json:"$link"`
			} `json:"ref"`
			MimeType string `json:"mimeType"`
			Size     int    `json:"size"`
		} `json:"blob"`
	}
	// This is the session's first PDS request: the PDS asks for a nonce
	// and the body must be sent again.
	if err := c.Procedure(ctx, "com.atproto.repo.uploadBlob", nil, &onceReader{bytes.NewReader(data)}, &out, xrpc.WithEncoding("image/png")); err != nil {
		t.Fatal(err)
	}
	after := e.Net.Counters()
	if after.PDSNonceChallenges-before.PDSNonceChallenges != 1 {
		t.Fatalf("expected one nonce challenge, counters %+v", after)
	}
	got, mt, ok := e.Net.Blob(e.Account, out.Blob.Ref.Link)
	if !ok || !bytes.Equal(got, data) || mt != "image/png" || out.Blob.Size != len(data) {
		t.Fatalf("blob: ok=%v len=%d mime=%s", ok, len(got), mt)
	}
	// Fetched back byte-identical.
	var back bytes.Buffer
	if err := c.Query(ctx, "com.atproto.sync.getBlob", xrpc.Params{"did": e.Account, "cid": out.Blob.Ref.Link}, &back); err != nil || !bytes.Equal(back.Bytes(), data) {
		t.Fatalf("getBlob: %v %d", err, back.Len())
	}
}

func TestMaxResponseBytes(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write(bytes.Repeat([]byte("x"), 2000))
	}))
	defer srv.Close()
	c, _ := xrpc.NewClient(xrpc.Options{Auth: public(t, srv.URL), MaxResponseBytes: 1000})
	var raw []byte
	if err := c.Query(context.Background(), "com.example.big", nil, &raw); !errors.Is(err, xrpc.ErrTooLarge) {
		t.Fatalf("got %v", err)
	}
	var w bytes.Buffer // streamed outputs are not capped
	if err := c.Query(context.Background(), "com.example.big", nil, &w); err != nil || w.Len() != 2000 {
		t.Fatalf("streamed: %v %d", err, w.Len())
	}
	var v any
	if err := c.Query(context.Background(), "com.example.big", nil, &v); !errors.Is(err, xrpc.ErrTooLarge) {
		t.Fatalf("JSON: %v", err)
	}
}
