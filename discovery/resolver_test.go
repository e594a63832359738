package discovery_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/bluesky-social/indigo/atproto/syntax"

	"github.com/atoauth/atoauth/discovery"
	"github.com/atoauth/atoauth/safehttp"
)

var (
	aliceDID = plcDID("alice")
	bobDID   = plcDID("bob")
)

func TestResolveLoginFromHandle(t *testing.T) {
	f := newFakeNet(t)
	f.addAccount(aliceDID, "alice.test", f.PDS.URL)
	r := f.resolver(nil)

	for _, input := range []string{"alice.test", "@Alice.TEST", "  @alice.test\n"} {
		tg, err := r.ResolveLogin(t.Context(), input)
		if err != nil {
			t.Fatalf("%q: %v", input, err)
		}
		if tg.Identity == nil || tg.Identity.DID.String() != aliceDID || tg.Identity.Handle.String() != "alice.test" {
			t.Fatalf("%q: identity %+v", input, tg.Identity)
		}
		if tg.PDS != f.PDS.URL || tg.AuthServer.Issuer != f.AS.URL || tg.LoginHint != "alice.test" {
			t.Fatalf("%q: target %+v", input, tg)
		}
		if tg.AuthServer.PushedAuthorizationRequestEndpoint != f.AS.URL+"/oauth/par" {
			t.Fatalf("%q: PAR endpoint %q", input, tg.AuthServer.PushedAuthorizationRequestEndpoint)
		}
	}
}

func TestResolveLoginFromDID(t *testing.T) {
	f := newFakeNet(t)
	f.addAccount(aliceDID, "alice.test", f.PDS.URL+"/") // a trailing slash is tolerated
	tg, err := f.resolver(nil).ResolveLogin(t.Context(), aliceDID)
	if err != nil {
		t.Fatal(err)
	}
	if tg.Identity.DID.String() != aliceDID || tg.Identity.Handle.String() != "alice.test" ||
		tg.PDS != f.PDS.URL || tg.AuthServer.Issuer != f.AS.URL || tg.LoginHint != aliceDID {
		t.Fatalf("target %+v, identity %+v", tg, tg.Identity)
	}
}

func TestResolveLoginFromPDSURL(t *testing.T) {
	f := newFakeNet(t)
	tg, err := f.resolver(nil).ResolveLogin(t.Context(), f.PDS.URL+"/some/page?x=1#top")
	if err != nil {
		t.Fatal(err)
	}
	if tg.Identity != nil || tg.LoginHint != "" || tg.PDS != f.PDS.URL || tg.AuthServer.Issuer != f.AS.URL {
		t.Fatalf("target %+v", tg)
	}
}

func TestResolveLoginFromEntrywayURL(t *testing.T) {
	f := newFakeNet(t)
	tg, err := f.resolver(nil).ResolveLogin(t.Context(), strings.ToUpper(f.AS.URL[:4])+f.AS.URL[4:]+"/")
	if err != nil {
		t.Fatal(err)
	}
	if tg.Identity != nil || tg.LoginHint != "" || tg.PDS != "" || tg.AuthServer.Issuer != f.AS.URL {
		t.Fatalf("target %+v", tg)
	}
}

func TestResolveLoginErrors(t *testing.T) {
	f := newFakeNet(t)
	f.addAccount(aliceDID, "alice.test", f.PDS.URL)
	// The handle resolves to bob, whose document claims another handle.
	f.addAccount(bobDID, "bob.test", f.PDS.URL)
	f.set(func(f *fakeNet) { f.handles["mallory.test"] = bobDID })
	// Documents with problems.
	wrongID, noPDS, pathPDS, wrongType := plcDID("wrongid"), plcDID("nopds"), plcDID("pathpds"), plcDID("wrongtype")
	f.set(func(f *fakeNet) {
		f.docs[wrongID] = didDoc(aliceDID, "", f.PDS.URL)
		f.docs[noPDS] = didDoc(noPDS, "", "")
		f.docs[pathPDS] = didDoc(pathPDS, "", f.PDS.URL+"/pds")
		doc := didDoc(wrongType, "", f.PDS.URL)
		doc["service"] = []map[string]string{{"id": "#atproto_pds", "type": "Other", "serviceEndpoint": f.PDS.URL}}
		f.docs[wrongType] = doc
	})
	r := f.resolver(nil)
	for _, tc := range []struct {
		input string
		want  error
	}{
		{"", discovery.ErrInvalidIdentifier},
		{"not a handle!", discovery.ErrInvalidIdentifier},
		{"alice", discovery.ErrInvalidIdentifier},
		{"ftp://pds.example.com", discovery.ErrInvalidIdentifier},
		{"https://user:pw@pds.example.com", discovery.ErrInvalidIdentifier},
		{"alice.local", discovery.ErrInvalidIdentifier}, // reserved TLD
		{"did:example:123", discovery.ErrInvalidIdentifier},
		{"did:web:localhost", discovery.ErrInvalidIdentifier},
		{"nobody.test", discovery.ErrHandleNotFound},
		{"mallory.test", discovery.ErrHandleMismatch},
		{plcDID("nobody"), discovery.ErrDIDNotFound},
		{wrongID, discovery.ErrInvalidDIDDocument},
		{noPDS, discovery.ErrNoPDS},
		{pathPDS, discovery.ErrNoPDS},
		{wrongType, discovery.ErrNoPDS},
	} {
		tg, err := r.ResolveLogin(t.Context(), tc.input)
		if !errors.Is(err, tc.want) || tg != nil {
			t.Errorf("ResolveLogin(%q) = (%+v, %v), want %v", tc.input, tg, err, tc.want)
			continue
		}
		var re *discovery.ResolveError
		if !errors.As(err, &re) || !strings.HasPrefix(err.Error(), "discovery: ") {
			t.Errorf("ResolveLogin(%q): %v is not a *ResolveError", tc.input, err)
		}
	}
}

func TestResolveLoginProductionRefusesLocalServers(t *testing.T) {
	f := newFakeNet(t)
	r := &discovery.Resolver{Directory: f.directory()} // production metadata client
	if _, err := r.ResolveLogin(t.Context(), f.PDS.URL); !errors.Is(err, discovery.ErrInvalidIdentifier) {
		t.Fatalf("http URL: err = %v, want ErrInvalidIdentifier", err)
	}
	// https, but on loopback: refused at dial time.
	tlsSrv := httptest.NewTLSServer(http.NotFoundHandler())
	defer tlsSrv.Close()
	_, err := r.ResolveLogin(t.Context(), tlsSrv.URL)
	if !errors.Is(err, discovery.ErrUnreachable) || !errors.Is(err, safehttp.ErrForbiddenAddress) {
		t.Fatalf("loopback https URL: err = %v, want ErrUnreachable wrapping ErrForbiddenAddress", err)
	}
	// The default directory is hardened too: a PLC on loopback is refused.
	dir := discovery.NewDirectory(discovery.DirectoryOptions{PLCURL: f.PLC.URL})
	_, err = dir.LookupDID(t.Context(), syntax.DID(aliceDID))
	if !errors.Is(err, discovery.ErrUnreachable) || !errors.Is(err, safehttp.ErrInsecureURL) {
		t.Fatalf("production directory: err = %v, want ErrUnreachable wrapping ErrInsecureURL", err)
	}
	if f.hitCount("plc") != 0 {
		t.Fatal("the PLC was reached")
	}
}

// TestMetadataFetchRules covers the fetching rules and every check of the
// resource metadata and the authorization server relation, through the
// network.
func TestMetadataFetchRules(t *testing.T) {
	type setup func(f *fakeNet)
	resource := func(h http.HandlerFunc) setup { return func(f *fakeNet) { f.resource = h } }
	resourceJSON := func(fn func(f *fakeNet) any) setup {
		return func(f *fakeNet) {
			f.resource = func(w http.ResponseWriter, r *http.Request) { writeJSON(w, fn(f)) }
		}
	}
	big := strings.Repeat(" ", 600<<10)
	for _, tc := range []struct {
		name  string
		setup setup
		field string
		cause error
	}{
		{"redirect", resource(func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "/elsewhere", http.StatusFound)
		}), "", safehttp.ErrRedirect},
		{"oversized with Content-Length", resource(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Content-Length", strconv.Itoa(len(big)+2))
			w.Write([]byte("{" + big + "}"))
		}), "", safehttp.ErrTooLarge},
		{"oversized chunked", resource(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte("{"))
			w.(http.Flusher).Flush()
			w.Write([]byte(big + "}"))
		}), "", safehttp.ErrTooLarge},
		{"wrong content type", resource(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			w.Write([]byte(`{}`))
		}), "", nil},
		{"status 500", resource(func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "oops", http.StatusInternalServerError)
		}), "", nil},
		{"status 201", resource(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusCreated)
		}), "", nil},
		{"resource mismatch", resourceJSON(func(f *fakeNet) any {
			return map[string]any{"resource": "https://other.example.com", "authorization_servers": []string{f.AS.URL}}
		}), "resource", nil},
		{"no authorization server", resourceJSON(func(f *fakeNet) any {
			return map[string]any{"resource": f.PDS.URL, "authorization_servers": []string{}}
		}), "authorization_servers", nil},
		{"two authorization servers", resourceJSON(func(f *fakeNet) any {
			return map[string]any{"resource": f.PDS.URL, "authorization_servers": []string{f.AS.URL, f.PDS.URL}}
		}), "authorization_servers", nil},
		{"authorization server with path", resourceJSON(func(f *fakeNet) any {
			return map[string]any{"resource": f.PDS.URL, "authorization_servers": []string{f.AS.URL + "/tenant"}}
		}), "authorization_servers", nil},
		{"PDS not in protected_resources", func(f *fakeNet) {
			f.asEdits = map[string]any{"protected_resources": []string{"https://other.example.com"}}
		}, "protected_resources", nil},
		{"issuer mismatch", func(f *fakeNet) {
			f.asEdits = map[string]any{"issuer": f.PDS.URL}
		}, "issuer", nil},
		{"AS redirect", func(f *fakeNet) {
			f.authServer = func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, f.PDS.URL+discovery.AuthServerMetadataPath, http.StatusMovedPermanently)
			}
		}, "", safehttp.ErrRedirect},
		{"AS missing PAR endpoint", func(f *fakeNet) {
			f.asEdits = map[string]any{"pushed_authorization_request_endpoint": nil}
		}, "pushed_authorization_request_endpoint", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeNet(t)
			f.addAccount(aliceDID, "alice.test", f.PDS.URL)
			f.set(tc.setup)
			r := f.resolver(nil)
			for _, input := range []string{"alice.test", f.PDS.URL} {
				tg, err := r.ResolveLogin(t.Context(), input)
				var me *discovery.MetadataError
				if !errors.As(err, &me) || !errors.Is(err, discovery.ErrInvalidMetadata) || tg != nil {
					t.Fatalf("%s: got (%+v, %v), want *MetadataError", input, tg, err)
				}
				if me.Field != tc.field {
					t.Fatalf("%s: Field = %q, want %q (%v)", input, me.Field, tc.field, err)
				}
				if tc.cause != nil && !errors.Is(err, tc.cause) {
					t.Fatalf("%s: err = %v, want it to wrap %v", input, err, tc.cause)
				}
			}
		})
	}
}

func TestMetadataRequest(t *testing.T) {
	f := newFakeNet(t)
	seen := make(chan *http.Request, 1)
	f.set(func(f *fakeNet) {
		f.resource = func(w http.ResponseWriter, r *http.Request) {
			seen <- r
			writeJSON(w, map[string]any{"resource": f.PDS.URL, "authorization_servers": []string{f.AS.URL}})
		}
	})
	if _, err := f.resolver(nil).ResourceMetadata(t.Context(), f.PDS.URL); err != nil {
		t.Fatal(err)
	}
	req := <-seen
	if req.Method != http.MethodGet || req.Header.Get("Accept") != "application/json" || req.UserAgent() != "atoauth" {
		t.Fatalf("request %s %v", req.Method, req.Header)
	}
}

func TestUnreachable(t *testing.T) {
	f := newFakeNet(t)
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	_, err := f.resolver(nil).ResolveLogin(t.Context(), closed.URL)
	if !errors.Is(err, discovery.ErrUnreachable) {
		t.Fatalf("err = %v, want ErrUnreachable", err)
	}
}

func TestVerifyIssuer(t *testing.T) {
	f := newFakeNet(t)
	f.addAccount(aliceDID, "alice.test", f.PDS.URL)
	r := f.resolver(nil)

	ident, pds, err := r.VerifyIssuer(t.Context(), syntax.DID(aliceDID), f.AS.URL)
	if err != nil {
		t.Fatal(err)
	}
	if ident.DID.String() != aliceDID || pds != f.PDS.URL {
		t.Fatalf("got %v, %q", ident.DID, pds)
	}

	// Another server claiming the account is refused.
	other := newFakeNet(t)
	_, _, err = r.VerifyIssuer(t.Context(), syntax.DID(aliceDID), other.AS.URL)
	var me *discovery.IssuerMismatchError
	if !errors.As(err, &me) || !errors.Is(err, discovery.ErrIssuerMismatch) {
		t.Fatalf("err = %v, want *IssuerMismatchError", err)
	}
	if me.DID.String() != aliceDID || me.PDS != f.PDS.URL || me.Expected != other.AS.URL || me.Actual != f.AS.URL {
		t.Fatalf("IssuerMismatchError %+v", me)
	}

	// The account moves to the other network's PDS: the cached DID
	// document must not be trusted, so the new issuer verifies and the old
	// one no longer does.
	f.addAccount(aliceDID, "alice.test", other.PDS.URL)
	if _, pds, err := r.VerifyIssuer(t.Context(), syntax.DID(aliceDID), other.AS.URL); err != nil || pds != other.PDS.URL {
		t.Fatalf("after migration: (%q, %v)", pds, err)
	}
	if _, _, err := r.VerifyIssuer(t.Context(), syntax.DID(aliceDID), f.AS.URL); !errors.Is(err, discovery.ErrIssuerMismatch) {
		t.Fatalf("old issuer after migration: err = %v, want ErrIssuerMismatch", err)
	}

	// Malformed issuer, unknown DID.
	if _, _, err := r.VerifyIssuer(t.Context(), syntax.DID(aliceDID), f.AS.URL+"/"); !errors.Is(err, discovery.ErrInvalidIdentifier) {
		t.Fatalf("issuer with slash: err = %v", err)
	}
	if _, _, err := r.VerifyIssuer(t.Context(), syntax.DID(plcDID("nobody")), f.AS.URL); !errors.Is(err, discovery.ErrDIDNotFound) {
		t.Fatalf("unknown DID: err = %v", err)
	}
}

// VerifyIssuer may use cached protected-resource metadata (a login just
// fetched it); ReverifyIssuer, used before a refresh, fetches it afresh and
// so sees a PDS that moved to another authorization server at once.
func TestReverifyIssuerFetchesResourceMetadataAfresh(t *testing.T) {
	f := newFakeNet(t)
	f.addAccount(aliceDID, "alice.test", f.PDS.URL)
	r := f.resolver(nil)
	if _, _, err := r.VerifyIssuer(t.Context(), syntax.DID(aliceDID), f.AS.URL); err != nil {
		t.Fatal(err)
	}
	other := newFakeNet(t)
	f.set(func(f *fakeNet) {
		f.resource = func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, map[string]any{"resource": f.PDS.URL, "authorization_servers": []string{other.AS.URL}})
		}
	})
	before := f.hitCount("resource")
	if _, _, err := r.VerifyIssuer(t.Context(), syntax.DID(aliceDID), f.AS.URL); err != nil {
		t.Fatalf("VerifyIssuer within the cache lifetime: %v", err)
	}
	if f.hitCount("resource") != before {
		t.Fatal("VerifyIssuer did not use the cached metadata")
	}
	if _, _, err := r.ReverifyIssuer(t.Context(), syntax.DID(aliceDID), f.AS.URL); !errors.Is(err, discovery.ErrIssuerMismatch) {
		t.Fatalf("ReverifyIssuer: err = %v, want ErrIssuerMismatch", err)
	}
	if f.hitCount("resource") != before+1 {
		t.Fatal("ReverifyIssuer did not fetch the metadata afresh")
	}
}

func TestVerifyIssuerChecksProtectedResources(t *testing.T) {
	f := newFakeNet(t)
	f.addAccount(aliceDID, "alice.test", f.PDS.URL)
	f.set(func(f *fakeNet) {
		f.asEdits = map[string]any{"protected_resources": []string{"https://elsewhere.example.com"}}
	})
	_, _, err := f.resolver(nil).VerifyIssuer(t.Context(), syntax.DID(aliceDID), f.AS.URL)
	var me *discovery.MetadataError
	if !errors.As(err, &me) || me.Field != "protected_resources" {
		t.Fatalf("err = %v, want protected_resources MetadataError", err)
	}
}

func TestMetadataCacheTTL(t *testing.T) {
	for _, tc := range []struct {
		ttl, fresh, stale time.Duration
	}{
		{0, 59 * time.Second, time.Minute}, // default 60s
		{10 * time.Second, 9 * time.Second, 10 * time.Second},
		{time.Hour, 59 * time.Second, time.Minute}, // capped at 60s
	} {
		f := newFakeNet(t)
		clock := newFakeClock()
		r := f.resolver(clock)
		r.MetadataTTL = tc.ttl
		fetch := func() {
			t.Helper()
			if _, err := r.AuthServerForPDS(t.Context(), f.PDS.URL); err != nil {
				t.Fatal(err)
			}
		}
		fetch()
		clock.Advance(tc.fresh)
		fetch()
		if n, m := f.hitCount("resource"), f.hitCount("as"); n != 1 || m != 1 {
			t.Fatalf("TTL %v: %d resource and %d AS fetches within the TTL, want 1 each", tc.ttl, n, m)
		}
		clock.Advance(tc.stale - tc.fresh)
		fetch()
		if n, m := f.hitCount("resource"), f.hitCount("as"); n != 2 || m != 2 {
			t.Fatalf("TTL %v: %d resource and %d AS fetches after the TTL, want 2 each", tc.ttl, n, m)
		}
	}

	// Negative disables caching.
	f := newFakeNet(t)
	r := f.resolver(newFakeClock())
	r.MetadataTTL = -1
	for range 2 {
		if _, err := r.ResourceMetadata(t.Context(), f.PDS.URL); err != nil {
			t.Fatal(err)
		}
	}
	if n := f.hitCount("resource"); n != 2 {
		t.Fatalf("%d fetches with caching disabled, want 2", n)
	}
}

func TestMetadataErrorsNotCached(t *testing.T) {
	f := newFakeNet(t)
	fail := true
	f.set(func(f *fakeNet) {
		f.resource = func(w http.ResponseWriter, r *http.Request) {
			f.mu.Lock()
			failNow := fail
			f.mu.Unlock()
			if failNow {
				http.Error(w, "down", http.StatusServiceUnavailable)
				return
			}
			writeJSON(w, map[string]any{"resource": f.PDS.URL, "authorization_servers": []string{f.AS.URL}})
		}
	})
	r := f.resolver(newFakeClock())
	_, err := r.ResourceMetadata(t.Context(), f.PDS.URL)
	var me *discovery.MetadataError
	if !errors.As(err, &me) || me.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("err = %v, want a 503 MetadataError", err)
	}
	f.set(func(*fakeNet) { fail = false })
	if _, err := r.ResourceMetadata(t.Context(), f.PDS.URL); err != nil {
		t.Fatalf("after recovery: %v", err)
	}
	if n := f.hitCount("resource"); n != 2 {
		t.Fatalf("%d fetches, want 2", n)
	}
}

func TestMetadataResultsAreCopies(t *testing.T) {
	f := newFakeNet(t)
	r := f.resolver(newFakeClock())
	a, err := r.AuthServerMetadata(t.Context(), f.AS.URL)
	if err != nil {
		t.Fatal(err)
	}
	a.Issuer = "mutated"
	a.ScopesSupported[0] = "mutated"
	b, err := r.AuthServerMetadata(t.Context(), f.AS.URL)
	if err != nil {
		t.Fatal(err)
	}
	if b.Issuer != f.AS.URL || b.ScopesSupported[0] != "atproto" || f.hitCount("as") != 1 {
		t.Fatalf("cached metadata was modified through a returned value: %+v", b)
	}
}

// gate blocks the PDS's metadata handler until released.
func gatedResource(f *fakeNet) (entered <-chan struct{}, release func()) {
	in := make(chan struct{}, 100)
	gate := make(chan struct{})
	f.set(func(f *fakeNet) {
		f.resource = func(w http.ResponseWriter, r *http.Request) {
			in <- struct{}{}
			<-gate
			writeJSON(w, map[string]any{"resource": f.PDS.URL, "authorization_servers": []string{f.AS.URL}})
		}
	})
	return in, sync.OnceFunc(func() { close(gate) })
}

// inProcess is an http.RoundTripper that serves every request with h in
// this process (no sockets, so it works inside a synctest bubble).
type inProcess struct{ h http.Handler }

func (p inProcess) RoundTrip(r *http.Request) (*http.Response, error) {
	rec := httptest.NewRecorder()
	p.h.ServeHTTP(rec, r)
	return rec.Result(), nil
}

func TestConcurrentFetchesShareOneRequest(t *testing.T) {
	dir := discovery.NewDirectory(discovery.DirectoryOptions{}) // unused; outside the bubble, as its cache's goroutines outlive it
	synctest.Test(t, func(t *testing.T) {
		const pds = "http://pds.test"
		var fetches atomic.Int32
		gate := make(chan struct{})
		hc := &http.Client{Transport: inProcess{http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fetches.Add(1)
			<-gate
			writeJSON(w, map[string]any{"resource": pds, "authorization_servers": []string{"http://as.test"}})
		})}}
		r := &discovery.Resolver{HTTPClient: hc, Directory: dir, AllowInsecureDevelopment: true}
		const n = 20
		errs := make(chan error, n)
		for range n {
			go func() {
				_, err := r.ResourceMetadata(t.Context(), pds)
				errs <- err
			}()
		}
		// Every caller is blocked: one in the fetch, the others waiting
		// for it.
		synctest.Wait()
		close(gate)
		for range n {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
		if c := fetches.Load(); c != 1 {
			t.Fatalf("%d fetches for %d concurrent callers, want 1", c, n)
		}
	})
}

func TestCallerCancellationDoesNotAbortSharedFetch(t *testing.T) {
	f := newFakeNet(t)
	entered, release := gatedResource(f)
	defer release()
	r := f.resolver(newFakeClock())

	ctx, cancel := context.WithCancel(t.Context())
	first := make(chan error, 1)
	go func() {
		_, err := r.ResourceMetadata(ctx, f.PDS.URL)
		first <- err
	}()
	<-entered
	second := make(chan error, 1)
	go func() {
		_, err := r.ResourceMetadata(t.Context(), f.PDS.URL)
		second <- err
	}()
	cancel()
	if err := <-first; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled caller: err = %v, want context.Canceled", err)
	}
	release()
	if err := <-second; err != nil {
		t.Fatalf("other caller: %v", err)
	}
	if c := f.hitCount("resource"); c != 1 {
		t.Fatalf("%d fetches, want 1", c)
	}
}

func TestZeroResolverIsUsable(t *testing.T) {
	var r discovery.Resolver
	// Production defaults: http and loopback refused without any request.
	if _, err := r.ResolveLogin(t.Context(), "http://127.0.0.1:1"); !errors.Is(err, discovery.ErrInvalidIdentifier) {
		t.Fatalf("err = %v", err)
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			if _, err := r.AuthServerMetadata(t.Context(), "https://127.0.0.1"); !errors.Is(err, safehttp.ErrForbiddenAddress) {
				t.Errorf("err = %v, want ErrForbiddenAddress", err)
			}
		})
	}
	wg.Wait()
}
