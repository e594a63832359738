package atoauthtest_test

import (
	"bytes"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/atoauth/atoauth/atoauthtest"
)

func TestHostile(t *testing.T) {
	n := newNet(t)
	alice := n.CreateAccount("alice.test")
	c := newLoopbackClient(t, n, genericScope)
	tok := c.login(genericScope, alice)
	actor := url.Values{"actor": {"alice.test"}}
	get := func() resp {
		return proxied(c, http.MethodGet, "app.bsky.actor.getProfile", actor, nil, tok.access, "")
	}
	set := func(h *atoauthtest.Hostile) { n.UpdateTamper(func(tp *atoauthtest.Tamper) { tp.Hostile = h }) }

	set(&atoauthtest.Hostile{Strings: atoauthtest.ControlChars})
	if r := get(); r.status != 200 || !bytes.Contains(r.raw, []byte(`alice.test\u001b]52;c;`)) || !bytes.Contains(r.raw, []byte("\u202e")) || !bytes.Contains(r.raw, []byte{0xff}) {
		t.Fatalf("Strings: %d %q", r.status, r.raw)
	}
	set(&atoauthtest.Hostile{DuplicateKeys: true, Strings: func(s string) string { return "evil" }})
	if r := get(); !bytes.Contains(r.raw, []byte(`"handle":"alice.test","handle":"evil"`)) {
		t.Fatalf("DuplicateKeys: %s", r.raw)
	}
	set(&atoauthtest.Hostile{Nest: 5000, Pad: 1 << 20})
	if r := get(); len(r.raw) < 1<<20 || !bytes.Contains(r.raw, []byte(strings.Repeat("[", 5000))) || !bytes.HasPrefix(r.raw, []byte(`{"_padding":"aaa`)) {
		t.Fatalf("Nest and Pad: %d bytes", len(r.raw))
	}
	set(&atoauthtest.Hostile{HTML: true})
	if r := get(); r.status != 200 || !strings.HasPrefix(r.header.Get("Content-Type"), "text/html") || !bytes.HasPrefix(r.raw, []byte("<!doctype html>")) {
		t.Fatalf("HTML: %d %s %q", r.status, r.header.Get("Content-Type"), r.raw)
	}
	set(&atoauthtest.Hostile{ContentType: "text/plain"})
	if r := get(); r.status != 200 || r.header.Get("Content-Type") != "text/plain" {
		t.Fatalf("ContentType: %d %s", r.status, r.header.Get("Content-Type"))
	}
	set(&atoauthtest.Hostile{Redirect: func(*http.Request) string { return "https://elsewhere.example.com/x" }})
	if r := get(); r.status != http.StatusFound || r.header.Get("Location") != "https://elsewhere.example.com/x" {
		t.Fatalf("Redirect: %d %s", r.status, r.header.Get("Location"))
	}
	set(&atoauthtest.Hostile{Only: func(nsid string) bool { return nsid == "app.bsky.feed.getTimeline" }, HTML: true})
	if r := get(); r.status != 200 || r.str("handle") != "alice.test" {
		t.Fatalf("Only: %d %s", r.status, r.raw)
	}
	set(&atoauthtest.Hostile{Trickle: 2 * time.Millisecond})
	start := time.Now()
	r := get()
	if took := time.Since(start); r.status != 200 || took < time.Duration(len(r.raw))*2*time.Millisecond {
		t.Fatalf("Trickle: %d bytes in %s", len(r.raw), took)
	}
	// Errors too.
	set(&atoauthtest.Hostile{Strings: atoauthtest.ControlChars})
	if r := proxied(c, http.MethodGet, "app.bsky.actor.getProfile", url.Values{"actor": {"nobody.test"}}, nil, tok.access, ""); r.status != 400 || !strings.Contains(r.str("message"), "\x1b]52") {
		t.Fatalf("error message: %d %q", r.status, r.raw)
	}
}
