package atoauth

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/atoauth/atoauth/discovery"
	"github.com/atoauth/atoauth/dpop"
	"github.com/atoauth/atoauth/jwk"
)

// LoopbackClientID is the client_id of every loopback development client
// (atproto OAuth spec, "Localhost Client Development"), before its query.
const LoopbackClientID = "http://localhost"

// Config describes an OAuth client. The fields that shape the client
// metadata document are validated by NewClient with the rules of the
// atproto OAuth profile.
type Config struct {
	// ClientID is the https URL where the client metadata document is
	// served (atproto OAuth spec, "Client ID Metadata Document"). Leave it
	// empty for a loopback development client: the client_id is then built
	// from RedirectURIs and Scope (see LoopbackConfig).
	ClientID string

	// RedirectURIs are the allowed redirect URIs; the first is used unless
	// StartOptions.RedirectURI names another. Web clients need https URIs;
	// native clients a custom scheme that is the reversed client_id host
	// ("com.example.app:/callback") or https on the client_id origin;
	// loopback clients http://127.0.0.1/… or http://[::1]/…, where a port,
	// if given, does not count: each login may name its own (see
	// LoopbackConfig).
	RedirectURIs []string

	// Scope lists, space-separated, every scope the client may ever ask
	// for; it must include "atproto". Each login asks for this scope or a
	// subset of it. Default for loopback clients: "atproto".
	Scope string

	// ApplicationType is "web" (the default) or "native".
	ApplicationType string

	// ClientName, ClientURI, LogoURI, TOSURI and PolicyURI are shown on the
	// authorization server's consent screen.
	ClientName, ClientURI, LogoURI, TOSURI, PolicyURI string

	// Keys makes the client confidential (private_key_jwt, RFC 7523): each
	// is an ES256 key with a key id. New sessions are bound to Keys[0];
	// existing sessions keep using the key they were created with, for as
	// long as it is listed here.
	Keys []*jwk.Key

	// JWKSURI, for confidential clients, publishes the public keys at this
	// https URL instead of inline in the metadata ("jwks").
	JWKSURI string

	// Store keeps pending logins and sessions. Default: a MemoryStore.
	Store Store

	// HTTPClient fetches everything discovered from user input and talks
	// to authorization servers and PDSs. It must not follow redirects and
	// should refuse private addresses. Default: safehttp.NewClient.
	HTTPClient *http.Client

	// Resolver resolves handles, DIDs and server metadata. Default: a
	// discovery.Resolver sharing HTTPClient, configured from PLCURL,
	// HandleResolver and AllowInsecureDevelopment. A Resolver given here
	// carries its own settings: NewClient refuses PLCURL or
	// HandleResolver beside it, and an AllowInsecureDevelopment that
	// differs from the Resolver's (*ConfigError), rather than ignore them.
	Resolver *discovery.Resolver

	// PLCURL is the PLC directory for did:plc. Default https://plc.directory.
	PLCURL string

	// HandleResolver, when set, is the base URL of a host that resolves
	// handles through com.atproto.identity.resolveHandle, for development
	// networks whose handles are not in DNS.
	HandleResolver string

	// AllowInsecureDevelopment permits http:// URLs and loopback and
	// private addresses, to work against a local PDS. Never set it in
	// production.
	AllowInsecureDevelopment bool

	// AuthRequestTTL is how long a started login may take. Default 10 min.
	AuthRequestTTL time.Duration

	// RefreshMargin is the most time before expiry at which an access
	// token is refreshed proactively. The margin actually used is the
	// smaller of RefreshMargin and a quarter of the lifetime the token was
	// issued with (so that a 20 s token is used for 14 to 15 s, not refreshed
	// before every request), plus a random jitter of up to a quarter of that
	// margin, fixed per Session, so that many sessions do not refresh in
	// step. A token the PDS rejects as invalid is refreshed whatever its
	// expiry. Default 2 minutes.
	RefreshMargin time.Duration

	// Logger receives debug and warning events. It never receives tokens,
	// codes, keys or assertions. Default: discard.
	Logger *slog.Logger

	// Clock returns the current time. Default time.Now.
	Clock func() time.Time

	// NonceStore shares the DPoP nonces of authorization servers and PDSs
	// with the other instances of the app (see dpop.NonceStore), so that
	// a fleet pays one use_dpop_nonce round trip per server where each
	// instance would pay its own. Default: Store, when it implements
	// dpop.NonceStore, as the sqlite and postgres stores do — nothing to
	// configure; otherwise (MemoryStore) nonces stay in this process. Set
	// it to LocalNonces{} to keep them in this process whatever Store is.
	NonceStore dpop.NonceStore

	// Events, when set, are told when a session is created, updated or
	// deleted: once per change across the processes that share Store,
	// synchronously after the change is stored and the refresh lock
	// released (see SessionEvents).
	Events SessionEvents

	// Observer, when set, is told outcomes, counts and durations for
	// metrics: logins, refreshes, refresh-lock waits, DPoP nonce
	// challenges (see Observer). It never sees a secret or an account.
	Observer *Observer
}

// ClientMetadata is the client metadata document (RFC 7591 §2 and the
// atproto OAuth profile) that an authorization server fetches from the
// client_id URL.
type ClientMetadata struct {
	ClientID                    string   `json:"client_id"`
	ApplicationType             string   `json:"application_type,omitempty"`
	ClientName                  string   `json:"client_name,omitempty"`
	ClientURI                   string   `json:"client_uri,omitempty"`
	LogoURI                     string   `json:"logo_uri,omitempty"`
	TOSURI                      string   `json:"tos_uri,omitempty"`
	PolicyURI                   string   `json:"policy_uri,omitempty"`
	GrantTypes                  []string `json:"grant_types"`
	ResponseTypes               []string `json:"response_types"`
	RedirectURIs                []string `json:"redirect_uris"`
	Scope                       string   `json:"scope"`
	TokenEndpointAuthMethod     string   `json:"token_endpoint_auth_method"`
	TokenEndpointAuthSigningAlg string   `json:"token_endpoint_auth_signing_alg,omitempty"`
	DPoPBoundAccessTokens       bool     `json:"dpop_bound_access_tokens"`
	JWKS                        *jwk.Set `json:"jwks,omitempty"`
	JWKSURI                     string   `json:"jwks_uri,omitempty"`
}

// normalizedScope splits, de-duplicates and checks a scope string.
func scopeList(s string) []string {
	var out []string
	for _, f := range strings.Fields(s) {
		if !slices.Contains(out, f) {
			out = append(out, f)
		}
	}
	return out
}

// buildMetadata validates cfg and derives the client metadata.
func buildMetadata(cfg *Config) (*ClientMetadata, error) {
	if len(cfg.RedirectURIs) == 0 {
		return nil, &ConfigError{"RedirectURIs", "at least one redirect URI is required"}
	}
	loopback := cfg.ClientID == ""
	if cfg.Scope == "" && loopback {
		cfg.Scope = "atproto"
	}
	scopes := scopeList(cfg.Scope)
	if !slices.Contains(scopes, "atproto") {
		return nil, &ConfigError{"Scope", `must include "atproto"`}
	}
	md := &ClientMetadata{
		GrantTypes:            []string{"authorization_code", "refresh_token"},
		ResponseTypes:         []string{"code"},
		RedirectURIs:          slices.Clone(cfg.RedirectURIs),
		Scope:                 strings.Join(scopes, " "),
		DPoPBoundAccessTokens: true,
		ClientName:            cfg.ClientName,
		ClientURI:             cfg.ClientURI,
		LogoURI:               cfg.LogoURI,
		TOSURI:                cfg.TOSURI,
		PolicyURI:             cfg.PolicyURI,
	}

	if loopback {
		if len(cfg.Keys) > 0 || cfg.JWKSURI != "" {
			return nil, &ConfigError{"Keys", "a loopback development client is always public; set ClientID to an https URL to use client keys"}
		}
		for _, r := range cfg.RedirectURIs {
			if err := checkLoopbackRedirect(r); err != nil {
				return nil, err
			}
		}
		q := url.Values{}
		q["redirect_uri"] = slices.Clone(cfg.RedirectURIs)
		q.Set("scope", md.Scope)
		md.ClientID = LoopbackClientID + "?" + q.Encode()
		md.ApplicationType = "native"
		md.TokenEndpointAuthMethod = "none"
		return md, nil
	}

	cid, err := url.Parse(cfg.ClientID)
	if err != nil || cid.Scheme != "https" || cid.Host == "" || cid.User != nil || cid.Fragment != "" {
		if !(cfg.AllowInsecureDevelopment && err == nil && cid.Scheme == "http" && cid.Host != "") {
			return nil, &ConfigError{"ClientID", "must be the https URL of the client metadata document (leave it empty for a loopback development client)"}
		}
	}
	if cid.Port() != "" && !cfg.AllowInsecureDevelopment {
		return nil, &ConfigError{"ClientID", "must not contain a port"}
	}
	md.ClientID = cfg.ClientID

	switch cfg.ApplicationType {
	case "", "web":
		md.ApplicationType = "web"
		for _, r := range cfg.RedirectURIs {
			if err := checkWebRedirect(r, cfg.AllowInsecureDevelopment); err != nil {
				return nil, err
			}
		}
	case "native":
		md.ApplicationType = "native"
		for _, r := range cfg.RedirectURIs {
			if err := checkNativeRedirect(r, cid); err != nil {
				return nil, err
			}
		}
	default:
		return nil, &ConfigError{"ApplicationType", fmt.Sprintf("%q is neither \"web\" nor \"native\"", cfg.ApplicationType)}
	}

	if len(cfg.Keys) == 0 {
		if cfg.JWKSURI != "" {
			return nil, &ConfigError{"JWKSURI", "set only for a confidential client (with Keys)"}
		}
		md.TokenEndpointAuthMethod = "none"
		return md, nil
	}
	md.TokenEndpointAuthMethod = "private_key_jwt"
	md.TokenEndpointAuthSigningAlg = "ES256"
	set := jwk.Set{}
	for i, k := range cfg.Keys {
		if k == nil {
			return nil, &ConfigError{"Keys", fmt.Sprintf("key %d is nil", i)}
		}
		if k.KeyID() == "" {
			return nil, &ConfigError{"Keys", fmt.Sprintf("key %d has no key id (kid); every client signing key needs one", i)}
		}
		if _, dup := set.Find(k.KeyID()); dup {
			return nil, &ConfigError{"Keys", fmt.Sprintf("key id %q is used twice", k.KeyID())}
		}
		set.Keys = append(set.Keys, k.PublicJWK())
	}
	if cfg.JWKSURI != "" {
		u, err := url.Parse(cfg.JWKSURI)
		if err != nil || (u.Scheme != "https" && !(cfg.AllowInsecureDevelopment && u.Scheme == "http")) || u.Host == "" {
			return nil, &ConfigError{"JWKSURI", "must be an https URL"}
		}
		md.JWKSURI = cfg.JWKSURI
	} else {
		md.JWKS = &set
	}
	return md, nil
}

func checkLoopbackRedirect(r string) error {
	u, err := url.Parse(r)
	if err != nil {
		return &ConfigError{"RedirectURIs", fmt.Sprintf("%q is not a URL", r)}
	}
	if u.Scheme != "http" || u.User != nil || u.Fragment != "" {
		return &ConfigError{"RedirectURIs", fmt.Sprintf("%q: a loopback client's redirect URI must be http://127.0.0.1:<port>/path or http://[::1]:<port>/path", r)}
	}
	switch u.Hostname() {
	case "127.0.0.1", "::1":
	case "localhost":
		return &ConfigError{"RedirectURIs", fmt.Sprintf("%q: use http://127.0.0.1 rather than the hostname localhost (atproto OAuth spec, loopback clients)", r)}
	default:
		return &ConfigError{"RedirectURIs", fmt.Sprintf("%q: a loopback client may only redirect to 127.0.0.1 or [::1]; set ClientID for a hosted client", r)}
	}
	return nil
}

func checkWebRedirect(r string, dev bool) error {
	u, err := url.Parse(r)
	if err != nil || u.Host == "" {
		return &ConfigError{"RedirectURIs", fmt.Sprintf("%q is not an absolute URL", r)}
	}
	if u.Fragment != "" || u.User != nil {
		return &ConfigError{"RedirectURIs", fmt.Sprintf("%q must not contain a fragment or credentials", r)}
	}
	if u.Scheme != "https" {
		if dev && u.Scheme == "http" {
			return nil
		}
		return &ConfigError{"RedirectURIs", fmt.Sprintf("%q: a web client's redirect URIs must use https", r)}
	}
	if u.Port() == "443" {
		return &ConfigError{"RedirectURIs", fmt.Sprintf("%q must not name the default port explicitly", r)}
	}
	if h := u.Hostname(); h == "localhost" || net.ParseIP(h) != nil {
		if !dev {
			return &ConfigError{"RedirectURIs", fmt.Sprintf("%q: a web client's redirect URI needs a public host name", r)}
		}
	}
	return nil
}

func checkNativeRedirect(r string, clientID *url.URL) error {
	u, err := url.Parse(r)
	if err != nil || u.Scheme == "" {
		return &ConfigError{"RedirectURIs", fmt.Sprintf("%q is not a URL", r)}
	}
	if u.Scheme == "https" {
		if u.Host != clientID.Host {
			return &ConfigError{"RedirectURIs", fmt.Sprintf("%q: a native client's https redirect URI must be on the client_id host %s", r, clientID.Host)}
		}
		return nil
	}
	labels := strings.Split(clientID.Hostname(), ".")
	slices.Reverse(labels)
	want := strings.Join(labels, ".")
	if u.Scheme != want {
		return &ConfigError{"RedirectURIs", fmt.Sprintf("%q: a native client's custom scheme must be the reversed client_id host %q", r, want)}
	}
	if u.Host != "" || !strings.HasPrefix(u.Opaque+u.Path, "/") || strings.HasPrefix(u.Path, "//") {
		return &ConfigError{"RedirectURIs", fmt.Sprintf("%q: write a custom-scheme redirect URI with a single slash, like %s:/callback", r, want)}
	}
	return nil
}

// ValidateClientMetadata checks a client metadata document the way an
// authorization server does (atproto OAuth spec, "Client ID Metadata
// Document"): client_id equal to the URL it was fetched from, the grant
// and response types, dpop_bound_access_tokens, "atproto" in scope,
// redirect URIs by application type, and for private_key_jwt clients the
// signing algorithm and a JWKS (inline or by URL) whose keys have key ids.
// It returns every problem found; none means the document is valid.
// allowInsecure permits http URLs, as for a local development client.
func ValidateClientMetadata(fetchedFrom string, md *ClientMetadata, allowInsecure bool) []error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, &ConfigError{Field: field, Reason: fmt.Sprintf(format, args...)})
	}
	if md.ClientID != fetchedFrom {
		bad("client_id", "is %q but the document was fetched from %q; they must be equal", md.ClientID, fetchedFrom)
	}
	cid, err := url.Parse(md.ClientID)
	if err != nil || cid.Host == "" || (cid.Scheme != "https" && !(allowInsecure && cid.Scheme == "http")) {
		bad("client_id", "must be an https URL")
		cid = &url.URL{}
	} else if cid.Port() != "" && !allowInsecure {
		bad("client_id", "must not contain a port")
	}
	if !slices.Contains(md.GrantTypes, "authorization_code") {
		bad("grant_types", "must include authorization_code")
	}
	if !slices.Contains(md.GrantTypes, "refresh_token") {
		bad("grant_types", "should include refresh_token, or sessions cannot be refreshed")
	}
	if !slices.Contains(md.ResponseTypes, "code") {
		bad("response_types", "must include code")
	}
	if !md.DPoPBoundAccessTokens {
		bad("dpop_bound_access_tokens", "must be true")
	}
	if !slices.Contains(strings.Fields(md.Scope), "atproto") {
		bad("scope", `must include "atproto" (and every scope a login may ask for)`)
	}
	if len(md.RedirectURIs) == 0 {
		bad("redirect_uris", "at least one is required")
	}
	for _, r := range md.RedirectURIs {
		var err error
		switch md.ApplicationType {
		case "", "web":
			err = checkWebRedirect(r, allowInsecure)
		case "native":
			err = checkNativeRedirect(r, cid)
		default:
			bad("application_type", "is %q; must be web or native", md.ApplicationType)
		}
		if err != nil {
			var ce *ConfigError
			if errors.As(err, &ce) {
				ce.Field = "redirect_uris"
			}
			errs = append(errs, err)
		}
	}
	switch md.TokenEndpointAuthMethod {
	case "none":
		if md.JWKS != nil || md.JWKSURI != "" {
			bad("jwks", "a public client (token_endpoint_auth_method none) publishes no keys")
		}
	case "private_key_jwt":
		if md.TokenEndpointAuthSigningAlg != "ES256" {
			bad("token_endpoint_auth_signing_alg", "is %q; must be ES256", md.TokenEndpointAuthSigningAlg)
		}
		switch {
		case md.JWKS != nil && md.JWKSURI != "":
			bad("jwks", "give jwks or jwks_uri, not both")
		case md.JWKS == nil && md.JWKSURI == "":
			bad("jwks", "a confidential client needs jwks or jwks_uri")
		case md.JWKS != nil:
			errs = append(errs, ValidateJWKS(*md.JWKS)...)
		}
	default:
		bad("token_endpoint_auth_method", "is %q; must be none or private_key_jwt", md.TokenEndpointAuthMethod)
	}
	return errs
}

// ValidateJWKS checks a confidential client's public keys: at least one,
// each an EC P-256 key with a unique key id.
func ValidateJWKS(set jwk.Set) []error {
	var errs []error
	if len(set.Keys) == 0 {
		errs = append(errs, &ConfigError{Field: "jwks", Reason: "has no keys"})
	}
	seen := map[string]bool{}
	for i, k := range set.Keys {
		switch {
		case k.Kid == "":
			errs = append(errs, &ConfigError{Field: "jwks", Reason: fmt.Sprintf("key %d has no kid; client assertions name their key by kid", i)})
		case seen[k.Kid]:
			errs = append(errs, &ConfigError{Field: "jwks", Reason: fmt.Sprintf("kid %q is used twice", k.Kid)})
		}
		seen[k.Kid] = true
		if _, err := k.ECDSA(); err != nil || k.Kty != "EC" || k.Crv != "P-256" {
			errs = append(errs, &ConfigError{Field: "jwks", Reason: fmt.Sprintf("key %d (%s) is not a valid EC P-256 key", i, k.Kid)})
		}
	}
	return errs
}
