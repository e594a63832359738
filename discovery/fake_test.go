package discovery_test

import (
	"encoding/json"
	"maps"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bluesky-social/indigo/atproto/identity"

	"github.com/atoauth/atoauth/atoauthtest"
	"github.com/atoauth/atoauth/discovery"
)

// fakeNet is a hermetic atproto network: a PLC directory (GET /{did}), a PDS
// (protected resource metadata and com.atproto.identity.resolveHandle) and a
// separate authorization server (entryway). Tests adjust it through its
// fields while holding mu, or with the helper methods.
type fakeNet struct {
	PLC, PDS, AS *httptest.Server

	mu      sync.Mutex
	docs    map[string]any    // DID -> DID document
	handles map[string]string // handle -> DID
	// resource and authServer, when set, replace the PDS's protected
	// resource metadata and the AS's metadata handlers.
	resource   http.HandlerFunc
	authServer http.HandlerFunc
	// asEdits are applied to the default AS metadata: a nil value deletes
	// the member.
	asEdits map[string]any
	hits    map[string]int // "plc", "resource", "as", "resolveHandle"
}

func newFakeNet(t *testing.T) *fakeNet {
	t.Helper()
	f := &fakeNet{docs: map[string]any{}, handles: map[string]string{}, hits: map[string]int{}}
	f.PLC = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.hits["plc"]++
		doc, ok := f.docs[strings.TrimPrefix(r.URL.Path, "/")]
		f.mu.Unlock()
		if !ok {
			http.NotFound(w, r)
			return
		}
		writeJSON(w, doc)
	}))
	f.PDS = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		switch r.URL.Path {
		case discovery.ResourceMetadataPath:
			f.hits["resource"]++
			h := f.resource
			f.mu.Unlock()
			if h != nil {
				h(w, r)
				return
			}
			writeJSON(w, map[string]any{"resource": f.PDS.URL, "authorization_servers": []string{f.AS.URL}})
		case "/xrpc/com.atproto.identity.resolveHandle":
			f.hits["resolveHandle"]++
			did, ok := f.handles[r.URL.Query().Get("handle")]
			f.mu.Unlock()
			if !ok {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusBadRequest)
				w.Write([]byte(`{"error":"HandleNotFound","message":"Unable to resolve handle"}`))
				return
			}
			writeJSON(w, map[string]string{"did": did})
		default:
			f.mu.Unlock()
			http.NotFound(w, r)
		}
	}))
	f.AS = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != discovery.AuthServerMetadataPath {
			http.NotFound(w, r) // an entryway has no protected resource metadata
			return
		}
		f.mu.Lock()
		f.hits["as"]++
		h := f.authServer
		md := validASMetadata(f.AS.URL)
		md["protected_resources"] = []string{f.PDS.URL}
		for k, v := range f.asEdits {
			if v == nil {
				delete(md, k)
			} else {
				md[k] = v
			}
		}
		f.mu.Unlock()
		if h != nil {
			h(w, r)
			return
		}
		writeJSON(w, md)
	}))
	t.Cleanup(func() { f.PLC.Close(); f.PDS.Close(); f.AS.Close() })
	return f
}

// addAccount publishes a DID document for did claiming handle and hosted on
// pds, and makes handle resolve to did.
func (f *fakeNet) addAccount(did, handle, pds string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.docs[did] = didDoc(did, handle, pds)
	if handle != "" {
		f.handles[handle] = did
	}
}

func (f *fakeNet) set(fn func(f *fakeNet)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

func (f *fakeNet) hitCount(key string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.hits[key]
}

func (f *fakeNet) directory() identity.Directory {
	return discovery.NewDirectory(discovery.DirectoryOptions{
		PLCURL:                   f.PLC.URL,
		HandleResolver:           f.PDS.URL,
		AllowInsecureDevelopment: true,
	})
}

// resolver returns a development Resolver over f with a fake clock.
func (f *fakeNet) resolver(clock *atoauthtest.Clock) *discovery.Resolver {
	r := &discovery.Resolver{Directory: f.directory(), AllowInsecureDevelopment: true}
	if clock != nil {
		r.Clock = clock.Now
	}
	return r
}

func didDoc(did, handle, pds string) map[string]any {
	doc := map[string]any{
		"@context": []string{"https://www.w3.org/ns/did/v1"},
		"id":       did,
		"verificationMethod": []map[string]string{{
			"id": did + "#atproto", "type": "Multikey", "controller": did,
			"publicKeyMultibase": "zQ3shXjHeiBuRCKmM36cuYnm7YEMzhGnCmCyW92sRJ9pribSF",
		}},
	}
	if handle != "" {
		doc["alsoKnownAs"] = []string{"at://" + handle}
	}
	if pds != "" {
		doc["service"] = []map[string]string{{"id": "#atproto_pds", "type": "AtprotoPersonalDataServer", "serviceEndpoint": pds}}
	}
	return doc
}

// validASMetadata is authorization server metadata as the reference server
// publishes it.
func validASMetadata(issuer string) map[string]any {
	return map[string]any{
		"issuer":                                           issuer,
		"authorization_endpoint":                           issuer + "/oauth/authorize",
		"token_endpoint":                                   issuer + "/oauth/token",
		"pushed_authorization_request_endpoint":            issuer + "/oauth/par",
		"revocation_endpoint":                              issuer + "/oauth/revoke",
		"jwks_uri":                                         issuer + "/oauth/jwks",
		"require_pushed_authorization_requests":            true,
		"scopes_supported":                                 []string{"atproto", "transition:generic"},
		"subject_types_supported":                          []string{"public"},
		"response_types_supported":                         []string{"code"},
		"response_modes_supported":                         []string{"query", "fragment", "form_post"},
		"grant_types_supported":                            []string{"authorization_code", "refresh_token"},
		"code_challenge_methods_supported":                 []string{"S256"},
		"token_endpoint_auth_methods_supported":            []string{"none", "private_key_jwt"},
		"token_endpoint_auth_signing_alg_values_supported": []string{"RS256", "ES256", "ES256K"},
		"dpop_signing_alg_values_supported":                []string{"RS256", "ES256", "ES256K"},
		"authorization_response_iss_parameter_supported":   true,
		"client_id_metadata_document_supported":            true,
		"request_uri_parameter_supported":                  true,
		"require_request_uri_registration":                 true,
		"prompt_values_supported":                          []string{"none", "login", "consent", "select_account", "create"},
	}
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	json.NewEncoder(w).Encode(v)
}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func cloneMap(m map[string]any) map[string]any { return maps.Clone(m) }

// plcDID returns a syntactically valid did:plc made from name.
func plcDID(name string) string {
	return "did:plc:" + (name + strings.Repeat("a", 24))[:24]
}

// newFakeClock is a fake clock at a fixed date.
func newFakeClock() *atoauthtest.Clock {
	return atoauthtest.NewClock(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
}
