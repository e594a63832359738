package atoauth

import (
	"encoding/json"
	"errors"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/atoauth/atoauth/discovery"
	"github.com/atoauth/atoauth/jwk"
)

func mustKey(t testing.TB, kid string) *jwk.Key {
	t.Helper()
	k, err := jwk.Generate()
	if err != nil {
		t.Fatal(err)
	}
	if kid != "" {
		k = k.WithKeyID(kid)
	}
	return k
}

func TestLoopbackClientID(t *testing.T) {
	c, err := NewClient(LoopbackConfig("atproto transition:generic"))
	if err != nil {
		t.Fatal(err)
	}
	id := c.ClientID()
	u, err := url.Parse(id)
	if err != nil {
		t.Fatal(err)
	}
	if u.Scheme != "http" || u.Host != "localhost" || u.Path != "" {
		t.Fatalf("client_id %q: want http://localhost with no port or path", id)
	}
	q := u.Query()
	if got := q["redirect_uri"]; len(got) != 1 || got[0] != "http://127.0.0.1/callback" {
		t.Errorf("redirect_uri = %v", got)
	}
	if got := q.Get("scope"); got != "atproto transition:generic" {
		t.Errorf("scope = %q", got)
	}
	if len(q) != 2 {
		t.Errorf("client_id has extra parameters: %v", q)
	}
	md := c.Metadata()
	if md.ApplicationType != "native" || md.TokenEndpointAuthMethod != "none" || !md.DPoPBoundAccessTokens {
		t.Errorf("loopback metadata = %+v", md)
	}

	// Default scope is atproto.
	c, err = NewClient(LoopbackConfig(""))
	if err != nil {
		t.Fatal(err)
	}
	u, _ = url.Parse(c.ClientID())
	if u.Query().Get("scope") != "atproto" {
		t.Errorf("default loopback scope: %q", c.ClientID())
	}
}

func TestConfigValidation(t *testing.T) {
	web := func(mod func(*Config)) Config {
		c := Config{
			ClientID:     "https://app.example.com/oauth-client-metadata.json",
			RedirectURIs: []string{"https://app.example.com/callback"},
			Scope:        "atproto transition:generic",
		}
		mod(&c)
		return c
	}
	tests := []struct {
		name  string
		cfg   Config
		field string
	}{
		{"no redirect", web(func(c *Config) { c.RedirectURIs = nil }), "RedirectURIs"},
		{"no atproto", web(func(c *Config) { c.Scope = "transition:generic" }), "Scope"},
		{"http client id", web(func(c *Config) { c.ClientID = "http://app.example.com/m.json" }), "ClientID"},
		{"client id port", web(func(c *Config) { c.ClientID = "https://app.example.com:8443/m.json" }), "ClientID"},
		{"web http redirect", web(func(c *Config) { c.RedirectURIs = []string{"http://app.example.com/cb"} }), "RedirectURIs"},
		{"web default port", web(func(c *Config) { c.RedirectURIs = []string{"https://app.example.com:443/cb"} }), "RedirectURIs"},
		{"web fragment", web(func(c *Config) { c.RedirectURIs = []string{"https://app.example.com/cb#x"} }), "RedirectURIs"},
		{"web localhost", web(func(c *Config) { c.RedirectURIs = []string{"https://localhost/cb"} }), "RedirectURIs"},
		{"native wrong scheme", web(func(c *Config) {
			c.ApplicationType = "native"
			c.RedirectURIs = []string{"app.example.com:/cb"}
		}), "RedirectURIs"},
		{"native double slash", web(func(c *Config) {
			c.ApplicationType = "native"
			c.RedirectURIs = []string{"com.example.app://cb"}
		}), "RedirectURIs"},
		{"native https other host", web(func(c *Config) {
			c.ApplicationType = "native"
			c.RedirectURIs = []string{"https://evil.example.net/cb"}
		}), "RedirectURIs"},
		{"bad app type", web(func(c *Config) { c.ApplicationType = "desktop" }), "ApplicationType"},
		{"key without kid", web(func(c *Config) { c.Keys = []*jwk.Key{mustKey(t, "")} }), "Keys"},
		{"duplicate kid", web(func(c *Config) { c.Keys = []*jwk.Key{mustKey(t, "a"), mustKey(t, "a")} }), "Keys"},
		{"jwks uri http", web(func(c *Config) { c.Keys = []*jwk.Key{mustKey(t, "a")}; c.JWKSURI = "http://x.example/jwks" }), "JWKSURI"},
		{"jwks uri public", web(func(c *Config) { c.JWKSURI = "https://x.example/jwks" }), "JWKSURI"},
		{"loopback localhost", Config{RedirectURIs: []string{"http://localhost:8080/cb"}}, "RedirectURIs"},
		{"loopback https", Config{RedirectURIs: []string{"https://127.0.0.1:8080/cb"}}, "RedirectURIs"},
		{"loopback other host", Config{RedirectURIs: []string{"http://192.168.1.2:8080/cb"}}, "RedirectURIs"},
		{"loopback with keys", Config{RedirectURIs: []string{"http://127.0.0.1:8080/cb"}, Keys: []*jwk.Key{mustKey(t, "a")}}, "Keys"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewClient(tt.cfg)
			var ce *ConfigError
			if !errors.As(err, &ce) || !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("err = %v, want a *ConfigError", err)
			}
			if ce.Field != tt.field {
				t.Errorf("field = %s, want %s (%v)", ce.Field, tt.field, err)
			}
		})
	}

	// Valid forms.
	for name, cfg := range map[string]Config{
		"web":          web(func(*Config) {}),
		"native":       web(func(c *Config) { c.ApplicationType = "native"; c.RedirectURIs = []string{"com.example.app:/callback"} }),
		"native https": web(func(c *Config) { c.ApplicationType = "native"; c.RedirectURIs = []string{"https://app.example.com/cb"} }),
		"confidential": web(func(c *Config) { c.Keys = []*jwk.Key{mustKey(t, "k1"), mustKey(t, "k0")} }),
		"loopback v6":  {RedirectURIs: []string{"http://[::1]:1234/cb"}},
	} {
		if _, err := NewClient(cfg); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestConfidentialMetadataAndJWKS(t *testing.T) {
	k1, k0 := mustKey(t, "2026-11"), mustKey(t, "2026-01")
	c, err := NewClient(Config{
		ClientID:     "https://app.example.com/oauth-client-metadata.json",
		RedirectURIs: []string{"https://app.example.com/callback"},
		Scope:        "atproto transition:generic atproto",
		ClientName:   "Example",
		Keys:         []*jwk.Key{k1, k0},
	})
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	c.MetadataHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/oauth-client-metadata.json", nil))
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("content type %q", ct)
	}
	var md map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &md); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]any{
		"client_id":                       "https://app.example.com/oauth-client-metadata.json",
		"application_type":                "web",
		"token_endpoint_auth_method":      "private_key_jwt",
		"token_endpoint_auth_signing_alg": "ES256",
		"dpop_bound_access_tokens":        true,
		"scope":                           "atproto transition:generic",
		"client_name":                     "Example",
	} {
		if md[k] != want {
			t.Errorf("%s = %v, want %v", k, md[k], want)
		}
	}
	keys := md["jwks"].(map[string]any)["keys"].([]any)
	if len(keys) != 2 || keys[0].(map[string]any)["kid"] != "2026-11" {
		t.Errorf("jwks = %v", keys)
	}
	body := rec.Body.String()
	for _, priv := range []*jwk.Key{k1, k0} {
		raw, _ := priv.MarshalPrivate()
		var m map[string]string
		_ = json.Unmarshal(raw, &m)
		if strings.Contains(body, m["d"]) {
			t.Fatal("private key material in the metadata document")
		}
	}
	if got := c.JWKS(); len(got.Keys) != 2 {
		t.Errorf("JWKS = %v", got)
	}
}

func TestParseCallback(t *testing.T) {
	if _, err := parseCallback(url.Values{"code": {"c"}}); !errors.Is(err, ErrInvalidState) {
		t.Errorf("missing state: %v", err)
	}
	if _, err := parseCallback(url.Values{"state": {"a", "b"}}); !errors.Is(err, ErrInvalidState) {
		t.Errorf("repeated state: %v", err)
	}
	var ce *CallbackError
	if _, err := parseCallback(url.Values{"error": {"access_denied"}}); !errors.As(err, &ce) || ce.Code != "access_denied" {
		t.Errorf("stateless error: %v", err)
	}
	p, err := parseCallback(url.Values{"state": {"s"}, "code": {"c"}, "iss": {"https://as.example"}})
	if err != nil || p.state != "s" || p.code != "c" || !p.hasIss {
		t.Errorf("good callback: %+v %v", p, err)
	}
}

func FuzzParseCallback(f *testing.F) {
	f.Add("state=abc&code=xyz&iss=https%3A%2F%2Fas.example")
	f.Add("error=access_denied&error_description=%00%1b[31mno&state=s")
	f.Add("state=a&state=b")
	f.Add("iss=&state=x")
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		p, err := parseCallback(q)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "atoauth: ") {
				t.Fatalf("error without package prefix: %v", err)
			}
			var ce *CallbackError
			if errors.As(err, &ce) {
				for _, r := range ce.Code + ce.Description {
					if r < 0x20 || r == 0x7f {
						t.Fatalf("control character in callback error: %q", ce.Error())
					}
				}
			}
			return
		}
		if p.state == "" || len(q["state"]) != 1 {
			t.Fatalf("accepted %q without exactly one state", raw)
		}
	})
}

func TestCleanText(t *testing.T) {
	if got := cleanText("a\x1b[31m\nb"); got != "a[31mb" {
		t.Errorf("cleanText = %q", got)
	}
	long := strings.Repeat("é", 400)
	if got := cleanText(long); len(got) > 310 || !strings.HasSuffix(got, "…") {
		t.Errorf("cleanText long: %d bytes", len(got))
	}
}

func TestValidateClientMetadata(t *testing.T) {
	c, err := NewClient(Config{
		ClientID:     "https://app.example.com/oauth-client-metadata.json",
		RedirectURIs: []string{"https://app.example.com/callback"},
		Scope:        "atproto transition:generic",
		Keys:         []*jwk.Key{mustKey(t, "k1")},
	})
	if err != nil {
		t.Fatal(err)
	}
	good := c.Metadata()
	if errs := ValidateClientMetadata(good.ClientID, &good, false); len(errs) != 0 {
		t.Fatalf("a generated document fails validation: %v", errs)
	}
	for name, tc := range map[string]struct {
		edit  func(*ClientMetadata)
		field string
	}{
		"client_id mismatch": {func(m *ClientMetadata) { m.ClientID = "https://other.example/m.json" }, "client_id"},
		"no dpop":            {func(m *ClientMetadata) { m.DPoPBoundAccessTokens = false }, "dpop_bound_access_tokens"},
		"no atproto":         {func(m *ClientMetadata) { m.Scope = "transition:generic" }, "scope"},
		"no code grant":      {func(m *ClientMetadata) { m.GrantTypes = []string{"refresh_token"} }, "grant_types"},
		"http redirect":      {func(m *ClientMetadata) { m.RedirectURIs = []string{"http://app.example.com/cb"} }, "redirect_uris"},
		"no jwks":            {func(m *ClientMetadata) { m.JWKS = nil }, "jwks"},
		"kid missing": {func(m *ClientMetadata) {
			keys := *m.JWKS
			keys.Keys = []jwk.PublicJWK{keys.Keys[0]}
			keys.Keys[0].Kid = ""
			m.JWKS = &keys
		}, "jwks"},
		"alg": {func(m *ClientMetadata) { m.TokenEndpointAuthSigningAlg = "RS256" }, "token_endpoint_auth_signing_alg"},
	} {
		t.Run(name, func(t *testing.T) {
			md := c.Metadata()
			tc.edit(&md)
			errs := ValidateClientMetadata("https://app.example.com/oauth-client-metadata.json", &md, false)
			found := false
			for _, err := range errs {
				var ce *ConfigError
				if errors.As(err, &ce) && ce.Field == tc.field {
					found = true
				}
			}
			if !found {
				t.Fatalf("no %s error in %v", tc.field, errs)
			}
		})
	}
}

// A Config does not silently ignore settings: with a Resolver of its own,
// PLCURL, HandleResolver and a different development switch are refused.
func TestConfigRefusesContradictions(t *testing.T) {
	base := func() Config {
		return Config{ClientID: "https://app.example.com/oauth-client-metadata.json", RedirectURIs: []string{"https://app.example.com/callback"}, Scope: "atproto"}
	}
	for name, mod := range map[string]func(*Config){
		"PLCURL": func(c *Config) { c.Resolver = &discovery.Resolver{}; c.PLCURL = "https://plc.example.com" },
		"HandleResolver": func(c *Config) {
			c.Resolver = &discovery.Resolver{}
			c.HandleResolver = "https://pds.example.com"
		},
		"dev switch": func(c *Config) { c.Resolver = &discovery.Resolver{}; c.AllowInsecureDevelopment = true },
	} {
		cfg := base()
		mod(&cfg)
		if _, err := NewClient(cfg); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%s beside a Resolver: %v, want ErrInvalidConfig", name, err)
		}
	}
	cfg := base()
	cfg.Resolver, cfg.AllowInsecureDevelopment = &discovery.Resolver{AllowInsecureDevelopment: true}, true
	if _, err := NewClient(cfg); err != nil {
		t.Fatalf("consistent settings: %v", err)
	}
}
