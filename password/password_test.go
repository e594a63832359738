package password_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/atoauth/atoauth/agent"
	"github.com/atoauth/atoauth/atoauthtest"
	"github.com/atoauth/atoauth/auth"
	"github.com/atoauth/atoauth/discovery"
	"github.com/atoauth/atoauth/password"
	"github.com/atoauth/atoauth/xrpc"
	"github.com/bluesky-social/indigo/atproto/syntax"
)

type env struct {
	net   *atoauthtest.Network
	alice syntax.DID
	opts  *password.Options
}

func newEnv(t *testing.T) *env {
	n := atoauthtest.NewNetwork(t, atoauthtest.Options{})
	e := &env{net: n, alice: n.CreateAccount("alice.test")}
	n.SetAppPassword(e.alice, "aaaa-bbbb-cccc-dddd")
	cfg := n.ClientConfig("atproto")
	e.opts = &password.Options{AllowInsecureDevelopment: true, Resolver: &discovery.Resolver{
		AllowInsecureDevelopment: true,
		Directory:                discovery.NewDirectory(discovery.DirectoryOptions{PLCURL: cfg.PLCURL, HandleResolver: cfg.HandleResolver, AllowInsecureDevelopment: true}),
	}}
	return e
}

func (e *env) login(t *testing.T) *password.Session {
	t.Helper()
	s, err := password.Login(context.Background(), "alice.test", "aaaa-bbbb-cccc-dddd", e.opts)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// An app-password session is an auth.Auth: the agent posts with it as
// with an OAuth session, and it refreshes when the PDS says the token
// expired, the request sent again.
func TestAgentOnAnAppPassword(t *testing.T) {
	e := newEnv(t)
	s := e.login(t)
	var _ auth.Auth = s
	var _ auth.Account = s
	if s.DID() != e.alice || s.Handle() != "alice.test" || s.Host() != e.net.PDS.URL {
		t.Fatalf("session %s", s)
	}
	a, err := agent.New(s, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := a.Post(ctx, "from an app password", nil); err != nil {
		t.Fatal(err)
	}
	e.net.ExpireLegacyAccessTokens()
	if _, err := a.Post(ctx, "after the access token expired", nil); err != nil {
		t.Fatalf("post after expiry: %v", err)
	}
	if n := e.net.Counters().LegacyRefreshes; n != 1 {
		t.Fatalf("refreshes = %d, want 1", n)
	}
	if _, err := a.Identity(ctx); err != nil {
		t.Fatalf("Identity: %v", err)
	}
	// Logout ends it at the server.
	if err := s.Logout(ctx); err != nil {
		t.Fatal(err)
	}
	e.net.ExpireLegacyAccessTokens()
	if _, err := a.Post(ctx, "after logout", nil); !errors.Is(err, auth.ErrSessionExpired) {
		t.Fatalf("post after logout: %v, want ErrSessionExpired", err)
	}
}

func TestBadPassword(t *testing.T) {
	e := newEnv(t)
	_, err := password.Login(context.Background(), "alice.test", "wrong", e.opts)
	if !errors.Is(err, password.ErrBadCredentials) {
		t.Fatalf("err = %v", err)
	}
	if strings.Contains(err.Error(), "wrong") {
		t.Fatal("the password is in the error")
	}
}

// The tokens of a session never print.
func TestTokensNeverPrinted(t *testing.T) {
	e := newEnv(t)
	s := e.login(t)
	var out bytes.Buffer
	fmt.Fprintf(&out, "%v %+v %#v %s\n", s, s, s, s)
	b, _ := json.Marshal(s)
	out.Write(b)
	slog.New(slog.NewJSONHandler(&out, nil)).Info("x", "s", s)
	slog.New(slog.NewTextHandler(&out, nil)).Info("x", "s", s)
	if strings.Contains(out.String(), "legacy-") || !strings.Contains(out.String(), e.alice.String()) {
		t.Fatalf("printed: %s", out.String())
	}
}

// The xrpc pre-check has nothing to check against: an app password may do
// everything but account management.
func TestNoPreCheck(t *testing.T) {
	e := newEnv(t)
	s := e.login(t)
	if _, ok := any(s).(auth.Permissions); ok {
		t.Fatal("an app-password session claims granular permissions")
	}
	c, err := xrpc.NewClient(xrpc.Options{Auth: s})
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	if err := c.Query(context.Background(), "com.atproto.server.getSession", nil, &out); err != nil || out["did"] != e.alice.String() {
		t.Fatalf("getSession: %v %v", out, err)
	}
}
