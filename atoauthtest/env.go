package atoauthtest

import (
	"context"
	"testing"

	"github.com/atoauth/atoauth"
	"github.com/bluesky-social/indigo/atproto/syntax"
)

// Env is a network, a client of it and an account signed in through that
// client: what a test of code that works with a session starts from.
type Env struct {
	// Net is the network.
	Net *Network
	// Client is a loopback client of Net ([Network.ClientConfig]) with
	// the default in-memory store.
	Client *atoauth.Client
	// Account is the signed-in account, Session's DID.
	Account syntax.DID
	// Session is the account's session.
	Session *atoauth.Session
}

// SignIn creates the account handle, a client of the network that
// declares scope ([Network.ClientConfig], nothing added) and signs the
// account in through it as [Network.Login] does. opts adjust the person's
// answer: by default everything scope asks for is granted, [GrantScope]
// grants less. In a test, [NewEnv] does this and ends the test on
// failure.
func (n *Network) SignIn(ctx context.Context, handle, scope string, opts ...ApproveOption) (*Env, error) {
	account := n.CreateAccount(handle)
	client, err := atoauth.NewClient(n.ClientConfig(scope))
	if err != nil {
		return nil, err
	}
	sess, err := n.Login(ctx, client, account, opts...)
	if err != nil {
		return nil, err
	}
	return &Env{Net: n, Client: client, Account: account, Session: sess}, nil
}

// NewEnv is [NewNetwork] with opts, then [Network.SignIn] of the account
// "alice.test" through a client declaring scope, with approve adjusting
// what she grants. A failure ends the test.
func NewEnv(t testing.TB, opts Options, scope string, approve ...ApproveOption) *Env {
	t.Helper()
	e, err := NewNetwork(t, opts).SignIn(t.Context(), "alice.test", scope, approve...)
	if err != nil {
		t.Fatal(err)
	}
	return e
}
