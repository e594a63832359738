// Package doctor implements `atoauth doctor`: check a client metadata
// document as an authorization server would, walk a login's discovery
// chain, or explain a server error.
package doctor

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"

	"github.com/atoauth/atoauth"
	"github.com/atoauth/atoauth/auth"
	"github.com/atoauth/atoauth/discovery"
	"github.com/atoauth/atoauth/dpop"
	"github.com/atoauth/atoauth/internal/cli/cmdutil"
	"github.com/atoauth/atoauth/jwk"
	"github.com/atoauth/atoauth/safehttp"
	"github.com/atoauth/atoauth/scope"
	"github.com/atoauth/atoauth/xrpc"
	"github.com/bluesky-social/indigo/atproto/syntax"
	"github.com/spf13/cobra"
)

// ErrChecksFailed reports that at least one check failed (exit code 1).
var ErrChecksFailed = errors.New("doctor: some checks failed")

// Options are the inputs of `atoauth doctor`.
type Options struct {
	Factory *cmdutil.Factory
	Target  string
	Explain string
}

// NewCmd returns the command.
func NewCmd(f *cmdutil.Factory) *cobra.Command {
	o := &Options{Factory: f}
	cmd := &cobra.Command{
		Use:   "doctor <client-id-url|handle|did|pds-url>",
		Short: "Check a client's metadata or a login's discovery chain, or explain an error",
		Long: `Check why a login fails.

With a client_id URL (https://…/something.json) doctor fetches the client
metadata document exactly as an authorization server does and checks every
rule. With a handle, DID or server URL it walks the discovery chain: handle →
DID → DID document → PDS → protected-resource metadata → authorization server
metadata. With --explain it says what a server error means and what to do.`,
		Example: `  atoauth doctor https://app.example.com/oauth-client-metadata.json
  atoauth doctor alice.bsky.social
  atoauth doctor https://bsky.social
  atoauth doctor --explain '{"error":"InvalidToken","message":"Bad token scope"}'`,
		Args: func(cmd *cobra.Command, args []string) error {
			if o.Explain != "" {
				return cobra.NoArgs(cmd, args)
			}
			return cobra.ExactArgs(1)(cmd, args)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				o.Target = args[0]
			}
			return Run(cmd.Context(), o)
		},
	}
	cmd.Flags().StringVar(&o.Explain, "explain", "", "an error message or JSON body to explain")
	return cmd
}

// Run performs the checks.
func Run(ctx context.Context, o *Options) error {
	if o.Explain != "" {
		return explain(o.Factory.IO.Out, o.Explain)
	}
	c := &checker{f: o.Factory, w: o.Factory.IO.Out}
	t := strings.TrimSpace(o.Target)
	if u, err := url.Parse(t); err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != "" {
		if u.Host == "localhost" && u.Port() == "" && strings.HasPrefix(t, atoauth.LoopbackClientID) {
			c.loopbackClient(u)
			c.permissionSets(ctx, u.Query().Get("scope"))
		} else if u.Path != "" && u.Path != "/" {
			c.clientMetadata(ctx, t)
		} else {
			c.chain(ctx, t)
		}
	} else {
		c.chain(ctx, t)
	}
	if c.failed {
		return ErrChecksFailed
	}
	return nil
}

type checker struct {
	f      *cmdutil.Factory
	w      io.Writer
	failed bool
}

// ok and bad print a finding; what a server sent (metadata, errors) is
// escaped by cmdutil.Fprintf.
func (c *checker) ok(format string, args ...any) { cmdutil.Fprintf(c.w, "✓ "+format+"\n", args...) }
func (c *checker) bad(format string, args ...any) {
	c.failed = true
	cmdutil.Fprintf(c.w, "✗ "+format+"\n", args...)
}

func (c *checker) httpClient() *http.Client {
	return safehttp.NewClient(safehttp.Options{AllowInsecureDevelopment: c.f.Settings.InsecureDev})
}

// fetchJSON gets a document as an authorization server does: 200, no
// redirect, JSON, at most 64 KiB.
func (c *checker) fetchJSON(ctx context.Context, what, target string, out any) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		c.bad("%s: %v", what, err)
		return false
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.httpClient().Do(req)
	if err != nil {
		switch {
		case errors.Is(err, safehttp.ErrRedirect):
			c.bad("%s: %s answers with a redirect; it must answer 200 directly", what, target)
		case errors.Is(err, safehttp.ErrForbiddenAddress), errors.Is(err, safehttp.ErrInsecureURL):
			c.bad("%s: %v (servers refuse private addresses and http; --insecure-dev allows them for local development)", what, err)
		default:
			c.bad("%s: %v", what, err)
		}
		return false
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		c.bad("%s: %s answered HTTP %d; it must answer 200", what, target, resp.StatusCode)
		return false
	}
	c.ok("%s: fetched %s (HTTP 200, no redirect)", what, target)
	ct, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if ct != "application/json" {
		c.bad("%s: Content-Type is %q; it must be application/json", what, resp.Header.Get("Content-Type"))
	} else {
		c.ok("%s: Content-Type application/json", what)
	}
	body, err := safehttp.ReadBody(resp, 64<<10)
	if err != nil {
		c.bad("%s: %v", what, err)
		return false
	}
	if err := json.Unmarshal(body, out); err != nil {
		c.bad("%s: not valid JSON: %v", what, err)
		return false
	}
	return true
}

func (c *checker) clientMetadata(ctx context.Context, clientID string) {
	var md atoauth.ClientMetadata
	if !c.fetchJSON(ctx, "client metadata", clientID, &md) {
		return
	}
	errs := atoauth.ValidateClientMetadata(clientID, &md, c.f.Settings.InsecureDev)
	for _, err := range errs {
		c.bad("%v", strings.TrimPrefix(err.Error(), "atoauth: invalid client configuration: "))
	}
	if len(errs) == 0 {
		c.ok("client metadata: client_id, grant and response types, DPoP, scope %q and redirect URIs %v are valid", md.Scope, md.RedirectURIs)
	}
	c.permissionSets(ctx, md.Scope)
	if md.TokenEndpointAuthMethod == "private_key_jwt" {
		if md.JWKSURI != "" {
			var set jwk.Set
			if c.fetchJSON(ctx, "jwks_uri", md.JWKSURI, &set) {
				c.reportJWKS(set)
			}
		} else if md.JWKS != nil {
			c.reportJWKS(*md.JWKS)
		}
		c.ok("confidential client: sessions last up to 2 years (refresh tokens up to 3 months)")
	} else if md.TokenEndpointAuthMethod == "none" {
		c.ok("public client: sessions last at most 2 weeks; add keys (private_key_jwt) for longer ones")
	}
}

func (c *checker) reportJWKS(set jwk.Set) {
	if errs := atoauth.ValidateJWKS(set); len(errs) > 0 {
		for _, err := range errs {
			c.bad("%v", strings.TrimPrefix(err.Error(), "atoauth: invalid client configuration: "))
		}
		return
	}
	var kids []string
	for _, k := range set.Keys {
		kids = append(kids, k.Kid)
	}
	c.ok("jwks: %d ES256 key(s) with key ids %s", len(set.Keys), strings.Join(kids, ", "))
}

func (c *checker) loopbackClient(u *url.URL) {
	q := u.Query()
	for k := range q {
		if k != "redirect_uri" && k != "scope" {
			c.bad("loopback client_id: unknown parameter %q (only redirect_uri and scope are allowed)", k)
		}
	}
	if len(q["scope"]) > 1 {
		c.bad("loopback client_id: scope is given more than once")
	}
	cfg := atoauth.Config{RedirectURIs: q["redirect_uri"], Scope: q.Get("scope")}
	if len(cfg.RedirectURIs) == 0 {
		c.ok("loopback client_id: no redirect_uri, so the server allows http://127.0.0.1/ and http://[::1]/")
	} else if _, err := atoauth.NewClient(cfg); err != nil {
		c.bad("loopback client_id: %v", strings.TrimPrefix(err.Error(), "atoauth: invalid client configuration: "))
	} else {
		c.ok("loopback client_id: redirect URIs %v", cfg.RedirectURIs)
	}
	if cfg.Scope == "" {
		c.ok("loopback client_id: no scope, so it may only ask for \"atproto\"")
	}
	if u.Path != "" || u.Fragment != "" {
		c.bad("loopback client_id: must be exactly http://localhost with no path or fragment")
	}
	if !c.failed {
		c.ok("a loopback client is public and native: consent is always asked, sessions are short")
	}
}

// permissionSets checks each permission of the scope string against the
// permission spec and, for each include: permission set, prints what it
// grants when its lexicon can be resolved (informational: the
// authorization server shows what it resolves).
func (c *checker) permissionSets(ctx context.Context, granted string) {
	set, err := scope.Parse(granted)
	if err != nil {
		c.bad("scope: %v", err)
		return
	}
	r := c.f.Resolver()
	for _, p := range set {
		inc, ok := p.(scope.IncludeScope)
		if !ok {
			continue
		}
		ps, err := r.ResolvePermissionSet(ctx, inc.NSID)
		if err != nil {
			cmdutil.Fprintf(c.w, "- %s: the permission set could not be resolved here (%v); the server shows what it resolves\n", inc, err)
			continue
		}
		perms := inc.Expand(ps.Permissions)
		c.ok("%s: permission set %q by %s grants %d permission(s):", inc, ps.Title, ps.Authority, len(perms))
		for _, p := range perms {
			cmdutil.Fprintf(c.w, "    %s  %s\n", p, p.Describe())
		}
	}
}

// chain walks handle → DID → PDS → resource metadata → issuer metadata.
func (c *checker) chain(ctx context.Context, input string) {
	r := c.f.Resolver()
	dir := r.Directory

	var pds string
	if strings.HasPrefix(input, "http://") || strings.HasPrefix(input, "https://") {
		pds = input
	} else {
		atid, err := syntax.ParseAtIdentifier(strings.TrimPrefix(input, "@"))
		if err != nil {
			c.bad("%q is not a handle, a DID or a server URL", input)
			return
		}
		atid = atid.Normalize()
		if h, err := atid.AsHandle(); err == nil {
			ident, err := dir.LookupHandle(ctx, h)
			if err != nil {
				c.bad("handle %s: %v", h, err)
				return
			}
			c.ok("handle %s → %s (verified both ways)", h, ident.DID)
			atid = syntax.AtIdentifier(ident.DID.String())
		}
		did, _ := atid.AsDID()
		ident, err := dir.LookupDID(ctx, did)
		if err != nil {
			c.bad("DID %s: %v", did, err)
			return
		}
		pds = ident.PDSEndpoint()
		if pds == "" {
			c.bad("DID document of %s names no PDS (#atproto_pds service)", did)
			return
		}
		c.ok("DID document of %s: handle %s, PDS %s", did, ident.Handle, pds)
	}
	rm, err := r.ResourceMetadata(ctx, pds)
	var me *discovery.MetadataError
	if err != nil && errors.As(err, &me) && me.StatusCode == http.StatusNotFound {
		c.ok("%s has no protected-resource metadata: treating it as an authorization server (entryway)", pds)
		c.issuer(ctx, r, strings.TrimRight(pds, "/"))
		return
	}
	if err != nil {
		c.bad("protected-resource metadata of %s: %v", pds, err)
		return
	}
	c.ok("protected-resource metadata of %s: authorization server %s", rm.Resource, rm.AuthorizationServers[0])
	c.issuer(ctx, r, rm.AuthorizationServers[0])
}

func (c *checker) issuer(ctx context.Context, r *discovery.Resolver, issuer string) {
	as, err := r.AuthServerMetadata(ctx, issuer)
	if err != nil {
		c.bad("authorization server metadata of %s: %v", issuer, err)
		return
	}
	c.ok("authorization server %s: PAR required, PKCE S256, DPoP ES256, iss in responses, client metadata documents — ready for atproto OAuth", as.Issuer)
}

// knownErrors recognise an error a person pastes (an error code, an XRPC
// error name, a server's message) and rebuild it as the library's own
// error value, whose Hint says the cause and the fix: doctor keeps no
// advice of its own.
var knownErrors = []struct {
	match []string // all must appear (case-insensitive)
	err   error
}{
	{[]string{"bad token scope"}, &xrpc.Error{StatusCode: 400, Name: "InvalidToken", Message: "Bad token scope"}},
	{[]string{"malformed token"}, &xrpc.Error{StatusCode: 400, Name: "InvalidToken", Message: "Malformed token"}},
	{[]string{"use_dpop_nonce"}, &atoauth.OAuthError{Code: "use_dpop_nonce"}},
	{[]string{"invalid_dpop_proof"}, &atoauth.OAuthError{Code: "invalid_dpop_proof"}},
	{[]string{"refresh token replayed"}, &atoauth.OAuthError{Code: "invalid_grant"}},
	{[]string{"invalid_grant"}, &atoauth.OAuthError{Code: "invalid_grant"}},
	{[]string{"scopemissingerror"}, &xrpc.ScopeMissingError{}},
	{[]string{"missing required scope"}, &xrpc.ScopeMissingError{}},
	{[]string{"invalid_client_metadata"}, &atoauth.OAuthError{Code: "invalid_client_metadata"}},
	{[]string{"invalid_client"}, &atoauth.OAuthError{Code: "invalid_client"}},
	{[]string{"invalid_scope"}, &atoauth.OAuthError{Code: "invalid_scope"}},
	{[]string{"invalid_redirect_uri"}, &atoauth.OAuthError{Code: "invalid_redirect_uri"}},
	{[]string{"access_denied"}, &atoauth.CallbackError{Code: "access_denied"}},
	{[]string{"invalid_token"}, &xrpc.Error{StatusCode: 401, WWWAuthenticate: []dpop.Challenge{{Scheme: "DPoP", Params: map[string]string{"error": "invalid_token"}}}}},
	{[]string{"upstreamfailure"}, &xrpc.Error{StatusCode: 502, Name: "UpstreamFailure", Service: "did:web:…#bsky_appview"}},
	{[]string{"no service configured"}, &xrpc.Error{StatusCode: 400, Name: "InvalidRequest", Message: "No service configured for …"}},
	{[]string{"ratelimitexceeded"}, &xrpc.Error{StatusCode: 429, Name: "RateLimitExceeded"}},
}

func explain(w io.Writer, text string) error {
	lower := strings.ToLower(text)
	found := 0
	for _, k := range knownErrors {
		all := true
		for _, m := range k.match {
			all = all && strings.Contains(lower, m)
		}
		if !all {
			continue
		}
		found++
		cmdutil.Fprintf(w, "%s\n  %s\n", k.match[0], auth.Hint(k.err))
		if found == 2 {
			break
		}
	}
	if found == 0 {
		cmdutil.Fprintf(w, "I do not know this error. Run with --verbose and check the server's error code and message.\n")
		return ErrChecksFailed
	}
	return nil
}
