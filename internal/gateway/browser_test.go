package gateway

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/atoauth/atoauth/atoauthtest"
)

func TestSessionRoute(t *testing.T) {
	e := newEnv(t, envOptions{})
	resp := e.browser(req{path: "/api/session", as: e.alice})
	if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control %q", cc)
	}
	m := expectJSON(t, resp, http.StatusOK)
	if m["did"] != e.alice.did.String() || m["handle"] != "alice.test" || m["pds"] != e.net.PDS.URL || m["csrf"] != e.alice.csrf {
		t.Errorf("session: %v", m)
	}
	scopes, _ := m["scopes"].([]any)
	if len(scopes) != 2 || scopes[0] != "atproto" || scopes[1] != "transition:generic" {
		t.Errorf("scopes: %v", m["scopes"])
	}

	m = expectError(t, e.browser(req{path: "/api/session"}), http.StatusUnauthorized, "not_signed_in")
	if _, ok := m["csrf"]; ok {
		t.Error("csrf in a 401")
	}
	// An unknown cookie is not a session.
	resp = e.browser(req{path: "/api/session", header: http.Header{"Cookie": {cookieName + "=forged"}}})
	expectError(t, resp, http.StatusUnauthorized, "not_signed_in")
	// Another site cannot read it (the answer carries the CSRF token).
	expectError(t, e.browser(req{path: "/api/session", as: e.alice, crossSite: true}), http.StatusForbidden, "cross_origin")
	expectError(t, e.browser(req{method: http.MethodPost, path: "/api/session", as: e.alice}), http.StatusMethodNotAllowed, "method_not_allowed")

	// A failing session layer is a 503, not a sign-out.
	e.sessions.mu.Lock()
	e.sessions.fail = errors.New("store down")
	e.sessions.mu.Unlock()
	expectError(t, e.browser(req{path: "/api/session", as: e.alice}), http.StatusServiceUnavailable, "session_unavailable")
}

func TestXRPCNotSignedIn(t *testing.T) {
	e := newEnv(t, envOptions{})
	expectError(t, e.browser(req{path: "/xrpc/com.atproto.server.getSession"}), http.StatusUnauthorized, "not_signed_in")
	expectError(t, e.browser(req{method: http.MethodPost, path: "/xrpc/com.atproto.repo.createRecord", csrf: e.alice.csrf,
		body: jsonBody(postRecord(e.alice.did, "app.bsky.feed.post", "x", "hi")), contentType: "application/json"}),
		http.StatusUnauthorized, "not_signed_in")
	if n := len(e.pds.calls("/xrpc/com.atproto.repo.createRecord")); n != 0 {
		t.Errorf("%d calls reached the PDS", n)
	}
}

func TestQueryAndParams(t *testing.T) {
	e := newEnv(t, envOptions{})
	for _, rkey := range []string{"a1", "a2", "a3"} {
		resp := e.browser(req{method: http.MethodPost, path: "/xrpc/com.atproto.repo.createRecord", as: e.alice, csrf: e.alice.csrf,
			body: jsonBody(postRecord(e.alice.did, "app.bsky.feed.post", rkey, "post "+rkey)), contentType: "application/json"})
		expectJSON(t, resp, http.StatusOK)
	}
	q := url.Values{"repo": {e.alice.did.String()}, "collection": {"app.bsky.feed.post"}, "limit": {"2"}}
	resp := e.browser(req{path: "/xrpc/com.atproto.repo.listRecords?" + q.Encode(), as: e.alice})
	if resp.Header.Get("Content-Length") == "" {
		t.Error("a small answer is sent with its length")
	}
	m := expectJSON(t, resp, http.StatusOK)
	if recs, _ := m["records"].([]any); len(recs) != 2 {
		t.Errorf("limit=2 gave %d records: %v", len(recs), m)
	}
	got := e.pds.calls("/xrpc/com.atproto.repo.listRecords")
	if len(got) == 0 {
		t.Fatal("no call reached the PDS")
	}

	q = url.Values{"repo": {e.alice.did.String()}, "collection": {"app.bsky.feed.post"}, "rkey": {"a2"}}
	m = expectJSON(t, e.browser(req{path: "/xrpc/com.atproto.repo.getRecord?" + q.Encode(), as: e.alice}), http.StatusOK)
	if v, _ := m["value"].(map[string]any); v["text"] != "post a2" {
		t.Errorf("getRecord: %v", m)
	}
	expectError(t, e.browser(req{path: "/xrpc/com.atproto.repo.getRecord?a=%zz", as: e.alice}), http.StatusBadRequest, "invalid_query")
	long := strings.Repeat("x", maxQueryBytes)
	expectError(t, e.browser(req{path: "/xrpc/com.atproto.repo.getRecord?a=" + long, as: e.alice}), http.StatusRequestURITooLong, "query_too_long")
	expectError(t, e.browser(req{method: http.MethodPut, path: "/xrpc/com.atproto.repo.getRecord", as: e.alice}), http.StatusMethodNotAllowed, "method_not_allowed")
}

func TestCreateRecordAndCSRF(t *testing.T) {
	e := newEnv(t, envOptions{})
	body := func(rkey string) io.Reader {
		return jsonBody(postRecord(e.alice.did, "app.bsky.feed.post", rkey, "hello from the gateway"))
	}
	post := func(rkey string, hdr http.Header, csrf string) *http.Response {
		return e.browser(req{method: http.MethodPost, path: "/xrpc/com.atproto.repo.createRecord", as: e.alice,
			body: body(rkey), contentType: "application/json", csrf: csrf, header: hdr})
	}
	expectError(t, post("nocsrf", nil, ""), http.StatusForbidden, "csrf_failed")
	expectError(t, post("wrong", nil, "csrf-alice.test-tokeN"), http.StatusForbidden, "csrf_failed")
	expectError(t, post("bobs", nil, e.bob.csrf), http.StatusForbidden, "csrf_failed")
	expectError(t, post("two", http.Header{HeaderCSRF: {e.alice.csrf, e.alice.csrf}}, ""), http.StatusForbidden, "csrf_failed")
	for _, rkey := range []string{"nocsrf", "wrong", "bobs", "two"} {
		if _, ok := e.net.Record(e.alice.did, "app.bsky.feed.post", rkey); ok {
			t.Errorf("record %s was written without the right CSRF token", rkey)
		}
	}
	m := expectJSON(t, post("good", nil, e.alice.csrf), http.StatusOK)
	if uri, _ := m["uri"].(string); !strings.HasSuffix(uri, "/app.bsky.feed.post/good") {
		t.Errorf("createRecord answered %v", m)
	}
	rec, ok := e.net.Record(e.alice.did, "app.bsky.feed.post", "good")
	if !ok || !strings.Contains(string(rec), "hello from the gateway") {
		t.Fatalf("the record is not on the PDS: %s", rec)
	}
}

func TestCrossOriginRefused(t *testing.T) {
	e := newEnv(t, envOptions{gw: Options{TrustedOrigins: []string{"https://app.example.com"}}})
	create := func(rkey string, hdr http.Header, crossSite, noMeta bool) *http.Response {
		return e.browser(req{method: http.MethodPost, path: "/xrpc/com.atproto.repo.createRecord", as: e.alice, csrf: e.alice.csrf,
			body: jsonBody(postRecord(e.alice.did, "app.bsky.feed.post", rkey, "x")), contentType: "application/json",
			header: hdr, crossSite: crossSite, noFetchMeta: noMeta})
	}
	expectError(t, create("cs", nil, true, false), http.StatusForbidden, "cross_origin")
	expectError(t, create("origin", http.Header{"Origin": {evilOrigin}}, false, true), http.StatusForbidden, "cross_origin")
	expectError(t, create("samesite", http.Header{"Sec-Fetch-Site": {"same-site"}}, false, true), http.StatusForbidden, "cross_origin")
	expectError(t, create("none", nil, false, true), http.StatusForbidden, "cross_origin")
	for _, rkey := range []string{"cs", "origin", "samesite", "none"} {
		if _, ok := e.net.Record(e.alice.did, "app.bsky.feed.post", rkey); ok {
			t.Errorf("cross-origin record %s was written", rkey)
		}
	}
	// Queries too: another site cannot even make the call.
	expectError(t, e.browser(req{path: "/xrpc/com.atproto.server.getSession", as: e.alice, crossSite: true}), http.StatusForbidden, "cross_origin")
	expectError(t, e.browser(req{path: "/xrpc/com.atproto.server.getSession", as: e.alice, noFetchMeta: true,
		header: http.Header{"Origin": {evilOrigin}}}), http.StatusForbidden, "cross_origin")
	// An old browser's same-origin GET carries neither header.
	expectJSON(t, e.browser(req{path: "/xrpc/com.atproto.server.getSession", as: e.alice, noFetchMeta: true}), http.StatusOK)
	// Same origin by Origin alone, and a trusted origin (the public URL behind a proxy).
	expectJSON(t, create("sameorigin", http.Header{"Origin": {e.srv.URL}}, false, true), http.StatusOK)
	expectJSON(t, create("trusted", http.Header{"Origin": {"https://app.example.com"}}, false, true), http.StatusOK)
}

func TestInvalidNSIDAndProxy(t *testing.T) {
	e := newEnv(t, envOptions{})
	for _, p := range []string{"/xrpc/", "/xrpc/notannsid", "/xrpc/com.atproto..x", "/xrpc/com.atproto.repo.getRecord/extra", "/xrpc/1com.example.x", "/xrpc/com.example.x%00"} {
		resp := e.browser(req{path: p, as: e.alice})
		b := readAll(t, resp)
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(b), "invalid_nsid") {
			t.Errorf("%s: %d %s", p, resp.StatusCode, b)
		}
	}
	for _, v := range [][]string{{"nonsense"}, {"did:web:api.bsky.app"}, {"did:web:api.bsky.app#"}, {"notadid#svc"},
		{"did:web:api.bsky.app#bsky_appview", "did:web:api.bsky.app#bsky_appview"}} {
		resp := e.browser(req{path: "/xrpc/app.bsky.actor.getProfile?actor=" + e.alice.did.String(), as: e.alice,
			header: http.Header{"Atproto-Proxy": v}})
		expectError(t, resp, http.StatusBadRequest, "invalid_proxy")
	}
	if n := len(e.pds.calls("/xrpc/app.bsky.actor.getProfile")); n != 0 {
		t.Errorf("%d refused calls reached the PDS", n)
	}
	// A valid one is honoured.
	resp := e.browser(req{path: "/xrpc/app.bsky.actor.getProfile?actor=" + e.alice.did.String(), as: e.alice,
		header: http.Header{"Atproto-Proxy": {"did:web:api.bsky.app#bsky_appview"}}})
	m := expectJSON(t, resp, http.StatusOK)
	if m["did"] != e.alice.did.String() {
		t.Errorf("getProfile: %v", m)
	}
	calls := e.pds.calls("/xrpc/app.bsky.actor.getProfile")
	if len(calls) == 0 || calls[len(calls)-1].header.Get("Atproto-Proxy") != "did:web:api.bsky.app#bsky_appview" {
		t.Errorf("the proxy header was not sent: %v", calls)
	}
}

func TestDefaultRoutingSharesProxyMemory(t *testing.T) {
	e := newEnv(t, envOptions{net: atoauthtest.Options{NoDefaultService: true}})
	path := "/xrpc/app.bsky.actor.getProfile?actor=" + e.alice.did.String()
	expectJSON(t, e.browser(req{path: path, as: e.alice}), http.StatusOK)
	first := e.pds.calls("/xrpc/app.bsky.actor.getProfile")
	if len(first) < 2 || first[0].header.Get("Atproto-Proxy") != "" || first[len(first)-1].header.Get("Atproto-Proxy") != "did:web:api.bsky.app#bsky_appview" {
		t.Fatalf("first call: without the header, then with it; got %d calls", len(first))
	}
	// Bob's session learns from Alice's: the PDS has no default AppView,
	// so his calls name the AppView from the start.
	expectJSON(t, e.browser(req{path: path, as: e.bob}), http.StatusOK)
	later := e.pds.calls("/xrpc/app.bsky.actor.getProfile")[len(first):]
	if len(later) == 0 {
		t.Fatal("bob's call did not reach the PDS")
	}
	for _, c := range later {
		if c.header.Get("Atproto-Proxy") != "did:web:api.bsky.app#bsky_appview" {
			t.Errorf("bob's call went without the AppView header: %v", c.header)
		}
	}
}

func TestHeadersNotForwardedToPDS(t *testing.T) {
	e := newEnv(t, envOptions{})
	hdr := http.Header{
		"Authorization":           {"Bearer stolen-looking-token"},
		"Dpop":                    {"forged-proof"},
		"X-Custom":                {"nope"},
		"Accept-Language":         {"fr-CA, en;q=0.5"},
		"Atproto-Accept-Labelers": {"did:plc:labeler"},
		"Accept":                  {"application/json"},
		"X-Atproto-Did":           {"did:plc:someoneelse"},
	}
	hdr.Add("Cookie", "theme=dark")
	expectJSON(t, e.browser(req{path: "/xrpc/com.atproto.server.getSession", as: e.alice, header: hdr}), http.StatusOK)
	expectJSON(t, e.browser(req{method: http.MethodPost, path: "/xrpc/com.atproto.repo.createRecord", as: e.alice, csrf: e.alice.csrf,
		body: jsonBody(postRecord(e.alice.did, "app.bsky.feed.post", "h", "x")), contentType: "application/json", header: hdr}), http.StatusOK)
	calls := append(e.pds.calls("/xrpc/com.atproto.server.getSession"), e.pds.calls("/xrpc/com.atproto.repo.createRecord")...)
	if len(calls) < 2 {
		t.Fatalf("%d calls", len(calls))
	}
	for _, c := range calls {
		if c.header.Get("Cookie") != "" || c.header.Get("X-Custom") != "" || c.header.Get(HeaderCSRF) != "" || c.header.Get("X-Atproto-Did") != "" {
			t.Errorf("%s carried a browser header: %v", c.path, c.header)
		}
		if a := c.header.Get("Authorization"); !strings.HasPrefix(a, "DPoP ") {
			t.Errorf("%s: Authorization %q", c.path, a)
		}
		if d := c.header.Get("Dpop"); d == "forged-proof" {
			t.Errorf("%s: the browser's DPoP header was sent", c.path)
		}
		if c.header.Get("Accept-Language") != "fr-CA, en;q=0.5" || c.header.Get("Atproto-Accept-Labelers") != "did:plc:labeler" {
			t.Errorf("%s: allow-listed headers not forwarded: %v", c.path, c.header)
		}
	}
}

func TestBodyCaps(t *testing.T) {
	e := newEnv(t, envOptions{gw: Options{MaxJSONBytes: 2048, MaxBlobBytes: 100 << 10}})
	big := postRecord(e.alice.did, "app.bsky.feed.post", "big", strings.Repeat("x", 4096))
	post := func(path string, body io.Reader, ct string) *http.Response {
		return e.browser(req{method: http.MethodPost, path: path, as: e.alice, csrf: e.alice.csrf, body: body, contentType: ct})
	}
	// Declared length over the cap.
	expectError(t, post("/xrpc/com.atproto.repo.createRecord", jsonBody(big), "application/json"), http.StatusRequestEntityTooLarge, "body_too_large")
	// Unknown length (chunked) over the cap.
	expectError(t, post("/xrpc/com.atproto.repo.createRecord", io.MultiReader(jsonBody(big)), "application/json"), http.StatusRequestEntityTooLarge, "body_too_large")
	if _, ok := e.net.Record(e.alice.did, "app.bsky.feed.post", "big"); ok {
		t.Error("an oversize record was written")
	}
	blob := make([]byte, 150<<10)
	expectError(t, post("/xrpc/com.atproto.repo.uploadBlob", bytes.NewReader(blob), "image/png"), http.StatusRequestEntityTooLarge, "body_too_large")
	expectError(t, post("/xrpc/com.atproto.repo.uploadBlob", io.MultiReader(bytes.NewReader(blob)), "image/png"), http.StatusRequestEntityTooLarge, "body_too_large")
	if n := len(e.pds.calls("/xrpc/com.atproto.repo.uploadBlob")); n != 0 {
		t.Errorf("%d oversize uploads reached the PDS", n)
	}
	// Bodies need a proper, uncompressed type.
	expectError(t, post("/xrpc/com.atproto.repo.uploadBlob", strings.NewReader("data"), ""), http.StatusUnsupportedMediaType, "content_type_required")
	expectError(t, post("/xrpc/com.atproto.repo.uploadBlob", strings.NewReader("data"), "*/*"), http.StatusUnsupportedMediaType, "invalid_content_type")
	resp := e.browser(req{method: http.MethodPost, path: "/xrpc/com.atproto.repo.uploadBlob", as: e.alice, csrf: e.alice.csrf,
		body: strings.NewReader("data"), contentType: "text/plain", header: http.Header{"Content-Encoding": {"gzip"}}})
	expectError(t, resp, http.StatusUnsupportedMediaType, "unsupported_encoding")
}

func TestUploadBlobStreamsAndGetBlob(t *testing.T) {
	e := newEnv(t, envOptions{})
	img := make([]byte, 300<<10)
	copy(img, "\x89PNG\r\n\x1a\n")
	_, _ = rand.Read(img[8:])
	// An unknown length: streamed (chunked) from the browser.
	resp := e.browser(req{method: http.MethodPost, path: "/xrpc/com.atproto.repo.uploadBlob", as: e.alice, csrf: e.alice.csrf,
		body: io.MultiReader(bytes.NewReader(img)), contentType: "image/png"})
	m := expectJSON(t, resp, http.StatusOK)
	blob, _ := m["blob"].(map[string]any)
	ref, _ := blob["ref"].(map[string]any)
	cid, _ := ref["$link"].(string)
	data, mt, ok := e.net.Blob(e.alice.did, cid)
	if !ok || mt != "image/png" || !bytes.Equal(data, img) {
		t.Fatalf("the blob on the PDS: ok=%v type=%q %d bytes", ok, mt, len(data))
	}
	// Back through the gateway: streamed, typed, and never run as a page.
	q := url.Values{"did": {e.alice.did.String()}, "cid": {cid}}
	resp = e.browser(req{path: "/xrpc/com.atproto.sync.getBlob?" + q.Encode(), as: e.alice})
	got := readAll(t, resp)
	if resp.StatusCode != http.StatusOK || !bytes.Equal(got, img) {
		t.Fatalf("getBlob: %d, %d bytes", resp.StatusCode, len(got))
	}
	if resp.Header.Get("Content-Type") != "image/png" || resp.Header.Get("Content-Length") != "307200" {
		t.Errorf("getBlob headers: %v", resp.Header)
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "sandbox") || resp.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("getBlob is not sandboxed: %v", resp.Header)
	}
}

func TestScopeMissing(t *testing.T) {
	e := newEnv(t, envOptions{scope: "atproto repo:app.bsky.feed.post?action=create repo:app.bsky.actor.profile?action=create&action=update blob:image/*",
		grant: "atproto repo:app.bsky.feed.post?action=create"})
	resp := e.browser(req{method: http.MethodPost, path: "/xrpc/com.atproto.repo.putRecord", as: e.alice, csrf: e.alice.csrf,
		body: jsonBody(map[string]any{"repo": e.alice.did.String(), "collection": "app.bsky.actor.profile", "rkey": "self",
			"record": map[string]any{"$type": "app.bsky.actor.profile", "displayName": "A"}}), contentType: "application/json"})
	m := expectError(t, resp, http.StatusForbidden, "ScopeMissingError")
	if m["permission"] != "repo:app.bsky.actor.profile?action=create" || m["request"] != "repo:app.bsky.actor.profile?action=create&action=update" {
		t.Errorf("ScopeMissingError: %v", m)
	}
	resp = e.browser(req{method: http.MethodPost, path: "/xrpc/com.atproto.repo.uploadBlob", as: e.alice, csrf: e.alice.csrf,
		body: strings.NewReader("\x89PNG\r\n\x1a\nxxxx"), contentType: "image/png"})
	m = expectError(t, resp, http.StatusForbidden, "ScopeMissingError")
	if m["request"] != "blob:image/png" {
		t.Errorf("uploadBlob: %v", m)
	}
	if n := len(e.pds.calls("/xrpc/com.atproto.repo.putRecord")) + len(e.pds.calls("/xrpc/com.atproto.repo.uploadBlob")); n != 0 {
		t.Errorf("%d calls reached the PDS despite the pre-check", n)
	}
	// What is granted works.
	expectJSON(t, e.browser(req{method: http.MethodPost, path: "/xrpc/com.atproto.repo.createRecord", as: e.alice, csrf: e.alice.csrf,
		body: jsonBody(postRecord(e.alice.did, "app.bsky.feed.post", "ok", "x")), contentType: "application/json"}), http.StatusOK)
}

func TestServerErrorsPassThrough(t *testing.T) {
	e := newEnv(t, envOptions{})
	q := url.Values{"repo": {e.alice.did.String()}, "collection": {"app.bsky.feed.post"}, "rkey": {"missing"}}
	path := "/xrpc/com.atproto.repo.getRecord?" + q.Encode()
	m := expectError(t, e.browser(req{path: path, as: e.alice}), http.StatusBadRequest, "RecordNotFound")
	if m["message"] == "" {
		t.Errorf("no message: %v", m)
	}
	// A hostile server's text comes back cleaned and short.
	e.net.SetTamper(atoauthtest.Tamper{Hostile: &atoauthtest.Hostile{
		Strings: func(s string) string { return atoauthtest.ControlChars(s) + strings.Repeat("long ", 200) },
		Only:    func(nsid string) bool { return nsid == "com.atproto.repo.getRecord" },
	}})
	resp := e.browser(req{path: path, as: e.alice})
	b := readAll(t, resp)
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("status %d: %s", resp.StatusCode, b)
	}
	var em errorJSON
	if err := json.Unmarshal(b, &em); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{em.Error, em.Message} {
		if strings.ContainsAny(s, "\x1b\x07\u009b\u202e") || len(s) > maxServerText+8 {
			t.Errorf("server text not cleaned: %q", s)
		}
	}
	// Rate limits come back with their Retry-After.
	e.net.SetTamper(atoauthtest.Tamper{RateLimit: func(nsid string) *atoauthtest.RateLimitAnswer {
		return &atoauthtest.RateLimitAnswer{RetryAfter: 7 * time.Second}
	}})
	resp = e.browser(req{path: path, as: e.alice})
	if ra := resp.Header.Get("Retry-After"); ra != "7" {
		t.Errorf("Retry-After %q", ra)
	}
	expectError(t, resp, http.StatusTooManyRequests, "RateLimitExceeded")
}
