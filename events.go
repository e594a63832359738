package atoauth

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"slices"
	"strings"
)

// SessionEvents are the callbacks of Config.Events, which tell an app
// when a session is created, updated or deleted: to keep its own list of
// signed-in accounts, clear a cookie or a cache, or write an audit log.
// Each may be nil.
//
// Delivery:
//
//   - Once per change, across every process that shares the Store: the
//     Client that made the change reports it, after its store write
//     succeeded. A refresh that another process (or goroutine) has done
//     already is reported there, not again by the Client that finds the
//     newer tokens stored; a deletion is reported by the Client whose
//     Store.DeleteSession removed the session (this relies on the store
//     answering ErrStoreNotFound for a session that is gone, as the
//     stores of this module do).
//   - Synchronously, in the goroutine that made the change, once the
//     operation is over and the store's refresh lock has been released —
//     never while holding it, so a slow callback never holds up a refresh
//     in another process. Callback and Client.Logout return after their
//     event's callback has returned. A refresh runs in a goroutine of its
//     own (detached from its callers' contexts, see Session.HTTPClient):
//     its callback runs there, and callers waiting for that refresh get
//     its result when the callback has returned. So keep callbacks short,
//     and hand slow work to a goroutine or a queue. A callback may use the
//     session it is told about, even refresh it: a refresh asked for then
//     does not wait for the one running the callback.
//   - In the order of the changes one goroutine makes. Changes that race
//     in different goroutines (a refresh finishing while Logout runs) may
//     be reported in either order: a Deleted event is final for its
//     session id, and SessionInfo.UpdatedAt orders updates.
//   - A panicking callback is recovered and logged (Config.Logger, level
//     Error); the operation that fired it is not affected.
//   - The context carries the values of the context of the call that made
//     the change (for a refresh, of the call that started it), never its
//     cancellation or deadline.
//   - Events carry SessionInfo, never tokens or the DPoP key.
//
// Changes made around the Client (Store().DeleteSession, another program
// writing the store) are not reported, nor is a session that a refresh
// finds already gone: whoever deleted it reported it.
type SessionEvents struct {
	// Created is called after Callback stored a new session. A step-up
	// login (CallbackOptions.Replace) keeps the id of the session it
	// replaces and is reported by Updated, with Reason UpdateStepUp.
	Created func(ctx context.Context, e SessionCreated)
	// Updated is called after a session's tokens were replaced: by a
	// refresh, or by a step-up login that took over the session.
	Updated func(ctx context.Context, e SessionUpdated)
	// Deleted is called after a session was deleted from the store: signed
	// out, or ended because it can no longer be used (see DeleteCause).
	Deleted func(ctx context.Context, e SessionDeleted)
}

// SessionCreated reports a new session, stored by Callback.
type SessionCreated struct {
	Session SessionInfo
}

// SessionUpdated reports a session whose tokens were replaced.
type SessionUpdated struct {
	Session  SessionInfo // as stored now
	Previous SessionInfo // as stored before the change
	Reason   UpdateReason
	// Changes says what differs between Previous and Session.
	Changes SessionChange
}

// SessionDeleted reports a session deleted from the store.
type SessionDeleted struct {
	Session SessionInfo // as last stored
	Cause   DeleteCause
	// Err is what ended the session: the refresh's cause (an *OAuthError
	// for DeleteRevoked, matching ErrIdentityMismatch for
	// DeleteIdentityChanged, …); nil for DeleteSignedOut.
	Err error
}

// UpdateReason says why a session was updated.
type UpdateReason int

const (
	// UpdateRefresh: the tokens were refreshed (RFC 6749 §6).
	UpdateRefresh UpdateReason = iota + 1
	// UpdateStepUp: a new login for the same account (Session.StepUp,
	// then Callback with CallbackOptions.Replace) took over the session's
	// id, with new tokens, a new DPoP key and usually a wider scope.
	UpdateStepUp
)

func (r UpdateReason) String() string {
	switch r {
	case UpdateRefresh:
		return "refresh"
	case UpdateStepUp:
		return "step-up"
	}
	return fmt.Sprintf("UpdateReason(%d)", int(r))
}

// SessionChange is the set of what an update changed; test it with Has.
type SessionChange uint8

const (
	// ChangedTokens: new access token (and refresh token). Every update
	// has it; alone, it is a routine refresh.
	ChangedTokens SessionChange = 1 << iota
	// ChangedScope: the granted scope differs (compared as a set of
	// permissions, not as a string).
	ChangedScope
	// ChangedHandle: the account's verified handle differs.
	ChangedHandle
	// ChangedPDS: the account's PDS differs (the account migrated).
	ChangedPDS
	// ChangedIssuer: the authorization server differs (only a step-up
	// can change it; a refresh ends a session whose issuer changed).
	ChangedIssuer
)

// Has tells whether c includes every change in f.
func (c SessionChange) Has(f SessionChange) bool { return c&f == f }

// String lists the changes, "tokens|scope" style.
func (c SessionChange) String() string {
	var names []string
	for _, n := range []struct {
		f    SessionChange
		name string
	}{{ChangedTokens, "tokens"}, {ChangedScope, "scope"}, {ChangedHandle, "handle"}, {ChangedPDS, "pds"}, {ChangedIssuer, "issuer"}} {
		if c.Has(n.f) {
			names = append(names, n.name)
		}
	}
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, "|")
}

// DeleteCause says why a session was deleted.
type DeleteCause int

const (
	// DeleteSignedOut: Client.Logout or Session.Logout.
	DeleteSignedOut DeleteCause = iota + 1
	// DeleteRevoked: the authorization server refused the refresh token
	// (invalid_grant): revoked by the person or the server, expired, or
	// spent by a client that did not store the new one.
	DeleteRevoked
	// DeleteIdentityChanged: the account is no longer hosted by the
	// session's issuer (it moved, or someone impersonates it), or the
	// server answered a refresh with a token for another account
	// (ErrIdentityMismatch).
	DeleteIdentityChanged
	// DeleteClientKeyRemoved: the client key the session is bound to is
	// no longer in Config.Keys (ErrClientKeyRemoved).
	DeleteClientKeyRemoved
	// DeleteTokenRejected: the PDS refused a freshly refreshed token
	// (ErrTokenRejected).
	DeleteTokenRejected
	// DeleteRefreshFailed: another definitive refresh failure (see
	// RefreshError): an OAuth error the server will repeat
	// (invalid_client, …), a token response that breaks the atproto
	// profile, no refresh token, new tokens that could not be saved.
	DeleteRefreshFailed
)

func (c DeleteCause) String() string {
	switch c {
	case DeleteSignedOut:
		return "signed out"
	case DeleteRevoked:
		return "revoked"
	case DeleteIdentityChanged:
		return "identity changed"
	case DeleteClientKeyRemoved:
		return "client key removed"
	case DeleteTokenRejected:
		return "token rejected"
	case DeleteRefreshFailed:
		return "refresh failed"
	}
	return fmt.Sprintf("DeleteCause(%d)", int(c))
}

// deleteCause classifies what ended a session.
func deleteCause(err error) DeleteCause {
	var oe *OAuthError
	switch {
	case errors.Is(err, ErrClientKeyRemoved):
		return DeleteClientKeyRemoved
	case errors.Is(err, ErrTokenRejected):
		return DeleteTokenRejected
	case errors.Is(err, ErrIdentityMismatch):
		return DeleteIdentityChanged
	case errors.As(err, &oe) && oe.Code == "invalid_grant":
		return DeleteRevoked
	}
	return DeleteRefreshFailed
}

// changesBetween tells what differs from old to cur.
func changesBetween(old, cur *SessionData) SessionChange {
	var c SessionChange
	if old.AccessToken != cur.AccessToken || old.RefreshToken != cur.RefreshToken {
		c |= ChangedTokens
	}
	a, b := scopeList(old.Scope), scopeList(cur.Scope)
	slices.Sort(a)
	slices.Sort(b)
	if !slices.Equal(a, b) {
		c |= ChangedScope
	}
	if old.Handle != cur.Handle {
		c |= ChangedHandle
	}
	if old.PDS != cur.PDS {
		c |= ChangedPDS
	}
	if old.Issuer != cur.Issuer {
		c |= ChangedIssuer
	}
	return c
}

// events collects the session events of one operation, to be delivered
// (Client.deliver) once it is over: after the refresh lock is released.
// The zero value is empty; a nil *events discards what is added.
type events struct {
	list []func(c *Client, ctx context.Context)
}

func (ev *events) created(d *SessionData) {
	if ev == nil {
		return
	}
	e := SessionCreated{Session: infoOf(d)}
	ev.list = append(ev.list, func(c *Client, ctx context.Context) {
		if f := c.cfg.Events.Created; f != nil {
			c.callEvent(ctx, "created", e.Session.ID, func() { f(ctx, e) })
		}
	})
}

func (ev *events) updated(old, cur *SessionData, reason UpdateReason) {
	if ev == nil {
		return
	}
	e := SessionUpdated{Session: infoOf(cur), Previous: infoOf(old), Reason: reason, Changes: changesBetween(old, cur)}
	ev.list = append(ev.list, func(c *Client, ctx context.Context) {
		if f := c.cfg.Events.Updated; f != nil {
			c.callEvent(ctx, "updated", e.Session.ID, func() { f(ctx, e) })
		}
	})
}

func (ev *events) deleted(d *SessionData, cause DeleteCause, err error) {
	if ev == nil {
		return
	}
	e := SessionDeleted{Session: infoOf(d), Cause: cause, Err: err}
	ev.list = append(ev.list, func(c *Client, ctx context.Context) {
		if f := c.cfg.Events.Deleted; f != nil {
			c.callEvent(ctx, "deleted", e.Session.ID, func() { f(ctx, e) })
		}
	})
}

// deliver calls the app's callbacks for the collected events, in order.
func (c *Client) deliver(ctx context.Context, ev *events) {
	if ev == nil || len(ev.list) == 0 {
		return
	}
	ctx = context.WithoutCancel(ctx)
	list := ev.list
	ev.list = nil
	for _, f := range list {
		f(c, ctx)
	}
}

// callEvent runs one callback, recovering and logging a panic.
func (c *Client) callEvent(ctx context.Context, kind, id string, f func()) {
	defer func() {
		if r := recover(); r != nil {
			c.log.ErrorContext(ctx, "atoauth: a session event callback panicked", "event", kind, "session", shortID(id),
				"panic", fmt.Sprint(r), "stack", string(debug.Stack()))
		}
	}()
	f()
}
