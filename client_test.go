package atoauth_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/atoauth/atoauth"
	"github.com/atoauth/atoauth/atoauthtest"
	"github.com/atoauth/atoauth/jwk"
	"github.com/bluesky-social/indigo/atproto/syntax"
)

// env is one fake network with one client and one account.
type env struct {
	t      *testing.T
	net    *atoauthtest.Network
	client *atoauth.Client
	store  atoauth.Store
	alice  syntax.DID
	logs   *atoauthtest.Buffer
}

type envOption func(*atoauth.Config)

func newEnv(t *testing.T, opts ...envOption) *env {
	t.Helper()
	return newEnvWith(t, atoauthtest.Options{}, opts...)
}

func newEnvWith(t *testing.T, nopts atoauthtest.Options, opts ...envOption) *env {
	t.Helper()
	n := atoauthtest.NewNetwork(t, nopts)
	e := &env{t: t, net: n, logs: &atoauthtest.Buffer{}}
	e.alice = n.CreateAccount("alice.test")
	cfg := n.ClientConfig("atproto transition:generic")
	cfg.Logger = slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.Store == nil {
		cfg.Store = atoauth.NewMemoryStore()
	}
	e.store = cfg.Store
	c, err := atoauth.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.client = c
	return e
}

// authorize starts a login and has the fake user approve it, returning the
// callback query.
func (e *env) authorize(identifier string, account syntax.DID, opts ...atoauthtest.ApproveOption) (*atoauth.Authorization, url.Values) {
	e.t.Helper()
	ctx := context.Background()
	auth, err := e.client.Start(ctx, identifier, nil)
	if err != nil {
		e.t.Fatalf("Start(%q): %v", identifier, err)
	}
	redirect, err := e.net.Approve(ctx, auth.URL, account, opts...)
	if err != nil {
		e.t.Fatalf("Approve: %v", err)
	}
	if got := redirect.Scheme + "://" + redirect.Host + redirect.Path; got != e.client.Metadata().RedirectURIs[0] {
		e.t.Fatalf("redirected to %s", got)
	}
	return auth, redirect.Query()
}

// otherProcess returns s as another process of the same app, or this one
// after a restart, sees it: through a second Client on store. It shares
// nothing in memory with e.client (no nonces, no refresh coordination).
func (e *env) otherProcess(store atoauth.Store, s *atoauth.Session) *atoauth.Session {
	e.t.Helper()
	cfg := e.net.ClientConfig("atproto transition:generic")
	cfg.Store = store
	c, err := atoauth.NewClient(cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	other, err := c.Session(context.Background(), s.ID())
	if err != nil {
		e.t.Fatal(err)
	}
	return other
}

func (e *env) login(identifier string) *atoauth.Session {
	e.t.Helper()
	auth, q := e.authorize(identifier, e.alice)
	sess, err := e.client.Callback(context.Background(), q, &atoauth.CallbackOptions{State: auth.State})
	if err != nil {
		e.t.Fatalf("Callback: %v", err)
	}
	return sess
}

// createRecord writes a post through the session's client.
func createRecord(ctx context.Context, s *atoauth.Session, text string) (*http.Response, []byte, error) {
	body, _ := json.Marshal(map[string]any{
		"repo":       s.DID().String(),
		"collection": "app.bsky.feed.post",
		"record":     map[string]any{"$type": "app.bsky.feed.post", "text": text, "createdAt": time.Now().UTC().Format(time.RFC3339)},
	})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.PDS()+"/xrpc/com.atproto.repo.createRecord", bytes.NewReader(body))
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.HTTPClient().Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp, b, err
}

func mustWrite(t *testing.T, s *atoauth.Session) {
	t.Helper()
	resp, body, err := createRecord(context.Background(), s, "hello")
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("createRecord: HTTP %d %s", resp.StatusCode, body)
	}
}

func TestLoginFromHandleDIDAndPDS(t *testing.T) {
	e := newEnv(t)
	for _, id := range []string{"alice.test", "@Alice.Test", string(e.alice), e.net.PDS.URL} {
		t.Run(id, func(t *testing.T) {
			s := e.login(id)
			if s.DID() != e.alice || s.Handle() != "alice.test" || s.PDS() != e.net.PDS.URL {
				t.Fatalf("session = %+v", s.Info())
			}
			info := s.Info()
			if info.Issuer != e.net.Issuer() || !strings.Contains(info.Scope, "atproto") || info.ExpiresAt.IsZero() {
				t.Errorf("info = %+v", info)
			}
			mustWrite(t, s)
		})
	}
	c := e.net.Counters()
	if c.PAR != 4 || c.CodeExchanges != 4 {
		t.Errorf("counters = %+v", c)
	}
	// Server metadata is cached briefly: later logins skip those fetches.
	if c.ASMetadata != 1 || c.ResourceMetadata != 1 {
		t.Errorf("metadata fetched %d (AS) and %d (resource) times for 4 logins; want 1 each", c.ASMetadata, c.ResourceMetadata)
	}
	// Several sessions for one DID live side by side.
	list, err := e.client.Sessions(context.Background(), e.alice)
	if err != nil || len(list) != 4 {
		t.Fatalf("Sessions = %d, %v", len(list), err)
	}
}

func TestStartSendsPARWithPKCEAndHint(t *testing.T) {
	e := newEnv(t)
	auth, err := e.client.Start(context.Background(), "alice.test", &atoauth.StartOptions{Scope: "atproto", Prompt: "login"})
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(auth.URL)
	if q := u.Query(); len(q) != 2 || q.Get("client_id") != e.client.ClientID() || q.Get("request_uri") == "" {
		t.Errorf("authorization URL must carry only client_id and request_uri: %s", auth.URL)
	}
	if e.net.Counters().PAR != 1 {
		t.Errorf("PAR not used")
	}
	if _, err := e.client.Start(context.Background(), "alice.test", &atoauth.StartOptions{Scope: "atproto transition:chat.bsky"}); err == nil {
		t.Error("a scope outside the metadata scope was accepted")
	}
	if _, err := e.client.Start(context.Background(), "alice.test", &atoauth.StartOptions{Scope: "transition:generic"}); !errors.Is(err, atoauth.ErrScopeMissing) {
		t.Errorf("login without atproto: %v", err)
	}
	if _, err := e.client.Start(context.Background(), "alice.test", &atoauth.StartOptions{Prompt: "always"}); err == nil {
		t.Error("invalid prompt accepted")
	}
}

func TestCallbackChecks(t *testing.T) {
	ctx := context.Background()
	t.Run("state single use", func(t *testing.T) {
		e := newEnv(t)
		_, q := e.authorize("alice.test", e.alice)
		if _, err := e.client.Callback(ctx, q, nil); err != nil {
			t.Fatal(err)
		}
		if _, err := e.client.Callback(ctx, q, nil); !errors.Is(err, atoauth.ErrInvalidState) {
			t.Fatalf("replayed callback: %v", err)
		}
	})
	t.Run("unknown state", func(t *testing.T) {
		e := newEnv(t)
		_, q := e.authorize("alice.test", e.alice)
		q.Set("state", "forged")
		if _, err := e.client.Callback(ctx, q, nil); !errors.Is(err, atoauth.ErrInvalidState) {
			t.Fatalf("forged state: %v", err)
		}
	})
	t.Run("other browser", func(t *testing.T) {
		e := newEnv(t)
		_, q := e.authorize("alice.test", e.alice)
		if _, err := e.client.Callback(ctx, q, &atoauth.CallbackOptions{State: "cookie-of-another-login"}); !errors.Is(err, atoauth.ErrInvalidState) {
			t.Fatalf("login CSRF: %v", err)
		}
	})
	t.Run("expired", func(t *testing.T) {
		clk := atoauthtest.NewClock(time.Now())
		e := newEnv(t, func(c *atoauth.Config) { c.Clock = clk.Now; c.AuthRequestTTL = time.Minute })
		_, q := e.authorize("alice.test", e.alice)
		clk.Advance(2 * time.Minute)
		if _, err := e.client.Callback(ctx, q, nil); !errors.Is(err, atoauth.ErrInvalidState) {
			t.Fatalf("expired login: %v", err)
		}
	})
	for name, iss := range map[string]*string{"wrong iss": ptr("https://evil.example"), "missing iss": ptr("")} {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			e.net.UpdateTamper(func(tp *atoauthtest.Tamper) { tp.CallbackIss = iss })
			_, q := e.authorize("alice.test", e.alice)
			if _, err := e.client.Callback(ctx, q, nil); !errors.Is(err, atoauth.ErrCallbackIssuer) {
				t.Fatalf("err = %v, want ErrIssuerMismatch", err)
			}
			if e.net.Counters().CodeExchanges != 0 {
				t.Error("the code was exchanged despite the iss mismatch")
			}
		})
	}
	t.Run("access denied", func(t *testing.T) {
		e := newEnv(t)
		_, q := e.authorize("alice.test", e.alice, atoauthtest.Deny())
		_, err := e.client.Callback(ctx, q, nil)
		var ce *atoauth.CallbackError
		if !errors.As(err, &ce) || ce.Code != "access_denied" {
			t.Fatalf("err = %v, want CallbackError access_denied", err)
		}
	})
}

func ptr[T any](v T) *T { return &v }

// foreignPDS serves the protected-resource metadata of a PDS whose
// authorization server is somebody else.
func foreignPDS(t *testing.T) *httptest.Server {
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/.well-known/oauth-protected-resource" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"resource": srv.URL, "authorization_servers": []string{"https://other-as.example"}})
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestTokenResponseChecks(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name   string
		tamper func(e *env) func(m map[string]any)
		want   error
	}{
		{"token_type Bearer", func(*env) func(map[string]any) {
			return func(m map[string]any) { m["token_type"] = "Bearer" }
		}, atoauth.ErrInvalidTokenResponse},
		{"sub not a DID", func(*env) func(map[string]any) {
			return func(m map[string]any) { m["sub"] = "alice.test" }
		}, atoauth.ErrInvalidTokenResponse},
		{"no atproto scope", func(*env) func(map[string]any) {
			return func(m map[string]any) { m["scope"] = "transition:generic" }
		}, atoauth.ErrScopeMissing},
		{"no scope", func(*env) func(map[string]any) {
			return func(m map[string]any) { delete(m, "scope") }
		}, atoauth.ErrInvalidTokenResponse},
		{"sub another local account", func(e *env) func(map[string]any) {
			bob := e.net.CreateAccount("bob.test")
			return func(m map[string]any) { m["sub"] = bob.String() }
		}, atoauth.ErrIdentityMismatch},
		{"sub hosted elsewhere", func(e *env) func(map[string]any) {
			foreign := e.net.CreateForeignAccount("mallory.test", foreignPDS(e.t).URL)
			return func(m map[string]any) { m["sub"] = foreign.String() }
		}, atoauth.ErrIdentityMismatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			f := tt.tamper(e)
			e.net.UpdateTamper(func(tp *atoauthtest.Tamper) { tp.TokenResponse = f })
			_, q := e.authorize("alice.test", e.alice)
			_, err := e.client.Callback(ctx, q, nil)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if list, _ := e.client.Sessions(ctx, ""); len(list) != 0 {
				t.Error("a session was stored")
			}
			if e.net.ActiveSessions(e.alice) != 0 {
				t.Error("the rejected tokens were not revoked")
			}
		})
	}

	// A login started from the PDS URL learns the account from sub, and
	// still verifies that sub is hosted by the issuer.
	t.Run("pds login, foreign sub", func(t *testing.T) {
		e := newEnv(t)
		foreign := e.net.CreateForeignAccount("mallory.test", foreignPDS(t).URL)
		e.net.UpdateTamper(func(tp *atoauthtest.Tamper) {
			tp.TokenResponse = func(m map[string]any) { m["sub"] = foreign.String() }
		})
		_, q := e.authorize(e.net.PDS.URL, e.alice)
		if _, err := e.client.Callback(ctx, q, nil); !errors.Is(err, atoauth.ErrIdentityMismatch) {
			t.Fatalf("err = %v, want ErrIdentityMismatch", err)
		}
	})
}

func TestDiscoveryFailuresStopLogin(t *testing.T) {
	tests := []struct {
		name   string
		tamper atoauthtest.Tamper
	}{
		{"issuer mismatch", atoauthtest.Tamper{ASMetadata: func(m map[string]any) { m["issuer"] = "https://evil.example" }}},
		{"no PAR", atoauthtest.Tamper{ASMetadata: func(m map[string]any) { m["require_pushed_authorization_requests"] = false }}},
		{"resource mismatch", atoauthtest.Tamper{ResourceMetadata: func(m map[string]any) { m["resource"] = "https://evil.example" }}},
		{"two authorization servers", atoauthtest.Tamper{ResourceMetadata: func(m map[string]any) {
			m["authorization_servers"] = []any{m["authorization_servers"].([]any)[0], "https://evil.example"}
		}}},
		{"redirect", atoauthtest.Tamper{RedirectMetadata: true}},
		{"oversized", atoauthtest.Tamper{OversizeMetadata: true}},
		{"content type", atoauthtest.Tamper{MetadataContentType: "text/html"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			e.net.SetTamper(tt.tamper)
			_, err := e.client.Start(context.Background(), "alice.test", nil)
			if err == nil {
				t.Fatal("Start succeeded")
			}
			if e.net.Counters().PAR != 0 {
				t.Error("a PAR was sent to an unverified server")
			}
			if !strings.HasPrefix(err.Error(), "atoauth: ") {
				t.Errorf("error lacks the package prefix: %v", err)
			}
		})
	}
}

func TestPrivateAddressesRefusedWithoutDevSwitch(t *testing.T) {
	e := newEnv(t, func(c *atoauth.Config) { c.AllowInsecureDevelopment = false })
	_, err := e.client.Start(context.Background(), "alice.test", nil)
	if err == nil {
		t.Fatal("a loopback network was reached without the development switch")
	}
	_, err = e.client.Start(context.Background(), e.net.PDS.URL, nil)
	if err == nil {
		t.Fatal("a loopback PDS URL was accepted without the development switch")
	}
}

func TestSessionCredentialsOnlyToPDS(t *testing.T) {
	e := newEnv(t)
	s := e.login("alice.test")
	var sawAuth, sawDPoP bool
	var mu sync.Mutex
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		sawAuth = sawAuth || r.Header.Get("Authorization") != ""
		sawDPoP = sawDPoP || r.Header.Get("DPoP") != ""
		mu.Unlock()
		fmt.Fprint(w, "{}")
	}))
	defer other.Close()
	resp, err := s.HTTPClient().Get(other.URL + "/xrpc/app.bsky.actor.getProfile")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if sawAuth || sawDPoP {
		t.Fatal("credentials were sent to another origin")
	}
}

func TestBearerIsRefusedDPoPWorks(t *testing.T) {
	e := newEnv(t)
	s := e.login("alice.test")
	mustWrite(t, s)
	data, err := e.store.GetSession(context.Background(), s.ID())
	if err != nil {
		t.Fatal(err)
	}
	body := `{"repo":"` + s.DID().String() + `","collection":"app.bsky.feed.post","record":{"text":"x"}}`
	req, _ := http.NewRequest("POST", s.PDS()+"/xrpc/com.atproto.repo.createRecord", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+data.AccessToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 400 || !strings.Contains(string(b), "Bad token scope") {
		t.Fatalf("Bearer: HTTP %d %s", resp.StatusCode, b)
	}
}

func TestReactiveRefreshOnInvalidToken(t *testing.T) {
	e := newEnv(t)
	s := e.login("alice.test")
	before, _ := e.store.GetSession(context.Background(), s.ID())
	e.net.ExpireAccessTokens()
	mustWrite(t, s) // 401 invalid_token → refresh → retry, with the body replayed
	c := e.net.Counters()
	if c.Refreshes != 1 {
		t.Fatalf("refreshes = %d, want 1", c.Refreshes)
	}
	after, _ := e.store.GetSession(context.Background(), s.ID())
	if after.AccessToken == before.AccessToken || after.RefreshToken == before.RefreshToken {
		t.Fatal("the refreshed tokens were not stored")
	}
	if !e.net.AccessTokenValid(after.AccessToken) {
		t.Fatal("stored access token is not the live one")
	}
}

// newClockedEnv is newEnv with a fake clock, returned, that the network
// (whose access tokens live ttl) and the client share.
func newClockedEnv(t *testing.T, ttl time.Duration, opts ...envOption) (*env, *atoauthtest.Clock) {
	t.Helper()
	clk := atoauthtest.NewClock(time.Now())
	opts = append([]envOption{func(c *atoauth.Config) { c.Clock = clk.Now }}, opts...)
	return newEnvWith(t, atoauthtest.Options{Clock: clk.Now, AccessTokenTTL: ttl}, opts...), clk
}

func TestProactiveRefreshIsSingleFlight(t *testing.T) {
	e, clk := newClockedEnv(t, 10*time.Minute)
	s := e.login("alice.test")
	clk.Advance(11 * time.Minute) // every access token has expired

	// 50 goroutines over several handles to the same session.
	handles := []*atoauth.Session{s}
	for range 4 {
		h, err := e.client.Session(context.Background(), s.ID())
		if err != nil {
			t.Fatal(err)
		}
		handles = append(handles, h)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 50)
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, body, err := createRecord(context.Background(), handles[i%len(handles)], fmt.Sprint("post ", i))
			if err != nil {
				errs <- err
				return
			}
			if resp.StatusCode != 200 {
				errs <- fmt.Errorf("HTTP %d %s", resp.StatusCode, body)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	c := e.net.Counters()
	if c.Refreshes != 1 || c.RefreshReplays != 0 {
		t.Fatalf("refreshes = %d (replays %d), want exactly 1", c.Refreshes, c.RefreshReplays)
	}
}

func TestRefreshNotAbandonedOnCancel(t *testing.T) {
	store := &savingStore{Store: atoauth.NewMemoryStore(), saved: make(chan struct{}, 1)}
	e := newEnv(t, func(c *atoauth.Config) { c.Store = store })
	s := e.login("alice.test")
	before, _ := e.store.GetSession(context.Background(), s.ID())
	// The caller gives up once the server has minted the new tokens, and
	// the server answers only after the caller has returned.
	ctx, cancel := context.WithCancel(context.Background())
	answer := make(chan struct{})
	release := sync.OnceFunc(func() { close(answer) })
	defer release()
	e.net.UpdateTamper(func(tp *atoauthtest.Tamper) {
		tp.TokenResponse = func(map[string]any) { cancel(); <-answer }
	})
	if err := s.Refresh(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Refresh = %v, want the caller's cancellation", err)
	}
	select {
	case <-store.saved: // the login's
	default:
	}
	release()
	// The refresh goes on and its tokens are stored.
	select {
	case <-store.saved:
	case <-time.After(10 * time.Second):
		t.Fatal("the refresh was abandoned: the stored tokens never changed")
	}
	after, err := e.store.GetSession(context.Background(), s.ID())
	if err != nil {
		t.Fatal(err)
	}
	if after.RefreshToken == before.RefreshToken || !e.net.RefreshTokenValid(after.RefreshToken) {
		t.Fatal("the stored refresh token is not the live new one")
	}
	e.net.UpdateTamper(func(tp *atoauthtest.Tamper) { tp.TokenResponse = nil })
	mustWrite(t, s)
}

// savingStore tells on saved (without waiting) when a session has been
// saved.
type savingStore struct {
	atoauth.Store
	saved chan struct{}
}

func (s *savingStore) SaveSession(ctx context.Context, d *atoauth.SessionData) error {
	err := s.Store.SaveSession(ctx, d)
	select {
	case s.saved <- struct{}{}:
	default:
	}
	return err
}

func TestRevokedSessionEndsAndIsDeleted(t *testing.T) {
	e := newEnv(t)
	s := e.login("alice.test")
	e.net.RevokeAll(e.alice)
	e.ended(t, s, s.Refresh(context.Background()))
}

// ended fails t unless err says that s has ended (ErrSessionExpired) and
// the session is no longer stored.
func (e *env) ended(t *testing.T, s *atoauth.Session, err error) {
	t.Helper()
	if !errors.Is(err, atoauth.ErrSessionExpired) {
		t.Fatalf("err = %v, want ErrSessionExpired", err)
	}
	if _, err := e.client.Session(context.Background(), s.ID()); !errors.Is(err, atoauth.ErrSessionNotFound) {
		t.Fatalf("the ended session is still stored: %v", err)
	}
}

func TestTokenReplacedElsewhereIsPickedUp(t *testing.T) {
	// Another process (a second Client on the same store) refreshes; this
	// one's in-memory token is replaced and the PDS rejects it.
	e := newEnv(t)
	s := e.login("alice.test")
	peer := e.otherProcess(e.store, s)
	if err := peer.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	mustWrite(t, s) // 401 → the store holds newer tokens → retry with them
	if c := e.net.Counters(); c.Refreshes != 1 || c.RefreshReplays != 0 {
		t.Fatalf("refreshes %d, replays %d; want 1 and 0", c.Refreshes, c.RefreshReplays)
	}
}

// staleStore answers one GetSession with an old copy of a session, as a
// store whose lock lease ran out under a slow refresher would.
type staleStore struct {
	atoauth.Store
	mu    sync.Mutex
	stale *atoauth.SessionData
}

func (s *staleStore) GetSession(ctx context.Context, id string) (*atoauth.SessionData, error) {
	s.mu.Lock()
	st := s.stale
	s.stale = nil
	s.mu.Unlock()
	if st != nil {
		return st, nil
	}
	return s.Store.GetSession(ctx, id)
}

func TestInvalidGrantRereadsStore(t *testing.T) {
	ss := &staleStore{Store: atoauth.NewMemoryStore()}
	e := newEnv(t, func(c *atoauth.Config) { c.Store = ss })
	s := e.login("alice.test")
	old, _ := ss.GetSession(context.Background(), s.ID())
	peer := e.otherProcess(ss, s)
	if err := peer.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	ss.mu.Lock()
	ss.stale = old
	ss.mu.Unlock()
	// This refresh reads the stale copy and sends a spent refresh token: the
	// server answers invalid_grant, and the store is re-read before the
	// session is declared dead.
	if err := s.Refresh(context.Background()); err != nil {
		t.Fatalf("refresh after invalid_grant: %v", err)
	}
	if c := e.net.Counters(); c.RefreshReplays != 1 {
		t.Fatalf("replays = %d, want the one stale attempt", c.RefreshReplays)
	}
	if _, err := e.client.Session(context.Background(), s.ID()); err != nil {
		t.Fatalf("the session was dropped: %v", err)
	}
}

func TestTransientRefreshFailureKeepsSession(t *testing.T) {
	e := newEnv(t)
	s := e.login("alice.test")
	e.net.AS.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "maintenance", http.StatusServiceUnavailable)
	})
	err := s.Refresh(context.Background())
	var re *atoauth.RefreshError
	if !errors.As(err, &re) || !re.Temporary || errors.Is(err, atoauth.ErrSessionExpired) {
		t.Fatalf("err = %v, want a temporary *RefreshError", err)
	}
	if _, err := e.client.Session(context.Background(), s.ID()); err != nil {
		t.Fatalf("a temporary failure deleted the session: %v", err)
	}
	mustWrite(t, s) // the current access token still works
}

// failingStore fails SaveSession on demand.
type failingStore struct {
	atoauth.Store
	mu   sync.Mutex
	fail bool
}

func (f *failingStore) SaveSession(ctx context.Context, s *atoauth.SessionData) error {
	f.mu.Lock()
	fail := f.fail
	f.mu.Unlock()
	if fail {
		return errors.New("disk full")
	}
	return f.Store.SaveSession(ctx, s)
}

func TestUnsavableTokensAreRevoked(t *testing.T) {
	fs := &failingStore{Store: atoauth.NewMemoryStore()}
	e := newEnv(t, func(c *atoauth.Config) { c.Store = fs })
	s := e.login("alice.test")
	fs.mu.Lock()
	fs.fail = true
	fs.mu.Unlock()
	revBefore := e.net.Counters().Revocations
	if err := s.Refresh(context.Background()); err == nil {
		t.Fatal("refresh succeeded without saving")
	}
	if e.net.Counters().Revocations <= revBefore {
		t.Fatal("the unsaved tokens were not revoked")
	}
	if e.net.ActiveSessions(e.alice) != 0 {
		t.Fatal("live tokens nobody holds remain")
	}

	// At login, too.
	_, q := e.authorize("alice.test", e.alice)
	if _, err := e.client.Callback(context.Background(), q, nil); err == nil {
		t.Fatal("callback succeeded without saving")
	}
	if e.net.ActiveSessions(e.alice) != 0 {
		t.Fatal("login tokens that could not be saved were not revoked")
	}
}

func TestLogoutRevokes(t *testing.T) {
	for _, noContent := range []bool{false, true} {
		t.Run(fmt.Sprint("204=", noContent), func(t *testing.T) {
			e := newEnv(t)
			e.net.UpdateTamper(func(tp *atoauthtest.Tamper) { tp.RevokeNoContent = noContent })
			s1 := e.login("alice.test")
			s2 := e.login("alice.test")
			d1, _ := e.store.GetSession(context.Background(), s1.ID())
			if err := s1.Logout(context.Background()); err != nil {
				t.Fatal(err)
			}
			if e.net.AccessTokenValid(d1.AccessToken) || e.net.RefreshTokenValid(d1.RefreshToken) {
				t.Fatal("tokens still valid after logout")
			}
			if _, err := e.client.Session(context.Background(), s1.ID()); !errors.Is(err, atoauth.ErrSessionNotFound) {
				t.Fatal("session still stored after logout")
			}
			// The handle still holds the old token; the PDS refuses it and the
			// refresh finds the session gone.
			if resp, _, err := createRecord(context.Background(), s1, "after logout"); !errors.Is(err, atoauth.ErrSessionExpired) {
				t.Fatalf("write after logout: resp %v, err %v; want ErrSessionExpired", resp, err)
			}
			mustWrite(t, s2) // the other session is untouched
		})
	}
}

func TestNonceRotationAndMissingNonceHeader(t *testing.T) {
	e := newEnv(t)
	s := e.login("alice.test")
	for range 3 {
		mustWrite(t, s)
	}
	c := e.net.Counters()
	if c.ASNonceChallenges != 1 {
		t.Errorf("AS nonce challenges = %d, want 1 (nonce learned once, then tracked)", c.ASNonceChallenges)
	}
	if c.PDSNonceChallenges != 1 {
		t.Errorf("PDS nonce challenges = %d, want 1", c.PDSNonceChallenges)
	}
}

func TestConfidentialClient(t *testing.T) {
	host := atoauthtest.NewClientHost(t)
	k1, err := jwk.Generate()
	if err != nil {
		t.Fatal(err)
	}
	k1 = k1.WithKeyID("k-2026")
	clientID := atoauthtest.ClientHostURL + "/oauth-client-metadata.json"
	e := newEnvWith(t, atoauthtest.Options{ClientHTTPClient: host.HTTPClient()}, func(c *atoauth.Config) {
		*c = atoauth.Config{
			ClientID:     clientID,
			RedirectURIs: []string{atoauthtest.ClientHostURL + "/callback"},
			Scope:        "atproto transition:generic",
			Keys:         []*jwk.Key{k1},
			PLCURL:       c.PLCURL, HandleResolver: c.HandleResolver, Logger: c.Logger,
			AllowInsecureDevelopment: true,
		}
	})
	host.Handle("/oauth-client-metadata.json", e.client.MetadataHandler())
	s := e.login("alice.test")
	if s.Info().ClientKeyID != "k-2026" {
		t.Errorf("session bound to kid %q", s.Info().ClientKeyID)
	}
	mustWrite(t, s)
	if err := s.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := s.Logout(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestSecretsNeverLogged(t *testing.T) {
	e := newEnv(t)
	auth, q := e.authorize("alice.test", e.alice)
	_ = auth
	s, err := e.client.Callback(context.Background(), q, nil)
	if err != nil {
		t.Fatal(err)
	}
	d1, _ := e.store.GetSession(context.Background(), s.ID())
	var errs []error
	e.net.ExpireAccessTokens()
	mustWrite(t, s)
	d2, _ := e.store.GetSession(context.Background(), s.ID())
	// Failures, whose messages must not carry secrets either.
	_, err = e.client.Callback(context.Background(), q, nil)
	errs = append(errs, err)
	e.net.RevokeAll(e.alice)
	errs = append(errs, s.Refresh(context.Background()))

	priv, _ := d1.DPoPKey.MarshalPrivate()
	var dk map[string]string
	_ = json.Unmarshal(priv, &dk)
	secrets := map[string]string{
		"code": q.Get("code"), "access token": d1.AccessToken, "refresh token": d1.RefreshToken,
		"new access token": d2.AccessToken, "new refresh token": d2.RefreshToken, "dpop key": dk["d"],
		"session id": s.ID(),
	}
	var all strings.Builder
	all.WriteString(e.logs.String())
	for _, err := range errs {
		if err != nil {
			all.WriteString(err.Error())
		}
	}
	all.WriteString(fmt.Sprintf("%v %+v %#v %s", d1, d1, d1, d1))
	for name, secret := range secrets {
		if secret == "" {
			t.Fatalf("%s is empty", name)
		}
		if strings.Contains(all.String(), secret) {
			t.Errorf("the %s appears in logs, errors or formatted values", name)
		}
	}
	if e.logs.Len() == 0 {
		t.Error("nothing was logged: the test proves nothing")
	}
}

func TestIssuerReverifiedBeforeRefresh(t *testing.T) {
	e := newEnv(t)
	s := e.login("alice.test")
	// The account's DID document now names another PDS (whose metadata the
	// network does not serve): the session must not be refreshed.
	other := httptest.NewServer(http.NotFoundHandler())
	defer other.Close()
	e.net.UpdateTamper(func(tp *atoauthtest.Tamper) {
		tp.DIDDocument = func(did syntax.DID, doc map[string]any) {
			for _, svc := range doc["service"].([]any) {
				svc.(map[string]any)["serviceEndpoint"] = other.URL
			}
		}
	})
	err := s.Refresh(context.Background())
	if err == nil {
		t.Fatal("refreshed a session whose account moved away")
	}
	if e.net.Counters().Refreshes != 0 {
		t.Fatal("the refresh token was sent")
	}
}

func TestRefreshAfterRestartPrimesNonce(t *testing.T) {
	// A new process (a new Client on the same store) knows no nonce. The
	// fake, like the reference server, spends a refresh token before it
	// checks the DPoP nonce: a refresh sent without a fresh nonce would
	// end the session.
	e := newEnv(t)
	s := e.login("alice.test")
	rs := e.otherProcess(e.store, s)
	if err := rs.Refresh(context.Background()); err != nil {
		t.Fatalf("refresh after restart: %v", err)
	}
	if c := e.net.Counters(); c.RefreshReplays != 0 || c.Refreshes != 1 {
		t.Fatalf("refreshes %d, replays %d", c.Refreshes, c.RefreshReplays)
	}
	mustWrite(t, rs)
}

func TestGrantedScopeIsStoredAsReturned(t *testing.T) {
	e := newEnv(t)
	auth, q := e.authorize("alice.test", e.alice, atoauthtest.GrantScope("atproto"))
	s, err := e.client.Callback(context.Background(), q, &atoauth.CallbackOptions{State: auth.State})
	if err != nil {
		t.Fatal(err)
	}
	if s.Scope() != "atproto" {
		t.Fatalf("scope = %q, want the granted \"atproto\", not the requested one", s.Scope())
	}
}

func TestEachSessionHasItsOwnDPoPKey(t *testing.T) {
	e := newEnv(t)
	a, b := e.login("alice.test"), e.login("alice.test")
	da, _ := e.store.GetSession(context.Background(), a.ID())
	db, _ := e.store.GetSession(context.Background(), b.ID())
	if da.DPoPKey.Thumbprint() == db.DPoPKey.Thumbprint() {
		t.Fatal("two sessions share a DPoP key")
	}
	if a.ID() == b.ID() {
		t.Fatal("two sessions share an id")
	}
}

func TestRemovedClientKeyEndsItsSessions(t *testing.T) {
	host := atoauthtest.NewClientHost(t)
	oldKey := mustGenerate(t).WithKeyID("old")
	newKey := mustGenerate(t).WithKeyID("new")
	clientID := atoauthtest.ClientHostURL + "/oauth-client-metadata.json"
	mk := func(store atoauth.Store, n *atoauthtest.Network, keys ...*jwk.Key) *atoauth.Client {
		c, err := atoauth.NewClient(atoauth.Config{
			ClientID: clientID, RedirectURIs: []string{atoauthtest.ClientHostURL + "/callback"},
			Scope: "atproto transition:generic", Keys: keys, Store: store,
			PLCURL: n.PLC.URL, HandleResolver: n.PDS.URL, AllowInsecureDevelopment: true,
		})
		if err != nil {
			t.Fatal(err)
		}
		host.Handle("/oauth-client-metadata.json", c.MetadataHandler())
		return c
	}
	e := newEnvWith(t, atoauthtest.Options{ClientHTTPClient: host.HTTPClient()}, func(c *atoauth.Config) {
		c.ClientID, c.RedirectURIs, c.Keys = clientID, []string{atoauthtest.ClientHostURL + "/callback"}, []*jwk.Key{oldKey}
	})
	host.Handle("/oauth-client-metadata.json", e.client.MetadataHandler())
	s := e.login("alice.test")

	// Rotation: the new key first, the old one kept: old sessions go on.
	rotated := mk(e.store, e.net, newKey, oldKey)
	rs, err := rotated.Session(context.Background(), s.ID())
	if err != nil {
		t.Fatal(err)
	}
	if err := rs.Refresh(context.Background()); err != nil {
		t.Fatalf("refresh with the old key still listed: %v", err)
	}
	// The old key removed: its sessions end.
	removed := mk(e.store, e.net, newKey)
	rm, err := removed.Session(context.Background(), s.ID())
	if err != nil {
		t.Fatal(err)
	}
	if err := rm.Refresh(context.Background()); !errors.Is(err, atoauth.ErrSessionExpired) {
		t.Fatalf("refresh without the bound key: %v, want ErrSessionExpired", err)
	}
}

func mustGenerate(t *testing.T) *jwk.Key {
	k, err := jwk.Generate()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// A loopback client registers a port-less redirect URI, keeping its
// client_id stable, and listens on a different port for each login.
func TestLoopbackRedirectPortIsIgnored(t *testing.T) {
	e := newEnv(t, func(c *atoauth.Config) { c.RedirectURIs = []string{"http://127.0.0.1/callback"} })
	ctx := context.Background()
	auth, err := e.client.Start(ctx, "alice.test", &atoauth.StartOptions{RedirectURI: "http://127.0.0.1:54321/callback"})
	if err != nil {
		t.Fatal(err)
	}
	redirect, err := e.net.Approve(ctx, auth.URL, e.alice)
	if err != nil {
		t.Fatal(err)
	}
	if redirect.Host != "127.0.0.1:54321" {
		t.Fatalf("redirected to %s", redirect)
	}
	if _, err := e.client.Callback(ctx, redirect.Query(), &atoauth.CallbackOptions{State: auth.State}); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"http://127.0.0.1:54321/other", "http://localhost:54321/callback", "http://[::1]:54321/callback"} {
		if _, err := e.client.Start(ctx, "alice.test", &atoauth.StartOptions{RedirectURI: bad}); err == nil {
			t.Errorf("Start accepted redirect URI %s", bad)
		}
	}
}
