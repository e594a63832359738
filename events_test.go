package atoauth_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/atoauth/atoauth"
	"github.com/atoauth/atoauth/atoauthtest"
	"github.com/atoauth/atoauth/jwk"
)

// recorder keeps the session events of one Client.
type recorder struct {
	mu      sync.Mutex
	created []atoauth.SessionCreated
	updated []atoauth.SessionUpdated
	deleted []atoauth.SessionDeleted
	// onUpdated, when set, runs inside the Updated callback.
	onUpdated func(atoauth.SessionUpdated)
}

func (r *recorder) events() atoauth.SessionEvents {
	return atoauth.SessionEvents{
		Created: func(_ context.Context, e atoauth.SessionCreated) {
			r.mu.Lock()
			defer r.mu.Unlock()
			r.created = append(r.created, e)
		},
		Updated: func(_ context.Context, e atoauth.SessionUpdated) {
			r.mu.Lock()
			r.updated = append(r.updated, e)
			f := r.onUpdated
			r.mu.Unlock()
			if f != nil {
				f(e)
			}
		},
		Deleted: func(_ context.Context, e atoauth.SessionDeleted) {
			r.mu.Lock()
			defer r.mu.Unlock()
			r.deleted = append(r.deleted, e)
		},
	}
}

// counts returns how many events of each kind were delivered.
func (r *recorder) counts() (created, updated, deleted int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.created), len(r.updated), len(r.deleted)
}

func (r *recorder) lastUpdated(t *testing.T) atoauth.SessionUpdated {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.updated) == 0 {
		t.Fatal("no Updated event")
	}
	return r.updated[len(r.updated)-1]
}

func (r *recorder) lastDeleted(t *testing.T) atoauth.SessionDeleted {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.deleted) == 0 {
		t.Fatal("no Deleted event")
	}
	return r.deleted[len(r.deleted)-1]
}

func withEvents(r *recorder) envOption {
	return func(c *atoauth.Config) { c.Events = r.events() }
}

// mustCount fails t unless exactly these many events were delivered.
func (r *recorder) mustCount(t *testing.T, created, updated, deleted int) {
	t.Helper()
	c, u, d := r.counts()
	if c != created || u != updated || d != deleted {
		t.Fatalf("events: %d created, %d updated, %d deleted; want %d, %d, %d", c, u, d, created, updated, deleted)
	}
}

// Callback reports the new session, synchronously: when it returns, the
// callback has run, and it ran after the session was stored.
func TestEventCreatedAfterCallbackStored(t *testing.T) {
	var rec recorder
	var e *env
	storedAtEvent := make(chan error, 1)
	e = newEnv(t, func(c *atoauth.Config) {
		c.Events = rec.events()
		created := c.Events.Created
		c.Events.Created = func(ctx context.Context, ev atoauth.SessionCreated) {
			_, err := e.store.GetSession(ctx, ev.Session.ID)
			storedAtEvent <- err
			created(ctx, ev)
		}
	})
	s := e.login("alice.test")
	rec.mustCount(t, 1, 0, 0) // no waiting: delivered before Callback returned
	if err := <-storedAtEvent; err != nil {
		t.Fatalf("the session was not stored yet when Created ran: %v", err)
	}
	got := rec.created[0].Session
	if got.ID != s.ID() || got.DID != e.alice || got.Handle != "alice.test" || got.PDS != e.net.PDS.URL || got.Scope != s.Scope() {
		t.Fatalf("Created carries %+v, the session is %+v", got, s.Info())
	}
	// A failed login reports nothing.
	auth, q := e.authorize("alice.test", e.alice, atoauthtest.Deny())
	if _, err := e.client.Callback(context.Background(), q, &atoauth.CallbackOptions{State: auth.State}); err == nil {
		t.Fatal("a denied login succeeded")
	}
	rec.mustCount(t, 1, 0, 0)
}

// A refresh reports what changed: just the tokens, or the scope too.
func TestEventUpdatedOnRefresh(t *testing.T) {
	var rec recorder
	e := newEnv(t, withEvents(&rec))
	s := e.login("alice.test")
	before := s.Info()
	if err := s.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	rec.mustCount(t, 1, 1, 0)
	u := rec.lastUpdated(t)
	if u.Reason != atoauth.UpdateRefresh || u.Changes != atoauth.ChangedTokens || u.Changes.String() != "tokens" {
		t.Fatalf("Updated: reason %v, changes %v; want a refresh of the tokens only", u.Reason, u.Changes)
	}
	if u.Session.ID != s.ID() || u.Previous.ID != s.ID() || !u.Previous.UpdatedAt.Equal(before.UpdatedAt) ||
		!u.Session.UpdatedAt.Equal(s.Info().UpdatedAt) || u.Session.ExpiresAt.IsZero() {
		t.Fatalf("Updated: previous %+v, now %+v; session before %+v, after %+v", u.Previous, u.Session, before, s.Info())
	}

	// The server grants less on this refresh.
	e.net.UpdateTamper(func(tp *atoauthtest.Tamper) {
		tp.TokenResponse = func(m map[string]any) { m["scope"] = "atproto" }
	})
	if err := s.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	u = rec.lastUpdated(t)
	if !u.Changes.Has(atoauth.ChangedTokens|atoauth.ChangedScope) || u.Changes.Has(atoauth.ChangedPDS) ||
		u.Previous.Scope != "atproto transition:generic" || u.Session.Scope != "atproto" {
		t.Fatalf("Updated after a narrower grant: changes %v, scope %q → %q", u.Changes, u.Previous.Scope, u.Session.Scope)
	}
	// The same scope in another order is no change of scope.
	e.net.UpdateTamper(func(tp *atoauthtest.Tamper) { tp.TokenResponse = nil })
	if err := s.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	e.net.UpdateTamper(func(tp *atoauthtest.Tamper) {
		tp.TokenResponse = func(m map[string]any) { m["scope"] = "transition:generic atproto" }
	})
	if err := s.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	if u := rec.lastUpdated(t); u.Changes != atoauth.ChangedTokens {
		t.Fatalf("a reordered scope reported as %v", u.Changes)
	}
	rec.mustCount(t, 1, 4, 0)
}

// A step-up keeps the session's id: it is an update (UpdateStepUp) with
// the wider scope, not a creation and a deletion.
func TestEventUpdatedOnStepUp(t *testing.T) {
	const (
		posting = "atproto repo:app.bsky.feed.post?action=create"
		profile = "repo:app.bsky.actor.profile?action=update"
	)
	var rec recorder
	e := newEnv(t, withEvents(&rec), func(c *atoauth.Config) { c.Scope = posting + " " + profile })
	ctx := context.Background()
	auth, err := e.client.Start(ctx, "alice.test", &atoauth.StartOptions{Scope: posting})
	if err != nil {
		t.Fatal(err)
	}
	redirect, err := e.net.Approve(ctx, auth.URL, e.alice)
	if err != nil {
		t.Fatal(err)
	}
	s, err := e.client.Callback(ctx, redirect.Query(), &atoauth.CallbackOptions{State: auth.State})
	if err != nil {
		t.Fatal(err)
	}
	auth, err = s.StepUp(ctx, profile, nil)
	if err != nil {
		t.Fatal(err)
	}
	redirect, err = e.net.Approve(ctx, auth.URL, e.alice)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.client.Callback(ctx, redirect.Query(), &atoauth.CallbackOptions{State: auth.State, Replace: s.ID()}); err != nil {
		t.Fatal(err)
	}
	rec.mustCount(t, 1, 1, 0)
	u := rec.lastUpdated(t)
	if u.Reason != atoauth.UpdateStepUp || u.Reason.String() != "step-up" || u.Changes != atoauth.ChangedTokens|atoauth.ChangedScope ||
		u.Session.ID != s.ID() || u.Previous.Scope != posting || u.Session.Scope != posting+" "+profile {
		t.Fatalf("step-up reported as %v (%v): %+v → %+v", u.Reason, u.Changes, u.Previous, u.Session)
	}
	if !u.Session.CreatedAt.Equal(u.Previous.CreatedAt) {
		t.Errorf("the step-up changed CreatedAt: %v → %v", u.Previous.CreatedAt, u.Session.CreatedAt)
	}
}

// Every way a session ends is reported once, with its cause.
func TestEventDeletedCauses(t *testing.T) {
	oauthCode := func(code string) func(error) bool {
		return func(err error) bool {
			var oe *atoauth.OAuthError
			return errors.As(err, &oe) && oe.Code == code
		}
	}
	tests := []struct {
		name    string
		end     func(t *testing.T, e *env, s *atoauth.Session) error
		cause   atoauth.DeleteCause
		err     func(error) bool
		updated int // refreshes that succeeded before the end
	}{
		{name: "signed out", cause: atoauth.DeleteSignedOut, err: func(err error) bool { return err == nil },
			end: func(t *testing.T, e *env, s *atoauth.Session) error { return s.Logout(context.Background()) }},
		{name: "revoked", cause: atoauth.DeleteRevoked, err: oauthCode("invalid_grant"),
			end: func(t *testing.T, e *env, s *atoauth.Session) error {
				e.net.RevokeAll(e.alice)
				return s.Refresh(context.Background())
			}},
		{name: "identity changed", cause: atoauth.DeleteIdentityChanged,
			err: func(err error) bool { return errors.Is(err, atoauth.ErrIdentityMismatch) },
			end: func(t *testing.T, e *env, s *atoauth.Session) error {
				e.net.UpdateTamper(func(tp *atoauthtest.Tamper) {
					tp.ResourceMetadata = func(m map[string]any) { m["authorization_servers"] = []any{"https://other-issuer.example.com"} }
				})
				return s.Refresh(context.Background())
			}},
		{name: "token for another account", cause: atoauth.DeleteIdentityChanged,
			err: func(err error) bool { return errors.Is(err, atoauth.ErrIdentityMismatch) },
			end: func(t *testing.T, e *env, s *atoauth.Session) error {
				bob := e.net.CreateAccount("bob.test")
				e.net.UpdateTamper(func(tp *atoauthtest.Tamper) {
					tp.TokenResponse = func(m map[string]any) { m["sub"] = bob.String() }
				})
				return s.Refresh(context.Background())
			}},
		{name: "token rejected", cause: atoauth.DeleteTokenRejected, updated: 1,
			err: func(err error) bool { return errors.Is(err, atoauth.ErrTokenRejected) },
			end: func(t *testing.T, e *env, s *atoauth.Session) error {
				e.net.UpdateTamper(func(tp *atoauthtest.Tamper) { tp.RejectAccessTokens = true })
				_, _, err := createRecord(context.Background(), s, "hello")
				return err
			}},
		{name: "refresh failed", cause: atoauth.DeleteRefreshFailed, err: oauthCode("invalid_client"),
			end: func(t *testing.T, e *env, s *atoauth.Session) error {
				e.net.UpdateTamper(func(tp *atoauthtest.Tamper) {
					tp.TokenError = func(grant string) *atoauthtest.ErrorAnswer {
						return &atoauthtest.ErrorAnswer{Status: 401, Code: "invalid_client"}
					}
				})
				return s.Refresh(context.Background())
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var rec recorder
			e := newEnv(t, withEvents(&rec))
			s := e.login("alice.test")
			info := s.Info()
			err := tc.end(t, e, s)
			if tc.cause != atoauth.DeleteSignedOut {
				e.ended(t, s, err)
			} else if err != nil {
				t.Fatal(err)
			}
			rec.mustCount(t, 1, tc.updated, 1)
			d := rec.lastDeleted(t)
			if d.Cause != tc.cause || d.Session.ID != s.ID() || d.Session.DID != e.alice || !d.Session.CreatedAt.Equal(info.CreatedAt) {
				t.Fatalf("Deleted: cause %v, session %+v; want %v for %s", d.Cause, d.Session, tc.cause, s.ID())
			}
			if !tc.err(d.Err) {
				t.Fatalf("Deleted: Err = %v", d.Err)
			}
			// Whatever is asked of the ended session now, nothing more is
			// reported.
			_ = s.Refresh(context.Background())
			_ = e.client.Logout(context.Background(), s.ID())
			rec.mustCount(t, 1, tc.updated, 1)
		})
	}
}

// A confidential session whose client key is gone is deleted with
// DeleteClientKeyRemoved, reported by the client that found out.
func TestEventDeletedClientKeyRemoved(t *testing.T) {
	host := atoauthtest.NewClientHost(t)
	key := mustGenerate(t).WithKeyID("k1")
	clientID := atoauthtest.ClientHostURL + "/oauth-client-metadata.json"
	var first, second recorder
	e := newEnvWith(t, atoauthtest.Options{ClientHTTPClient: host.HTTPClient()}, withEvents(&first), func(c *atoauth.Config) {
		c.ClientID, c.RedirectURIs, c.Keys = clientID, []string{atoauthtest.ClientHostURL + "/callback"}, []*jwk.Key{key}
	})
	host.Handle("/oauth-client-metadata.json", e.client.MetadataHandler())
	s := e.login("alice.test")
	other, err := atoauth.NewClient(atoauth.Config{
		ClientID: clientID, RedirectURIs: []string{atoauthtest.ClientHostURL + "/callback"},
		Scope: "atproto transition:generic", Keys: []*jwk.Key{mustGenerate(t).WithKeyID("k2")}, Store: e.store,
		PLCURL: e.net.PLC.URL, HandleResolver: e.net.PDS.URL, AllowInsecureDevelopment: true,
		Events: second.events(),
	})
	if err != nil {
		t.Fatal(err)
	}
	os, err := other.Session(context.Background(), s.ID())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Refresh(context.Background()); !errors.Is(err, atoauth.ErrClientKeyRemoved) {
		t.Fatalf("refresh without the bound key: %v", err)
	}
	first.mustCount(t, 1, 0, 0)
	second.mustCount(t, 0, 0, 1)
	if d := second.lastDeleted(t); d.Cause != atoauth.DeleteClientKeyRemoved || !errors.Is(d.Err, atoauth.ErrClientKeyRemoved) {
		t.Fatalf("Deleted: %v, %v", d.Cause, d.Err)
	}
}

// Two processes (two Clients on one store): each change is reported once,
// by the process that made it. A refresh another process has done is
// picked up silently; of two sign-outs racing, one reports.
func TestEventsOncePerChangeAcrossProcesses(t *testing.T) {
	var recA, recB recorder
	e, clk := newClockedEnv(t, 10*time.Minute, withEvents(&recA))
	s := e.login("alice.test")
	cfg := e.net.ClientConfig("atproto transition:generic")
	cfg.Store, cfg.Clock, cfg.Events = e.store, clk.Now, recB.events()
	b, err := atoauth.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	sb, err := b.Session(context.Background(), s.ID())
	if err != nil {
		t.Fatal(err)
	}
	clk.Advance(11 * time.Minute) // both handles hold the same expired token

	// Process A refreshes, many goroutines at once, over several handles.
	handles := []*atoauth.Session{s}
	for range 3 {
		h, err := e.client.Session(context.Background(), s.ID())
		if err != nil {
			t.Fatal(err)
		}
		handles = append(handles, h)
	}
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if resp, body, err := createRecord(context.Background(), handles[i%len(handles)], fmt.Sprint("post ", i)); err != nil || resp.StatusCode != 200 {
				t.Errorf("write: %v %s", err, body)
			}
		}()
	}
	wg.Wait()
	if c := e.net.Counters(); c.Refreshes != 1 {
		t.Fatalf("refreshes = %d, want 1", c.Refreshes)
	}
	recA.mustCount(t, 1, 1, 0)
	// Process B's handle still holds the old token: its request refreshes
	// nothing, it finds A's tokens in the store, and reports nothing.
	mustWrite(t, sb)
	if err := sb.Refresh(context.Background()); err != nil { // forced: B refreshes for real now
		t.Fatal(err)
	}
	recB.mustCount(t, 0, 1, 0)
	recA.mustCount(t, 1, 1, 0)
	if e.net.Counters().Refreshes != 2 {
		t.Fatalf("refreshes = %d, want 2", e.net.Counters().Refreshes)
	}
	// A's handle holds a token the PDS no longer takes: its refresh picks
	// up B's tokens from the store, and reports nothing.
	mustWrite(t, s)
	recA.mustCount(t, 1, 1, 0)

	// Both sign out at once: one deletion, one report.
	var lwg sync.WaitGroup
	for _, c := range []*atoauth.Client{e.client, b} {
		lwg.Add(1)
		go func() {
			defer lwg.Done()
			if err := c.Logout(context.Background(), s.ID()); err != nil && !errors.Is(err, atoauth.ErrSessionNotFound) {
				t.Error(err)
			}
		}()
	}
	lwg.Wait()
	_, _, da := recA.counts()
	_, _, db := recB.counts()
	if da+db != 1 {
		t.Fatalf("one sign-out reported %d times (A %d, B %d)", da+db, da, db)
	}
}

// The callback runs after the refresh lock is released: a callback that
// blocks holds up neither another process's refresh of the same session
// nor a sign-out; only the callers of its own refresh wait for it.
func TestEventCallbackDoesNotHoldRefreshLock(t *testing.T) {
	var recA, recB recorder
	entered, release := make(chan struct{}), make(chan struct{})
	releaseOnce := sync.OnceFunc(func() { close(release) })
	defer releaseOnce()
	recA.onUpdated = func(atoauth.SessionUpdated) {
		close(entered)
		<-release
	}
	e := newEnv(t, withEvents(&recA))
	s := e.login("alice.test")
	cfg := e.net.ClientConfig("atproto transition:generic")
	cfg.Store, cfg.Events = e.store, recB.events()
	b, err := atoauth.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}

	done := make(chan error, 1)
	go func() { done <- s.Refresh(context.Background()) }()
	select {
	case <-entered:
	case <-time.After(10 * time.Second):
		t.Fatal("the Updated callback never ran")
	}
	// A's refresh is stored and its callback blocked. B refreshes the
	// same session: it takes the lock at once.
	sb, err := b.Session(context.Background(), s.ID())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := sb.Refresh(ctx); err != nil {
		t.Fatalf("another process's refresh while a callback blocks: %v (the lock is held during the callback?)", err)
	}
	recB.mustCount(t, 0, 1, 0)
	// A's caller waits for its refresh's callback.
	select {
	case err := <-done:
		t.Fatalf("Refresh returned (%v) before its event's callback did", err)
	case <-time.After(50 * time.Millisecond):
	}
	releaseOnce()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	recA.mustCount(t, 1, 1, 0)
}

// A panicking callback is recovered and logged; the operation succeeds.
func TestEventCallbackPanicIsRecovered(t *testing.T) {
	e := newEnv(t, func(c *atoauth.Config) {
		c.Events.Created = func(context.Context, atoauth.SessionCreated) { panic("app bug in Created") }
		c.Events.Updated = func(context.Context, atoauth.SessionUpdated) { panic("app bug in Updated") }
		c.Events.Deleted = func(context.Context, atoauth.SessionDeleted) { panic("app bug in Deleted") }
	})
	s := e.login("alice.test")
	if err := s.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	mustWrite(t, s)
	if err := s.Logout(context.Background()); err != nil {
		t.Fatal(err)
	}
	logs := e.logs.String()
	for _, want := range []string{"app bug in Created", "app bug in Updated", "app bug in Deleted", "callback panicked"} {
		if !strings.Contains(logs, want) {
			t.Errorf("the log does not mention %q", want)
		}
	}
}

// The events carry no secrets: SessionInfo only, and no token in any
// error or printed form.
func TestEventsCarryNoSecrets(t *testing.T) {
	var rec recorder
	e := newEnv(t, withEvents(&rec))
	s := e.login("alice.test")
	d, err := e.store.GetSession(context.Background(), s.ID())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	e.net.RevokeAll(e.alice)
	_ = s.Refresh(context.Background())
	rec.mustCount(t, 1, 1, 1)
	printed := fmt.Sprintf("%+v %+v %+v %v", rec.created, rec.updated, rec.deleted, rec.deleted[0].Err)
	for _, secret := range []string{d.AccessToken, d.RefreshToken} {
		if strings.Contains(printed, secret) {
			t.Fatal("an event shows a token")
		}
	}
}

// SessionChange and the enums print readably.
func TestEventStrings(t *testing.T) {
	if got := (atoauth.ChangedTokens | atoauth.ChangedHandle | atoauth.ChangedPDS).String(); got != "tokens|handle|pds" {
		t.Errorf("changes = %q", got)
	}
	if got := atoauth.SessionChange(0).String(); got != "none" {
		t.Errorf("no change = %q", got)
	}
	if got := atoauth.DeleteCause(99).String(); got != "DeleteCause(99)" {
		t.Errorf("unknown cause = %q", got)
	}
	if got := atoauth.UpdateRefresh.String(); got != "refresh" {
		t.Errorf("refresh = %q", got)
	}
	for c, want := range map[atoauth.DeleteCause]string{
		atoauth.DeleteSignedOut: "signed out", atoauth.DeleteRevoked: "revoked", atoauth.DeleteIdentityChanged: "identity changed",
		atoauth.DeleteClientKeyRemoved: "client key removed", atoauth.DeleteTokenRejected: "token rejected", atoauth.DeleteRefreshFailed: "refresh failed",
	} {
		if c.String() != want {
			t.Errorf("%d.String() = %q, want %q", int(c), c.String(), want)
		}
	}
}

// A callback may use the session it is told about, even refresh it: it
// does not wait for the refresh that is running the callback.
func TestEventCallbackMayRefreshItsSession(t *testing.T) {
	var rec recorder
	var s *atoauth.Session
	var once sync.Once
	inner := make(chan error, 1)
	rec.onUpdated = func(atoauth.SessionUpdated) {
		once.Do(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			inner <- s.Refresh(ctx)
		})
	}
	e := newEnv(t, withEvents(&rec))
	s = e.login("alice.test")
	if err := s.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := <-inner; err != nil {
		t.Fatalf("a refresh from within the Updated callback: %v", err)
	}
	// The inner refresh found the outer one's tokens stored: one update.
	rec.mustCount(t, 1, 1, 0)
	mustWrite(t, s)
}
