package atoauth

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/atoauth/atoauth/scope"
)

// Can reports whether the session's granted scope permits every one of
// reqs, as the reference PDS decides it ([scope.Set.Allows]: the
// permission grammar of https://atproto.com/specs/permission and the
// transitional scopes). Use it to hide what a session cannot do, or to
// ask for more with [Session.StepUp].
func (s *Session) Can(reqs ...scope.Requirement) bool {
	return scope.ParseGranted(s.Scope()).AllowsAll(reqs...)
}

// StepUp starts a new login for the session's account (started from its
// DID, so login_hint is its verified handle, or its DID) that asks for
// the permissions granted so far plus extra (a scope string such as
// "repo:app.bsky.actor.profile?action=update"). Every extra permission
// must be declared in the client metadata scope, like any
// StartOptions.Scope; granted permissions the metadata does not declare
// are not asked for again. opts may set every StartOptions field but
// Scope, which is ignored: Prompt, RedirectURI, Display, UILocales,
// AppState, and LoginHint (which must name the session's account).
//
// Complete the login with Callback (or CallbackWithAppState) and
// CallbackOptions.Replace set to this session's id: the new session then
// replaces this one (same id, old tokens revoked) — and only if it is for
// the same account. It is reported as an update (SessionEvents.Updated,
// UpdateStepUp), not as a new session: the id stays.
//
// A loopback client (LoopbackConfig) declares its scope in its client_id,
// so it cannot ask for more than it was made with: to step up, make the
// loopback client of the larger scope (the granted permissions plus
// extra), Start its login for the session's DID asking for that scope,
// and call its Callback with Replace set to this session's id. A loopback
// client may replace the session of another loopback client (see
// CallbackOptions.Replace); the session then belongs to the new client.
func (s *Session) StepUp(ctx context.Context, extra string, opts *StartOptions) (*Authorization, error) {
	if _, err := scope.Parse(extra); err != nil {
		return nil, fmt.Errorf("atoauth: step-up: %w", err)
	}
	declared := scopeList(s.c.md.Scope)
	want := []string{string(scope.Atproto)}
	for _, t := range strings.Fields(s.Scope()) {
		if slices.Contains(declared, t) && !slices.Contains(want, t) {
			want = append(want, t)
		}
	}
	for _, t := range strings.Fields(extra) {
		if !slices.Contains(want, t) {
			want = append(want, t)
		}
	}
	o := StartOptions{}
	if opts != nil {
		o = *opts
	}
	o.Scope = strings.Join(want, " ")
	return s.c.Start(ctx, s.DID().String(), &o)
}

// replaceable loads the session id that the new session data is to
// replace, and checks that both are for the same account.
func (c *Client) replaceable(ctx context.Context, id string, data *SessionData) (*SessionData, error) {
	old, err := c.store.GetSession(ctx, id)
	if errors.Is(err, ErrStoreNotFound) {
		return nil, fmt.Errorf("%w: the session to replace is gone (the new tokens were revoked)", ErrSessionNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("atoauth: loading the session to replace: %w", err)
	}
	if !c.owns(old) && !c.loopbackSibling(old) {
		return nil, fmt.Errorf("%w (the new tokens were revoked)", c.checkClient(old))
	}
	if old.DID != data.DID {
		return nil, fmt.Errorf("%w: the step-up login signed in %s, the session to replace is %s (the new tokens were revoked)", ErrIdentityMismatch, data.DID, old.DID)
	}
	return old, nil
}

// revokeReplaced revokes the tokens of a replaced session, quietly: they
// are no longer stored, and they expire anyway.
func (c *Client) revokeReplaced(ctx context.Context, old *SessionData) {
	if old.RevocationEndpoint == "" {
		return
	}
	token, hint := old.RefreshToken, "refresh_token"
	if token == "" {
		token, hint = old.AccessToken, "access_token"
	}
	if err := c.revoke(ctx, old, token, hint); err != nil {
		c.log.WarnContext(ctx, "atoauth: revoking the replaced session's tokens", "session", shortID(old.ID), "err", err)
	}
}
