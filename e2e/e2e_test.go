// Package e2e proves atoauth against the real thing: the reference PDS,
// PLC directory and AppView from the npm registry (testenv/), signed in
// through the PDS's own sign-in and consent pages in headless Chromium.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"image"
	"image/color"
	"image/png"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/atoauth/atoauth"
	"github.com/atoauth/atoauth/internal/testnet"
)

func TestMain(m *testing.M) {
	code := testnet.Main(m, testnet.Options{Env: []string{"ATOAUTH_TEST_TOKEN_MAX_AGE_SECONDS=" + tokenMaxAge}})
	if buildErr == nil && binPath != "" {
		os.RemoveAll(filepath.Dir(binPath)) // the atoauth binary built for the CLI tests
	}
	os.Exit(code)
}

// tokenMaxAge is the access-token lifetime of a network this binary starts
// itself (scripts/test sets the same for the shared one).
const tokenMaxAge = "20"

type harness struct {
	t           *testing.T
	net         *testnet.Network
	client      *atoauth.Client
	store       atoauth.Store
	redirectURI string
}

func newHarness(t *testing.T, scope string) *harness {
	t.Helper()
	return newHarnessWith(t, scope, nil)
}

// newHarnessWith is newHarness with the client's Config adjusted by edit
// before NewClient (a store, an HTTP client).
func newHarnessWith(t *testing.T, scope string, edit func(*atoauth.Config)) *harness {
	t.Helper()
	n := testnet.Get(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "signed in; you can close this tab")
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	port := ln.Addr().(*net.TCPAddr).Port
	// The client_id names a port-less redirect URI, as a command-line tool
	// does; each login then redirects to the port it listens on (the
	// server ignores loopback ports when matching, RFC 8252 §7.3).
	cfg := atoauth.Config{RedirectURIs: []string{"http://127.0.0.1/callback"}, Scope: scope}
	cfg.PLCURL = n.PLCURL
	cfg.HandleResolver = n.PDSURL
	cfg.AllowInsecureDevelopment = true
	cfg.Logger = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	cfg.Store = &countingStore{Store: atoauth.NewMemoryStore()}
	if edit != nil {
		edit(&cfg)
	}
	c, err := atoauth.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &harness{t: t, net: n, client: c, store: cfg.Store, redirectURI: fmt.Sprintf("http://127.0.0.1:%d/callback", port)}
}

// countingStore counts the sessions saved: one per login, one per refresh.
type countingStore struct {
	atoauth.Store
	saves atomic.Int64
}

func (s *countingStore) SaveSession(ctx context.Context, d *atoauth.SessionData) error {
	s.saves.Add(1)
	return s.Store.SaveSession(ctx, d)
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// authorize starts a login for identifier and drives the browser through
// the PDS's pages; it returns the callback query.
func (h *harness) authorize(identifier string, acct testnet.Account, opts testnet.AuthorizeOptions) (*atoauth.Authorization, url.Values) {
	h.t.Helper()
	ctx := context.Background()
	auth, err := h.client.Start(ctx, identifier, &atoauth.StartOptions{RedirectURI: h.redirectURI})
	if err != nil {
		h.t.Fatalf("Start(%q): %v", identifier, err)
	}
	opts.Password = acct.Password
	opts.RedirectPrefix = h.redirectURI
	opts.Name = h.t.Name()
	if strings.HasPrefix(identifier, "http") {
		opts.Username = acct.Handle
	}
	final, err := testnet.Authorize(ctx, auth.URL, opts)
	if err != nil {
		h.t.Fatal(err)
	}
	u, err := url.Parse(final)
	if err != nil {
		h.t.Fatal(err)
	}
	return auth, u.Query()
}

func (h *harness) login(identifier string, acct testnet.Account) *atoauth.Session {
	h.t.Helper()
	auth, q := h.authorize(identifier, acct, testnet.AuthorizeOptions{})
	s, err := h.client.Callback(context.Background(), q, &atoauth.CallbackOptions{State: auth.State})
	if err != nil {
		h.t.Fatalf("Callback: %v", err)
	}
	if s.DID().String() != acct.DID || s.Handle().String() != acct.Handle {
		h.t.Fatalf("signed in as %s (%s), want %s (%s)", s.Handle(), s.DID(), acct.Handle, acct.DID)
	}
	if s.PDS() != h.net.PDSURL || s.Info().Issuer != h.net.Issuer {
		h.t.Fatalf("session PDS %s issuer %s, want %s %s", s.PDS(), s.Info().Issuer, h.net.PDSURL, h.net.Issuer)
	}
	return s
}

// call sends one XRPC request through the session and decodes the JSON
// answer into out (when non-nil). It fails the test on a transport error.
func call(t *testing.T, s *atoauth.Session, method, nsid string, params url.Values, body any, out any) int {
	t.Helper()
	status, raw := callRaw(t, s, method, nsid, params, body, "application/json", nil)
	if out != nil && status == 200 {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("%s: %v: %s", nsid, err, raw)
		}
	}
	if status != 200 {
		t.Logf("%s: HTTP %d %s", nsid, status, raw)
	}
	return status
}

func callRaw(t *testing.T, s *atoauth.Session, method, nsid string, params url.Values, body any, contentType string, header http.Header) (int, []byte) {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	u := s.PDS() + "/xrpc/" + nsid
	if len(params) > 0 {
		u += "?" + params.Encode()
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", contentType)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := s.HTTPClient().Do(req)
	if err != nil {
		t.Fatalf("%s: %v", nsid, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, raw
}

func post(text string) map[string]any {
	return map[string]any{"$type": "app.bsky.feed.post", "text": text, "createdAt": time.Now().UTC().Format(time.RFC3339Nano)}
}

func createPost(t *testing.T, s *atoauth.Session, text string) string {
	t.Helper()
	var out struct{ URI, CID string }
	if st := call(t, s, "POST", "com.atproto.repo.createRecord", nil,
		map[string]any{"repo": s.DID(), "collection": "app.bsky.feed.post", "record": post(text)}, &out); st != 200 {
		t.Fatalf("createRecord: HTTP %d", st)
	}
	if !strings.HasPrefix(out.URI, "at://"+s.DID().String()+"/app.bsky.feed.post/") {
		t.Fatalf("createRecord uri %q", out.URI)
	}
	return out.URI
}

func TestLoginFromHandleThenRecordsAndBlobs(t *testing.T) {
	h := newHarness(t, "atproto transition:generic")
	alice := h.net.Account("alice")
	s := h.login(alice.Handle, alice)
	did := s.DID().String()

	uri := createPost(t, s, "hello from atoauth")
	rkey := uri[strings.LastIndex(uri, "/")+1:]

	// getRecord and listRecords.
	var rec struct {
		URI   string
		Value map[string]any
	}
	if st := call(t, s, "GET", "com.atproto.repo.getRecord", url.Values{"repo": {did}, "collection": {"app.bsky.feed.post"}, "rkey": {rkey}}, nil, &rec); st != 200 || rec.Value["text"] != "hello from atoauth" {
		t.Fatalf("getRecord: HTTP %d %+v", st, rec)
	}
	var list struct{ Records []struct{ URI string } }
	if st := call(t, s, "GET", "com.atproto.repo.listRecords", url.Values{"repo": {did}, "collection": {"app.bsky.feed.post"}}, nil, &list); st != 200 {
		t.Fatalf("listRecords: HTTP %d", st)
	}
	found := false
	for _, r := range list.Records {
		found = found || r.URI == uri
	}
	if !found {
		t.Fatalf("listRecords does not list %s", uri)
	}

	// uploadBlob, then putRecord a profile that uses it, then fetch it back.
	img := testPNG(t)
	status, raw := callRaw(t, s, "POST", "com.atproto.repo.uploadBlob", nil, img, "image/png", nil)
	if status != 200 {
		t.Fatalf("uploadBlob: HTTP %d %s", status, raw)
	}
	var blob struct {
		Blob map[string]any `json:"blob"`
	}
	if err := json.Unmarshal(raw, &blob); err != nil {
		t.Fatal(err)
	}
	cid, _ := blob.Blob["ref"].(map[string]any)["$link"].(string)
	if cid == "" || blob.Blob["mimeType"] != "image/png" {
		t.Fatalf("blob ref %v", blob.Blob)
	}
	profile := map[string]any{"$type": "app.bsky.actor.profile", "displayName": "Alice via atoauth", "avatar": blob.Blob}
	if st := call(t, s, "POST", "com.atproto.repo.putRecord", nil,
		map[string]any{"repo": did, "collection": "app.bsky.actor.profile", "rkey": "self", "record": profile}, nil); st != 200 {
		t.Fatalf("putRecord: HTTP %d", st)
	}
	status, got := callRaw(t, s, "GET", "com.atproto.sync.getBlob", url.Values{"did": {did}, "cid": {cid}}, nil, "", nil)
	if status != 200 || !bytes.Equal(got, img) {
		t.Fatalf("getBlob: HTTP %d, %d bytes (uploaded %d)", status, len(got), len(img))
	}
	if st := call(t, s, "POST", "com.atproto.repo.deleteRecord", nil,
		map[string]any{"repo": did, "collection": "app.bsky.feed.post", "rkey": rkey}, nil); st != 200 {
		t.Fatalf("deleteRecord: HTTP %d", st)
	}
}

func TestLoginFromDID(t *testing.T) {
	h := newHarness(t, "atproto transition:generic")
	bob := h.net.Account("bob")
	s := h.login(bob.DID, bob)
	createPost(t, s, "bob signed in by DID")
}

func TestLoginFromPDSURL(t *testing.T) {
	h := newHarness(t, "atproto transition:generic")
	alice := h.net.Account("alice")
	s := h.login(h.net.PDSURL, alice) // the account is chosen at the server
	createPost(t, s, "alice signed in from the PDS URL")
}

func TestDeniedConsent(t *testing.T) {
	h := newHarness(t, "atproto transition:generic")
	alice := h.net.Account("alice")
	auth, q := h.authorize(alice.Handle, alice, testnet.AuthorizeOptions{Deny: true})
	_, err := h.client.Callback(context.Background(), q, &atoauth.CallbackOptions{State: auth.State})
	var ce *atoauth.CallbackError
	if !errors.As(err, &ce) || ce.Code != "access_denied" {
		t.Fatalf("err = %v, want access_denied", err)
	}
}

// The classic failure, reproduced: the same access token sent as Bearer is
// refused by the PDS, while atoauth's DPoP request succeeds.
func TestBearerTokenIsRefusedDPoPSucceeds(t *testing.T) {
	h := newHarness(t, "atproto transition:generic")
	alice := h.net.Account("alice")
	s := h.login(alice.Handle, alice)
	data, err := h.store.GetSession(context.Background(), s.ID())
	if err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(map[string]any{"repo": s.DID(), "collection": "app.bsky.feed.post", "record": post("as bearer")})
	req, _ := http.NewRequest("POST", s.PDS()+"/xrpc/com.atproto.repo.createRecord", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+data.AccessToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var xe struct{ Error, Message string }
	_ = json.Unmarshal(raw, &xe)
	if resp.StatusCode != 400 || xe.Error != "InvalidToken" || (xe.Message != "Malformed token" && xe.Message != "Bad token scope") {
		t.Fatalf("Bearer createRecord: HTTP %d %s; want 400 InvalidToken", resp.StatusCode, raw)
	}
	t.Logf("Bearer answer: HTTP %d %s", resp.StatusCode, raw)
	createPost(t, s, "the same token, sent properly")
}

// shortTokenLogin signs alice in on a network whose access tokens live
// at most maxAge seconds (scripts/test starts it with
// ATOAUTH_TEST_TOKEN_MAX_AGE_SECONDS=20).
func shortTokenLogin(t *testing.T, maxAge float64) (*harness, *atoauth.Session) {
	t.Helper()
	h := newHarness(t, "atproto transition:generic")
	if h.net.TokenMaxAge > maxAge {
		t.Fatalf("the network's access tokens live %vs; start it with ATOAUTH_TEST_TOKEN_MAX_AGE_SECONDS=20 (scripts/test does)", h.net.TokenMaxAge)
	}
	alice := h.net.Account("alice")
	return h, h.login(alice.Handle, alice)
}

func TestRefreshAgainstTheRealServer(t *testing.T) {
	h, s := shortTokenLogin(t, 120)
	ctx := context.Background()
	first, _ := h.store.GetSession(ctx, s.ID())

	// Proactive: wait until the token is about to expire; the next request
	// refreshes first.
	time.Sleep(time.Until(first.ExpiresAt.Add(-time.Second)))
	createPost(t, s, "after a proactive refresh")
	second, _ := h.store.GetSession(ctx, s.ID())
	if second.RefreshToken == first.RefreshToken || second.AccessToken == first.AccessToken {
		t.Fatal("no refresh happened")
	}

	// Reactive: the client does not know the expiry, so it sends the expired
	// token; the PDS answers 401 invalid_token, atoauth refreshes and
	// retries.
	second.ExpiresAt = time.Time{}
	if err := h.store.SaveSession(ctx, second); err != nil {
		t.Fatal(err)
	}
	s2, err := h.client.Session(ctx, s.ID())
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Duration(h.net.TokenMaxAge*float64(time.Second)) + 1500*time.Millisecond)
	createPost(t, s2, "after a reactive refresh")
	third, _ := h.store.GetSession(ctx, s.ID())
	if third.RefreshToken == second.RefreshToken {
		t.Fatal("no reactive refresh happened")
	}
}

func TestSecondSessionAndRevocation(t *testing.T) {
	h := newHarness(t, "atproto transition:generic")
	alice := h.net.Account("alice")
	a := h.login(alice.Handle, alice)
	b := h.login(alice.Handle, alice)
	if a.ID() == b.ID() {
		t.Fatal("two logins share a session")
	}
	createPost(t, a, "from session A")
	createPost(t, b, "from session B")

	ctx := context.Background()
	da, _ := h.store.GetSession(ctx, a.ID())
	if err := a.Logout(ctx); err != nil {
		t.Fatal(err)
	}
	// The revoked token no longer works at the PDS, even with a valid proof.
	r := restoreSession(t, h.client, da)
	// The PDS answers 401 invalid_token; atoauth tries to refresh, and the
	// authorization server refuses the revoked refresh token too.
	body, _ := json.Marshal(map[string]any{"repo": alice.DID, "collection": "app.bsky.feed.post", "record": post("after logout")})
	req, _ := http.NewRequest("POST", r.PDS()+"/xrpc/com.atproto.repo.createRecord", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	err := refusedAsEnded(t, r, req)
	var oe *atoauth.OAuthError
	if !errors.As(err, &oe) || oe.Code != "invalid_grant" {
		t.Fatalf("err = %v, want the server's invalid_grant as the cause", err)
	}
	// A dead session is deleted, not refreshed again on every request.
	if _, err := h.client.Session(ctx, r.ID()); !errors.Is(err, atoauth.ErrSessionNotFound) {
		t.Fatalf("the ended session is still stored: %v", err)
	}
	createPost(t, b, "session B is undisturbed")
}

// restoreSession puts d, the stored data of a session that has since
// ended, back into client's store under a new ID, as a stale copy or a
// backup would, and returns it as a session of client.
func restoreSession(t *testing.T, client *atoauth.Client, d *atoauth.SessionData) *atoauth.Session {
	t.Helper()
	restored := *d
	restored.ID = "restored-" + d.ID
	restored.ExpiresAt = time.Time{}
	if err := client.Store().SaveSession(context.Background(), &restored); err != nil {
		t.Fatal(err)
	}
	s, err := client.Session(context.Background(), restored.ID)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// refusedAsEnded sends req through s, which must fail with
// ErrSessionExpired, and returns the error.
func refusedAsEnded(t *testing.T, s *atoauth.Session, req *http.Request) error {
	t.Helper()
	resp, err := s.HTTPClient().Do(req)
	if err == nil {
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		t.Fatalf("an ended session could still be used: HTTP %d %s", resp.StatusCode, raw)
	}
	if !errors.Is(err, atoauth.ErrSessionExpired) {
		t.Fatalf("err = %v, want ErrSessionExpired", err)
	}
	return err
}

// A short-lived token is used for most of its life: 30 requests spread
// over 10 s, with the reference server's access tokens living 20 s, cause
// one refresh (the margin is a quarter of the token's life, not
// the 2 minutes that used to mean a refresh before every request).
func TestShortTokensAreNotRefreshedOnEveryRequest(t *testing.T) {
	h, s := shortTokenLogin(t, 60)
	cs := h.store.(*countingStore)
	// Start 8 s into the token's life, so that the 10 s cross the point
	// where it is refreshed (5 to 6.25 s before it expires): exactly once.
	time.Sleep(time.Until(s.Info().UpdatedAt.Add(8 * time.Second)))
	before := cs.saves.Load()
	start := time.Now()
	for i := range 30 {
		var out any
		if st := call(t, s, "GET", "com.atproto.server.getSession", nil, nil, &out); st != 200 {
			t.Fatalf("request %d: HTTP %d", i, st)
		}
		time.Sleep(time.Until(start.Add(time.Duration(i+1) * 10 * time.Second / 30)))
	}
	refreshes := cs.saves.Load() - before
	t.Logf("30 requests over %s with %vs tokens: %d refreshes", time.Since(start).Round(time.Millisecond), h.net.TokenMaxAge, refreshes)
	if refreshes != 1 {
		t.Fatalf("%d refreshes, want exactly 1", refreshes)
	}
}

func TestProfileThroughTheAppViewProxy(t *testing.T) {
	h := newHarness(t, "atproto transition:generic")
	if h.net.AppViewURL == "" {
		if _, required := testnet.Enabled(); required {
			t.Fatal("the network has no AppView; scripts/test starts it with --appview")
		}
		t.Skip("the network has no AppView (start it with --appview)")
	}
	bob := h.net.Account("bob")
	s := h.login(bob.Handle, bob)
	hdr := http.Header{"Atproto-Proxy": {h.net.AppViewDID + "#bsky_appview"}}
	var status int
	var raw []byte
	// The AppView indexes the repo asynchronously: poll briefly.
	for i := 0; i < 50; i++ {
		status, raw = callRaw(t, s, "GET", "app.bsky.actor.getProfile", url.Values{"actor": {bob.DID}}, nil, "", hdr)
		if status == 200 {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	var prof struct{ DID, Handle string }
	if status != 200 || json.Unmarshal(raw, &prof) != nil || prof.DID != bob.DID {
		t.Fatalf("getProfile through the PDS: HTTP %d %s", status, raw)
	}
	t.Logf("getProfile: %s", raw)
}

func testPNG(t *testing.T) []byte {
	img := image.NewRGBA(image.Rect(0, 0, 32, 32))
	for x := range 32 {
		for y := range 32 {
			img.Set(x, y, color.RGBA{uint8(x * 8), uint8(y * 8), 200, 255})
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
