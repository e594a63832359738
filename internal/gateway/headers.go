package gateway

import (
	"encoding/base64"
	"net/http"
	"strings"

	"github.com/bluesky-social/indigo/atproto/syntax"
)

// Header names of the gateway.
const (
	// HeaderDID, HeaderHandle and HeaderAct carry the signed-in account
	// and its act token to the upstream application (reverse proxy) or to
	// the reverse proxy in front of it (forward-auth answer).
	HeaderDID    = "X-Atproto-Did"
	HeaderHandle = "X-Atproto-Handle"
	HeaderAct    = "X-Atproto-Act"
	// HeaderCSRF carries the session's CSRF token on procedures from the
	// browser (the "csrf" of GET /api/session).
	HeaderCSRF = "X-CSRF-Token"
	// identityPrefix: every incoming header with this prefix is removed
	// before a request reaches the upstream.
	identityPrefix = "x-atproto-"
)

// forwardedHeaders are the only request headers of a browser (or of the
// upstream acting for one) that reach the PDS, besides Content-Type (a
// procedure's body) and atproto-proxy (checked apart). Cookie,
// Authorization, DPoP and everything else stay behind.
var forwardedHeaders = []string{"Accept", "Accept-Language", "Atproto-Accept-Labelers"}

// maxForwardedValue bounds one forwarded header (all its values joined).
const maxForwardedValue = 4096

// forwardHeaders returns the allow-listed headers of h that may go to the
// PDS, each as one value (values joined with ", "); a header with an
// invalid or overlong value is dropped (they are hints).
func forwardHeaders(h http.Header) [][2]string {
	var out [][2]string
	for _, name := range forwardedHeaders {
		vs := h.Values(name)
		if len(vs) == 0 {
			continue
		}
		v := strings.Join(vs, ", ")
		if v == "" || len(v) > maxForwardedValue || !validHeaderValue(v) {
			continue
		}
		out = append(out, [2]string{name, v})
	}
	return out
}

// validHeaderValue accepts visible ASCII, space and tab.
func validHeaderValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; (c < ' ' && c != '\t') || c > '~' {
			return false
		}
	}
	return true
}

// maxNSIDLength is the longest NSID (atproto lexicon spec: 317 chars).
const maxNSIDLength = 317

// nsidFromPath returns the NSID of an XRPC path "/xrpc/{nsid}", or false.
func nsidFromPath(path string) (string, bool) {
	nsid, ok := strings.CutPrefix(path, "/xrpc/")
	if !ok || nsid == "" || len(nsid) > maxNSIDLength || strings.Contains(nsid, "/") {
		return "", false
	}
	if _, err := syntax.ParseNSID(nsid); err != nil {
		return "", false
	}
	return nsid, true
}

// actTokenBytes is the entropy of an act token; its text is the
// unpadded base64url encoding (43 characters).
const actTokenBytes = 32

var actTokenLen = base64.RawURLEncoding.EncodedLen(actTokenBytes)

// parseActToken accepts exactly the canonical text of an act token.
func parseActToken(s string) (string, bool) {
	if len(s) != actTokenLen {
		return "", false
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(s)
	if err != nil || len(b) != actTokenBytes {
		return "", false
	}
	return s, true
}

// parseBearer returns the credentials of "Authorization: Bearer <token>"
// (scheme case-insensitive, RFC 9110 §11.1), or false.
func parseBearer(h string) (string, bool) {
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok = strings.TrimLeft(tok, " ")
	if tok == "" || strings.ContainsAny(tok, " \t") || !validHeaderValue(tok) {
		return "", false
	}
	return tok, true
}

// DefaultPrivateCookies returns the cookie names Options.PrivateCookies
// defaults to: the session layer's cookies, with or without the
// __Host-/__Secure- prefix.
func DefaultPrivateCookies() []string {
	return []string{"atoauth*", "__Host-atoauth*", "__Secure-atoauth*"}
}

// cookieMatcher tells the gateway's own cookies: exact names, or
// prefixes written "name*"; case-insensitive (erring on the side of
// removing).
type cookieMatcher struct {
	exact    []string
	prefixes []string
}

func newCookieMatcher(patterns []string) cookieMatcher {
	var m cookieMatcher
	for _, p := range patterns {
		p = strings.ToLower(strings.TrimSpace(p))
		if pre, ok := strings.CutSuffix(p, "*"); ok {
			m.prefixes = append(m.prefixes, pre)
		} else if p != "" {
			m.exact = append(m.exact, p)
		}
	}
	return m
}

func (m cookieMatcher) private(name string) bool {
	name = strings.ToLower(strings.TrimSpace(name))
	for _, e := range m.exact {
		if name == e {
			return true
		}
	}
	for _, p := range m.prefixes {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// filterCookieHeader returns the Cookie header values without the
// private cookies: each "name=value" pair is kept byte for byte unless
// its name (trimmed) is private. "" when nothing is left.
func (m cookieMatcher) filterCookieHeader(values []string) string {
	var kept []string
	for _, line := range values {
		for _, part := range strings.Split(line, ";") {
			part = strings.TrimSpace(part)
			if part == "" {
				continue
			}
			name, _, _ := strings.Cut(part, "=")
			if m.private(name) {
				continue
			}
			kept = append(kept, part)
		}
	}
	return strings.Join(kept, "; ")
}

// filterSetCookie drops the Set-Cookie lines of an upstream answer that
// would set (or clear) a private cookie, and those whose name cannot be
// read.
func (m cookieMatcher) filterSetCookie(h http.Header) {
	lines := h.Values("Set-Cookie")
	if len(lines) == 0 {
		return
	}
	var kept []string
	for _, line := range lines {
		name, _, ok := strings.Cut(line, "=")
		if !ok || strings.Contains(name, ";") || m.private(name) {
			continue
		}
		kept = append(kept, line)
	}
	h.Del("Set-Cookie")
	for _, l := range kept {
		h.Add("Set-Cookie", l)
	}
}

// stripIdentity removes every X-Atproto-* header from h.
func stripIdentity(h http.Header) {
	for k := range h {
		if len(k) >= len(identityPrefix) && strings.EqualFold(k[:len(identityPrefix)], identityPrefix) {
			delete(h, k)
		}
	}
}
