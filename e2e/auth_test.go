package e2e

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/atoauth/atoauth/agent"
	"github.com/atoauth/atoauth/auth"
	"github.com/atoauth/atoauth/password"
)

// The agent over the two other implementations of auth.Auth, against the
// reference PDS and AppView: an app-password session (createSession with
// the account's password, Bearer tokens), and the AppView's public API
// without a session.
func TestAgentOnAnAppPasswordAndPublicAPI(t *testing.T) {
	h := newHarness(t, "atproto transition:generic")
	bob := h.net.Account("bob")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	s, err := password.Login(ctx, bob.Handle, bob.Password, &password.Options{Resolver: h.client.Resolver(), AllowInsecureDevelopment: true})
	if err != nil {
		t.Fatal(err)
	}
	if s.DID().String() != bob.DID || s.Host() != h.net.PDSURL {
		t.Fatalf("app-password session %s", s)
	}
	a, err := agent.New(s, nil)
	if err != nil {
		t.Fatal(err)
	}
	text := "from an app-password session " + time.Now().Format(time.RFC3339Nano)
	created, err := a.Post(ctx, text, nil)
	if err != nil {
		t.Fatal(err)
	}
	rkey := created.URI[strings.LastIndex(created.URI, "/")+1:]
	if rec, err := a.GetRecord(ctx, "", "app.bsky.feed.post", rkey); err != nil || rec.CID != created.CID {
		t.Fatalf("GetRecord: %+v %v", rec, err)
	}
	if who, err := a.GetSession(ctx); err != nil || who.DID != bob.DID {
		t.Fatalf("GetSession: %+v %v", who, err)
	}
	if _, err := a.Identity(ctx); err != nil {
		t.Fatalf("Identity: %v", err)
	}

	needAppView(t, h.net)
	pub, err := auth.Public(h.net.AppViewURL, &http.Client{Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	reader, err := agent.New(pub, nil)
	if err != nil {
		t.Fatal(err)
	}
	waitForProfile(t, ctx, reader, bob.DID, "public getProfile from the AppView")
	if err := s.Logout(ctx); err != nil {
		t.Fatalf("Logout: %v", err)
	}
}
