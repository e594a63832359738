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
	"github.com/atoauth/atoauth/discovery"
	"github.com/atoauth/atoauth/internal/cli/cmdutil"
	"github.com/atoauth/atoauth/jwk"
	"github.com/atoauth/atoauth/safehttp"
	"github.com/atoauth/atoauth/scope"
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

// explanation is one known error.
type explanation struct {
	match []string // all must appear (case-insensitive)
	cause string
	fix   string
}

var explanations = []explanation{
	{[]string{"bad token scope"}, "An OAuth access token was sent as \"Authorization: Bearer\", or to a host other than the account's PDS (often bsky.social or api.bsky.app). Reads seem to work only because they need no auth.", "Send OAuth tokens as \"Authorization: DPoP <token>\" with a DPoP proof, to the PDS from the DID document. With atoauth, use Session.HTTPClient(): it does both."},
	{[]string{"malformed token"}, "The reference PDS's answer to an OAuth access token sent as Bearer (or any token it cannot parse).", "Use \"Authorization: DPoP\" with a DPoP proof (Session.HTTPClient())."},
	{[]string{"use_dpop_nonce"}, "The server wants a DPoP nonce: it sends one in the DPoP-Nonce header, and expects it in the next proof. Authorization servers ask with HTTP 400 and JSON; PDSs with 401 and WWW-Authenticate.", "Retry once with the nonce from the DPoP-Nonce header, replaying the body. atoauth's transports do this; if it repeats, something drops the DPoP-Nonce header."},
	{[]string{"invalid_dpop_proof"}, "The DPoP proof was refused: wrong htm/htu (htu must have no query or fragment), a reused jti, or an iat too far from the server's clock (about 10 s).", "Check the system clock; atoauth corrects skew from the server's Date header."},
	{[]string{"refresh token replayed"}, "A refresh token was used twice: two refreshes of one session ran at once (two processes or goroutines), or a refresh was retried after the server had already spent the token.", "Refresh each session once at a time, across processes (atoauth locks in the store) and re-read the store on invalid_grant. The session is now dead: sign in again."},
	{[]string{"invalid_grant"}, "The code or refresh token is not valid any more: used already, expired, revoked, or bound to another DPoP key or client key.", "For refresh: re-read the session store (another process may have refreshed), then sign in again. For a code: it works once, within minutes."},
	{[]string{"scopemissingerror"}, "The session's granted scope lacks the permission the call needs (the message names it).", "Ask for it at login (and declare it in the client metadata scope), or step up with a new login; `atoauth scope allows` checks a scope string."},
	{[]string{"missing required scope"}, "The session's granted scope lacks the permission named in the message.", "Ask for it at login and declare it in the client metadata scope."},
	{[]string{"invalid_client_metadata"}, "The authorization server rejected the client metadata document.", "Run `atoauth doctor <client_id>`: it must answer 200 without redirect, as application/json, with client_id equal to its URL and every scope declared."},
	{[]string{"invalid_client"}, "The server could not authenticate the client: unknown client_id, a bad or missing client assertion, or a kid not in the JWKS.", "Check the JWKS is reachable and holds the signing key's kid; sessions are bound to the key they started with."},
	{[]string{"invalid_scope"}, "A login asked for a scope that the client metadata does not declare.", "Declare every scope a login may ask for in the metadata's scope, character for character."},
	{[]string{"invalid_redirect_uri"}, "The redirect_uri is not one of the client's redirect_uris.", "Loopback clients must use http://127.0.0.1 or http://[::1] (never localhost); web clients https."},
	{[]string{"access_denied"}, "The person declined, or the request was started in another browser.", "Nothing is broken: offer to sign in again."},
	{[]string{"invalid_token"}, "The access token expired or was revoked.", "Refresh and retry once (atoauth does); if the refresh fails too, sign in again."},
	{[]string{"upstreamfailure"}, "The PDS could not reach the service the call was proxied to (AppView or chat).", "Check the atproto-proxy header's DID and #service id, and that the service runs."},
	{[]string{"no service configured"}, "The call needs a service (AppView, chat) and named none, and the PDS has no default for it (a PDS without an AppView configured).", "Name the service with the atproto-proxy header (--appview or --proxy, e.g. did:web:api.bsky.app#bsky_appview); atoauth already retries app.bsky.* calls with Bluesky's AppView."},
	{[]string{"ratelimitexceeded"}, "Rate limited.", "Wait until the ratelimit-reset time; retry queries only after Retry-After."},
}

func explain(w io.Writer, text string) error {
	lower := strings.ToLower(text)
	found := 0
	for _, e := range explanations {
		all := true
		for _, m := range e.match {
			all = all && strings.Contains(lower, m)
		}
		if !all {
			continue
		}
		found++
		cmdutil.Fprintf(w, "%s\n  cause: %s\n  fix:   %s\n", e.match[0], e.cause, e.fix)
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
