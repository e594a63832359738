package xrpc_test

import (
	"context"
	"log/slog"
	"testing"

	"github.com/atoauth/atoauth"
	"github.com/atoauth/atoauth/atoauthtest"
	"github.com/atoauth/atoauth/auth"
	"github.com/atoauth/atoauth/xrpc"
	"github.com/bluesky-social/indigo/atproto/syntax"
)

const genericScope = "atproto transition:generic"

// env is a fake network with a client and one signed-in account.
type env struct {
	t      *testing.T
	net    *atoauthtest.Network
	client *atoauth.Client
	alice  syntax.DID
	sess   *atoauth.Session
}

// newEnv signs alice in with the client metadata scope declared and the
// scope granted (granted "" grants everything requested).
func newEnv(t *testing.T, declared, granted string) *env {
	t.Helper()
	return newEnvWith(t, atoauthtest.Options{}, declared, granted)
}

// newEnvWith is newEnv on a network with options nopts.
func newEnvWith(t *testing.T, nopts atoauthtest.Options, declared, granted string) *env {
	t.Helper()
	nopts.Logger = slog.New(slog.DiscardHandler)
	n := atoauthtest.NewNetwork(t, nopts)
	e := &env{t: t, net: n}
	e.alice = n.CreateAccount("alice.test")
	c, err := atoauth.NewClient(n.ClientConfig(declared))
	if err != nil {
		t.Fatal(err)
	}
	e.client = c
	e.sess = e.login(e.alice, granted)
	return e
}

func (e *env) login(did syntax.DID, granted string) *atoauth.Session {
	e.t.Helper()
	var opts []atoauthtest.ApproveOption
	if granted != "" {
		opts = append(opts, atoauthtest.GrantScope(granted))
	}
	sess, err := e.net.Login(context.Background(), e.client, did, opts...)
	if err != nil {
		e.t.Fatal(err)
	}
	return sess
}

func (e *env) xrpc(opts xrpc.Options) *xrpc.Client {
	e.t.Helper()
	opts.Auth = e.sess
	c, err := xrpc.NewClient(opts)
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

// accessToken reads the session's access token from the store (tests
// only: it plays an app that mishandles it).
func (e *env) accessToken() string {
	e.t.Helper()
	d, err := e.client.Store().GetSession(context.Background(), e.sess.ID())
	if err != nil {
		e.t.Fatal(err)
	}
	return d.AccessToken
}

// public is auth.Public for a test.
func public(t testing.TB, host string) auth.Auth {
	t.Helper()
	a, err := auth.Public(host, nil)
	if err != nil {
		t.Fatal(err)
	}
	return a
}
