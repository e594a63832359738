package xrpc

import (
	"bufio"
	"bytes"
	"context"
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"time"

	"github.com/atoauth/atoauth"
	"github.com/bluesky-social/indigo/atproto/syntax"
)

// Services of the Bluesky network that a PDS proxies to (atproto XRPC
// spec, "Service Proxying").
const (
	// AppViewService is the Bluesky AppView, which answers app.bsky.*.
	AppViewService = "did:web:api.bsky.app#bsky_appview"
	// ChatService is the Bluesky chat service, which answers chat.bsky.*.
	ChatService = "did:web:api.bsky.chat#bsky_chat"
)

// ProxyHeader is the request header that names the service a PDS
// forwards a call to: "did#service_id".
const ProxyHeader = "atproto-proxy"

// DefaultServices returns the default routing of [Options.Services]:
// app.bsky.* to [AppViewService] and chat.bsky.* to [ChatService], except
// app.bsky.actor.getPreferences and app.bsky.actor.putPreferences, which
// the PDS answers itself. Everything else, com.atproto.* included, is
// PDS-local and carries no atproto-proxy header.
func DefaultServices() map[string]string {
	return map[string]string{
		"app.bsky.":                     AppViewService,
		"chat.bsky.":                    ChatService,
		"app.bsky.actor.getPreferences": "",
		"app.bsky.actor.putPreferences": "",
	}
}

// Defaults of [Options].
const (
	DefaultMaxRetryWait     = 10 * time.Second
	DefaultMaxResponseBytes = 64 << 20
	maxAttempts             = 3
)

// Options configures a [Client].
type Options struct {
	// Session, when set, is the signed-in session the client acts for:
	// calls go to its PDS (Session.PDS(), read at each call) through its
	// authenticated HTTPClient, and are pre-checked against its granted
	// scope (Session.Scope(), read at each call). Host and HTTPClient are
	// then ignored.
	Session *atoauth.Session
	// Host is the server's origin ("https://pds.example.com") when there
	// is no Session.
	Host string
	// HTTPClient sends requests when there is no Session (nil:
	// http.DefaultClient).
	HTTPClient *http.Client

	// Services routes calls to services through the PDS: it maps an NSID,
	// or an NSID prefix ending in ".", to the service reference sent in
	// the atproto-proxy header ("did:web:api.bsky.app#bsky_appview"); ""
	// means no header. The most specific entry wins. Entries are merged
	// over [DefaultServices], so {"app.bsky.": "did:web:appview.example#bsky_appview"}
	// only changes the AppView.
	Services map[string]string

	// Authorizer pre-checks each call's permission (a write's repo
	// permission, an upload's blob permission, a proxied call's rpc
	// permission) before it is sent. Nil means [GrantedScope] of the
	// session's granted scope; without a Session, no pre-check.
	Authorizer Authorizer
	// NoPreCheck turns the pre-check off: every call is sent and the
	// server decides.
	NoPreCheck bool

	// Headers are sent with every request (e.g. atproto-accept-labelers,
	// User-Agent).
	Headers http.Header
	// MaxRetryWait is the longest Retry-After that a query (GET) answered
	// 429 or 503 waits for before it is retried, up to twice. Zero means
	// DefaultMaxRetryWait; negative disables retries. Procedures (POST)
	// are never retried.
	MaxRetryWait time.Duration
	// MaxResponseBytes caps buffered responses (JSON and *[]byte outputs).
	// Zero means DefaultMaxResponseBytes.
	MaxResponseBytes int64
}

// Client calls XRPC methods (atproto XRPC spec,
// https://atproto.com/specs/xrpc): queries are GET /xrpc/{nsid} with
// query parameters, procedures POST /xrpc/{nsid} with a body. It routes
// app.bsky.* and chat.bsky.* calls to their service through the PDS with
// the atproto-proxy header, pre-checks permissions, decodes responses
// into Go values and turns error responses into *[Error] and
// *[ScopeMissingError]. It also implements indigo's lexutil.LexClient
// ([Client.LexDo]), so indigo's generated API functions run over it.
//
// A Client is safe for concurrent use.
type Client struct {
	sess       *atoauth.Session
	host       string
	hc         *http.Client
	services   map[string]string
	auth       Authorizer
	noPreCheck bool
	headers    http.Header
	maxWait    time.Duration
	maxResp    int64
	sleep      func(ctx context.Context, d time.Duration) error
	now        func() time.Time

	mu          sync.Mutex
	scopeSeen   string
	scopeParsed *granted
}

// NewClient checks opts and returns a Client.
func NewClient(opts Options) (*Client, error) {
	c := &Client{
		sess:       opts.Session,
		hc:         opts.HTTPClient,
		services:   DefaultServices(),
		auth:       opts.Authorizer,
		noPreCheck: opts.NoPreCheck,
		headers:    opts.Headers.Clone(),
		maxWait:    opts.MaxRetryWait,
		maxResp:    opts.MaxResponseBytes,
		sleep:      sleepCtx,
		now:        time.Now,
	}
	if c.sess != nil {
		c.hc = c.sess.HTTPClient()
	} else {
		host, err := parseHost(opts.Host)
		if err != nil {
			return nil, err
		}
		c.host = host
		if c.hc == nil {
			c.hc = http.DefaultClient
		}
	}
	for k, v := range opts.Services {
		if err := checkRoute(k, v); err != nil {
			return nil, err
		}
		c.services[k] = v
	}
	if c.maxWait == 0 {
		c.maxWait = DefaultMaxRetryWait
	}
	if c.maxResp <= 0 {
		c.maxResp = DefaultMaxResponseBytes
	}
	return c, nil
}

func parseHost(raw string) (string, error) {
	u, err := url.Parse(strings.TrimSuffix(raw, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil ||
		(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("xrpc: Options.Host %q must be an http(s) origin such as https://pds.example.com (or set Options.Session)", cleanText(raw))
	}
	return u.Scheme + "://" + u.Host, nil
}

// checkRoute validates one Options.Services entry.
func checkRoute(key, ref string) error {
	prefix, isPrefix := strings.CutSuffix(key, ".")
	if isPrefix {
		for _, seg := range strings.Split(prefix, ".") {
			if seg == "" {
				return fmt.Errorf("xrpc: Options.Services key %q is neither an NSID nor a prefix like \"app.bsky.\"", cleanText(key))
			}
		}
	} else if _, err := syntax.ParseNSID(key); err != nil {
		return fmt.Errorf("xrpc: Options.Services key %q is neither an NSID nor a prefix like \"app.bsky.\"", cleanText(key))
	}
	if ref == "" {
		return nil
	}
	return CheckServiceRef(ref)
}

// CheckServiceRef reports whether ref is a service reference that can be
// sent in the atproto-proxy header: a DID, "#", and a service id, such as
// "did:web:api.bsky.app#bsky_appview".
func CheckServiceRef(ref string) error {
	did, id, ok := strings.Cut(ref, "#")
	_, err := syntax.ParseDID(did)
	if !ok || err != nil || id == "" || strings.ContainsAny(id, "# \t\r\n") {
		return fmt.Errorf("xrpc: service reference %q is not of the form did:…#service_id (e.g. %s)", cleanText(ref), AppViewService)
	}
	return nil
}

// Service returns the service reference that a call to nsid is routed to
// (sent as the atproto-proxy header), or "" for a PDS-local call.
func (c *Client) Service(nsid string) string {
	if s, ok := c.services[nsid]; ok {
		return s
	}
	best, bestLen := "", 0
	for k, v := range c.services {
		if strings.HasSuffix(k, ".") && strings.HasPrefix(nsid, k) && len(k) > bestLen {
			best, bestLen = v, len(k)
		}
	}
	return best
}

// Params are the query parameters of a call. Values may be strings, bools,
// integers, types whose underlying type is one of those (syntax.DID),
// encoding.TextMarshaler (time.Time), pointers to them, or slices of them
// (sent as repeated parameters). Nil values are left out.
type Params map[string]any

func (p Params) values() (url.Values, error) {
	out := url.Values{}
	for k, v := range p {
		if err := addParam(out, k, reflect.ValueOf(v), true); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func addParam(out url.Values, k string, v reflect.Value, top bool) error {
	if !v.IsValid() {
		return nil
	}
	if v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return nil
		}
		v = v.Elem()
	}
	if tm, ok := v.Interface().(encoding.TextMarshaler); ok {
		b, err := tm.MarshalText()
		if err != nil {
			return fmt.Errorf("xrpc: parameter %q: %w", k, err)
		}
		out.Add(k, string(b))
		return nil
	}
	switch v.Kind() {
	case reflect.String, reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		out.Add(k, fmt.Sprint(v.Interface()))
		return nil
	case reflect.Slice, reflect.Array:
		if top {
			for i := range v.Len() {
				if err := addParam(out, k, v.Index(i), false); err != nil {
					return err
				}
			}
			return nil
		}
	case reflect.Interface:
		return addParam(out, k, v.Elem(), top)
	}
	return fmt.Errorf("xrpc: parameter %q has unsupported type %s", k, v.Type())
}

// CallOption adjusts one call.
type CallOption func(*call)

type call struct {
	service    string
	encoding   string
	header     http.Header
	respHeader *http.Header
}

// WithProxy routes the call to service ("did#service_id") through the
// PDS, overriding [Options.Services]; WithProxy("") sends the call to the
// PDS itself, without an atproto-proxy header.
func WithProxy(service string) CallOption {
	return func(c *call) { c.service = service }
}

// WithHeader adds a request header to the call.
func WithHeader(key, value string) CallOption {
	return func(c *call) { c.header.Add(key, value) }
}

// WithEncoding sets the Content-Type of a raw procedure body ([]byte or
// io.Reader). Without it, or with "*/*", the type is sniffed from the
// first 512 bytes (http.DetectContentType).
func WithEncoding(contentType string) CallOption {
	return func(c *call) { c.encoding = contentType }
}

// WithResponseHeader stores the response's header in *dst (for errors
// too), e.g. to read content-type or atproto-repo-rev.
func WithResponseHeader(dst *http.Header) CallOption {
	return func(c *call) { c.respHeader = dst }
}

// Query calls the query (GET) nsid with params and decodes the response
// into out: nil discards it, *[]byte receives the raw body, an io.Writer
// receives it streamed, anything else is decoded from JSON. A query
// answered 429 or 503 with a Retry-After up to Options.MaxRetryWait is
// retried, at most twice.
func (c *Client) Query(ctx context.Context, nsid string, params Params, out any, opts ...CallOption) error {
	return c.do(ctx, http.MethodGet, nsid, params, nil, out, opts)
}

// Procedure calls the procedure (POST) nsid with params and input in, and
// decodes the response into out as [Client.Query] does. in may be nil (no
// body), []byte or an io.Reader (a raw body: see [WithEncoding]), or any
// other value, sent as JSON (json.RawMessage as is). Procedures are never
// retried here; the session's transport replays the body itself when the
// PDS asks for a new DPoP nonce or the token needs a refresh.
func (c *Client) Procedure(ctx context.Context, nsid string, params Params, in, out any, opts ...CallOption) error {
	return c.do(ctx, http.MethodPost, nsid, params, in, out, opts)
}

// LexDo implements indigo's lexutil.LexClient interface, so that the
// generated functions of github.com/bluesky-social/indigo/api/atproto and
// api/bsky run over this Client, with the same routing, pre-checks and
// errors.
func (c *Client) LexDo(ctx context.Context, method, inputEncoding, endpoint string, params map[string]any, bodyData, out any) error {
	var opts []CallOption
	if inputEncoding != "" {
		opts = append(opts, WithEncoding(inputEncoding))
	}
	switch method {
	case http.MethodGet:
		return c.do(ctx, http.MethodGet, endpoint, params, nil, out, opts)
	case http.MethodPost:
		return c.do(ctx, http.MethodPost, endpoint, params, bodyData, out, opts)
	}
	return fmt.Errorf("xrpc: %s: method %q is neither a query (GET) nor a procedure (POST)", endpoint, cleanText(method))
}

func (c *Client) do(ctx context.Context, method, nsid string, params Params, in, out any, opts []CallOption) error {
	if _, err := syntax.ParseNSID(nsid); err != nil {
		return fmt.Errorf("xrpc: %q is not a valid NSID", cleanText(nsid))
	}
	cl := call{service: c.Service(nsid), header: http.Header{}}
	for _, o := range opts {
		o(&cl)
	}
	if cl.service != "" {
		if err := CheckServiceRef(cl.service); err != nil {
			return err
		}
	}
	q, err := params.values()
	if err != nil {
		return err
	}
	body, encoding, jsonBody, err := prepareBody(in, cl.encoding)
	if err != nil {
		return fmt.Errorf("xrpc: %s: %w", nsid, err)
	}
	var reqs []Requirement
	if cl.service != "" {
		reqs = append(reqs, RPCRequirement(nsid, cl.service))
	}
	reqs = append(reqs, bodyRequirements(nsid, encoding, jsonBody)...)
	if err := c.check(nsid, reqs); err != nil {
		return err
	}
	host := c.host
	if c.sess != nil {
		host = c.sess.PDS()
	}
	target := host + "/xrpc/" + nsid
	if len(q) > 0 {
		target += "?" + q.Encode()
	}
	for attempt := 1; ; attempt++ {
		req, err := http.NewRequestWithContext(ctx, method, target, body)
		if err != nil {
			return fmt.Errorf("xrpc: %s: %w", nsid, err)
		}
		for k, vs := range c.headers {
			req.Header[k] = append([]string(nil), vs...)
		}
		for k, vs := range cl.header {
			req.Header[k] = append([]string(nil), vs...)
		}
		if body != nil {
			req.Header.Set("Content-Type", encoding)
		}
		if isJSONOut(out) {
			req.Header.Set("Accept", "application/json")
		}
		if cl.service != "" {
			req.Header.Set(ProxyHeader, cl.service)
		} else {
			req.Header.Del(ProxyHeader)
		}
		resp, err := c.hc.Do(req)
		if err != nil {
			return fmt.Errorf("xrpc: %s: %w", nsid, err)
		}
		if cl.respHeader != nil {
			*cl.respHeader = resp.Header.Clone()
		}
		if resp.StatusCode >= 200 && resp.StatusCode <= 299 {
			return c.decode(nsid, resp, out)
		}
		errBody, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
		drain(resp.Body)
		xerr := responseError(nsid, cl.service, resp, errBody, c.now())
		var e *Error
		if method == http.MethodGet && attempt < maxAttempts && errors.As(xerr, &e) &&
			(e.StatusCode == http.StatusTooManyRequests || e.StatusCode == http.StatusServiceUnavailable) &&
			e.RetryAfter > 0 && e.RetryAfter <= c.maxWait {
			if err := c.sleep(ctx, e.RetryAfter); err != nil {
				return fmt.Errorf("%w (while waiting to retry: %w)", xerr, err)
			}
			continue
		}
		return xerr
	}
}

// Check runs the client-side permission pre-check on reqs without calling
// anything: it returns a *[ScopeMissingError] for the first requirement
// the granted permissions do not cover, and nil when all are covered or
// the pre-check is off. Use it to fail fast before a multi-step operation
// (upload images, then post) or to hide actions a session cannot take.
func (c *Client) Check(reqs ...Requirement) error { return c.check("", reqs) }

func (c *Client) check(nsid string, reqs []Requirement) error {
	if len(reqs) == 0 {
		return nil
	}
	a := c.authorizer()
	if a == nil {
		return nil
	}
	for _, r := range reqs {
		if !a.Allows(r) {
			return &ScopeMissingError{NSID: nsid, Permission: r.String(), ClientSide: true}
		}
	}
	return nil
}

func (c *Client) authorizer() Authorizer {
	switch {
	case c.noPreCheck:
		return nil
	case c.auth != nil:
		return c.auth
	case c.sess == nil:
		return nil
	}
	scope := c.sess.Scope()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.scopeParsed == nil || c.scopeSeen != scope {
		c.scopeParsed, c.scopeSeen = parseGranted(scope), scope
	}
	return c.scopeParsed
}

// prepareBody turns a procedure input into a body and its Content-Type.
// jsonBody is the body when it is JSON, for the permission pre-check.
func prepareBody(in any, enc string) (body io.Reader, encoding string, jsonBody []byte, err error) {
	switch v := in.(type) {
	case nil:
		return nil, "", nil, nil
	case json.RawMessage:
		return bytes.NewReader(v), "application/json", v, nil
	case []byte:
		if enc == "" || enc == "*/*" {
			enc = http.DetectContentType(v)
		}
		if isJSONType(enc) {
			jsonBody = v
		}
		return bytes.NewReader(v), enc, jsonBody, nil
	case *bytes.Reader, *bytes.Buffer, *strings.Reader:
		// Already in memory: send it with a length, replayable.
		data, err := io.ReadAll(v.(io.Reader))
		if err != nil {
			return nil, "", nil, err
		}
		return prepareBody(data, enc)
	case io.Reader:
		if enc == "" || enc == "*/*" {
			br := bufio.NewReaderSize(v, 512)
			head, _ := br.Peek(512)
			return br, http.DetectContentType(head), nil, nil
		}
		return v, enc, nil, nil
	}
	b, err := json.Marshal(in)
	if err != nil {
		return nil, "", nil, fmt.Errorf("encoding the input as JSON: %w", err)
	}
	return bytes.NewReader(b), "application/json", b, nil
}

func isJSONType(enc string) bool {
	mt, _, _ := strings.Cut(enc, ";")
	return strings.EqualFold(strings.TrimSpace(mt), "application/json")
}

func isJSONOut(out any) bool {
	switch out.(type) {
	case nil, *[]byte, io.Writer:
		return false
	}
	return true
}

// decode reads a 2xx response into out.
func (c *Client) decode(nsid string, resp *http.Response, out any) error {
	defer resp.Body.Close()
	switch v := out.(type) {
	case nil:
		drain(resp.Body)
		return nil
	case io.Writer:
		if _, err := io.Copy(v, resp.Body); err != nil {
			return fmt.Errorf("xrpc: %s: reading the response: %w", nsid, err)
		}
		return nil
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, c.maxResp+1))
	if err != nil {
		return fmt.Errorf("xrpc: %s: reading the response: %w", nsid, err)
	}
	if int64(len(data)) > c.maxResp {
		return fmt.Errorf("xrpc: %s: the response is larger than %d bytes: %w", nsid, c.maxResp, ErrTooLarge)
	}
	if p, ok := out.(*[]byte); ok {
		*p = data
		return nil
	}
	if err := jsonUnmarshal(data, out); err != nil {
		return fmt.Errorf("xrpc: %s: decoding the response: %w", nsid, err)
	}
	return nil
}

func jsonUnmarshal(data []byte, out any) error { return json.Unmarshal(data, out) }

// drain discards a little of a body so that the connection can be reused.
func drain(r io.ReadCloser) {
	_, _ = io.Copy(io.Discard, io.LimitReader(r, 64<<10))
	_ = r.Close()
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
