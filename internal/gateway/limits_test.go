package gateway

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/atoauth/atoauth/atoauthtest"
)

func TestResponseCaps(t *testing.T) {
	e := newEnv(t, envOptions{gw: Options{MaxResponseBytes: 100 << 10}})
	// A blob larger than the cap, declared by Content-Length: refused
	// before anything is sent.
	img := make([]byte, 150<<10)
	copy(img, "\x89PNG\r\n\x1a\n")
	m := expectJSON(t, e.browser(req{method: http.MethodPost, path: "/xrpc/com.atproto.repo.uploadBlob", as: e.alice, csrf: e.alice.csrf,
		body: bytes.NewReader(img), contentType: "image/png"}), http.StatusOK)
	cid := m["blob"].(map[string]any)["ref"].(map[string]any)["$link"].(string)
	q := url.Values{"did": {e.alice.did.String()}, "cid": {cid}}
	expectError(t, e.browser(req{path: "/xrpc/com.atproto.sync.getBlob?" + q.Encode(), as: e.alice}), http.StatusBadGateway, "response_too_large")

	// A JSON answer larger than the cap, without a length: streamed,
	// then cut — the browser sees a broken body, never a complete one.
	e.net.SetTamper(atoauthtest.Tamper{Hostile: &atoauthtest.Hostile{Pad: 200 << 10,
		Only: func(nsid string) bool { return nsid == "com.atproto.server.getSession" }}})
	resp := e.browser(req{path: "/xrpc/com.atproto.server.getSession", as: e.alice})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err == nil || !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("an oversize answer read completely (%d bytes, err %v)", len(body), err)
	}
	if len(body) > 100<<10 {
		t.Errorf("%d bytes passed the 100 KiB cap", len(body))
	}
	if !strings.Contains(e.logText(), "answer cut") {
		t.Error("the cut is not logged")
	}
}

func TestResponseCapBeforeCommit(t *testing.T) {
	e := newEnv(t, envOptions{gw: Options{MaxResponseBytes: 16 << 10}})
	e.net.SetTamper(atoauthtest.Tamper{Hostile: &atoauthtest.Hostile{Pad: 32 << 10}})
	expectError(t, e.browser(req{path: "/xrpc/com.atproto.server.getSession", as: e.alice}), http.StatusBadGateway, "response_too_large")
}

func TestQueryTimeout(t *testing.T) {
	e := newEnv(t, envOptions{gw: Options{QueryTimeout: 300 * time.Millisecond}})
	e.net.SetTamper(atoauthtest.Tamper{Hostile: &atoauthtest.Hostile{Trickle: 50 * time.Millisecond}})
	start := time.Now()
	expectError(t, e.browser(req{path: "/xrpc/com.atproto.server.getSession", as: e.alice}), http.StatusGatewayTimeout, "upstream_timeout")
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %v", d)
	}
}

func TestConcurrencyPerSession(t *testing.T) {
	e := newEnv(t, envOptions{gw: Options{MaxConcurrentPerSession: 1}})
	pr, pw := io.Pipe()
	done := make(chan *http.Response, 1)
	go func() {
		done <- e.browser(req{method: http.MethodPost, path: "/xrpc/com.atproto.repo.uploadBlob", as: e.alice, csrf: e.alice.csrf,
			body: pr, contentType: "image/png"})
	}()
	if _, err := pw.Write([]byte("\x89PNG\r\n\x1a\n")); err != nil {
		t.Fatal(err)
	}
	// Wait until the gateway holds the session's slot for that call (it
	// reads the body, which never ends until the pipe is closed).
	for deadline := time.Now().Add(10 * time.Second); !holdsSlot(e.gw, e.alice.sess.ID()); {
		if time.Now().After(deadline) {
			t.Fatal("the upload never started")
		}
		time.Sleep(time.Millisecond)
	}
	resp := e.browser(req{path: "/xrpc/com.atproto.server.getSession", as: e.alice})
	if resp.Header.Get("Retry-After") == "" {
		t.Error("no Retry-After")
	}
	expectError(t, resp, http.StatusTooManyRequests, "too_many_requests")
	// Another session is not held back.
	expectJSON(t, e.browser(req{path: "/xrpc/com.atproto.server.getSession", as: e.bob}), http.StatusOK)
	pw.Close()
	expectJSON(t, <-done, http.StatusOK)
	// The slot is free again.
	expectJSON(t, e.browser(req{path: "/xrpc/com.atproto.server.getSession", as: e.alice}), http.StatusOK)
}

func holdsSlot(g *Gateway, key string) bool {
	g.inflight.mu.Lock()
	defer g.inflight.mu.Unlock()
	return g.inflight.counts[key] > 0
}
