package e2e

import (
	"bytes"
	"context"
	"errors"
	"net/url"
	"testing"

	"github.com/atoauth/atoauth"
	"github.com/atoauth/atoauth/agent"
	"github.com/atoauth/atoauth/internal/testnet"
	"github.com/atoauth/atoauth/scope"
	"github.com/atoauth/atoauth/xrpc"
)

// TestLeastPrivilegeThenStepUp signs in asking only to post with images,
// shows that the client-side pre-check and the reference PDS agree on
// what that session may not do (update the profile), then steps up to the
// profile permission and updates the profile.
func TestLeastPrivilegeThenStepUp(t *testing.T) {
	posting := scope.NewSet(scope.Atproto, scope.Repo("app.bsky.feed.post", scope.ActionCreate), scope.Blob("image/*"))
	profile := scope.Repo("app.bsky.actor.profile", scope.ActionCreate, scope.ActionUpdate)
	// The metadata declares the superset; each login asks for a subset.
	h := newHarness(t, posting.String()+" "+profile.String())
	acct := h.net.Account("bob")
	ctx := context.Background()

	signIn := func(auth *atoauth.Authorization, err error) url.Values {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		final, err := testnet.Authorize(ctx, auth.URL, testnet.AuthorizeOptions{Password: acct.Password, RedirectPrefix: h.redirectURI, Name: t.Name()})
		if err != nil {
			t.Fatal(err)
		}
		u, err := url.Parse(final)
		if err != nil {
			t.Fatal(err)
		}
		return u.Query()
	}
	auth, err := h.client.Start(ctx, acct.Handle, &atoauth.StartOptions{RedirectURI: h.redirectURI, Scope: posting.String()})
	s, err := h.client.Callback(ctx, signIn(auth, err), &atoauth.CallbackOptions{State: auth.State})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("granted: %q", s.Scope())
	post, png := scope.NeedRepo("app.bsky.feed.post", "create"), scope.NeedBlob("image/png")
	create, update := scope.NeedRepo("app.bsky.actor.profile", "create"), scope.NeedRepo("app.bsky.actor.profile", "update")
	if !s.Can(post, png) || s.Can(create) || s.Can(update) {
		t.Fatalf("granted %q: Can(post, png) %v, Can(profile create) %v, update %v", s.Scope(), s.Can(post, png), s.Can(create), s.Can(update))
	}
	newAgentFor := func(s *atoauth.Session, noPreCheck bool) *agent.Agent {
		a, err := agent.New(s, &agent.Options{Resolver: h.client.Resolver(), XRPC: xrpc.Options{NoPreCheck: noPreCheck}})
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	a := newAgentFor(s, false)

	// Posting with an image is within the grant.
	if _, err := a.Post(ctx, "least privilege, with a picture", &agent.PostOptions{
		Images: []agent.Image{{Data: bytes.NewReader(testPNG(t)), Alt: "a gradient"}},
	}); err != nil {
		t.Fatalf("post with an image: %v", err)
	}

	// Updating the profile is not: refused before anything is sent. The
	// profile is written with putRecord, which needs create and update;
	// the reference PDS checks create first, and so does the pre-check.
	edit := func(p *agent.Profile) error { p.Description = "stepped up"; return nil }
	_, err = a.UpdateProfile(ctx, edit)
	var sme *xrpc.ScopeMissingError
	if !errors.As(err, &sme) || !errors.Is(err, atoauth.ErrScopeMissing) || !sme.ClientSide || sme.Permission != create.String() {
		t.Fatalf("profile update without the permission: %v, want a client-side ScopeMissingError for %s", err, create)
	}
	// With the pre-check off, the PDS refuses it too, naming the same
	// permission.
	_, err = newAgentFor(s, true).UpdateProfile(ctx, edit)
	var xe *xrpc.Error
	if !errors.As(err, &sme) || sme.ClientSide || !errors.As(err, &xe) || xe.StatusCode != 403 || xe.Name != "ScopeMissingError" {
		t.Fatalf("profile update without the pre-check: %v, want the PDS's 403 ScopeMissingError", err)
	}
	if sme.Permission != create.String() {
		t.Fatalf("the PDS names %q missing, the pre-check %q", sme.Permission, create)
	}
	t.Logf("the PDS answered: %v", xe)

	// Step up: a new login for the same account (login_hint = its handle)
	// asking for the profile permission too; the new session replaces
	// the old one.
	auth, err = s.StepUp(ctx, profile.String(), &atoauth.StartOptions{RedirectURI: h.redirectURI})
	s2, err := h.client.Callback(ctx, signIn(auth, err), &atoauth.CallbackOptions{State: auth.State, Replace: s.ID()})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("granted after the step-up: %q", s2.Scope())
	if s2.ID() != s.ID() || s2.DID() != s.DID() || !s2.Can(post, png, create, update) {
		t.Fatalf("stepped-up session %s for %s, scope %q", s2.ID(), s2.DID(), s2.Scope())
	}
	if list, err := h.client.Sessions(ctx, s2.DID()); err != nil || len(list) != 1 {
		t.Fatalf("sessions after the step-up: %d %v, want the one replaced", len(list), err)
	}
	if _, err := newAgentFor(s2, false).UpdateProfile(ctx, edit); err != nil {
		t.Fatalf("profile update after the step-up: %v", err)
	}
	prof, _, err := newAgentFor(s2, false).GetProfileRecord(ctx)
	if err != nil || prof.Description != "stepped up" {
		t.Fatalf("profile after the update: %+v %v", prof, err)
	}
}
