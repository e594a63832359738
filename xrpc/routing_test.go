package xrpc_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/atoauth/atoauth"
	"github.com/atoauth/atoauth/atoauthtest"
	"github.com/atoauth/atoauth/scope"
	"github.com/atoauth/atoauth/xrpc"
)

// xrpcCalls counts the PDS's authenticated requests so far.
func (e *env) xrpcCalls() int { return e.Net.Counters().PDSAuthenticated }

func (e *env) getProfile(c *xrpc.Client, opts ...xrpc.CallOption) error {
	var out struct {
		DID string `json:"did"`
	}
	err := c.Query(context.Background(), "app.bsky.actor.getProfile", xrpc.Params{"actor": "alice.test"}, &out, opts...)
	if err == nil && out.DID != e.Account.String() {
		e.t.Fatalf("getProfile answered %q", out.DID)
	}
	return err
}

// Like the TypeScript client, app.bsky.* calls name no service, so a PDS
// whose AppView is not Bluesky's answers them through its own.
func TestAppViewOfAnotherNetwork(t *testing.T) {
	e := newEnvWith(t, atoauthtest.Options{AppViewDID: "did:web:appview.test"}, genericScope)
	c := e.xrpc(xrpc.Options{})
	before := e.xrpcCalls()
	if err := e.getProfile(c); err != nil {
		t.Fatalf("default routing: %v", err)
	}
	if got := e.Net.Counters(); got.ProxiedByDefault != 1 || e.xrpcCalls()-before != 1 {
		t.Fatalf("one call through the PDS's default AppView, got %+v", got)
	}
	// The network's AppView named explicitly works too.
	named := e.xrpc(xrpc.Options{Services: map[string]string{"app.bsky.": "did:web:appview.test#bsky_appview"}})
	if err := e.getProfile(named); err != nil {
		t.Fatalf("named AppView: %v", err)
	}
	// Naming Bluesky's AppView on this network fails, with a hint that fits.
	err := e.getProfile(c, xrpc.WithProxy(scope.BskyAppView))
	if !errors.Is(err, xrpc.ErrNoService) || !strings.Contains(err.Error(), "name none and let the PDS use its default") {
		t.Fatalf("Bluesky's AppView named on another network: %v", err)
	}
}

// A PDS without a default service answers "No service configured": the
// call is sent once more with Bluesky's AppView, and the PDS is
// remembered so that later calls name it from the start.
func TestFallbackToBlueskyAppView(t *testing.T) {
	e := newEnvWith(t, atoauthtest.Options{NoDefaultService: true}, genericScope)
	mem := &xrpc.ProxyMemory{}
	c := e.xrpc(xrpc.Options{ProxyMemory: mem})
	before := e.xrpcCalls()
	if err := e.getProfile(c); err != nil {
		t.Fatalf("first call: %v", err)
	}
	if n := e.xrpcCalls() - before; n != 2 {
		t.Fatalf("first call: %d requests, want 2 (without, then with the header)", n)
	}
	// Remembered, by this client and by another sharing the memory.
	for _, cl := range []*xrpc.Client{c, e.xrpc(xrpc.Options{ProxyMemory: mem})} {
		before = e.xrpcCalls()
		if err := e.getProfile(cl); err != nil {
			t.Fatal(err)
		}
		if n := e.xrpcCalls() - before; n != 1 {
			t.Fatalf("later call: %d requests, want 1", n)
		}
	}
	// A client with its own memory pays the extra round trip once.
	if got := e.Net.Counters(); got.ProxiedByDefault != 0 || got.Proxied != 3 {
		t.Fatalf("counters %+v", got)
	}
}

// When Bluesky's AppView does not work either, the error names both tries.
func TestFallbackFailsNamesBothTries(t *testing.T) {
	e := newEnvWith(t, atoauthtest.Options{NoDefaultService: true, AppViewDID: "did:web:appview.test"}, genericScope)
	c := e.xrpc(xrpc.Options{})
	err := e.getProfile(c)
	var xe *xrpc.Error
	if !errors.Is(err, xrpc.ErrNoService) || !errors.As(err, &xe) || xe.Service != scope.BskyAppView {
		t.Fatalf("err = %v", err)
	}
	for _, want := range []string{"the PDS has no default AppView", "No service configured for app.bsky.actor.getProfile", "through " + scope.BskyAppView, "could not resolve proxy did"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not say %q: %v", want, err)
		}
	}
	// Not remembered: the next call tries the default again.
	before := e.xrpcCalls()
	_ = e.getProfile(c)
	if n := e.xrpcCalls() - before; n != 2 {
		t.Fatalf("%d requests, want 2", n)
	}
}

// An explicit route always wins: no fallback.
func TestExplicitRouteNeverFallsBack(t *testing.T) {
	e := newEnvWith(t, atoauthtest.Options{NoDefaultService: true}, genericScope)
	for name, c := range map[string]*xrpc.Client{
		"Services":        e.xrpc(xrpc.Options{Services: map[string]string{"app.bsky.actor.getProfile": ""}}),
		"WithProxy(\"\")": e.xrpc(xrpc.Options{}),
	} {
		before := e.xrpcCalls()
		var opts []xrpc.CallOption
		if name != "Services" {
			opts = append(opts, xrpc.WithProxy(""))
		}
		err := e.getProfile(c, opts...)
		if !errors.Is(err, xrpc.ErrNoService) || !strings.Contains(err.Error(), "No service configured") {
			t.Fatalf("%s: %v", name, err)
		}
		if n := e.xrpcCalls() - before; n != 1 {
			t.Fatalf("%s: %d requests, want 1", name, n)
		}
	}
}

// A procedure's body is sent again on the fallback when it is in memory,
// never when it is a stream (which cannot be replayed).
func TestFallbackReplaysBodiesInMemoryOnly(t *testing.T) {
	e := newEnvWith(t, atoauthtest.Options{NoDefaultService: true}, genericScope)
	c := e.xrpc(xrpc.Options{})
	ctx := context.Background()
	// The fake AppView implements no procedure: the retry reaches it and
	// gets 501, which proves that it was sent.
	before := e.xrpcCalls()
	err := c.Procedure(ctx, "app.bsky.notification.updateSeen", nil, map[string]any{"seenAt": "2026-01-01T00:00:00Z"}, nil)
	if !strings.Contains(err.Error(), "the PDS has no default AppView") || !strings.Contains(err.Error(), "MethodNotImplemented") {
		t.Fatalf("in-memory body: %v", err)
	}
	if n := e.xrpcCalls() - before; n != 2 {
		t.Fatalf("in-memory body: %d requests, want 2", n)
	}
	before = e.xrpcCalls()
	stream := io.MultiReader(bytes.NewReader([]byte(`{"seenAt":"2026-01-01T00:00:00Z"}`)))
	err = c.Procedure(ctx, "app.bsky.notification.updateSeen", nil, stream, nil, xrpc.WithEncoding("application/json"))
	if !errors.Is(err, xrpc.ErrNoService) || strings.Contains(err.Error(), "through") {
		t.Fatalf("streamed body: %v", err)
	}
	if n := e.xrpcCalls() - before; n != 1 {
		t.Fatalf("streamed body: %d requests, want 1", n)
	}
}

// What the pre-check can say when the PDS picks the AppView: it refuses a
// method no permission covers at any audience, lets a permission for one
// AppView through (the PDS decides), and checks the fallback exactly.
func TestPreCheckWithTheDefaultAppView(t *testing.T) {
	const declared = "atproto repo:app.bsky.feed.post rpc:app.bsky.actor.getProfile?aud=did:web:appview.test%23bsky_appview"
	e := newEnvWith(t, atoauthtest.Options{AppViewDID: "did:web:appview.test"}, declared)
	c := e.xrpc(xrpc.Options{})
	if err := e.getProfile(c); err != nil {
		t.Fatalf("permission for the PDS's AppView: %v", err)
	}
	before := e.xrpcCalls()
	err := c.Query(context.Background(), "app.bsky.feed.getTimeline", nil, nil)
	var sme *xrpc.ScopeMissingError
	if !errors.As(err, &sme) || !sme.ClientSide || sme.Permission != "rpc:app.bsky.feed.getTimeline?aud=*" || !errors.Is(err, atoauth.ErrScopeMissing) {
		t.Fatalf("no permission at all: %v", err)
	}
	if e.xrpcCalls() != before {
		t.Fatal("a call that cannot be allowed was sent")
	}

	// On a PDS without a default, the fallback to Bluesky's AppView needs
	// the permission for that AppView.
	e2 := newEnvWith(t, atoauthtest.Options{NoDefaultService: true, AppViewDID: "did:web:appview.test"}, declared)
	err = e2.getProfile(e2.xrpc(xrpc.Options{}))
	if !errors.As(err, &sme) || sme.Permission != "rpc:app.bsky.actor.getProfile?aud=did:web:api.bsky.app%23bsky_appview" ||
		!strings.Contains(err.Error(), "the PDS has no default AppView") {
		t.Fatalf("fallback without its permission: %v", err)
	}
}
