package xrpc_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/atoauth/atoauth/atoauthtest"
	"github.com/atoauth/atoauth/xrpc"
)

// A PDS is chosen by whoever owns the account: the client survives one
// that answers like an attacker, with typed errors that carry no raw
// server control characters.
func TestHostilePDS(t *testing.T) {
	e := newEnv(t, genericScope)
	ctx := context.Background()
	set := func(h *atoauthtest.Hostile) { e.Net.UpdateTamper(func(tp *atoauthtest.Tamper) { tp.Hostile = h }) }
	profile := func(c *xrpc.Client) (map[string]any, error) {
		var out map[string]any
		err := c.Query(ctx, "app.bsky.actor.getProfile", xrpc.Params{"actor": "alice.test"}, &out)
		return out, err
	}
	noControls := func(what, s string) {
		t.Helper()
		for _, r := range s {
			if unicode.IsControl(r) && r != '\n' || r == '\u202e' || r == '\ufffd' {
				t.Fatalf("%s holds %U: %q", what, r, s)
			}
		}
	}

	t.Run("huge body", func(t *testing.T) {
		set(&atoauthtest.Hostile{Pad: 3 << 20})
		_, err := profile(e.xrpc(xrpc.Options{MaxResponseBytes: 1 << 20}))
		if !errors.Is(err, xrpc.ErrTooLarge) {
			t.Fatalf("err = %v, want ErrTooLarge", err)
		}
	})
	t.Run("HTML instead of JSON", func(t *testing.T) {
		set(&atoauthtest.Hostile{HTML: true})
		_, err := profile(e.xrpc(xrpc.Options{}))
		if err == nil || !strings.Contains(err.Error(), "text/html") {
			t.Fatalf("err = %v, want a decoding error naming the content type", err)
		}
	})
	t.Run("control characters in an error", func(t *testing.T) {
		set(&atoauthtest.Hostile{Strings: atoauthtest.ControlChars})
		err := e.xrpc(xrpc.Options{}).Query(ctx, "app.bsky.actor.getProfile", xrpc.Params{"actor": "nobody.test"}, nil)
		var xe *xrpc.Error
		if !errors.As(err, &xe) || !strings.HasPrefix(xe.Message, "Profile not found") {
			t.Fatalf("err = %v", err)
		}
		noControls("Error()", err.Error())
		noControls("Message", xe.Message)
	})
	t.Run("duplicate keys", func(t *testing.T) {
		set(&atoauthtest.Hostile{DuplicateKeys: true, Strings: func(string) string { return "mallory.test" }})
		out, err := profile(e.xrpc(xrpc.Options{}))
		if err != nil || out["handle"] != "mallory.test" {
			t.Fatalf("got %v, %v (encoding/json keeps the last duplicate)", out["handle"], err)
		}
	})
	t.Run("deep nesting", func(t *testing.T) {
		set(&atoauthtest.Hostile{Nest: 100000})
		_, err := profile(e.xrpc(xrpc.Options{}))
		if err == nil || !strings.Contains(err.Error(), "decoding the response") {
			t.Fatalf("err = %v, want a decoding error", err)
		}
	})
	t.Run("trickle", func(t *testing.T) {
		set(&atoauthtest.Hostile{Trickle: 100 * time.Millisecond})
		cctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		defer cancel()
		start := time.Now()
		var out map[string]any
		err := e.xrpc(xrpc.Options{}).Query(cctx, "app.bsky.actor.getProfile", xrpc.Params{"actor": "alice.test"}, &out)
		if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 2*time.Second {
			t.Fatalf("err = %v after %s, want the deadline", err, time.Since(start))
		}
	})
	set(nil)
}
