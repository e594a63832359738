package atoauthtest

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bluesky-social/indigo/atproto/atcrypto"
	"github.com/bluesky-social/indigo/atproto/syntax"
)

// Options configures a [Network]. The zero value is ready to use.
type Options struct {
	// AccessTokenTTL is the lifetime of access tokens (default 1h).
	AccessTokenTTL time.Duration
	// RefreshTokenTTL is the lifetime of each refresh token (default 14 days).
	RefreshTokenTTL time.Duration
	// Clock is the time source of all servers (nil: time.Now). It drives
	// token expiry, DPoP iat checks, client assertion checks and the Date
	// response header, so a test can skew or advance the servers' clock.
	Clock func() time.Time
	// ClientHTTPClient fetches https client metadata documents and jwks_uri
	// documents. Redirects are never followed whatever its CheckRedirect.
	// Loopback clients ("http://localhost?...") need no fetch. See
	// [ClientHost.HTTPClient] for a client that reaches a [ClientHost].
	ClientHTTPClient *http.Client
	// Logger receives one record per rejected request, naming the check that
	// failed (nil: records go to the test log through t.Log).
	Logger *slog.Logger
	// AppViewDID is the DID of the network's fake AppView, reached through
	// the PDS with "atproto-proxy: <AppViewDID>#bsky_appview" (default
	// "did:web:api.bsky.app", as on the Bluesky network).
	AppViewDID string
	// ChatDID is the DID of the network's fake chat service, reached
	// through the PDS with "atproto-proxy: <ChatDID>#bsky_chat" (default
	// "did:web:api.bsky.chat").
	ChatDID string
	// NoDefaultService makes the PDS refuse a call to a method it does
	// not implement that names no service, with 400 InvalidRequest "No
	// service configured for <nsid>", as the reference PDS does when it
	// has no AppView configured. By default it forwards such calls to the
	// network's AppView, as the reference PDS forwards them to its
	// configured one (pipethrough.ts, defaultService).
	NoDefaultService bool
}

// Network is a running fake atproto network. Create it with [NewNetwork].
// All methods are safe for concurrent use.
type Network struct {
	// AS is the OAuth authorization server; its URL is the issuer.
	AS *httptest.Server
	// PDS is the resource server. It also answers
	// com.atproto.identity.resolveHandle for every account of the network.
	PDS *httptest.Server
	// PLC is the PLC directory: GET /{did} answers the DID document.
	PLC *httptest.Server

	opts  Options
	log   *slog.Logger
	clock func() time.Time

	done      chan struct{} // closed when the network shuts down
	closeOnce sync.Once
	asDPoP    *dpopVerifier
	pdsDPoP   *dpopVerifier
	tids      *syntax.TIDClock

	mu       sync.Mutex
	tamper   Tamper
	counters Counters
	pushed   pushedLog // accepted PAR requests (PushedRequests)

	accounts map[syntax.DID]*account
	handles  map[syntax.Handle]syntax.DID
	repos    map[syntax.DID]*repo

	pars          map[string]*parRequest // by request_uri
	codes         map[string]*authCode
	sessions      map[string]*session // by session id
	accessTokens  map[string]*session
	refreshTokens map[string]*refreshEntry
	issuedAccess  map[string]bool // every access token ever issued
	challenges    map[string]bool // code_challenge values ever used
	states        map[string]bool // client_id + state values ever used
	assertionJTIs map[string]time.Time
	approvals     map[string]*approval
	appPasswords  map[syntax.DID]string
	legacy        map[string]*legacySession // by access and by refresh token
}

type account struct {
	did     syntax.DID
	handle  syntax.Handle
	pds     string
	key     string // publicKeyMultibase of the (unused) signing key
	foreign bool
}

// NewNetwork starts the servers of a fake network. They are closed by
// t.Cleanup.
func NewNetwork(t testing.TB, opts Options) *Network {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(testLogWriter{t}, nil))
	}
	n := Start(opts)
	t.Cleanup(n.Close)
	return n
}

// Start starts the servers of a fake network outside a test, e.g. in an
// Example; the caller must Close it. Without Options.Logger, rejected
// requests are not logged.
func Start(opts Options) *Network {
	if opts.AccessTokenTTL <= 0 {
		opts.AccessTokenTTL = time.Hour
	}
	if opts.RefreshTokenTTL <= 0 {
		opts.RefreshTokenTTL = 14 * 24 * time.Hour
	}
	if opts.AppViewDID == "" {
		opts.AppViewDID = DefaultAppViewDID
	}
	if opts.ChatDID == "" {
		opts.ChatDID = DefaultChatDID
	}
	clock := opts.Clock
	if clock == nil {
		clock = time.Now
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	n := &Network{
		opts:          opts,
		log:           logger,
		clock:         clock,
		tids:          syntax.NewTIDClock(0),
		done:          make(chan struct{}),
		accounts:      map[syntax.DID]*account{},
		handles:       map[syntax.Handle]syntax.DID{},
		repos:         map[syntax.DID]*repo{},
		pars:          map[string]*parRequest{},
		codes:         map[string]*authCode{},
		sessions:      map[string]*session{},
		accessTokens:  map[string]*session{},
		refreshTokens: map[string]*refreshEntry{},
		issuedAccess:  map[string]bool{},
		challenges:    map[string]bool{},
		states:        map[string]bool{},
		assertionJTIs: map[string]time.Time{},
		approvals:     map[string]*approval{},
	}
	n.AS = httptest.NewUnstartedServer(nil)
	n.PDS = httptest.NewUnstartedServer(nil)
	n.PLC = httptest.NewUnstartedServer(nil)
	n.AS.Start()
	n.PDS.Start()
	n.PLC.Start()
	n.asDPoP = newDPoPVerifier(n.AS.URL, clock)
	n.pdsDPoP = newDPoPVerifier(n.PDS.URL, clock)
	n.AS.Config.Handler = n.wrap("AS", n.asDPoP, n.asHandler())
	n.PDS.Config.Handler = n.wrap("PDS", n.pdsDPoP, n.pdsHandler())
	n.PLC.Config.Handler = n.wrap("PLC", nil, http.HandlerFunc(n.servePLC))
	return n
}

// Close shuts the servers down. It may be called more than once.
func (n *Network) Close() {
	n.closeOnce.Do(func() {
		close(n.done)
		n.AS.Close()
		n.PDS.Close()
		n.PLC.Close()
	})
}

// testLogWriter sends log lines to the test log.
type testLogWriter struct{ t testing.TB }

func (w testLogWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func (n *Network) now() time.Time { return n.clock() }

// Issuer returns the issuer identifier of the authorization server (its
// origin, n.AS.URL).
func (n *Network) Issuer() string { return n.AS.URL }

// SetTamper replaces all misbehaviour knobs at once; SetTamper(Tamper{})
// restores correct behaviour. It may be called at any time, also while
// requests are in flight: each request sees the knobs as they were when it
// arrived.
func (n *Network) SetTamper(t Tamper) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.tamper = t
}

// UpdateTamper edits the misbehaviour knobs under the network's lock, e.g.
//
//	n.UpdateTamper(func(t *atoauthtest.Tamper) { t.NoNonceRotation = true })
func (n *Network) UpdateTamper(f func(t *Tamper)) {
	n.mu.Lock()
	defer n.mu.Unlock()
	f(&n.tamper)
}

func (n *Network) currentTamper() Tamper {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.tamper
}

// Counters returns a snapshot of the request counters.
func (n *Network) Counters() Counters {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.counters
}

func (n *Network) count(f func(c *Counters)) {
	n.mu.Lock()
	defer n.mu.Unlock()
	f(&n.counters)
}

// CreateAccount creates an account hosted on the network's PDS and returns
// its DID, a did:plc with 24 random base32 characters. Its DID document
// claims at://<handle> and names n.PDS.URL as its #atproto_pds service.
// The handle must be a valid handle (for example "alice.test") not yet in
// use; CreateAccount panics otherwise.
func (n *Network) CreateAccount(handle string) syntax.DID {
	return n.createAccount(handle, n.PDS.URL, false)
}

// CreateForeignAccount creates an account whose DID document names pdsURL
// as its PDS, for instance another Network's PDS or an unrelated server:
// the network's PLC directory and handle resolver know it, its PDS does
// not host it. [Network.Approve] still signs in as it, so the
// authorization server mints tokens for an account it does not host —
// exactly what a client must refuse by checking that the sub's PDS points
// back to the issuer.
func (n *Network) CreateForeignAccount(handle, pdsURL string) syntax.DID {
	return n.createAccount(handle, pdsURL, true)
}

func (n *Network) createAccount(handle, pdsURL string, foreign bool) syntax.DID {
	h, err := syntax.ParseHandle(handle)
	if err != nil {
		panic("atoauthtest: CreateAccount: " + err.Error())
	}
	h = h.Normalize()
	key, err := atcrypto.GeneratePrivateKeyP256()
	if err != nil {
		panic("atoauthtest: " + err.Error())
	}
	pub, err := key.PublicKey()
	if err != nil {
		panic("atoauthtest: " + err.Error())
	}
	did := syntax.DID("did:plc:" + randomBase32(24))
	n.mu.Lock()
	defer n.mu.Unlock()
	if _, dup := n.handles[h]; dup {
		panic("atoauthtest: CreateAccount: handle " + string(h) + " already in use")
	}
	n.accounts[did] = &account{did: did, handle: h, pds: strings.TrimSuffix(pdsURL, "/"), key: pub.Multibase(), foreign: foreign}
	n.handles[h] = did
	if !foreign {
		n.repos[did] = newRepo()
		n.commitLocked(did)
	}
	return did
}

// Handle returns the handle of an account of the network ("" if unknown).
func (n *Network) Handle(did syntax.DID) syntax.Handle {
	n.mu.Lock()
	defer n.mu.Unlock()
	if a := n.accounts[did]; a != nil {
		return a.handle
	}
	return ""
}

func (n *Network) lookupIdentifier(id string) (*account, bool) {
	ident, err := syntax.ParseAtIdentifier(id)
	if err != nil {
		return nil, false
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if ident.IsDID() {
		a := n.accounts[ident.DID()]
		return a, a != nil
	}
	h, _ := ident.AsHandle()
	did, ok := n.handles[h.Normalize()]
	if !ok {
		return nil, false
	}
	return n.accounts[did], true
}

// wrap installs the behaviour shared by every response of a server: the
// Date header from the fake clock, the origin's DPoP-Nonce header (rotated
// per response unless Tamper.NoNonceRotation or Tamper.NonceWindow), CORS
// headers and the request counters.
func (n *Network) wrap(name string, v *dpopVerifier, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t := n.currentTamper()
		if name == "PDS" {
			n.count(func(c *Counters) { c.PDSRequests++ })
		}
		browser := name == "AS" && r.URL.Path == authorizePath
		hw := &hookWriter{ResponseWriter: w}
		hw.before = func(hdr http.Header) {
			hdr.Set("Date", n.now().UTC().Format(http.TimeFormat))
			if browser {
				return
			}
			hdr.Set("Access-Control-Allow-Origin", "*")
			hdr.Set("Access-Control-Expose-Headers", "DPoP-Nonce, WWW-Authenticate")
			if v != nil && !t.OmitDPoPNonce {
				hdr.Set("DPoP-Nonce", v.issueFor(t))
			}
		}
		if r.Method == http.MethodOptions && !browser {
			hw.Header().Set("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
			hw.Header().Set("Access-Control-Allow-Headers", "Authorization, Content-Type, DPoP, atproto-proxy")
			hw.Header().Set("Access-Control-Max-Age", "600")
			hw.WriteHeader(http.StatusNoContent)
			return
		}
		h.ServeHTTP(hw, r)
		if !hw.wrote {
			hw.WriteHeader(http.StatusOK)
		}
	})
}

// hookWriter runs before exactly once, just before the response header is
// written.
type hookWriter struct {
	http.ResponseWriter
	before func(http.Header)
	wrote  bool
}

func (w *hookWriter) WriteHeader(code int) {
	if !w.wrote {
		w.wrote = true
		w.before(w.Header())
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *hookWriter) Write(b []byte) (int, error) {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(b)
}

func (w *hookWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// writeJSON writes v as a JSON response.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// toGeneric converts v to the generic JSON form (map[string]any, []any,
// float64, ...) that a Tamper function receives.
func toGeneric(v any) map[string]any {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		panic(err)
	}
	return m
}

// randomToken returns prefix followed by n random bytes in base64url.
func randomToken(prefix string, n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return prefix + base64.RawURLEncoding.EncodeToString(b)
}

const base32Alphabet = "abcdefghijklmnopqrstuvwxyz234567"

func randomBase32(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = base32Alphabet[int(b[i])%32]
	}
	return string(b)
}

// sleepCtx sleeps for d or until ctx or the network is done.
func (n *Network) sleepCtx(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-ctx.Done():
	case <-n.done:
	case <-tm.C:
	}
}
