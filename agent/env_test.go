package agent_test

import (
	"log/slog"
	"testing"

	"github.com/atoauth/atoauth/agent"
	"github.com/atoauth/atoauth/atoauthtest"
)

const genericScope = "atproto transition:generic"

// newEnv signs alice in on a quiet fake network through a client that
// declares the scope declared; opts adjust what she grants (all of it by
// default).
func newEnv(t *testing.T, declared string, opts ...atoauthtest.ApproveOption) *atoauthtest.Env {
	t.Helper()
	return atoauthtest.NewEnv(t, atoauthtest.Options{Logger: slog.New(slog.DiscardHandler)}, declared, opts...)
}

// newAgent is the Agent of e's session. It resolves identities through
// e's client unless opts name a Resolver.
func newAgent(t *testing.T, e *atoauthtest.Env, opts *agent.Options) *agent.Agent {
	t.Helper()
	if opts == nil {
		opts = &agent.Options{}
	}
	if opts.Resolver == nil {
		opts.Resolver = e.Client.Resolver()
	}
	a, err := agent.New(e.Session, opts)
	if err != nil {
		t.Fatal(err)
	}
	return a
}
