package agent_test

import (
	"context"
	"log/slog"
	"testing"

	"github.com/atoauth/atoauth"
	"github.com/atoauth/atoauth/agent"
	"github.com/atoauth/atoauth/atoauthtest"
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
	n := atoauthtest.NewNetwork(t, atoauthtest.Options{Logger: slog.New(slog.DiscardHandler)})
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

func (e *env) agent(opts *agent.Options) *agent.Agent {
	e.t.Helper()
	return e.agentFor(e.sess, opts)
}

func (e *env) agentFor(sess *atoauth.Session, opts *agent.Options) *agent.Agent {
	e.t.Helper()
	if opts == nil {
		opts = &agent.Options{}
	}
	if opts.Resolver == nil {
		opts.Resolver = e.client.Resolver()
	}
	a, err := agent.New(sess, opts)
	if err != nil {
		e.t.Fatal(err)
	}
	return a
}
