package atoauth_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/atoauth/atoauth"
	"github.com/atoauth/atoauth/atoauthtest"
	"github.com/bluesky-social/indigo/atproto/syntax"
)

// twoClients returns a fake network with alice, two loopback clients on
// one store that differ only in their scope, and so in their client_id (a
// loopback client_id carries its scope), and alice's session through a.
func twoClients(t *testing.T) (n *atoauthtest.Network, alice syntax.DID, a, b *atoauth.Client, store atoauth.Store, sess *atoauth.Session, host *atoauthtest.ClientHost) {
	t.Helper()
	host = atoauthtest.NewClientHost(t)
	n = atoauthtest.NewNetwork(t, atoauthtest.Options{ClientHTTPClient: host.HTTPClient()})
	alice = n.CreateAccount("alice.test")
	store = atoauth.NewMemoryStore()
	mk := func(scope string) *atoauth.Client {
		cfg := n.ClientConfig(scope)
		cfg.Store = store
		c, err := atoauth.NewClient(cfg)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	a, b = mk("atproto transition:generic"), mk("atproto")
	if a.ClientID() == b.ClientID() {
		t.Fatalf("both clients have client_id %s", a.ClientID())
	}
	sess, err := n.Login(context.Background(), a, alice)
	if err != nil {
		t.Fatal(err)
	}
	return n, alice, a, b, store, sess, host
}

// hostedClient returns a public hosted client served by host, on store.
func hostedClient(t *testing.T, n *atoauthtest.Network, host *atoauthtest.ClientHost, store atoauth.Store) *atoauth.Client {
	t.Helper()
	c, err := atoauth.NewClient(atoauth.Config{
		ClientID:     atoauthtest.ClientHostURL + "/oauth-client-metadata.json",
		RedirectURIs: []string{atoauthtest.ClientHostURL + "/callback"},
		Scope:        "atproto transition:generic",
		Store:        store, PLCURL: n.PLC.URL, HandleResolver: n.PDS.URL, AllowInsecureDevelopment: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	host.Handle("/oauth-client-metadata.json", c.MetadataHandler())
	return c
}

// A loopback client's client_id carries its scope: a step-up to a larger
// scope is a login through the loopback client of that scope, which
// replaces the session of the smaller one (same id, old tokens revoked
// under the old client_id); a hosted client's session is never replaced
// by a loopback client's login.
func TestLoopbackStepUpReplacesTheSmallerClientsSession(t *testing.T) {
	ctx := context.Background()
	n, alice, a, _, store, sess, host := twoClients(t)
	id := sess.ID()
	bigger, err := atoauth.NewClient(func() atoauth.Config {
		cfg := n.ClientConfig("atproto transition:generic transition:chat.bsky")
		cfg.Store = store
		return cfg
	}())
	if err != nil {
		t.Fatal(err)
	}
	auth, err := bigger.Start(ctx, alice.String(), nil)
	if err != nil {
		t.Fatal(err)
	}
	redirect, err := n.Approve(ctx, auth.URL, alice)
	if err != nil {
		t.Fatal(err)
	}
	s2, err := bigger.Callback(ctx, redirect.Query(), &atoauth.CallbackOptions{State: auth.State, Replace: id})
	if err != nil {
		t.Fatalf("the larger loopback client replacing the session: %v", err)
	}
	if s2.ID() != id || s2.Info().ClientID != bigger.ClientID() || !strings.Contains(s2.Scope(), "transition:chat.bsky") {
		t.Fatalf("replaced session: id %s, client %s, scope %q", s2.ID(), s2.Info().ClientID, s2.Scope())
	}
	// The old tokens were revoked for their own client (the fake server,
	// like the reference one, ignores a revocation by another client).
	if got := n.ActiveSessions(alice); got != 1 {
		t.Fatalf("the server has %d sessions of alice, want 1 (the old tokens revoked)", got)
	}
	if _, err := a.Session(ctx, id); !errors.Is(err, atoauth.ErrOtherClient) {
		t.Errorf("the smaller client after the replacement: %v, want ErrOtherClient", err)
	}
	if err := s2.Refresh(ctx); err != nil {
		t.Fatalf("refreshing the replaced session through its new client: %v", err)
	}

	// A hosted client's session is not a loopback client's to replace.
	hosted := hostedClient(t, n, host, store)
	hs, err := n.Login(ctx, hosted, alice)
	if err != nil {
		t.Fatal(err)
	}
	auth, err = a.Start(ctx, alice.String(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if redirect, err = n.Approve(ctx, auth.URL, alice); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Callback(ctx, redirect.Query(), &atoauth.CallbackOptions{State: auth.State, Replace: hs.ID()}); !errors.Is(err, atoauth.ErrOtherClient) {
		t.Errorf("a loopback login replacing a hosted client's session: %v, want ErrOtherClient", err)
	}
	if d, err := store.GetSession(ctx, hs.ID()); err != nil || d.ClientID != hosted.ClientID() {
		t.Errorf("the hosted session after the refused replacement: %v, %v", d, err)
	}
}

func TestSessionRecordsItsClient(t *testing.T) {
	ctx := context.Background()
	_, _, a, _, store, sess, _ := twoClients(t)
	if got := sess.Info().ClientID; got != a.ClientID() {
		t.Errorf("Info().ClientID = %q, want %q", got, a.ClientID())
	}
	d, err := store.GetSession(ctx, sess.ID())
	if err != nil || d.ClientID != a.ClientID() {
		t.Fatalf("stored ClientID = %v, %v; want %q", d, err, a.ClientID())
	}
	// A refresh keeps it.
	if err := sess.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if d, err = store.GetSession(ctx, sess.ID()); err != nil || d.ClientID != a.ClientID() {
		t.Fatalf("after a refresh, stored ClientID = %q, %v", d.ClientID, err)
	}
	if j, err := json.Marshal(d); err != nil || !strings.Contains(string(j), `"clientId":"http://localhost?`) {
		t.Errorf("the JSON view of the session lacks its client: %s, %v", j, err)
	}
}

func TestSessionOfAnotherClientIsRefused(t *testing.T) {
	ctx := context.Background()
	n, alice, a, b, store, sess, host := twoClients(t)
	id := sess.ID()

	_, err := b.Session(ctx, id)
	if !errors.Is(err, atoauth.ErrOtherClient) {
		t.Fatalf("Session through another client: err = %v, want ErrOtherClient", err)
	}
	var oce *atoauth.OtherClientError
	if !errors.As(err, &oce) || oce.SessionClientID != a.ClientID() || oce.ClientID != b.ClientID() {
		t.Fatalf("error = %#v, want an *OtherClientError naming %s and %s", err, a.ClientID(), b.ClientID())
	}
	if msg := err.Error(); !strings.Contains(msg, a.ClientID()) || !strings.Contains(msg, b.ClientID()) || strings.Contains(msg, id) {
		t.Errorf("message %q: want both client_ids and not the session id", msg)
	}

	// Logout through the other client leaves the session alone: that
	// client could not revoke its tokens.
	if err := b.Logout(ctx, id); !errors.Is(err, atoauth.ErrOtherClient) {
		t.Errorf("Logout through another client: err = %v, want ErrOtherClient", err)
	}
	if _, err := store.GetSession(ctx, id); err != nil {
		t.Errorf("Logout through another client deleted the session: %v", err)
	}
	if n.ActiveSessions(alice) != 1 {
		t.Errorf("the server has %d sessions of alice, want 1", n.ActiveSessions(alice))
	}

	// Sessions lists what the client can use.
	if list, err := b.Sessions(ctx, alice); err != nil || len(list) != 0 {
		t.Errorf("the other client's Sessions = %v, %v; want none", list, err)
	}
	if list, err := a.Sessions(ctx, ""); err != nil || len(list) != 1 || list[0].ID != id || list[0].ClientID != a.ClientID() {
		t.Errorf("the own client's Sessions = %v, %v; want the session", list, err)
	}

	// A step-up login through a hosted client cannot replace it.
	before, err := store.GetSession(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	hosted := hostedClient(t, n, host, store)
	auth, err := hosted.Start(ctx, alice.String(), nil)
	if err != nil {
		t.Fatal(err)
	}
	redirect, err := n.Approve(ctx, auth.URL, alice)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := hosted.Callback(ctx, redirect.Query(), &atoauth.CallbackOptions{State: auth.State, Replace: id}); !errors.Is(err, atoauth.ErrOtherClient) {
		t.Errorf("replacing another client's session: err = %v, want ErrOtherClient", err)
	}
	if d, err := store.GetSession(ctx, id); err != nil || d.ClientID != a.ClientID() || d.AccessToken != before.AccessToken {
		t.Errorf("the refused replacement changed the session: %v, %v", d, err)
	}
	if n.ActiveSessions(alice) != 1 {
		t.Errorf("the refused replacement's tokens were not revoked: the server has %d sessions of alice", n.ActiveSessions(alice))
	}

	// Its own client still uses it.
	own, err := a.Session(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if err := own.Refresh(ctx); err != nil {
		t.Fatalf("refresh through the own client: %v", err)
	}
	if err := a.Logout(ctx, id); err != nil {
		t.Fatal(err)
	}
}

// A session stored before ClientID was recorded is accepted by any client
// and adopted by the one that refreshes it.
func TestSessionWithoutClientIsAdopted(t *testing.T) {
	ctx := context.Background()
	_, alice, a, b, store, sess, _ := twoClients(t)
	id := sess.ID()
	forget := func() {
		t.Helper()
		d, err := store.GetSession(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		d.ClientID = ""
		if err := store.SaveSession(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	forget()

	if _, err := b.Session(ctx, id); err != nil {
		t.Errorf("a session without ClientID through any client: %v", err)
	}
	if list, _ := b.Sessions(ctx, alice); len(list) != 1 || list[0].ClientID != "" {
		t.Errorf("Sessions = %v, want the session with ClientID \"\"", list)
	}
	s, err := a.Session(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if d, _ := store.GetSession(ctx, id); d == nil || d.ClientID != a.ClientID() {
		t.Fatalf("after a refresh the session was not adopted: %v", d)
	}
	if s.Info().ClientID != a.ClientID() {
		t.Errorf("Info().ClientID after the adopting refresh = %q", s.Info().ClientID)
	}
	if _, err := b.Session(ctx, id); !errors.Is(err, atoauth.ErrOtherClient) {
		t.Errorf("after adoption, another client: err = %v, want ErrOtherClient", err)
	}

	// Why: through the wrong client, its refresh is refused by the server
	// and the session ends. A session that records its client is refused
	// up front instead (above).
	forget()
	wrong, err := b.Session(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if err := wrong.Refresh(ctx); !errors.Is(err, atoauth.ErrSessionExpired) {
		t.Errorf("refresh through the wrong client: err = %v, want ErrSessionExpired", err)
	}
}

func TestParseLoopbackClientID(t *testing.T) {
	for _, scope := range []string{"", "atproto", "atproto transition:generic", "atproto repo:app.bsky.feed.post?action=create blob:image/*"} {
		c, err := atoauth.NewClient(atoauth.LoopbackConfig(scope))
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := atoauth.ParseLoopbackClientID(c.ClientID())
		if err != nil {
			t.Errorf("%q: %v", scope, err)
			continue
		}
		again, err := atoauth.NewClient(cfg)
		if err != nil || again.ClientID() != c.ClientID() {
			t.Errorf("%q: the parsed Config gives %v, %v; want client_id %s", scope, again.ClientID(), err, c.ClientID())
		}
		if len(cfg.RedirectURIs) != 1 || cfg.RedirectURIs[0] != atoauth.LoopbackRedirectURI {
			t.Errorf("%q: RedirectURIs = %v", scope, cfg.RedirectURIs)
		}
	}
	// Any loopback Config round-trips, ports and several URIs included.
	c, err := atoauth.NewClient(atoauth.Config{RedirectURIs: []string{"http://127.0.0.1:8080/cb", "http://[::1]/callback"}, Scope: "atproto"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg, err := atoauth.ParseLoopbackClientID(c.ClientID()); err != nil || len(cfg.RedirectURIs) != 2 || cfg.Scope != "atproto" {
		t.Errorf("two redirect URIs: %+v, %v", cfg, err)
	}

	for _, bad := range []string{
		"",
		"https://app.example.com/oauth-client-metadata.json",
		"http://localhost",
		"http://localhost:8080?redirect_uri=http%3A%2F%2F127.0.0.1%2Fcallback",
		"http://localhost/path?redirect_uri=http%3A%2F%2F127.0.0.1%2Fcallback",
		"http://localhost?scope=atproto",
		"http://localhost?scope=atproto&redirect_uri=http%3A%2F%2F127.0.0.1%2Fcallback",               // another order
		"http://localhost?redirect_uri=http://127.0.0.1/callback&scope=atproto",                       // another encoding
		"http://localhost?redirect_uri=http%3A%2F%2F127.0.0.1%2Fcallback&scope=atproto&x=1",           // unknown parameter
		"http://localhost?redirect_uri=http%3A%2F%2Flocalhost%2Fcallback&scope=atproto",               // not 127.0.0.1
		"http://localhost?redirect_uri=http%3A%2F%2F127.0.0.1%2Fcallback&scope=atproto&scope=atproto", // scope twice
		"http://localhost?redirect_uri=http%3A%2F%2F127.0.0.1%2Fcallback&scope=transition%3Ageneric",  // no atproto
		"http://localhost?redirect_uri=http%3A%2F%2F127.0.0.1%2Fcallback&scope=atproto+atproto",       // not normalized
		"http://localhost?redirect_uri=http%3A%2F%2F127.0.0.1%2Fcallback&scope=atproto#frag",
	} {
		if cfg, err := atoauth.ParseLoopbackClientID(bad); !errors.Is(err, atoauth.ErrInvalidConfig) {
			t.Errorf("ParseLoopbackClientID(%q) = %+v, %v; want ErrInvalidConfig", bad, cfg, err)
		}
	}
}
