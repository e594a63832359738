package xrpc

// Fuzz targets for what a hostile server controls in an XRPC answer: the
// status, the body and the WWW-Authenticate, ratelimit-* and Retry-After
// headers (issue 12).

import (
	"bytes"
	"context"
	"errors"
	"github.com/atoauth/atoauth/auth"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/atoauth/atoauth/internal/safetext"
	"github.com/atoauth/atoauth/scope"
)

// maxCleanText is the longest text cleanText returns: 300 bytes and "…".
const maxCleanText = 300 + len("…")

// maxErrorText bounds the message of an XRPC error, whatever the server
// sent: two tries (the fallback to Bluesky's AppView) of a few cleaned
// fields and a fixed hint each.
const maxErrorText = 4096

// checkServerText fails unless s is text cleanText could have produced:
// safe to print (checkSafe), without U+FFFD (what invalid UTF-8 decodes
// to), at most maxCleanText bytes.
func checkServerText(t *testing.T, what, s string) {
	t.Helper()
	if len(s) > maxCleanText {
		t.Errorf("%s is %d bytes, more than %d: %q", what, len(s), maxCleanText, s)
	}
	if strings.ContainsRune(s, utf8.RuneError) {
		t.Errorf("%s holds U+FFFD: %q", what, s)
	}
	checkSafe(t, what, s)
}

// checkSafe fails unless s is valid UTF-8 free of what acts on a terminal
// or reorders text (C0, DEL, C1, bidi controls, line and paragraph
// separators; safetext.Safe), newlines and tabs included: server text must
// not reach a terminal or a log raw.
func checkSafe(t *testing.T, what, s string) {
	t.Helper()
	if !safetext.Safe(s) {
		t.Errorf("%s is not safe to print: %q", what, s)
	}
}

// fuzzHeader builds the response header a hostile server sends. Several
// WWW-Authenticate headers are separated by "\n" in www.
func fuzzHeader(www, limit, remaining, reset, policy, retryAfter string) http.Header {
	h := http.Header{}
	for v := range strings.SplitSeq(www, "\n") {
		if v != "" {
			h.Add("WWW-Authenticate", v)
		}
	}
	for k, v := range map[string]string{
		"RateLimit-Limit": limit, "RateLimit-Remaining": remaining, "RateLimit-Reset": reset,
		"RateLimit-Policy": policy, "Retry-After": retryAfter,
	} {
		if v != "" {
			h.Set(k, v)
		}
	}
	return h
}

// checkXRPCError checks the error of a non-2xx answer: an *Error (inside
// a *ScopeMissingError for 403 ScopeMissingError) whose server-chosen
// fields are cleaned and bounded, and whose message is bounded and free of
// control characters.
func checkXRPCError(t *testing.T, err error, status int) *Error {
	t.Helper()
	if err == nil {
		t.Fatalf("HTTP %d gave no error", status)
	}
	var e *Error
	if !errors.As(err, &e) || e == nil {
		t.Fatalf("HTTP %d: %T %v is not an *xrpc.Error", status, err, err)
	}
	if e.StatusCode != status {
		t.Errorf("StatusCode %d, want %d", e.StatusCode, status)
	}
	checkServerText(t, "Name", e.Name)
	checkServerText(t, "Message", e.Message)
	checkServerText(t, "RateLimit.Policy", e.RateLimit.Policy)
	for _, c := range e.WWWAuthenticate {
		for k, v := range c.Params {
			checkServerText(t, "WWW-Authenticate parameter "+k, v)
		}
	}
	if e.RetryAfter < 0 {
		t.Errorf("RetryAfter %v < 0", e.RetryAfter)
	}
	var sm *ScopeMissingError
	if errors.As(err, &sm) {
		if sm.ClientSide || sm.Err == nil {
			t.Errorf("a server's ScopeMissingError: %+v", sm)
		}
		checkServerText(t, "ScopeMissingError.Permission", sm.Permission)
	}
	msg := err.Error()
	if len(msg) > maxErrorText {
		t.Errorf("the error message is %d bytes, more than %d", len(msg), maxErrorText)
	}
	checkSafe(t, "the error message", msg)
	checkSafe(t, "the hint", e.Hint())
	// Classification must not panic either.
	_ = errors.Is(err, ErrRateLimited)
	return e
}

func FuzzResponseError(f *testing.F) {
	type seed struct {
		status                                           int
		www, limit, remaining, reset, policy, retryAfter string
		body                                             string
	}
	for _, s := range []seed{
		{status: 400, body: `{"error":"InvalidRequest","message":"Could not find repo: did:plc:aaaaaaaaaaaaaaaaaaaaaaaa"}`},
		{status: 400, body: `{"error":"RecordNotFound","message":"Could not locate record: at://did:plc:x/app.bsky.feed.post/3k"}`},
		{status: 400, body: `{"error":"InvalidRequest","message":"No service configured for app.bsky.actor.getProfile"}`},
		{status: 400, body: `{"error":"InvalidSwap","message":"Record was at bafyreib"}`},
		{status: 400, body: `{"error":"InvalidToken","message":"Bad token scope"}`},
		{status: 401, www: `DPoP algs="ES256", error="invalid_token", error_description="\"exp\" claim timestamp check failed"`, body: `{"error":"InvalidToken","message":"\"exp\" claim timestamp check failed"}`},
		{status: 401, www: `DPoP algs="ES256", error="use_dpop_nonce", error_description="Resource server requires nonce in DPoP proof"`, body: `{"error":"use_dpop_nonce","message":"Resource server requires nonce in DPoP proof"}`},
		{status: 401, www: "Bearer realm=\"x\"\nDPoP error=\"invalid_dpop_proof\"", body: `{"error":"AuthenticationRequired"}`},
		{status: 403, body: `{"error":"ScopeMissingError","message":"Missing required scope \"repo:app.bsky.feed.post?action=create\""}`},
		{status: 413, body: "<html><body>413 Request Entity Too Large</body></html>"},
		{status: 429, limit: "3000", remaining: "0", reset: "1700000300", policy: "3000;w=300", retryAfter: "2", body: `{"error":"RateLimitExceeded","message":"Rate Limit Exceeded"}`},
		{status: 429, limit: "-1", remaining: "x", reset: "30", policy: "\x1b]52;c;cGF3bmVk\x07", retryAfter: "Wed, 21 Oct 2015 07:28:00 GMT"},
		{status: 503, retryAfter: "Tue, 14 Nov 2023 22:14:00 GMT", body: "Service Unavailable"},
		{status: 502, body: `{"error":"UpstreamFailure","message":"Upstream service unreachable"}`},
		{status: 500, body: `{"error":"InternalServerError","message":"Internal Server Error"}`},
		{status: 501, body: `{"error":"MethodNotImplemented","message":"Method Not Implemented"}`},
		{status: 400, body: "{\"error\":\"\\u001b[2J\\u001b]0;pwned\\u0007\",\"message\":\"line\\nbreak\\r\\u0085\\u009b31m \\u202eevil\"}"},
		{status: 400, body: `{"error":123,"message":["x"]}`},
		{status: 404, body: `{"message":"` + strings.Repeat("é", 400) + `"}`},
		{status: 302},
		{status: 100, body: "\xff\xfe"},
	} {
		f.Add(s.status, s.www, s.limit, s.remaining, s.reset, s.policy, s.retryAfter, []byte(s.body), false)
	}
	now := time.Unix(1_700_000_000, 0)
	f.Fuzz(func(t *testing.T, status int, www, limit, remaining, reset, policy, retryAfter string, body []byte, proxied bool) {
		if status < 100 || status > 999 || status/100 == 2 {
			status = 300 + int(uint(status)%300) // only non-2xx answers are errors
		}
		if len(body) > maxErrorBody {
			body = body[:maxErrorBody] // send reads no more
		}
		service := ""
		if proxied {
			service = scope.BskyAppView
		}
		resp := &http.Response{StatusCode: status, Header: fuzzHeader(www, limit, remaining, reset, policy, retryAfter)}
		err := responseError("com.atproto.repo.getRecord", service, resp, body, now)
		e := checkXRPCError(t, err, status)
		if e.Service != service || e.NSID != "com.atproto.repo.getRecord" {
			t.Errorf("NSID %q Service %q", e.NSID, e.Service)
		}
		if _, perr := strconv.ParseInt(strings.TrimSpace(retryAfter), 10, 64); perr == nil && e.RetryAfter > (1<<31)*time.Second {
			// delay-seconds is capped at 2^31 s.
			t.Errorf("Retry-After %q gave %v", retryAfter, e.RetryAfter)
		}
		_ = e.summary()
		_ = e.pdsHasNoService()
	})
}

// fuzzRoundTripper is an http.RoundTripper: a server in-process.
type fuzzRoundTripper func(*http.Request) (*http.Response, error)

func (f fuzzRoundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// fuzzOut is a typical JSON output: strings, numbers, nested objects and
// lists, to decode a hostile 2xx body into.
type fuzzOut struct {
	URI     string `json:"uri"`
	CID     string `json:"cid"`
	Count   int64  `json:"count"`
	Cursor  string `json:"cursor"`
	Records []struct {
		URI   string         `json:"uri"`
		Value map[string]any `json:"value"`
	} `json:"records"`
	Commit *struct {
		CID string `json:"cid"`
		Rev string `json:"rev"`
	} `json:"commit"`
}

// FuzzClient drives a Client against a server that answers every request
// with the fuzzed status, headers and body: a non-2xx answer is always an
// error with a clean, bounded message; retries (Retry-After on a query,
// the fallback to Bluesky's AppView) are bounded and never wait longer
// than Options.MaxRetryWait; a 2xx body only ever fails to decode.
func FuzzClient(f *testing.F) {
	const js = "application/json; charset=utf-8"
	for _, s := range []struct {
		op                                                            uint8
		status                                                        int
		www, limit, remaining, reset, policy, retryAfter, contentType string
		body                                                          string
	}{
		{op: 0, status: 200, contentType: js, body: `{"uri":"at://did:plc:x/com.example.note/1","cid":"bafy","value":{"text":"hi"}}`},
		{op: 1, status: 200, contentType: js, body: `{"records":[{"uri":"at://x","value":{"a":[1,2,{"b":null}]}}],"cursor":"c"}`},
		{op: 0, status: 200, contentType: js, body: `{"count":1e999}`},
		{op: 0, status: 200, contentType: js, body: "{\"uri\":\"\x1b[2J\"}"},
		{op: 0, status: 200, contentType: js, body: `{"records":{"\u001b":1}}`},
		{op: 0, status: 200, contentType: "text/html; charset=\x1b[31m\u202e", body: "<html>\x85\u2028</html>"},
		{op: 3, status: 200, contentType: "", body: "\xff\xfe"},
		{op: 2, status: 200, contentType: "image/png", body: "\x89PNG\r\n\x1a\n"},
		{op: 2, status: 429, limit: "100", remaining: "0", reset: "1700000300", policy: "100;w=300", retryAfter: "1", contentType: js, body: `{"error":"RateLimitExceeded","message":"Rate Limit Exceeded"}`},
		{op: 2, status: 503, retryAfter: "9", body: "busy"},
		{op: 3, status: 404, contentType: js, body: `{"error":"XRPCNotSupported","message":"XRPCNotSupported"}`},
		{op: 3, status: 400, contentType: js, body: `{"error":"InvalidRequest","message":"No service configured for app.bsky.actor.getProfile"}`},
		{op: 1, status: 401, www: `DPoP error="use_dpop_nonce"`, contentType: js, body: `{"error":"use_dpop_nonce"}`},
		{op: 1, status: 403, contentType: js, body: `{"error":"ScopeMissingError","message":"Missing required scope \"repo:com.example.note?action=create\""}`},
		{op: 0, status: 502, contentType: js, body: "{\"error\":\"UpstreamFailure\",\"message\":\"\\u001b]8;;http://evil\\u0007click \\u202e\\u2029\"}"},
	} {
		f.Add(s.op, s.status, s.www, s.limit, s.remaining, s.reset, s.policy, s.retryAfter, s.contentType, []byte(s.body))
	}
	f.Fuzz(func(t *testing.T, op uint8, status int, www, limit, remaining, reset, policy, retryAfter, contentType string, body []byte) {
		if status < 100 || status > 599 {
			status = 100 + int(uint(status)%500)
		}
		calls := 0
		hc := &http.Client{
			Transport: fuzzRoundTripper(func(r *http.Request) (*http.Response, error) {
				calls++
				if r.Body != nil {
					_, _ = io.Copy(io.Discard, r.Body)
					r.Body.Close()
				}
				h := fuzzHeader(www, limit, remaining, reset, policy, retryAfter)
				if contentType != "" {
					h.Set("Content-Type", contentType)
				}
				return &http.Response{
					StatusCode: status, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1, Request: r,
					Header:        h,
					Body:          io.NopCloser(bytes.NewReader(body)),
					ContentLength: int64(len(body)),
				}, nil
			}),
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
		pub, err := auth.Public("https://pds.example.com", hc)
		if err != nil {
			t.Fatal(err)
		}
		c, err := NewClient(Options{Auth: pub})
		if err != nil {
			t.Fatal(err)
		}
		var slept []time.Duration
		SetSleep(c, func(_ context.Context, d time.Duration) error {
			slept = append(slept, d)
			return nil
		})
		ctx := context.Background()
		var out fuzzOut
		var raw []byte
		switch op % 4 {
		case 0: // a PDS-local query
			err = c.Query(ctx, "com.atproto.repo.getRecord", Params{"repo": "did:plc:x", "collection": "com.example.note", "rkey": "1"}, &out)
		case 1: // a procedure: never retried
			err = c.Procedure(ctx, "com.atproto.repo.createRecord", nil, map[string]any{"repo": "did:plc:x", "collection": "com.example.note", "record": map[string]any{"text": "hi"}}, &out)
		case 2: // a raw query
			err = c.Query(ctx, "com.atproto.sync.getBlob", Params{"did": "did:plc:x", "cid": "bafy"}, &raw)
		case 3: // left to the PDS's default AppView, with the fallback to Bluesky's
			err = c.Query(ctx, "app.bsky.actor.getProfile", Params{"actor": "did:plc:x"}, &out)
		}
		// At most maxAttempts tries per route, and two routes.
		if calls < 1 || calls > 2*maxAttempts {
			t.Errorf("%d requests", calls)
		}
		for _, d := range slept {
			if d <= 0 || d > DefaultMaxRetryWait {
				t.Errorf("waited %v before a retry (MaxRetryWait %v)", d, DefaultMaxRetryWait)
			}
		}
		if op%4 == 1 && calls > 1 {
			t.Errorf("a procedure was sent %d times", calls)
		}
		if status < 200 || status > 299 {
			checkXRPCError(t, err, status)
			return
		}
		if err != nil {
			msg := err.Error()
			if len(msg) > maxErrorText {
				t.Errorf("the error message is %d bytes", len(msg))
			}
			checkSafe(t, "the decoding error", msg)
			return
		}
		if op%4 == 2 && !bytes.Equal(raw, body) {
			t.Errorf("raw body %q, want %q", raw, body)
		}
	})
}
