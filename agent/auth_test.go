package agent_test

import (
	"context"
	"strings"
	"testing"

	"github.com/atoauth/atoauth/agent"
	"github.com/atoauth/atoauth/auth"
)

// The agent works over any auth.Auth: with auth.Public, the PDS's public
// reads (records, repository descriptions) of a named repository work,
// and what needs an account says so.
func TestAgentOnAPublicAuth(t *testing.T) {
	e := newEnv(t, genericScope)
	ctx := context.Background()
	created, err := newAgent(t, e, nil).Post(ctx, "a public post", nil)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := auth.Public(e.Session.PDS(), nil)
	if err != nil {
		t.Fatal(err)
	}
	a, err := agent.New(pub, nil)
	if err != nil {
		t.Fatal(err)
	}
	if a.DID() != "" {
		t.Fatalf("a public agent acts for %s", a.DID())
	}
	rkey := created.URI[strings.LastIndex(created.URI, "/")+1:]
	rec, err := a.GetRecord(ctx, e.Account.String(), "app.bsky.feed.post", rkey)
	if err != nil || rec.CID != created.CID {
		t.Fatalf("GetRecord: %+v %v", rec, err)
	}
	if d, err := a.DescribeRepo(ctx, e.Account.String()); err != nil || d.Handle != "alice.test" {
		t.Fatalf("DescribeRepo: %+v %v", d, err)
	}
	if _, err := a.Post(ctx, "no account", nil); err == nil {
		t.Fatal("a public agent posted")
	}
	if _, err := a.Identity(ctx); err == nil || !strings.Contains(err.Error(), "acts for an account") {
		t.Fatalf("Identity: %v", err)
	}
}
