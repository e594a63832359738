package atoauth_test

import (
	"context"
	"errors"
	"net/url"
	"testing"

	"github.com/atoauth/atoauth"
	"github.com/atoauth/atoauth/scope"
)

func TestCanAndStepUp(t *testing.T) {
	const (
		posting = "atproto repo:app.bsky.feed.post?action=create blob:image/*"
		profile = "repo:app.bsky.actor.profile?action=create&action=update"
	)
	e := newEnv(t, func(c *atoauth.Config) { c.Scope = posting + " " + profile })
	ctx := context.Background()
	approve := func(auth *atoauth.Authorization) url.Values {
		t.Helper()
		redirect, err := e.net.Approve(ctx, auth.URL, e.alice)
		if err != nil {
			t.Fatal(err)
		}
		return redirect.Query()
	}

	// A malformed permission is refused before PAR.
	if _, err := e.client.Start(ctx, "alice.test", &atoauth.StartOptions{Scope: "atproto repo:app.bsky.feed.post?action=publish"}); !errors.Is(err, scope.ErrInvalid) {
		t.Fatalf("Start with a malformed scope: %v", err)
	}
	auth, err := e.client.Start(ctx, "alice.test", &atoauth.StartOptions{Scope: posting})
	if err != nil {
		t.Fatal(err)
	}
	s, err := e.client.Callback(ctx, approve(auth), &atoauth.CallbackOptions{State: auth.State})
	if err != nil {
		t.Fatal(err)
	}
	post, png := scope.NeedRepo("app.bsky.feed.post", "create"), scope.NeedBlob("image/png")
	update := scope.NeedRepo("app.bsky.actor.profile", "update")
	if !s.Can(post, png) || s.Can(update) || s.Can(post, update) {
		t.Fatalf("Can with %q: post+png %v, profile update %v", s.Scope(), s.Can(post, png), s.Can(update))
	}

	if _, err := s.StepUp(ctx, "repo:app.bsky.actor.profile?action=publish", nil); !errors.Is(err, scope.ErrInvalid) {
		t.Fatalf("StepUp with an invalid scope: %v", err)
	}
	if _, err := s.StepUp(ctx, "identity:handle", nil); err == nil {
		t.Fatal("StepUp with a scope the metadata does not declare: no error")
	}
	auth, err = s.StepUp(ctx, profile, nil)
	if err != nil {
		t.Fatal(err)
	}
	// The step-up login names the account (by its verified handle) and
	// asks for what was granted plus the extra permission.
	pending, err := e.store.ConsumeAuthRequest(ctx, auth.State)
	if err != nil || pending.ExpectedDID != e.alice || pending.LoginHint != "alice.test" || pending.Scope != posting+" "+profile {
		t.Fatalf("step-up request: hint %q scope %q (%v)", pending.LoginHint, pending.Scope, err)
	}
	if err := e.store.SaveAuthRequest(ctx, pending); err != nil {
		t.Fatal(err)
	}
	s2, err := e.client.Callback(ctx, approve(auth), &atoauth.CallbackOptions{State: auth.State, Replace: s.ID()})
	if err != nil {
		t.Fatal(err)
	}
	if s2.ID() != s.ID() || !s2.Can(post, png, update) {
		t.Fatalf("stepped-up session %s (was %s), scope %q", s2.ID(), s.ID(), s2.Scope())
	}
	if list, _ := e.client.Sessions(ctx, e.alice); len(list) != 1 {
		t.Fatalf("%d sessions after the step-up, want the one replaced", len(list))
	}
	if n := e.net.ActiveSessions(e.alice); n != 1 {
		t.Fatalf("%d active sessions at the server: the replaced tokens were not revoked", n)
	}
	// The old handle on the session keeps working: it adopts the stored
	// replacement.
	if err := s.Refresh(ctx); err != nil || !s.Can(update) {
		t.Fatalf("old handle after the step-up: %v, scope %q", err, s.Scope())
	}

	// A step-up login may not replace another account's session.
	bob := e.net.CreateAccount("bob.test")
	auth, err = e.client.Start(ctx, "bob.test", &atoauth.StartOptions{Scope: posting})
	if err != nil {
		t.Fatal(err)
	}
	redirect, err := e.net.Approve(ctx, auth.URL, bob)
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.client.Callback(ctx, redirect.Query(), &atoauth.CallbackOptions{State: auth.State, Replace: s.ID()})
	if !errors.Is(err, atoauth.ErrIdentityMismatch) {
		t.Fatalf("replacing alice's session with bob's: %v", err)
	}
	if n := e.net.ActiveSessions(bob); n != 0 {
		t.Fatalf("bob's refused tokens were not revoked (%d active)", n)
	}
	if got, err := e.client.Session(ctx, s.ID()); err != nil || got.DID() != e.alice {
		t.Fatalf("alice's session after the refused replacement: %v %v", got, err)
	}
}
