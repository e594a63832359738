package gateway

import (
	"encoding/base64"
	"net/http"
	"strings"
	"testing"

	"github.com/bluesky-social/indigo/atproto/syntax"
)

func FuzzNSIDPath(f *testing.F) {
	for _, s := range []string{"/xrpc/com.atproto.repo.createRecord", "/xrpc/", "/xrpc/a.b.c/d", "/xrpc/app.bsky.feed.getTimeline",
		"/xrpc/com.example.fooBar", "/xrpc/com..x", "/xrpc/" + strings.Repeat("a.", 200) + "b", "/api/session", "/xrpc/a.b.c%2F"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, path string) {
		nsid, ok := nsidFromPath(path)
		if !ok {
			return
		}
		if "/xrpc/"+nsid != path || nsid == "" || strings.ContainsAny(nsid, "/?#%") || len(nsid) > maxNSIDLength {
			t.Fatalf("accepted %q as %q", path, nsid)
		}
		if _, err := syntax.ParseNSID(nsid); err != nil {
			t.Fatalf("accepted an invalid NSID %q", nsid)
		}
	})
}

func FuzzForwardHeaders(f *testing.F) {
	f.Add("Accept", "application/json", "Cookie", "a=b")
	f.Add("accept-language", "fr\r\nX: y", "Authorization", "Bearer x")
	f.Add("Atproto-Accept-Labelers", "did:plc:x", "atproto-accept-labelers", strings.Repeat("x", 5000))
	f.Fuzz(func(t *testing.T, k1, v1, k2, v2 string) {
		h := http.Header{}
		h.Add(k1, v1)
		h.Add(k2, v2)
		h[k1] = append(h[k1], v2) // non-canonical keys too
		for _, kv := range forwardHeaders(h) {
			allowed := false
			for _, name := range forwardedHeaders {
				allowed = allowed || kv[0] == name
			}
			if !allowed {
				t.Fatalf("forwarded %q", kv[0])
			}
			if kv[1] == "" || len(kv[1]) > maxForwardedValue || !validHeaderValue(kv[1]) || strings.ContainsAny(kv[1], "\r\n\x00") {
				t.Fatalf("forwarded the value %q", kv[1])
			}
		}
	})
}

func FuzzActToken(f *testing.F) {
	f.Add(strings.Repeat("A", 43))
	f.Add(strings.Repeat("A", 42) + "B")
	f.Add(base64.RawURLEncoding.EncodeToString(make([]byte, 32)) + "=")
	f.Add("Bearer x")
	f.Fuzz(func(t *testing.T, s string) {
		tok, ok := parseActToken(s)
		if !ok {
			return
		}
		b, err := base64.RawURLEncoding.DecodeString(tok)
		if tok != s || err != nil || len(b) != actTokenBytes || base64.RawURLEncoding.EncodeToString(b) != s {
			t.Fatalf("accepted a non-canonical token %q", s)
		}
	})
}

func FuzzBearer(f *testing.F) {
	for _, s := range []string{"Bearer abc", "bearer  abc", "Bearer", "Bearer a b", "Basic abc", "Bearer \tabc", "Bearer abc\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		tok, ok := parseBearer(h)
		if !ok {
			return
		}
		if tok == "" || strings.ContainsAny(tok, " \t\r\n") || !validHeaderValue(tok) || !strings.EqualFold(h[:7], "Bearer ") || !strings.HasSuffix(h, tok) {
			t.Fatalf("parseBearer(%q) = %q", h, tok)
		}
	})
}

func FuzzPrivateCookies(f *testing.F) {
	for _, s := range []string{"atoauth_session=x; theme=dark", " __Host-atoauth_session = x ;a=b", "ATOAUTH_STATE=1", "a=b;;c", "x=\"atoauth_session=y\"",
		"\u00a0atoauth_session=x", "atoauth_session", "a=1; atoauth_session=2; b=3"} {
		f.Add(s, "Set-Cookie-Name=1; Path=/")
	}
	m := newCookieMatcher(append([]string{"app_sid"}, DefaultPrivateCookies()...))
	f.Fuzz(func(t *testing.T, cookie, setCookie string) {
		out := m.filterCookieHeader([]string{cookie, setCookie})
		// However the upstream (or Go) reads what is left, no private
		// cookie is in it.
		r := &http.Request{Header: http.Header{"Cookie": {out}}}
		for _, c := range r.Cookies() {
			if m.private(c.Name) {
				t.Fatalf("%q left the private cookie %q in %q", cookie, c.Name, out)
			}
		}
		for _, part := range strings.Split(out, ";") {
			name, _, _ := strings.Cut(part, "=")
			if m.private(name) {
				t.Fatalf("%q left %q", cookie, part)
			}
		}
		h := http.Header{"Set-Cookie": {setCookie, cookie}}
		m.filterSetCookie(h)
		for _, line := range h.Values("Set-Cookie") {
			if c, err := http.ParseSetCookie(line); err == nil && m.private(c.Name) {
				t.Fatalf("Set-Cookie %q kept", line)
			}
		}
	})
}

func FuzzStripIdentity(f *testing.F) {
	f.Add("X-Atproto-Did", "x-atproto-act", "X-ATPROTO-HANDLE")
	f.Add("X-Atproto", "X-Atprotocol-Did", "Accept")
	f.Fuzz(func(t *testing.T, a, b, c string) {
		h := http.Header{a: {"1"}, b: {"2"}}
		h.Add(c, "3")
		stripIdentity(h)
		for k := range h {
			if strings.HasPrefix(strings.ToLower(k), identityPrefix) {
				t.Fatalf("%q survived", k)
			}
		}
		for _, k := range []string{a, b} {
			if !strings.HasPrefix(strings.ToLower(k), identityPrefix) && h[k] == nil {
				t.Fatalf("%q was removed", k)
			}
		}
	})
}

func FuzzOriginalMethod(f *testing.F) {
	for _, s := range []string{"GET", "post", "", "G ET", "GET\r\n", strings.Repeat("A", 40)} {
		f.Add(s)
	}
	g := &Gateway{trustProxy: true}
	f.Fuzz(func(t *testing.T, m string) {
		r := &http.Request{Method: "GET", Header: http.Header{"X-Forwarded-Method": {m}}}
		got := g.originalMethod(r)
		if got != "GET" && (!isToken(got) || got != strings.ToUpper(strings.TrimSpace(m))) {
			t.Fatalf("originalMethod(%q) = %q", m, got)
		}
	})
}
