package dpop

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/atoauth/atoauth/jwk"
)

// MaxBufferedBody is the largest request body, in bytes, that [Transport]
// buffers so that it can replay it on a retry. Only bodies without
// Request.GetBody are buffered; larger ones fail with a *[BodyTooLargeError]
// before anything is sent.
const MaxBufferedBody = 64 << 20

const (
	// maxPeekBody bounds how much of a 400/401 response body Transport
	// reads to look for an OAuth error code.
	maxPeekBody = 64 << 10
	// maxDrainBody bounds how much of a discarded response Transport reads
	// before closing it (so that the connection can be reused).
	maxDrainBody = 64 << 10
	// clockSkewThreshold is how far the server's Date may be from a proof's
	// iat before Transport corrects its clock for that origin.
	clockSkewThreshold = 5 * time.Second
)

// Transport is an [http.RoundTripper] that adds a DPoP proof (RFC 9449) to
// every request and handles server nonces and clock skew. For each request
// it:
//
//   - never modifies the caller's *http.Request: it sends a clone, as the
//     RoundTripper contract requires, and like any RoundTripper it closes
//     the request body;
//   - sets the DPoP header (replacing any) to a fresh proof for the
//     request's method and URL (see [NewProof]), signed with Key, carrying
//     the nonce cached for the request's [Origin] if any (from
//     [NonceCache.GetContext], which may read the cache's [NonceStore]);
//   - adds the "ath" claim if, and only if, the request carries
//     "Authorization: DPoP <access token>" (RFC 9449 §7.1): that is how a
//     resource-server (PDS) request is recognised. Requests without it,
//     such as those to an authorization server, get no "ath", which those
//     servers reject;
//   - stores the DPoP-Nonce header of every response, whatever its status,
//     as the origin's latest nonce (RFC 9449 §8, §9); invalid nonces are
//     ignored (see [NonceCache.Set]). After the request (and its retry, if
//     any) it offers the latest nonce to the cache's [NonceStore], which
//     is written as the NonceStore write policy says;
//   - on a nonce challenge (see [IsNonceChallenge]: 400 with JSON error
//     "use_dpop_nonce", or 401 with WWW-Authenticate: DPoP
//     error="use_dpop_nonce"), if a nonce other than the one just used is
//     now known, retries once with a new proof;
//   - on a 400 or 401 with error "invalid_dpop_proof" (JSON body "error"
//     or WWW-Authenticate DPoP error parameter) whose Date header is more
//     than 5 s away from the proof's iat, records the difference between
//     the server's Date and the local clock as that origin's clock offset,
//     and retries once. Later proofs for the origin are dated local time
//     plus that offset (the reference server accepts proofs only ~10 s
//     around iat);
//   - retries at most once per RoundTrip. The response that triggered the
//     retry is drained (at most 64 KiB) and closed, and the request body is
//     replayed: from Request.GetBody when set, otherwise from a copy buffered
//     before the first attempt. Buffering is capped at [MaxBufferedBody];
//     a larger body fails with a *[BodyTooLargeError] and is never sent
//     truncated. A buffered body whose ContentLength was unknown is sent
//     with its actual length;
//   - to detect the JSON error forms, reads at most 64 KiB of a 400 or 401
//     response body; a response that is returned to the caller still has
//     its complete, unread body.
//
// Errors from Transport never contain the access token, a proof, a nonce or
// key material; errors from Base are returned unchanged.
//
// Base, Key, Nonces and Clock must not be changed once the Transport is in
// use. A Transport is safe for concurrent use by multiple goroutines and
// must not be copied after first use.
type Transport struct {
	// Base sends the requests; nil means http.DefaultTransport.
	Base http.RoundTripper
	// Key signs the proofs. It is required: without it RoundTrip fails
	// with ErrNoKey.
	Key *jwk.Key
	// Nonces caches server nonces per origin. Nil means a cache owned by
	// this Transport.
	Nonces *NonceCache
	// Clock returns the local time; nil means time.Now.
	Clock func() time.Time
	// OnNonceChallenge, when set, is called for each request whose first
	// attempt met a nonce challenge (see IsNonceChallenge), with the
	// request and the status: 400 from an authorization server, 401 from
	// a resource server. For metrics; it must return quickly.
	OnNonceChallenge func(req *http.Request, status int)

	ownNonces NonceCache

	mu      sync.Mutex
	offsets map[string]time.Duration // per-origin server-minus-local clock offset
}

// RoundTrip implements [http.RoundTripper]; see [Transport] for what it does.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req == nil || req.URL == nil {
		closeRequestBody(req)
		return nil, &URLError{Reason: "missing"}
	}
	if t.Key == nil {
		closeRequestBody(req)
		return nil, ErrNoKey
	}
	method := req.Method
	if method == "" {
		method = http.MethodGet
	}
	if !isToken(method) {
		closeRequestBody(req)
		return nil, ErrInvalidMethod
	}
	htu, err := htuOf(req.URL)
	if err != nil {
		closeRequestBody(req)
		return nil, err
	}
	c := &call{
		t:      t,
		base:   t.Base,
		nonces: t.Nonces,
		req:    req,
		method: method,
		htu:    htu,
		origin: Origin(req.URL),
	}
	if c.base == nil {
		c.base = http.DefaultTransport
	}
	if c.nonces == nil {
		c.nonces = &t.ownNonces
	}
	if token := dpopAccessToken(req.Header); token != "" {
		c.athSum, c.hasATH = accessTokenHash(token), true
	}
	body, err := c.prepareBody()
	if err != nil {
		return nil, err
	}

	resp, sent, err := c.send(body)
	if err != nil {
		return nil, err
	}
	if !c.shouldRetry(resp, sent) {
		c.nonces.share(req.Context(), c.origin, c.challenged)
		return resp, nil
	}
	body, err = c.replayBody()
	drainAndClose(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("dpop: replaying request body for retry: %w", err)
	}
	resp, _, err = c.send(body)
	c.nonces.share(req.Context(), c.origin, c.challenged)
	return resp, err
}

func (t *Transport) now() time.Time {
	if t.Clock != nil {
		return t.Clock()
	}
	return time.Now()
}

func (t *Transport) offset(origin string) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.offsets[origin]
}

func (t *Transport) setOffset(origin string, d time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if d == 0 {
		delete(t.offsets, origin)
		return
	}
	if t.offsets == nil {
		t.offsets = make(map[string]time.Duration)
	}
	if _, ok := t.offsets[origin]; !ok && len(t.offsets) >= maxOrigins {
		for o := range t.offsets {
			delete(t.offsets, o)
			break
		}
	}
	t.offsets[origin] = d
}

// call is the state of one RoundTrip.
type call struct {
	t                   *Transport
	base                http.RoundTripper
	nonces              *NonceCache
	req                 *http.Request
	method, htu, origin string
	athSum              [sha256.Size]byte // SHA-256 of the access token, if hasATH
	hasATH              bool
	getBody             func() (io.ReadCloser, error)
	contentLength       int64
	challenged          bool // the first attempt met a nonce challenge
}

// sentProof records what a proof used.
type sentProof struct {
	nonce string
	now   time.Time // local clock
	iat   time.Time // local clock + origin offset
}

// send sends one attempt with a fresh proof and records the response nonce.
func (c *call) send(body io.ReadCloser) (*http.Response, sentProof, error) {
	nonce := c.nonces.GetContext(c.req.Context(), c.origin) // before the clock: it may read a store
	s := sentProof{now: c.t.now(), nonce: nonce}
	s.iat = s.now.Add(c.t.offset(c.origin))
	var ath []byte
	if c.hasATH {
		ath = c.athSum[:]
	}
	proof, err := newProof(c.t.Key, c.method, c.htu, s.nonce, ath, s.iat)
	if err != nil {
		if body != nil {
			_ = body.Close()
		}
		return nil, s, err
	}
	r := c.req.Clone(c.req.Context())
	if r.Header == nil {
		r.Header = make(http.Header)
	}
	r.Header.Set("DPoP", proof)
	r.Body = body
	r.GetBody = c.getBody
	r.ContentLength = c.contentLength
	resp, err := c.base.RoundTrip(r)
	if err != nil {
		return nil, s, err
	}
	if n := resp.Header.Get("DPoP-Nonce"); n != "" {
		c.nonces.Set(c.origin, n)
	}
	return resp, s, nil
}

// prepareBody returns the body for the first attempt and arranges for
// c.getBody to replay it, buffering it when the request has no GetBody.
func (c *call) prepareBody() (io.ReadCloser, error) {
	req, err := Replayable(c.req)
	if err != nil {
		return nil, err
	}
	c.contentLength, c.getBody = req.ContentLength, req.GetBody
	return req.Body, nil
}

// Replayable returns req ready to be sent more than once, as a retry after
// a nonce challenge or a token refresh needs: a request with a body but no
// GetBody gets its body buffered (at most MaxBufferedBody bytes; a larger
// one fails with a *[BodyTooLargeError] and is closed) into a copy of req
// whose GetBody gives it again. A request without a body, or with
// GetBody, is returned as it is. Every layer that may send a request again
// uses it, so a body is buffered once.
func Replayable(req *http.Request) (*http.Request, error) {
	if req.Body == nil || req.Body == http.NoBody || req.GetBody != nil {
		return req, nil
	}
	if req.ContentLength > MaxBufferedBody {
		_ = req.Body.Close()
		return nil, &BodyTooLargeError{Limit: MaxBufferedBody}
	}
	var buf bytes.Buffer
	if req.ContentLength > 0 {
		buf.Grow(int(req.ContentLength))
	}
	n, err := buf.ReadFrom(io.LimitReader(req.Body, MaxBufferedBody+1))
	_ = req.Body.Close()
	if err != nil {
		return nil, fmt.Errorf("dpop: buffering request body: %w", err)
	}
	if n > MaxBufferedBody {
		return nil, &BodyTooLargeError{Limit: MaxBufferedBody}
	}
	data := buf.Bytes()
	r := req.Clone(req.Context())
	if r.ContentLength <= 0 {
		r.ContentLength = int64(len(data))
	}
	if len(data) == 0 {
		r.GetBody = func() (io.ReadCloser, error) { return http.NoBody, nil }
	} else {
		r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil }
	}
	r.Body, _ = r.GetBody()
	return r, nil
}

// replayBody returns the body for the retry.
func (c *call) replayBody() (io.ReadCloser, error) {
	if c.getBody != nil {
		return c.getBody()
	}
	// No GetBody means the request had no body (nil or NoBody).
	return c.req.Body, nil
}

// shouldRetry inspects a first response and reports whether to retry,
// updating the clock offset when skew is detected. It may replace
// resp.Body with an equivalent unread body.
func (c *call) shouldRetry(resp *http.Response, s sentProof) bool {
	if resp.StatusCode != http.StatusBadRequest && resp.StatusCode != http.StatusUnauthorized {
		return false
	}
	nonceChallenge := resp.StatusCode == http.StatusUnauthorized && hasDPoPError(resp.Header, ErrorUseDPoPNonce)
	invalidProof := !nonceChallenge && hasDPoPError(resp.Header, ErrorInvalidDPoPProof)
	if !nonceChallenge && !invalidProof {
		code := jsonErrorCode(peekBody(resp))
		nonceChallenge = resp.StatusCode == http.StatusBadRequest && code == ErrorUseDPoPNonce
		invalidProof = code == ErrorInvalidDPoPProof
	}
	switch {
	case nonceChallenge:
		c.challenged = true
		if c.t.OnNonceChallenge != nil {
			c.t.OnNonceChallenge(c.req, resp.StatusCode)
		}
		n := c.nonces.Get(c.origin)
		return n != "" && n != s.nonce
	case invalidProof:
		date, err := http.ParseTime(resp.Header.Get("Date"))
		if err != nil || abs(date.Sub(s.iat)) <= clockSkewThreshold {
			return false
		}
		off := date.Sub(s.now)
		if abs(off) <= clockSkewThreshold {
			off = 0
		}
		c.t.setOffset(c.origin, off)
		return true
	}
	return false
}

func abs(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}

// dpopAccessToken returns the token of an "Authorization: DPoP <token>"
// header, or "".
func dpopAccessToken(h http.Header) string {
	scheme, token, ok := strings.Cut(h.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "DPoP") {
		return ""
	}
	return strings.TrimSpace(token)
}

// peekBody reads up to maxPeekBody bytes of resp.Body and replaces it with
// an equivalent unread body. It returns nil if reading failed.
func peekBody(resp *http.Response) []byte {
	if resp.Body == nil || resp.Body == http.NoBody {
		return nil
	}
	buf, err := io.ReadAll(io.LimitReader(resp.Body, maxPeekBody))
	resp.Body = &prefixedBody{prefix: buf, err: err, rc: resp.Body}
	if err != nil {
		return nil
	}
	return buf
}

// prefixedBody yields prefix, then err if non-nil, then the rest of rc.
type prefixedBody struct {
	prefix []byte
	err    error
	rc     io.ReadCloser
}

func (b *prefixedBody) Read(p []byte) (int, error) {
	if len(b.prefix) > 0 {
		n := copy(p, b.prefix)
		b.prefix = b.prefix[n:]
		return n, nil
	}
	if b.err != nil {
		return 0, b.err
	}
	return b.rc.Read(p)
}

func (b *prefixedBody) Close() error { return b.rc.Close() }

func drainAndClose(body io.ReadCloser) {
	if body == nil {
		return
	}
	_, _ = io.CopyN(io.Discard, body, maxDrainBody)
	_ = body.Close()
}

func closeRequestBody(req *http.Request) {
	if req != nil && req.Body != nil {
		_ = req.Body.Close()
	}
}
