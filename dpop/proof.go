package dpop

import (
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/atoauth/atoauth/jwk"
)

// ProofType is the "typ" header of a DPoP proof (RFC 9449 §4.2).
const ProofType = "dpop+jwt"

// jtiBytes is the number of random bytes in a proof's "jti" (RFC 9449 §4.2
// requires enough entropy to make collisions negligible; 128 bits).
const jtiBytes = 16

// ProofOptions are the optional inputs of [NewProof]. The zero value makes a
// proof without nonce or "ath", dated now.
type ProofOptions struct {
	// Nonce is the server-provided nonce (RFC 9449 §8, §9), put in the
	// "nonce" claim. Empty means no nonce claim.
	Nonce string
	// AccessToken, when non-empty, binds the proof to the token with the
	// "ath" claim (RFC 9449 §4.2, §7). Set it for resource-server (PDS)
	// requests only: authorization servers reject "ath".
	AccessToken string
	// Now is the proof's issue time ("iat"); the zero value means
	// time.Now().
	Now time.Time
}

// NewProof returns a DPoP proof JWT (RFC 9449 §4.2) for a request with the
// given method and URL, signed by key. Its header is
// {"alg":"ES256","jwk":<public key: crv, kty, x, y>,"typ":"dpop+jwt"} and
// its claims are "jti" (16 random bytes, base64url), "htm" (method, as
// given: methods are case-sensitive), "htu" (see [HTU]), "iat" (Unix
// seconds), and "nonce" and "ath" when opts asks for them.
//
// NewProof is safe for concurrent use; the encoded header is cached in key.
func NewProof(key *jwk.Key, method, rawURL string, opts ProofOptions) (string, error) {
	htu, err := HTU(rawURL)
	if err != nil {
		return "", err
	}
	now := opts.Now
	if now.IsZero() {
		now = time.Now()
	}
	var athSum [sha256.Size]byte
	var ath []byte
	if opts.AccessToken != "" {
		athSum = accessTokenHash(opts.AccessToken)
		ath = athSum[:]
	}
	return newProof(key, method, htu, opts.Nonce, ath, now)
}

// claimsBufLen is the size of the stack buffer newProof encodes the claims
// in: about 250 bytes for typical requests; longer ones go to the heap.
const claimsBufLen = 512

// newProof builds a proof from normalised parts. ath is the SHA-256 of the
// access token, or nil for no "ath" claim.
func newProof(key *jwk.Key, method, htu, nonce string, ath []byte, now time.Time) (string, error) {
	if key == nil {
		return "", ErrNoKey
	}
	if !isToken(method) {
		return "", ErrInvalidMethod
	}
	if nonce != "" && !validNonce(nonce) {
		return "", ErrInvalidNonce
	}
	var jti [jtiBytes]byte
	_, _ = rand.Read(jti[:]) // crypto/rand.Read never fails (Go ≥ 1.24)
	var buf [claimsBufLen]byte
	claims := appendProofClaims(buf[:0], jti[:], method, htu, now.Unix(), nonce, ath)
	proof, err := key.SignEmbeddedJWS(ProofType, claims)
	if err != nil {
		return "", fmt.Errorf("dpop: signing proof: %w", err)
	}
	return proof, nil
}

// accessTokenHash is SHA-256(ASCII(token)), which the "ath" claim carries
// base64url-encoded (RFC 9449 §4.2).
func accessTokenHash(token string) [sha256.Size]byte {
	return sha256.Sum256([]byte(token))
}

// HTU returns the "htu" claim value for a request to rawURL (RFC 9449 §4.2):
// the URL without query and fragment. It also drops any userinfo (never
// sent in an HTTP request target), lower-cases the scheme and host, removes
// the default port and turns an empty path into "/", matching the syntax-
// and scheme-based normalisation servers apply before comparing
// (RFC 9449 §4.3, RFC 3986 §6.2.2–6.2.3). The scheme must be http or https.
// Errors wrap [ErrInvalidURL] and never contain the URL.
func HTU(rawURL string) (string, error) {
	if htu, ok := simpleHTU(rawURL); ok {
		return htu, nil
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return "", &URLError{Reason: "does not parse"}
	}
	return htuOf(u)
}

// simpleHTU is HTU without url.Parse for the common form
//
//	http[s]://host/path[?query]
//
// with a host of lower-case letters, digits, '.' and '-' (so no userinfo,
// port, IP literal or escape), a non-empty path of RFC 3986 §2.3 unreserved
// characters and '/', and a query free of control characters and '#'. For
// such a URL, url.Parse succeeds and HTU is the URL up to the query, as is:
// there is nothing to normalise or escape. For anything else it reports
// false and HTU takes the general path; the tests check that the two agree.
func simpleHTU(rawURL string) (string, bool) {
	var n int // length of the scheme and "://"
	switch {
	case strings.HasPrefix(rawURL, "https://"):
		n = len("https://")
	case strings.HasPrefix(rawURL, "http://"):
		n = len("http://")
	default:
		return "", false
	}
	i := n
	for i < len(rawURL) && isSimpleHostByte(rawURL[i]) {
		i++
	}
	if i == n || i == len(rawURL) || rawURL[i] != '/' {
		return "", false
	}
	for i < len(rawURL) && (rawURL[i] == '/' || isUnreserved(rawURL[i])) {
		i++
	}
	end := i
	if i < len(rawURL) {
		if rawURL[i] != '?' {
			return "", false
		}
		for i++; i < len(rawURL); i++ {
			if c := rawURL[i]; c < 0x20 || c == 0x7f || c == '#' {
				return "", false
			}
		}
	}
	return rawURL[:end], true
}

func isSimpleHostByte(c byte) bool {
	return 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '.' || c == '-'
}

// isUnreserved reports whether c is an RFC 3986 §2.3 unreserved character.
func isUnreserved(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}

func htuOf(u *url.URL) (string, error) {
	if u == nil {
		return "", &URLError{Reason: "missing"}
	}
	scheme := asciiLower(u.Scheme)
	if scheme != "http" && scheme != "https" {
		return "", &URLError{Reason: "scheme must be http or https"}
	}
	if u.Opaque != "" {
		return "", &URLError{Reason: "not a hierarchical URL"}
	}
	host, ok := normalizeHost(scheme, u.Host)
	if !ok {
		return "", &URLError{Reason: "missing or invalid host"}
	}
	path := u.EscapedPath()
	if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	return scheme + "://" + host + path, nil
}

// Origin returns the origin of u (RFC 6454 §6.2): scheme "://" host, with
// ":" port only when it is not the scheme's default (80 for http, 443 for
// https). Scheme and host are lower-cased. It is the key under which
// [NonceCache] and [Transport] keep per-server state. It returns "" when u
// is nil or has no host.
func Origin(u *url.URL) string {
	if u == nil {
		return ""
	}
	scheme := asciiLower(u.Scheme)
	host, ok := normalizeHost(scheme, u.Host)
	if scheme == "" || !ok {
		return ""
	}
	return scheme + "://" + host
}

// normalizeHost lower-cases host (ASCII only), strips a default or empty
// port and leading zeros of the port, and re-escapes '%' (url.Parse
// unescapes it, e.g. in IPv6 zones).
func normalizeHost(scheme, host string) (string, bool) {
	host = asciiLower(host)
	name, port := host, ""
	if i := strings.LastIndexByte(host, ':'); i >= 0 && !strings.Contains(host[i:], "]") {
		name, port = host[:i], host[i+1:]
		for _, c := range []byte(port) {
			if c < '0' || c > '9' {
				return "", false
			}
		}
		port = strings.TrimLeft(port, "0")
		if port == "" && i+1 < len(host) {
			port = "0"
		}
	}
	if name == "" {
		return "", false
	}
	name = strings.ReplaceAll(name, "%", "%25")
	if port == "" || (scheme == "http" && port == "80") || (scheme == "https" && port == "443") {
		return name, true
	}
	return name + ":" + port, true
}

func asciiLower(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; 'A' <= c && c <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if c := b[j]; 'A' <= c && c <= 'Z' {
					b[j] = c + ('a' - 'A')
				}
			}
			return string(b)
		}
	}
	return s
}

// isToken reports whether s is an RFC 9110 §5.6.2 token.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isTchar(s[i]) {
			return false
		}
	}
	return true
}

func isTchar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}
