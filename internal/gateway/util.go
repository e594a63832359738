package gateway

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"github.com/atoauth/atoauth/internal/httpx"
	"net/http"
	"sync"
)

// secureHeaders are set on every answer of the gateway itself: nothing
// is cached, nothing is sniffed, nothing runs (an answer of the PDS may be
// HTML chosen by a stranger, served from this origin), nothing is
// embedded by another site.
func secureHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'; sandbox")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
	h.Set("Referrer-Policy", "no-referrer")
}

// errorJSON is every error answer: XRPC's {error, message}, plus the
// missing permission and the scope to request for ScopeMissingError.
type errorJSON struct {
	Error      string `json:"error"`
	Message    string `json:"message,omitempty"`
	Permission string `json:"permission,omitempty"`
	Request    string `json:"request,omitempty"`
}

func writeError(w http.ResponseWriter, status int, code, message string) {
	writeJSON(w, status, errorJSON{Error: code, Message: message})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":"internal"}`)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Del("Content-Length")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// csrfMatches compares the X-CSRF-Token header (exactly one value) with
// the session's token in constant time.
func csrfMatches(got []string, want string) bool {
	if len(got) != 1 || want == "" {
		return false
	}
	a, b := sha256.Sum256([]byte(got[0])), sha256.Sum256([]byte(want))
	return subtle.ConstantTimeCompare(a[:], b[:]) == 1
}

func sumSecret(s string) [32]byte { return sha256.Sum256([]byte(s)) }

// checkOrigin refuses a browser request that does not come from the
// gateway's own origin, whatever its method: Sec-Fetch-Site must be
// same-origin or none, or else the Origin must be this host or a trusted
// origin (http.CrossOriginProtection's rules, applied to safe methods
// too). strict (procedures) also refuses a request with neither header:
// browsers send Origin on every POST.
func (g *Gateway) checkOrigin(r *http.Request, strict bool) error {
	if strict && r.Header.Get("Sec-Fetch-Site") == "" && r.Header.Get("Origin") == "" {
		return errors.New("gateway: a procedure without Sec-Fetch-Site or Origin")
	}
	c := new(http.Request)
	*c = *r
	c.Method = http.MethodPost // checked as unsafe whatever it is
	c.Host = httpx.RequestHost(r, g.trustProxy)
	return g.cop.Check(c)
}

// unsafeCrossOrigin tells whether a request of the given method is an
// unsafe cross-origin one (http.CrossOriginProtection's rule: safe
// methods pass).
func (g *Gateway) unsafeCrossOrigin(r *http.Request, method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return false
	}
	return g.checkOrigin(r, false) != nil
}

// maxInflightKeys bounds the sessions tracked at once; a request with a
// new key past it is refused.
const maxInflightKeys = 10000

// inflight counts the calls in progress per session. A key is forgotten
// when its last call ends.
type inflight struct {
	mu     sync.Mutex
	counts map[string]int
}

func (f *inflight) acquire(key string, limit int) (release func(), ok bool) {
	if limit < 0 {
		return func() {}, true
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.counts == nil {
		f.counts = map[string]int{}
	}
	n, seen := f.counts[key]
	if n >= limit || !seen && len(f.counts) >= maxInflightKeys {
		return nil, false
	}
	f.counts[key]++
	return func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		if f.counts[key] <= 1 {
			delete(f.counts, key)
		} else {
			f.counts[key]--
		}
	}, true
}

func subtleEqual(a, b []byte) bool { return subtle.ConstantTimeCompare(a, b) == 1 }
