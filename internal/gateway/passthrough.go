package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/atoauth/atoauth"
	"github.com/atoauth/atoauth/dpop"
	"github.com/atoauth/atoauth/internal/safetext"
	"github.com/atoauth/atoauth/xrpc"
)

const (
	// maxQueryBytes bounds the query string of a call.
	maxQueryBytes = 8 << 10
	// commitThreshold: an answer up to this size is buffered whole and
	// sent with its length; a larger one is streamed (and, past the cap,
	// cut).
	commitThreshold = 64 << 10
	// maxServerText bounds server text quoted in an error.
	maxServerText = 300
)

// passthrough sends the request as the XRPC call nsid through sess and
// writes the answer: the body streamed within the cap, or an error as
// JSON. It reports whether the connection must be aborted (an answer cut
// after it started).
func (g *Gateway) passthrough(w http.ResponseWriter, r *http.Request, sess *atoauth.Session, nsid string) (abort bool) {
	if len(r.URL.RawQuery) > maxQueryBytes {
		writeError(w, http.StatusRequestURITooLong, "query_too_long", fmt.Sprintf("the query string is longer than %d bytes", maxQueryBytes))
		return false
	}
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		writeError(w, http.StatusBadRequest, "invalid_query", "the query string cannot be parsed")
		return false
	}
	params := make(xrpc.Params, len(q))
	for k, vs := range q {
		params[k] = vs
	}
	var opts []xrpc.CallOption
	switch proxies := r.Header.Values(xrpc.ProxyHeader); len(proxies) {
	case 0:
	case 1:
		if err := xrpc.CheckServiceRef(proxies[0]); err != nil {
			writeError(w, http.StatusBadRequest, "invalid_proxy", "atproto-proxy must be a service reference like did:web:api.bsky.app#bsky_appview")
			return false
		}
		opts = append(opts, xrpc.WithProxy(proxies[0]))
	default:
		writeError(w, http.StatusBadRequest, "invalid_proxy", "more than one atproto-proxy header")
		return false
	}
	for _, h := range forwardHeaders(r.Header) {
		opts = append(opts, xrpc.WithHeader(h[0], h[1]))
	}

	release, ok := g.inflight.acquire(sess.ID(), g.perSession)
	if !ok {
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusTooManyRequests, "too_many_requests", "too many calls of this session in progress; try again")
		return false
	}
	defer release()

	procedure := r.Method == http.MethodPost
	timeout := g.queryTimeout
	var in any
	if procedure {
		timeout = g.procTimeout
		var enc string
		var herr *httpError
		in, enc, herr = g.requestBody(w, r)
		if herr != nil {
			writeError(w, herr.status, herr.code, herr.message)
			return false
		}
		if enc != "" {
			opts = append(opts, xrpc.WithEncoding(enc))
		}
	}
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	defer cancel()
	client, err := xrpc.NewClient(xrpc.Options{
		Auth:             sess,
		Services:         g.services,
		ProxyMemory:      g.memory,
		MaxRetryWait:     -1, // the browser (or upstream) decides when to try again
		MaxResponseBytes: g.maxResp,
	})
	if err != nil {
		g.log.Error("gateway: xrpc client", "error", err.Error())
		writeError(w, http.StatusInternalServerError, "internal", "the call could not be prepared")
		return false
	}
	out := &streamOut{w: w, limit: g.maxResp}
	opts = append(opts, xrpc.WithResponseHeader(&out.hdr))
	if procedure {
		err = client.Procedure(ctx, nsid, params, in, out, opts...)
	} else {
		err = client.Query(ctx, nsid, params, out, opts...)
	}
	if err == nil {
		out.complete()
		return false
	}
	if out.committed {
		g.log.Warn("gateway: answer cut", "nsid", nsid, "too_large", out.tooLarge, "error", err.Error())
		return true
	}
	if out.tooLarge {
		writeError(w, http.StatusBadGateway, "response_too_large", fmt.Sprintf("the server's answer is larger than %d bytes", g.maxResp))
		return false
	}
	g.writeCallError(w, r, ctx, nsid, err)
	return false
}

type httpError struct {
	status        int
	code, message string
}

// requestBody reads a procedure's body within its cap: JSON whole (so
// that the permission pre-check reads it, and it can be sent twice),
// anything else as a capped stream. enc is its Content-Type.
func (g *Gateway) requestBody(w http.ResponseWriter, r *http.Request) (in any, enc string, herr *httpError) {
	if ce := r.Header.Get("Content-Encoding"); ce != "" && !strings.EqualFold(ce, "identity") {
		return nil, "", &httpError{http.StatusUnsupportedMediaType, "unsupported_encoding", "request bodies must not be compressed"}
	}
	if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
		return nil, "", nil
	}
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		// A chunked request may still be empty.
		var one [1]byte
		if n, _ := io.ReadFull(r.Body, one[:]); n == 0 {
			return nil, "", nil
		}
		return nil, "", &httpError{http.StatusUnsupportedMediaType, "content_type_required", "a request body needs a Content-Type"}
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil || !validHeaderValue(ct) || strings.Contains(mt, "*") || !strings.Contains(mt, "/") {
		return nil, "", &httpError{http.StatusUnsupportedMediaType, "invalid_content_type", "the Content-Type is not a media type"}
	}
	tooLarge := func(limit int64) *httpError {
		return &httpError{http.StatusRequestEntityTooLarge, "body_too_large", fmt.Sprintf("the request body is larger than %d bytes", limit)}
	}
	if mt == "application/json" {
		if r.ContentLength > g.maxJSON {
			return nil, "", tooLarge(g.maxJSON)
		}
		data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, g.maxJSON))
		var mbe *http.MaxBytesError
		switch {
		case errors.As(err, &mbe):
			return nil, "", tooLarge(g.maxJSON)
		case err != nil:
			return nil, "", &httpError{http.StatusBadRequest, "invalid_body", "the request body could not be read"}
		}
		return data, ct, nil
	}
	if r.ContentLength > g.maxBlob {
		return nil, "", tooLarge(g.maxBlob)
	}
	return http.MaxBytesReader(w, r.Body, g.maxBlob), ct, nil
}

// writeCallError answers a failed call: the server's own error (status,
// name and cleaned message), a missing permission (403 with what to
// request), or what went wrong on the way.
func (g *Gateway) writeCallError(w http.ResponseWriter, r *http.Request, ctx context.Context, nsid string, err error) {
	var sme *xrpc.ScopeMissingError
	var xe *xrpc.Error
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &sme):
		writeJSON(w, http.StatusForbidden, errorJSON{
			Error:      "ScopeMissingError",
			Message:    "this session was not granted " + safetext.Clean(sme.Permission, maxServerText),
			Permission: safetext.Clean(sme.Permission, 2*maxServerText),
			Request:    safetext.Clean(sme.Request, 2*maxServerText),
		})
	case errors.As(err, &mbe):
		writeError(w, http.StatusRequestEntityTooLarge, "body_too_large", fmt.Sprintf("the request body is larger than %d bytes", mbe.Limit))
	case errors.Is(err, dpop.ErrBodyTooLarge):
		writeError(w, http.StatusRequestEntityTooLarge, "body_too_large", "the request body is too large")
	case errors.As(err, &xe):
		status := xe.StatusCode
		if status < 400 || status > 599 {
			status = http.StatusBadGateway
		}
		if xe.RetryAfter > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(int((xe.RetryAfter+time.Second-1)/time.Second)))
		}
		name := safetext.Clean(xe.Name, 100)
		if name == "" {
			name = "UpstreamError"
		}
		writeError(w, status, name, safetext.Clean(xe.Message, maxServerText))
	case errors.Is(err, atoauth.ErrSessionExpired):
		writeError(w, http.StatusUnauthorized, "not_signed_in", "the session has ended; sign in again")
	case errors.Is(ctx.Err(), context.DeadlineExceeded) && r.Context().Err() == nil:
		writeError(w, http.StatusGatewayTimeout, "upstream_timeout", "the account's server did not answer in time")
	case r.Context().Err() != nil:
		// The client went away; nobody reads this.
		writeError(w, http.StatusServiceUnavailable, "canceled", "the request was canceled")
	case errors.Is(err, xrpc.ErrNoService):
		g.log.Warn("gateway: no service", "nsid", nsid, "error", err.Error())
		writeError(w, http.StatusBadGateway, "no_service", "no service answers "+nsid+" for this account")
	default:
		g.log.Warn("gateway: call failed", "nsid", nsid, "error", err.Error())
		writeError(w, http.StatusBadGateway, "upstream_failed", "the account's server could not be reached")
	}
}

var errResponseTooLarge = errors.New("gateway: the answer is larger than the cap")

// streamOut receives an answer's body from the xrpc client: it buffers
// the first commitThreshold bytes, then commits the status and headers
// and streams the rest; past limit it fails (and the answer is cut, or
// refused when nothing was sent yet).
type streamOut struct {
	w         http.ResponseWriter
	hdr       http.Header // the PDS's answer header (xrpc.WithResponseHeader)
	limit     int64
	n         int64
	buf       []byte
	started   bool
	committed bool
	tooLarge  bool
}

func (s *streamOut) Write(p []byte) (int, error) {
	if !s.started {
		s.started = true
		if n, ok := declaredLength(s.hdr); ok && n > s.limit {
			s.tooLarge = true
			return 0, errResponseTooLarge
		}
	}
	if s.n+int64(len(p)) > s.limit {
		s.tooLarge = true
		return 0, errResponseTooLarge
	}
	s.n += int64(len(p))
	if !s.committed {
		if len(s.buf)+len(p) <= commitThreshold {
			s.buf = append(s.buf, p...)
			return len(p), nil
		}
		s.commit(-1)
		if len(s.buf) > 0 {
			if _, err := s.w.Write(s.buf); err != nil {
				return 0, err
			}
			s.buf = nil
		}
	}
	return s.w.Write(p)
}

// complete sends a buffered answer, with its length.
func (s *streamOut) complete() {
	if s.committed {
		return
	}
	s.commit(int64(len(s.buf)))
	if len(s.buf) > 0 {
		_, _ = s.w.Write(s.buf)
	}
}

// commit writes the status and the headers passed on from the PDS's
// answer; length is the body's length, or -1 when streaming (then the
// PDS's Content-Length, if any, is passed on).
func (s *streamOut) commit(length int64) {
	s.committed = true
	h := s.w.Header()
	if ct := s.hdr.Get("Content-Type"); ct != "" && validHeaderValue(ct) && isMediaType(ct) {
		h.Set("Content-Type", ct)
	} else if length != 0 {
		h.Set("Content-Type", "application/octet-stream")
	}
	for _, k := range []string{"Content-Language", "Atproto-Repo-Rev", "Atproto-Content-Labelers"} {
		if v := s.hdr.Get(k); v != "" && len(v) <= maxForwardedValue && validHeaderValue(v) {
			h.Set(k, v)
		}
	}
	if length < 0 {
		if n, ok := declaredLength(s.hdr); ok {
			length = n
		}
	}
	if length >= 0 {
		h.Set("Content-Length", strconv.FormatInt(length, 10))
	}
	s.w.WriteHeader(http.StatusOK)
}

func declaredLength(h http.Header) (int64, bool) {
	n, err := strconv.ParseInt(h.Get("Content-Length"), 10, 64)
	return n, err == nil && n >= 0
}

func isMediaType(ct string) bool {
	mt, _, err := mime.ParseMediaType(ct)
	return err == nil && strings.Contains(mt, "/")
}
