package discovery_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/atoauth/atoauth/discovery"
)

const (
	testPDS    = "https://pds.example.com"
	testIssuer = "https://auth.example.com"
)

func TestParseResourceMetadata(t *testing.T) {
	data := `{"resource":"https://pds.example.com","authorization_servers":["https://auth.example.com"],
		"scopes_supported":[],"bearer_methods_supported":["header"],"resource_documentation":"https://atproto.com","extra":1}`
	md, err := discovery.ParseResourceMetadata([]byte(data), testPDS)
	if err != nil {
		t.Fatal(err)
	}
	if md.Resource != testPDS || !slices.Equal(md.AuthorizationServers, []string{testIssuer}) ||
		!slices.Equal(md.BearerMethodsSupported, []string{"header"}) || md.ResourceDocumentation != "https://atproto.com" {
		t.Fatalf("parsed %+v", md)
	}
	// A port other than the default is part of the origin.
	if _, err := discovery.ParseResourceMetadata([]byte(`{"resource":"https://pds.example.com","authorization_servers":["https://auth.example.com:8443"]}`), testPDS); err != nil {
		t.Fatalf("non-default port: %v", err)
	}
}

func TestParseResourceMetadataInvalid(t *testing.T) {
	for _, tc := range []struct {
		name, data, field string
	}{
		{"not JSON", `{"resource":`, ""},
		{"JSON array", `[]`, ""},
		{"wrong type", `{"resource":"https://pds.example.com","authorization_servers":"https://auth.example.com"}`, "authorization_servers"},
		{"null", `null`, "resource"},
		{"other resource", `{"resource":"https://evil.example.com","authorization_servers":["https://auth.example.com"]}`, "resource"},
		{"resource with slash", `{"resource":"https://pds.example.com/","authorization_servers":["https://auth.example.com"]}`, "resource"},
		{"resource missing", `{"authorization_servers":["https://auth.example.com"]}`, "resource"},
		{"no authorization server", `{"resource":"https://pds.example.com","authorization_servers":[]}`, "authorization_servers"},
		{"authorization servers missing", `{"resource":"https://pds.example.com"}`, "authorization_servers"},
		{"two authorization servers", `{"resource":"https://pds.example.com","authorization_servers":["https://auth.example.com","https://other.example.com"]}`, "authorization_servers"},
		{"server with path", `{"resource":"https://pds.example.com","authorization_servers":["https://auth.example.com/oauth"]}`, "authorization_servers"},
		{"server with trailing slash", `{"resource":"https://pds.example.com","authorization_servers":["https://auth.example.com/"]}`, "authorization_servers"},
		{"server with query", `{"resource":"https://pds.example.com","authorization_servers":["https://auth.example.com?x=1"]}`, "authorization_servers"},
		{"server with fragment", `{"resource":"https://pds.example.com","authorization_servers":["https://auth.example.com#x"]}`, "authorization_servers"},
		{"server with credentials", `{"resource":"https://pds.example.com","authorization_servers":["https://user:pw@auth.example.com"]}`, "authorization_servers"},
		{"server with default port", `{"resource":"https://pds.example.com","authorization_servers":["https://auth.example.com:443"]}`, "authorization_servers"},
		{"server in upper case", `{"resource":"https://pds.example.com","authorization_servers":["https://Auth.example.com"]}`, "authorization_servers"},
		{"server over http", `{"resource":"https://pds.example.com","authorization_servers":["http://auth.example.com"]}`, "authorization_servers"},
		{"server not a URL", `{"resource":"https://pds.example.com","authorization_servers":["auth.example.com"]}`, "authorization_servers"},
		{"server empty", `{"resource":"https://pds.example.com","authorization_servers":[""]}`, "authorization_servers"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			md, err := discovery.ParseResourceMetadata([]byte(tc.data), testPDS)
			var me *discovery.MetadataError
			if !errors.As(err, &me) || !errors.Is(err, discovery.ErrInvalidMetadata) || md != nil {
				t.Fatalf("got (%v, %v), want *MetadataError", md, err)
			}
			if me.Field != tc.field || me.URL != testPDS+discovery.ResourceMetadataPath {
				t.Fatalf("MetadataError %+v, want Field %q", me, tc.field)
			}
		})
	}
}

func TestParseResourceMetadataDevelopment(t *testing.T) {
	data := []byte(`{"resource":"http://127.0.0.1:2583","authorization_servers":["http://localhost:2583"]}`)
	if _, err := discovery.ParseResourceMetadata(data, "http://127.0.0.1:2583"); !errors.Is(err, discovery.ErrInvalidIdentifier) {
		t.Fatalf("http origin in production: err = %v, want ErrInvalidIdentifier", err)
	}
	if _, err := discovery.ParseResourceMetadata(data, "http://127.0.0.1:2583", discovery.ParseOptions{AllowInsecureDevelopment: true}); err != nil {
		t.Fatalf("development: %v", err)
	}
	for _, origin := range []string{"https://pds.example.com/", "pds.example.com", "https://pds.example.com/x", ""} {
		if _, err := discovery.ParseResourceMetadata(data, origin); !errors.Is(err, discovery.ErrInvalidIdentifier) {
			t.Errorf("origin %q: err = %v, want ErrInvalidIdentifier", origin, err)
		}
	}
}

func TestParseAuthServerMetadata(t *testing.T) {
	md, err := discovery.ParseAuthServerMetadata(mustJSON(t, validASMetadata(testIssuer)), testIssuer)
	if err != nil {
		t.Fatal(err)
	}
	want := discovery.AuthServerMetadata{
		Issuer:                             testIssuer,
		AuthorizationEndpoint:              testIssuer + "/oauth/authorize",
		TokenEndpoint:                      testIssuer + "/oauth/token",
		PushedAuthorizationRequestEndpoint: testIssuer + "/oauth/par",
		RevocationEndpoint:                 testIssuer + "/oauth/revoke",
		JWKSURI:                            testIssuer + "/oauth/jwks",
		RequirePushedAuthorizationRequests: true,
		AuthorizationResponseISSParameterSupported: true,
		ClientIDMetadataDocumentSupported:          true,
	}
	got := *md
	if !slices.Contains(got.PromptValuesSupported, "select_account") || !slices.Contains(got.DPoPSigningAlgValuesSupported, "ES256") {
		t.Fatalf("lists not parsed: %+v", got)
	}
	got.ResponseTypesSupported, got.GrantTypesSupported, got.CodeChallengeMethodsSupported = nil, nil, nil
	got.TokenEndpointAuthMethodsSupported, got.TokenEndpointAuthSigningAlgValuesSupported = nil, nil
	got.ScopesSupported, got.DPoPSigningAlgValuesSupported, got.PromptValuesSupported = nil, nil, nil
	if got.ProtectedResources != nil {
		t.Fatalf("ProtectedResources = %v", got.ProtectedResources)
	}
	if !equalAS(got, want) {
		t.Fatalf("parsed\n%+v\nwant\n%+v", got, want)
	}
}

func equalAS(a, b discovery.AuthServerMetadata) bool {
	return a.Issuer == b.Issuer && a.AuthorizationEndpoint == b.AuthorizationEndpoint && a.TokenEndpoint == b.TokenEndpoint &&
		a.PushedAuthorizationRequestEndpoint == b.PushedAuthorizationRequestEndpoint && a.RevocationEndpoint == b.RevocationEndpoint &&
		a.JWKSURI == b.JWKSURI && a.RequirePushedAuthorizationRequests == b.RequirePushedAuthorizationRequests &&
		a.AuthorizationResponseISSParameterSupported == b.AuthorizationResponseISSParameterSupported &&
		a.ClientIDMetadataDocumentSupported == b.ClientIDMetadataDocumentSupported
}

func TestParseAuthServerMetadataMissingField(t *testing.T) {
	for _, field := range []string{
		"issuer",
		"authorization_endpoint",
		"token_endpoint",
		"pushed_authorization_request_endpoint",
		"require_pushed_authorization_requests",
		"response_types_supported",
		"grant_types_supported",
		"code_challenge_methods_supported",
		"token_endpoint_auth_methods_supported",
		"token_endpoint_auth_signing_alg_values_supported",
		"scopes_supported",
		"authorization_response_iss_parameter_supported",
		"dpop_signing_alg_values_supported",
		"client_id_metadata_document_supported",
	} {
		t.Run(field, func(t *testing.T) {
			md := validASMetadata(testIssuer)
			delete(md, field)
			checkASError(t, md, field)
		})
	}
	// Optional members may be absent.
	md := validASMetadata(testIssuer)
	for _, field := range []string{"revocation_endpoint", "jwks_uri", "prompt_values_supported", "require_request_uri_registration", "protected_resources"} {
		delete(md, field)
	}
	if _, err := discovery.ParseAuthServerMetadata(mustJSON(t, md), testIssuer); err != nil {
		t.Fatalf("without optional members: %v", err)
	}
}

func TestParseAuthServerMetadataInvalidValues(t *testing.T) {
	for _, tc := range []struct {
		name, field string
		value       any
	}{
		{"other issuer", "issuer", "https://evil.example.com"},
		{"issuer with slash", "issuer", testIssuer + "/"},
		{"issuer in upper case", "issuer", "https://AUTH.example.com"},
		{"relative endpoint", "authorization_endpoint", "/oauth/authorize"},
		{"http endpoint", "token_endpoint", "http://auth.example.com/oauth/token"},
		{"endpoint with fragment", "token_endpoint", testIssuer + "/oauth/token#x"},
		{"endpoint with credentials", "pushed_authorization_request_endpoint", "https://u:p@auth.example.com/oauth/par"},
		{"endpoint not https", "pushed_authorization_request_endpoint", "javascript:alert(1)"},
		{"bad revocation endpoint", "revocation_endpoint", "http://auth.example.com/oauth/revoke"},
		{"bad jwks_uri", "jwks_uri", "ftp://auth.example.com/jwks"},
		{"PAR optional", "require_pushed_authorization_requests", false},
		{"no code response type", "response_types_supported", []string{"token"}},
		{"no refresh_token grant", "grant_types_supported", []string{"authorization_code"}},
		{"no authorization_code grant", "grant_types_supported", []string{"refresh_token"}},
		{"plain PKCE only", "code_challenge_methods_supported", []string{"plain"}},
		{"no public clients", "token_endpoint_auth_methods_supported", []string{"private_key_jwt"}},
		{"no confidential clients", "token_endpoint_auth_methods_supported", []string{"none"}},
		{"signing alg none", "token_endpoint_auth_signing_alg_values_supported", []string{"ES256", "none"}},
		{"no ES256 signing", "token_endpoint_auth_signing_alg_values_supported", []string{"RS256"}},
		{"no atproto scope", "scopes_supported", []string{"openid"}},
		{"no iss parameter", "authorization_response_iss_parameter_supported", false},
		{"no ES256 DPoP", "dpop_signing_alg_values_supported", []string{"RS256"}},
		{"no client metadata documents", "client_id_metadata_document_supported", false},
		{"request_uri registration off", "require_request_uri_registration", false},
		{"list as string", "scopes_supported", "atproto"},
		{"bool as string", "require_pushed_authorization_requests", "true"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			md := validASMetadata(testIssuer)
			md[tc.field] = tc.value
			checkASError(t, md, tc.field)
		})
	}
	if _, err := discovery.ParseAuthServerMetadata([]byte(`["issuer"]`), testIssuer); !errors.Is(err, discovery.ErrInvalidMetadata) {
		t.Fatalf("JSON array: err = %v", err)
	}
}

func checkASError(t *testing.T, md map[string]any, field string) {
	t.Helper()
	got, err := discovery.ParseAuthServerMetadata(mustJSON(t, md), testIssuer)
	var me *discovery.MetadataError
	if !errors.As(err, &me) || !errors.Is(err, discovery.ErrInvalidMetadata) || got != nil {
		t.Fatalf("got (%v, %v), want *MetadataError", got, err)
	}
	if me.Field != field || me.URL != testIssuer+discovery.AuthServerMetadataPath || me.Reason == "" {
		t.Fatalf("MetadataError %+v, want Field %q", me, field)
	}
	if !strings.Contains(err.Error(), field) {
		t.Fatalf("message %q does not name %q", err, field)
	}
}

func TestParseAuthServerMetadataDevelopment(t *testing.T) {
	const iss = "http://localhost:2583"
	data := mustJSON(t, validASMetadata(iss))
	if _, err := discovery.ParseAuthServerMetadata(data, iss); !errors.Is(err, discovery.ErrInvalidIdentifier) {
		t.Fatalf("http issuer in production: err = %v, want ErrInvalidIdentifier", err)
	}
	if _, err := discovery.ParseAuthServerMetadata(data, iss, discovery.ParseOptions{AllowInsecureDevelopment: true}); err != nil {
		t.Fatalf("development: %v", err)
	}
}

// rejected tells whether a parse failed, and fails t unless a failure is
// ErrInvalidMetadata without metadata.
func rejected[M any](t *testing.T, md *M, err error) bool {
	t.Helper()
	if err == nil {
		return false
	}
	if md != nil {
		t.Fatal("metadata returned with an error")
	}
	if !errors.Is(err, discovery.ErrInvalidMetadata) {
		t.Fatalf("error %v is not ErrInvalidMetadata", err)
	}
	return true
}

func FuzzParseResourceMetadata(f *testing.F) {
	for _, s := range []string{
		`{"resource":"https://pds.example.com","authorization_servers":["https://auth.example.com"]}`,
		`{"resource":"https://pds.example.com","authorization_servers":["https://auth.example.com:8443"]}`,
		`{"resource":"https://pds.example.com","authorization_servers":["https://a.example.com","https://b.example.com"]}`,
		`{"resource":"https://pds.example.com","authorization_servers":["https://[::1]"]}`,
		`{"resource":"https://pds.example.com","authorization_servers":["https://auth.example.com/"]}`,
		`{"resource":null,"authorization_servers":[1]}`,
		`null`, `[]`, `"x"`, ``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		md, err := discovery.ParseResourceMetadata(data, testPDS)
		if rejected(t, md, err) {
			return
		}
		if md.Resource != testPDS || len(md.AuthorizationServers) != 1 {
			t.Fatalf("accepted %+v", md)
		}
		as := md.AuthorizationServers[0]
		if !strings.HasPrefix(as, "https://") || strings.ContainsAny(as[len("https://"):], "/?#@") || strings.ToLower(as) != as {
			t.Fatalf("accepted authorization server %q", as)
		}
		// Validation is idempotent: the accepted server passes as an issuer.
		if _, err := discovery.ParseResourceMetadata(mustJSON(t, md), testPDS); err != nil {
			t.Fatalf("re-parse: %v", err)
		}
	})
}

func FuzzParseAuthServerMetadata(f *testing.F) {
	f.Add(mustJSON(f, validASMetadata(testIssuer)))
	for _, field := range []string{"issuer", "token_endpoint", "scopes_supported", "client_id_metadata_document_supported"} {
		md := validASMetadata(testIssuer)
		delete(md, field)
		f.Add(mustJSON(f, md))
	}
	md := validASMetadata(testIssuer)
	md["token_endpoint_auth_signing_alg_values_supported"] = []string{"ES256", "none"}
	f.Add(mustJSON(f, md))
	md = cloneMap(validASMetadata(testIssuer))
	md["token_endpoint"] = "https://auth.example.com:99999/x"
	f.Add(mustJSON(f, md))
	f.Add([]byte(`{"issuer":"https://auth.example.com"}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, data []byte) {
		md, err := discovery.ParseAuthServerMetadata(data, testIssuer)
		if rejected(t, md, err) {
			return
		}
		if md.Issuer != testIssuer || !md.RequirePushedAuthorizationRequests || !md.ClientIDMetadataDocumentSupported ||
			!md.AuthorizationResponseISSParameterSupported ||
			slices.Contains(md.TokenEndpointAuthSigningAlgValuesSupported, "none") ||
			!slices.Contains(md.CodeChallengeMethodsSupported, "S256") ||
			!slices.Contains(md.ScopesSupported, "atproto") {
			t.Fatalf("accepted %+v", md)
		}
		for _, ep := range []string{md.AuthorizationEndpoint, md.TokenEndpoint, md.PushedAuthorizationRequestEndpoint} {
			if !strings.HasPrefix(ep, "https://") || strings.Contains(ep, "#") {
				t.Fatalf("accepted endpoint %q", ep)
			}
		}
		if _, err := discovery.ParseAuthServerMetadata(mustJSON(t, md), testIssuer); err != nil {
			t.Fatalf("re-parse: %v", err)
		}
	})
}
