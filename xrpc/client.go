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

	"github.com/atoauth/atoauth/auth"
	"github.com/atoauth/atoauth/scope"
	"github.com/bluesky-social/indigo/atproto/syntax"
)

// ProxyHeader is the request header that names the service a PDS
// forwards a call to: "did#service_id".
const ProxyHeader = "atproto-proxy"

// DefaultServices returns the default routing of [Options.Services]:
// chat.bsky.* to [scope.BskyChat], which a PDS cannot infer, and
// app.bsky.actor.getPreferences and putPreferences to the PDS itself.
// Other app.bsky.* methods have no entry: they are sent without an
// atproto-proxy header, so that the PDS forwards them to the AppView it is
// configured with, as the official TypeScript client (@atproto/api Agent)
// does; see [Client] for the fallback to [scope.BskyAppView]. Everything
// else, com.atproto.* included, is PDS-local and carries no header.
func DefaultServices() map[string]string {
	return map[string]string{
		"chat.bsky.":                    scope.BskyChat,
		"app.bsky.actor.getPreferences": "",
		"app.bsky.actor.putPreferences": "",
	}
}

// ProxyMemory remembers the PDSes that have no default AppView, found by
// the fallback described at [Client]: app.bsky.* calls to them carry the
// atproto-proxy header of [scope.BskyAppView] from the first try. Share one
// across the Clients of a program (Options.ProxyMemory) so that each PDS
// costs the extra round trip once. The zero value is ready to use; it is
// safe for concurrent use and holds at most 4,096 PDS origins (it starts
// over when full: PDS origins may be chosen by strangers).
type ProxyMemory struct {
	mu    sync.Mutex
	needs map[string]bool // PDS origin → app.bsky.* needs the header
}

const maxProxyMemory = 4096

func (m *ProxyMemory) needsHeader(pds string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.needs[pds]
}

func (m *ProxyMemory) remember(pds string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.needs == nil || len(m.needs) >= maxProxyMemory {
		m.needs = make(map[string]bool)
	}
	m.needs[pds] = true
}

// Defaults of [Options].
const (
	DefaultMaxRetryWait     = 10 * time.Second
	DefaultMaxResponseBytes = 64 << 20
	maxAttempts             = 3
)

// Options configures a [Client].
type Options struct {
	// Auth is how calls reach and authenticate to the server: an OAuth
	// session (*atoauth.Session), an app-password session
	// (*password.Session), or auth.Public for a public API. Calls go to
	// Auth.Host() (read at each call) through Auth.HTTPClient(). When Auth
	// implements auth.Permissions, calls are pre-checked against the
	// granted scope. Required.
	Auth auth.Auth

	// Services routes calls to services through the PDS: it maps an NSID,
	// or an NSID prefix ending in ".", to the service reference sent in
	// the atproto-proxy header ("did:web:api.bsky.app#bsky_appview"); ""
	// means no header (the PDS answers, or routes by its own default).
	// The most specific entry wins, and an entry always wins over the
	// default routing. Entries are merged over [DefaultServices], so
	// {"app.bsky.": "did:web:appview.example#bsky_appview"} names the
	// AppView for every app.bsky.* call.
	Services map[string]string
	// ProxyMemory, when set, is shared with other Clients to remember the
	// PDSes without a default AppView (see [ProxyMemory]). Nil: the
	// Client keeps its own.
	ProxyMemory *ProxyMemory

	// Authorizer pre-checks each call's permission (a write's repo
	// permission, an upload's blob permission, a proxied call's rpc
	// permission) before it is sent. Nil means the granted scope of an
	// Auth that implements auth.Permissions (scope.ParseGranted); without
	// one, no pre-check.
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
// calls to services through the PDS with the atproto-proxy header,
// pre-checks permissions, decodes responses into Go values and turns
// error responses into *[Error] and *[ScopeMissingError]. It also
// implements indigo's lexutil.LexClient ([Client.LexDo]), so indigo's
// generated API functions run over it.
//
// Routing. A call that an Options.Services entry or [WithProxy] routes
// carries exactly that header (or none, for ""). chat.bsky.* goes to
// [scope.BskyChat] by default. Other app.bsky.* calls are sent without a
// header, and the PDS forwards them to the AppView it is configured with
// (the reference PDS's defaultService), as the official TypeScript client
// does. When the PDS answers that it has no service for such a call — 400
// "No service configured for …" (the reference PDS without an AppView), or
// 404 or 501 (a PDS that does not forward without the header) — the call
// is sent once more with the header of Bluesky's AppView
// ([scope.BskyAppView]); when that works, the PDS is remembered
// ([ProxyMemory]) and later app.bsky.* calls to it carry that header from
// the start. A procedure with a streamed (io.Reader) body cannot be sent
// twice and is not retried. When both fail, the error names both tries.
//
// Permissions. A call that names a service is pre-checked for
// rpc:<nsid>?aud=<service>. A call left to the PDS's default service
// cannot be, exactly: the client does not know which AppView the PDS
// uses, and so which audience the PDS will check. It is refused only
// when no granted permission covers the method for any audience (the PDS
// would refuse it whatever its AppView), and named as
// rpc:<nsid>?aud=*; a permission for one specific AppView lets it through
// and the PDS decides. Name the AppView (Options.Services) to get the
// exact check.
//
// A Client is safe for concurrent use.
type Client struct {
	auth       auth.Auth
	services   map[string]string
	memory     *ProxyMemory
	custom     Authorizer
	noPreCheck bool
	headers    http.Header
	maxWait    time.Duration
	maxResp    int64
	sleep      func(ctx context.Context, d time.Duration) error
	now        func() time.Time

	mu          sync.Mutex
	scopeSeen   string
	scopeParsed scope.Set
}

// NewClient checks opts and returns a Client.
func NewClient(opts Options) (*Client, error) {
	if opts.Auth == nil {
		return nil, errors.New("xrpc: Options.Auth is required: a session, or auth.Public(host, client) for a public API")
	}
	c := &Client{
		auth:       opts.Auth,
		services:   DefaultServices(),
		memory:     opts.ProxyMemory,
		custom:     opts.Authorizer,
		noPreCheck: opts.NoPreCheck,
		headers:    opts.Headers.Clone(),
		maxWait:    opts.MaxRetryWait,
		maxResp:    opts.MaxResponseBytes,
		sleep:      sleepCtx,
		now:        time.Now,
	}
	for k, v := range opts.Services {
		if err := checkRoute(k, v); err != nil {
			return nil, err
		}
		c.services[k] = v
	}
	if c.memory == nil {
		c.memory = &ProxyMemory{}
	}
	if c.maxWait == 0 {
		c.maxWait = DefaultMaxRetryWait
	}
	if c.maxResp <= 0 {
		c.maxResp = DefaultMaxResponseBytes
	}
	return c, nil
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
		return fmt.Errorf("xrpc: service reference %q is not of the form did:…#service_id (e.g. %s)", cleanText(ref), scope.BskyAppView)
	}
	return nil
}

// Service returns the service reference that a call to nsid is routed to
// (sent as the atproto-proxy header), or "" for a call sent without the
// header: a PDS-local call, or an app.bsky.* call left to the PDS's
// default AppView (see [Client]).
func (c *Client) Service(nsid string) string {
	ref, _ := c.route(nsid)
	return ref
}

// route returns the service of nsid's most specific Services entry, and
// whether an entry matched at all.
func (c *Client) route(nsid string) (string, bool) {
	if s, ok := c.services[nsid]; ok {
		return s, true
	}
	best, bestLen, found := "", 0, false
	for k, v := range c.services {
		if strings.HasSuffix(k, ".") && strings.HasPrefix(nsid, k) && len(k) > bestLen {
			best, bestLen, found = v, len(k), true
		}
	}
	return best, found
}

// appViewDefault is the namespace left to the PDS's default AppView.
const appViewDefault = "app.bsky."

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
	explicit   bool // service comes from Options.Services or WithProxy
	encoding   string
	header     http.Header
	respHeader *http.Header
	needs      []scope.Requirement // from WithRequirements; nil: derived from the body
}

// WithProxy routes the call to service ("did#service_id") through the
// PDS, overriding [Options.Services] and the default routing;
// WithProxy("") sends the call to the PDS without an atproto-proxy header
// and without the fallback to [scope.BskyAppView].
func WithProxy(service string) CallOption {
	return func(c *call) { c.service, c.explicit = service, true }
}

// WithRequirements names the permissions a procedure needs (a record
// write's repo permission, an upload's blob permission), for the
// pre-check: a typed caller (package agent) knows them. Without it, they
// are read from a JSON body of the PDS's repo methods and from an
// upload's Content-Type. A proxied call's rpc permission is always
// checked.
func WithRequirements(reqs ...scope.Requirement) CallOption {
	return func(c *call) { c.needs = append([]scope.Requirement{}, reqs...) }
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
	cl := call{header: http.Header{}}
	cl.service, cl.explicit = c.route(nsid)
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
	body, err := prepareBody(in, cl.encoding)
	if err != nil {
		return fmt.Errorf("xrpc: %s: %w", nsid, err)
	}
	host := c.auth.Host()
	// Left to the PDS's default AppView, unless this PDS is known to have
	// none.
	byDefault := !cl.explicit && cl.service == "" && strings.HasPrefix(nsid, appViewDefault)
	if byDefault && c.memory.needsHeader(host) {
		cl.service, byDefault = scope.BskyAppView, false
	}
	reqs := cl.needs
	if reqs == nil {
		reqs = bodyRequirements(nsid, body.encoding, body.json)
	}
	switch {
	case cl.service != "":
		reqs = append(reqs, scope.NeedRPC(nsid, cl.service))
	case byDefault:
		reqs = append(reqs, scope.NeedRPC(nsid, "")) // any audience: the PDS's AppView is unknown
	}
	if err := c.check(nsid, reqs); err != nil {
		return err
	}
	target := host + "/xrpc/" + nsid
	if len(q) > 0 {
		target += "?" + q.Encode()
	}
	err = c.send(ctx, method, nsid, target, cl, body, out)
	var first *Error
	if !byDefault || !errors.As(err, &first) || !first.pdsHasNoService() || !body.replayable() {
		return err
	}
	// The PDS has no default AppView: try Bluesky's, once.
	cl.service = scope.BskyAppView
	if cerr := c.check(nsid, []scope.Requirement{scope.NeedRPC(nsid, scope.BskyAppView)}); cerr != nil {
		return fmt.Errorf("%w (the PDS has no default AppView: %s)", cerr, first.summary())
	}
	if err := c.send(ctx, method, nsid, target, cl, body, out); err != nil {
		return fmt.Errorf("xrpc: %s: the PDS has no default AppView (%s), and through %s: %w", nsid, first.summary(), scope.BskyAppView, err)
	}
	c.memory.remember(host)
	return nil
}

// send makes one call, with its Retry-After retries for queries.
func (c *Client) send(ctx context.Context, method, nsid, target string, cl call, body *requestBody, out any) error {
	for attempt := 1; ; attempt++ {
		req, err := http.NewRequestWithContext(ctx, method, target, body.reader())
		if err != nil {
			return fmt.Errorf("xrpc: %s: %w", nsid, err)
		}
		for k, vs := range c.headers {
			req.Header[k] = append([]string(nil), vs...)
		}
		for k, vs := range cl.header {
			req.Header[k] = append([]string(nil), vs...)
		}
		if body.present() {
			req.Header.Set("Content-Type", body.encoding)
		}
		if isJSONOut(out) {
			req.Header.Set("Accept", "application/json")
		}
		if cl.service != "" {
			req.Header.Set(ProxyHeader, cl.service)
		} else {
			req.Header.Del(ProxyHeader)
		}
		resp, err := c.auth.HTTPClient().Do(req)
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
// anything: it returns a *[ScopeMissingError] naming the first requirement
// the granted permissions do not cover (and, in Request, all of them), and nil when all are covered or
// the pre-check is off. Use it to fail fast before a multi-step operation
// (upload images, then post) or to hide actions a session cannot take.
func (c *Client) Check(reqs ...scope.Requirement) error { return c.check("", reqs) }

func (c *Client) check(nsid string, reqs []scope.Requirement) error {
	if len(reqs) == 0 {
		return nil
	}
	a := c.authorizer()
	if a == nil {
		return nil
	}
	var missing []scope.Requirement
	for _, r := range reqs {
		if !a.Allows(r) {
			missing = append(missing, r)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	return &ScopeMissingError{NSID: nsid, Permission: missing[0].String(), Request: scope.Cover(missing...).String(), ClientSide: true}
}

func (c *Client) authorizer() Authorizer {
	switch {
	case c.noPreCheck:
		return nil
	case c.custom != nil:
		return c.custom
	}
	p, ok := c.auth.(auth.Permissions)
	if !ok {
		return nil
	}
	granted := p.Scope()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.scopeParsed == nil || c.scopeSeen != granted {
		c.scopeParsed, c.scopeSeen = scope.ParseGranted(granted), granted
	}
	return c.scopeParsed
}

// requestBody is a procedure's input: in memory (data, replayable), or a
// stream that can be sent once.
type requestBody struct {
	data     []byte
	stream   io.Reader
	encoding string
	json     []byte // the body when it is JSON, for the permission pre-check
}

func (b *requestBody) present() bool    { return b.data != nil || b.stream != nil }
func (b *requestBody) replayable() bool { return b.stream == nil }

// reader returns the body for one request (nil for none): a fresh reader
// over data, or the stream, which is then spent.
func (b *requestBody) reader() io.Reader {
	switch {
	case b.data != nil:
		return bytes.NewReader(b.data)
	case b.stream != nil:
		r := b.stream
		b.stream = eofReader{}
		return r
	}
	return nil
}

type eofReader struct{}

func (eofReader) Read([]byte) (int, error) { return 0, io.EOF }

// prepareBody turns a procedure input into a body and its Content-Type.
func prepareBody(in any, enc string) (*requestBody, error) {
	switch v := in.(type) {
	case nil:
		return &requestBody{}, nil
	case json.RawMessage:
		return &requestBody{data: v, encoding: "application/json", json: v}, nil
	case []byte:
		if enc == "" || enc == "*/*" {
			enc = http.DetectContentType(v)
		}
		b := &requestBody{data: v, encoding: enc}
		if isJSONType(enc) {
			b.json = v
		}
		return b, nil
	case *bytes.Reader, *bytes.Buffer, *strings.Reader:
		// Already in memory: send it with a length, replayable.
		data, err := io.ReadAll(v.(io.Reader))
		if err != nil {
			return nil, err
		}
		return prepareBody(data, enc)
	case io.Reader:
		if enc == "" || enc == "*/*" {
			br := bufio.NewReaderSize(v, 512)
			head, _ := br.Peek(512)
			return &requestBody{stream: br, encoding: http.DetectContentType(head)}, nil
		}
		return &requestBody{stream: v, encoding: enc}, nil
	}
	b, err := json.Marshal(in)
	if err != nil {
		return nil, fmt.Errorf("encoding the input as JSON: %w", err)
	}
	return &requestBody{data: b, encoding: "application/json", json: b}, nil
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
		if ct := resp.Header.Get("Content-Type"); !isJSONType(ct) {
			return fmt.Errorf("xrpc: %s: decoding the response: the server answered %q, not JSON: %w", nsid, cleanText(ct), err)
		}
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
