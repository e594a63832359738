package xrpc_test

import (
	"context"
	"log/slog"
	"testing"

	"github.com/atoauth/atoauth/atoauthtest"
	"github.com/atoauth/atoauth/auth"
	"github.com/atoauth/atoauth/xrpc"
)

const genericScope = "atproto transition:generic"

// env is a fake network with alice signed in through a client.
type env struct {
	*atoauthtest.Env
	t *testing.T
}

// newEnv signs alice in through a client that declares the scope
// declared; opts adjust what she grants (all of it by default).
func newEnv(t *testing.T, declared string, opts ...atoauthtest.ApproveOption) *env {
	t.Helper()
	return newEnvWith(t, atoauthtest.Options{}, declared, opts...)
}

// newEnvWith is newEnv on a network with options nopts.
func newEnvWith(t *testing.T, nopts atoauthtest.Options, declared string, opts ...atoauthtest.ApproveOption) *env {
	t.Helper()
	nopts.Logger = slog.New(slog.DiscardHandler)
	return &env{atoauthtest.NewEnv(t, nopts, declared, opts...), t}
}

// xrpc is an XRPC client over alice's session.
func (e *env) xrpc(opts xrpc.Options) *xrpc.Client {
	e.t.Helper()
	opts.Auth = e.Session
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
	d, err := e.Client.Store().GetSession(context.Background(), e.Session.ID())
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
