package discovery

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// Well-known metadata paths.
const (
	// ResourceMetadataPath is the RFC 9728 §3 well-known path of protected
	// resource metadata.
	ResourceMetadataPath = "/.well-known/oauth-protected-resource"
	// AuthServerMetadataPath is the RFC 8414 §3 well-known path of
	// authorization server metadata.
	AuthServerMetadataPath = "/.well-known/oauth-authorization-server"
)

// ResourceMetadata is the protected resource metadata of a PDS (RFC 9728 §2),
// restricted to the members the atproto OAuth profile uses.
type ResourceMetadata struct {
	// Resource is the PDS origin (RFC 9728 §3.3: identical to the URL the
	// metadata was fetched for).
	Resource string `json:"resource"`
	// AuthorizationServers holds exactly one issuer origin (atproto OAuth
	// spec, "Server Metadata").
	AuthorizationServers   []string `json:"authorization_servers"`
	ScopesSupported        []string `json:"scopes_supported,omitempty"`
	BearerMethodsSupported []string `json:"bearer_methods_supported,omitempty"`
	ResourceDocumentation  string   `json:"resource_documentation,omitempty"`
}

// AuthServerMetadata is authorization server metadata (RFC 8414 §2) with the
// members the atproto OAuth profile uses; JSON names are the RFC names.
type AuthServerMetadata struct {
	Issuer                                     string   `json:"issuer"`
	AuthorizationEndpoint                      string   `json:"authorization_endpoint"`
	TokenEndpoint                              string   `json:"token_endpoint"`
	PushedAuthorizationRequestEndpoint         string   `json:"pushed_authorization_request_endpoint"` // RFC 9126 §5
	RevocationEndpoint                         string   `json:"revocation_endpoint,omitempty"`         // RFC 7009
	JWKSURI                                    string   `json:"jwks_uri,omitempty"`
	RequirePushedAuthorizationRequests         bool     `json:"require_pushed_authorization_requests"` // RFC 9126 §5
	ResponseTypesSupported                     []string `json:"response_types_supported"`
	GrantTypesSupported                        []string `json:"grant_types_supported"`
	CodeChallengeMethodsSupported              []string `json:"code_challenge_methods_supported"`
	TokenEndpointAuthMethodsSupported          []string `json:"token_endpoint_auth_methods_supported"`
	TokenEndpointAuthSigningAlgValuesSupported []string `json:"token_endpoint_auth_signing_alg_values_supported"`
	ScopesSupported                            []string `json:"scopes_supported"`
	DPoPSigningAlgValuesSupported              []string `json:"dpop_signing_alg_values_supported"` // RFC 9449 §5.1
	ProtectedResources                         []string `json:"protected_resources,omitempty"`     // RFC 9728 §4
	PromptValuesSupported                      []string `json:"prompt_values_supported,omitempty"`
	AuthorizationResponseISSParameterSupported bool     `json:"authorization_response_iss_parameter_supported"` // RFC 9207 §3
	ClientIDMetadataDocumentSupported          bool     `json:"client_id_metadata_document_supported"`
}

// ParseOptions adjusts [ParseResourceMetadata] and
// [ParseAuthServerMetadata]. The zero value is the production profile.
type ParseOptions struct {
	// AllowInsecureDevelopment accepts http:// origins and endpoints (local
	// development networks only); https is required otherwise.
	AllowInsecureDevelopment bool
}

func devOption(opts []ParseOptions) bool {
	return len(opts) > 0 && opts[0].AllowInsecureDevelopment
}

// ParseResourceMetadata parses and validates protected resource metadata
// (RFC 9728) fetched from pdsOrigin + [ResourceMetadataPath]. pdsOrigin must
// be a canonical origin ("https://pds.example.com": lower case, no default
// port, no path or trailing slash).
//
// It checks that "resource" equals pdsOrigin (RFC 9728 §3.3) and that
// "authorization_servers" has exactly one entry, which is a canonical https
// origin: no credentials, path, query or fragment, no default port (atproto
// OAuth spec, "Server Metadata"). At most one ParseOptions is used.
//
// A failed check is a *[MetadataError]; an invalid pdsOrigin is a
// *[ResolveError] matching [ErrInvalidIdentifier].
func ParseResourceMetadata(data []byte, pdsOrigin string, opts ...ParseOptions) (*ResourceMetadata, error) {
	dev := devOption(opts)
	origin, err := parseOrigin(pdsOrigin, dev, true)
	if err != nil {
		return nil, resolveErr(pdsOrigin, ErrInvalidIdentifier, err)
	}
	u := origin + ResourceMetadataPath
	var md ResourceMetadata
	if err := json.Unmarshal(data, &md); err != nil {
		return nil, jsonError(u, err)
	}
	fail := func(field, format string, args ...any) error {
		return &MetadataError{URL: u, Field: field, Reason: fmt.Sprintf(format, args...)}
	}
	if md.Resource != origin {
		return nil, fail("resource", "is %s, want %q", quote(md.Resource), origin)
	}
	if n := len(md.AuthorizationServers); n != 1 {
		return nil, fail("authorization_servers", "has %d entries, want exactly 1", n)
	}
	if _, err := parseOrigin(md.AuthorizationServers[0], dev, true); err != nil {
		return nil, fail("authorization_servers", "entry %s %v", quote(md.AuthorizationServers[0]), err)
	}
	return &md, nil
}

// ParseAuthServerMetadata parses and validates authorization server metadata
// (RFC 8414) fetched from issuer + [AuthServerMetadataPath], applying every
// requirement of the atproto OAuth profile ("Server Metadata"):
//
//   - "issuer" equals issuer (RFC 8414 §3.3), a canonical https origin;
//   - "authorization_endpoint", "token_endpoint" and
//     "pushed_authorization_request_endpoint" are absolute https URLs without
//     credentials or fragment; so are "revocation_endpoint" and "jwks_uri"
//     when present;
//   - "require_pushed_authorization_requests" is true (RFC 9126);
//   - "response_types_supported" includes "code";
//   - "grant_types_supported" includes "authorization_code" and
//     "refresh_token";
//   - "code_challenge_methods_supported" includes "S256" (RFC 7636);
//   - "token_endpoint_auth_methods_supported" includes "none" and
//     "private_key_jwt";
//   - "token_endpoint_auth_signing_alg_values_supported" includes "ES256"
//     and not "none";
//   - "scopes_supported" includes "atproto";
//   - "authorization_response_iss_parameter_supported" is true (RFC 9207);
//   - "dpop_signing_alg_values_supported" includes "ES256" (RFC 9449);
//   - "client_id_metadata_document_supported" is true;
//   - "require_request_uri_registration", when present, is not false.
//
// With AllowInsecureDevelopment, http URLs are accepted as well. At most one
// ParseOptions is used. The first failed check is returned as a
// *[MetadataError] naming the field; an invalid issuer argument is a
// *[ResolveError] matching [ErrInvalidIdentifier].
func ParseAuthServerMetadata(data []byte, issuer string, opts ...ParseOptions) (*AuthServerMetadata, error) {
	dev := devOption(opts)
	iss, err := parseOrigin(issuer, dev, true)
	if err != nil {
		return nil, resolveErr(issuer, ErrInvalidIdentifier, err)
	}
	u := iss + AuthServerMetadataPath
	var md AuthServerMetadata
	if err := json.Unmarshal(data, &md); err != nil {
		return nil, jsonError(u, err)
	}
	var extra struct {
		RequireRequestURIRegistration *bool `json:"require_request_uri_registration"`
	}
	if err := json.Unmarshal(data, &extra); err != nil {
		return nil, jsonError(u, err)
	}
	fail := func(field, format string, args ...any) error {
		return &MetadataError{URL: u, Field: field, Reason: fmt.Sprintf(format, args...)}
	}
	mustInclude := func(field string, list []string, values ...string) error {
		for _, v := range values {
			if !slices.Contains(list, v) {
				return fail(field, "must include %q", v)
			}
		}
		return nil
	}

	if md.Issuer != iss {
		return nil, fail("issuer", "is %s, want %q", quote(md.Issuer), iss)
	}
	for _, ep := range []struct {
		field, value string
		required     bool
	}{
		{"authorization_endpoint", md.AuthorizationEndpoint, true},
		{"token_endpoint", md.TokenEndpoint, true},
		{"pushed_authorization_request_endpoint", md.PushedAuthorizationRequestEndpoint, true},
		{"revocation_endpoint", md.RevocationEndpoint, false},
		{"jwks_uri", md.JWKSURI, false},
	} {
		if ep.value == "" {
			if ep.required {
				return nil, fail(ep.field, "is required")
			}
			continue
		}
		if err := checkEndpoint(ep.value, dev); err != nil {
			return nil, fail(ep.field, "%s %v", quote(ep.value), err)
		}
	}
	if !md.RequirePushedAuthorizationRequests {
		return nil, fail("require_pushed_authorization_requests", "must be true")
	}
	for _, c := range []struct {
		field  string
		list   []string
		values []string
	}{
		{"response_types_supported", md.ResponseTypesSupported, []string{"code"}},
		{"grant_types_supported", md.GrantTypesSupported, []string{"authorization_code", "refresh_token"}},
		{"code_challenge_methods_supported", md.CodeChallengeMethodsSupported, []string{"S256"}},
		{"token_endpoint_auth_methods_supported", md.TokenEndpointAuthMethodsSupported, []string{"none", "private_key_jwt"}},
		{"token_endpoint_auth_signing_alg_values_supported", md.TokenEndpointAuthSigningAlgValuesSupported, []string{"ES256"}},
		{"scopes_supported", md.ScopesSupported, []string{"atproto"}},
		{"dpop_signing_alg_values_supported", md.DPoPSigningAlgValuesSupported, []string{"ES256"}},
	} {
		if err := mustInclude(c.field, c.list, c.values...); err != nil {
			return nil, err
		}
	}
	if slices.Contains(md.TokenEndpointAuthSigningAlgValuesSupported, "none") {
		return nil, fail("token_endpoint_auth_signing_alg_values_supported", `must not include "none"`)
	}
	if !md.AuthorizationResponseISSParameterSupported {
		return nil, fail("authorization_response_iss_parameter_supported", "must be true")
	}
	if !md.ClientIDMetadataDocumentSupported {
		return nil, fail("client_id_metadata_document_supported", "must be true")
	}
	if r := extra.RequireRequestURIRegistration; r != nil && !*r {
		return nil, fail("require_request_uri_registration", "must not be false")
	}
	return &md, nil
}

func (m *ResourceMetadata) clone() *ResourceMetadata {
	c := *m
	c.AuthorizationServers = slices.Clone(m.AuthorizationServers)
	c.ScopesSupported = slices.Clone(m.ScopesSupported)
	c.BearerMethodsSupported = slices.Clone(m.BearerMethodsSupported)
	return &c
}

func (m *AuthServerMetadata) clone() *AuthServerMetadata {
	c := *m
	for _, s := range []*[]string{
		&c.ResponseTypesSupported, &c.GrantTypesSupported, &c.CodeChallengeMethodsSupported,
		&c.TokenEndpointAuthMethodsSupported, &c.TokenEndpointAuthSigningAlgValuesSupported,
		&c.ScopesSupported, &c.DPoPSigningAlgValuesSupported, &c.ProtectedResources, &c.PromptValuesSupported,
	} {
		*s = slices.Clone(*s)
	}
	return &c
}

func jsonError(u string, err error) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		if te.Field == "" {
			return &MetadataError{URL: u, Reason: "must be a JSON object", Err: err}
		}
		return &MetadataError{URL: u, Field: te.Field, Reason: "has the wrong JSON type", Err: err}
	}
	return &MetadataError{URL: u, Reason: "is not valid JSON", Err: err}
}

// quote quotes a server-supplied string for an error message, truncated so a
// hostile document cannot flood logs.
func quote(s string) string {
	const maxLen = 128
	if len(s) > maxLen {
		return strconv.Quote(s[:maxLen]) + "…"
	}
	return strconv.Quote(s)
}

// parseOrigin validates raw as an http(s) origin URL and returns its
// canonical form: lower-case scheme and host, no default port, no path.
// strict additionally requires raw to be exactly that canonical form (no
// trailing slash, as for issuers); otherwise a bare "/" path, upper case and
// default ports are normalised away. http is accepted only with allowHTTP.
func parseOrigin(raw string, allowHTTP, strict bool) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", errors.New("is not a valid URL")
	}
	if err := checkScheme(u, allowHTTP); err != nil {
		return "", err
	}
	switch {
	case u.Opaque != "" || u.Host == "":
		return "", errors.New("must be an absolute URL with a host")
	case u.User != nil:
		return "", errors.New("must not contain credentials")
	case u.RawQuery != "" || u.ForceQuery:
		return "", errors.New("must not have a query")
	case u.Fragment != "" || strings.Contains(raw, "#"):
		return "", errors.New("must not have a fragment")
	case u.Path != "" && (strict || u.Path != "/"):
		return "", errors.New("must be an origin without a path")
	}
	host, err := canonicalHost(u)
	if err != nil {
		return "", err
	}
	origin := u.Scheme + "://" + host
	if strict && raw != origin {
		return "", fmt.Errorf("must be in canonical origin form %q", origin)
	}
	return origin, nil
}

// checkEndpoint validates an endpoint URL from server metadata: absolute,
// https (http only with allowHTTP), no credentials, no fragment (RFC 6749
// §3.1). A query is allowed.
func checkEndpoint(raw string, allowHTTP bool) error {
	u, err := url.Parse(raw)
	if err != nil {
		return errors.New("is not a valid URL")
	}
	if err := checkScheme(u, allowHTTP); err != nil {
		return err
	}
	switch {
	case u.Opaque != "" || u.Host == "":
		return errors.New("must be an absolute URL with a host")
	case u.User != nil:
		return errors.New("must not contain credentials")
	case u.Fragment != "" || strings.Contains(raw, "#"):
		return errors.New("must not have a fragment")
	}
	_, err = canonicalHost(u)
	return err
}

func checkScheme(u *url.URL, allowHTTP bool) error {
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if allowHTTP {
			return nil
		}
		return errors.New("must use https")
	}
	return errors.New("must be an https URL")
}

// canonicalHost returns u's host in canonical form: lower case, IP literals
// in their standard form, default port removed.
func canonicalHost(u *url.URL) (string, error) {
	name, port := u.Hostname(), u.Port()
	if port != "" {
		n, err := strconv.ParseUint(port, 10, 16)
		if err != nil || n == 0 {
			return "", errors.New("has an invalid port")
		}
		port = strconv.FormatUint(n, 10)
		if (u.Scheme == "https" && n == 443) || (u.Scheme == "http" && n == 80) {
			port = ""
		}
	}
	if ip, err := netip.ParseAddr(name); err == nil {
		if ip.Zone() != "" {
			return "", errors.New("has an invalid host")
		}
		name = ip.String()
		if ip.Is6() {
			name = "[" + name + "]"
		}
	} else {
		name = strings.ToLower(name)
		if !validHostname(name) {
			return "", errors.New("has an invalid host")
		}
	}
	if port != "" {
		return name + ":" + port, nil
	}
	return name, nil
}

// validHostname reports whether s is an ASCII DNS host name: dot-separated
// labels of 1–63 letters, digits, hyphens or underscores.
func validHostname(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for label := range strings.SplitSeq(s, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, c := range []byte(label) {
			if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}
