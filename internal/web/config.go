package web

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"

	"github.com/atoauth/atoauth"
	"github.com/atoauth/atoauth/jwk"
)

// Paths the app serves for a hosted (web) client.
const (
	// MetadataPath is where the client metadata document is served; a web
	// client's client_id is PublicURL + MetadataPath.
	MetadataPath = "/oauth-client-metadata.json"
	// JWKSPath is where a confidential client's public keys are served
	// (its jwks_uri).
	JWKSPath = "/oauth/jwks.json"
	// WebCallbackPath is the redirect URI path of a web client.
	WebCallbackPath = "/oauth/callback"
	// LoopbackCallbackPath is the redirect URI path of the loopback
	// development client: the path of atoauth.LoopbackRedirectURI.
	LoopbackCallbackPath = "/callback"
)

// ClientOptions describes the OAuth client the app runs as; ClientConfig
// turns them into an atoauth.Config.
type ClientOptions struct {
	// PublicURL is the origin the app is reached at, such as
	// "https://app.example.com" (no path). It makes the app a web client
	// whose client_id is PublicURL + MetadataPath, served by the app. ""
	// makes it a loopback development client that needs no hosting.
	PublicURL string
	// Port is the listening port of a loopback client. Its client_id
	// registers http://127.0.0.1/callback without a port; each login
	// redirects to http://127.0.0.1:<Port>/callback (the app's
	// CanonicalHost). Ignored with PublicURL.
	Port int
	// KeyFiles are private ES256 JWK files with a "kid" (atoauth keygen
	// writes them). They make the web client confidential
	// (private_key_jwt). List the newest first: new sessions are bound to
	// the first key, existing sessions keep the key they were created with
	// for as long as it is listed.
	KeyFiles []string
	// Scope is every scope the app may ask for (default
	// "atproto transition:generic").
	Scope string
	// ClientName is shown on the consent screen (default "atoauth").
	ClientName string
	// PLCURL, HandleResolver and InsecureDev are copied to the Config
	// (PLCURL, HandleResolver, AllowInsecureDevelopment). InsecureDev also
	// allows an http PublicURL, for development networks.
	PLCURL         string
	HandleResolver string
	InsecureDev    bool
}

// DefaultScope is the scope the app asks for unless told otherwise.
const DefaultScope = "atproto transition:generic"

// ClientConfig builds the client configuration of the app: a loopback
// development client without PublicURL, a public web client with it, and
// a confidential web client with PublicURL and KeyFiles. The caller sets
// Store and Logger on the result and passes it to atoauth.NewClient; the
// app (New with Options.PublicURL) then serves the metadata document and
// the JWKS at the URLs the Config names. Errors never contain key
// material.
func ClientConfig(o ClientOptions) (atoauth.Config, error) {
	scope := o.Scope
	if scope == "" {
		scope = DefaultScope
	}
	name := o.ClientName
	if name == "" {
		name = "atoauth"
	}
	var cfg atoauth.Config
	if o.PublicURL == "" {
		if len(o.KeyFiles) > 0 {
			return cfg, errors.New("web: a client key needs a public URL (--public-url): the loopback development client is always public")
		}
		if o.Port <= 0 || o.Port > 65535 {
			return cfg, fmt.Errorf("web: the loopback development client needs the listening port, not %d", o.Port)
		}
		// The redirect URI is registered without its port (RFC 8252 §7.3):
		// the client_id then stays the same whatever port serves it, so
		// sessions survive a restart on another port and are shared by
		// instances on different ports, and with the atoauth command's
		// sessions of the same scope. Logins name the real port.
		cfg = atoauth.LoopbackConfig(scope)
	} else {
		origin, err := PublicOrigin(o.PublicURL, o.InsecureDev)
		if err != nil {
			return cfg, err
		}
		cfg = atoauth.Config{
			ClientID:     origin + MetadataPath,
			RedirectURIs: []string{origin + WebCallbackPath},
			Scope:        scope,
			ClientName:   name,
			ClientURI:    origin,
		}
		for _, f := range o.KeyFiles {
			k, err := LoadKey(f)
			if err != nil {
				return atoauth.Config{}, err
			}
			cfg.Keys = append(cfg.Keys, k)
		}
		if len(cfg.Keys) > 0 {
			cfg.JWKSURI = origin + JWKSPath
		}
	}
	cfg.PLCURL = o.PLCURL
	cfg.HandleResolver = o.HandleResolver
	cfg.AllowInsecureDevelopment = o.InsecureDev
	return cfg, nil
}

// PublicOrigin checks a public URL and returns it as an origin
// ("https://app.example.com"). It must be https (http only with
// insecureDev), with a host, and without a path, query, fragment or
// credentials.
func PublicOrigin(raw string, insecureDev bool) (string, error) {
	u, err := url.Parse(strings.TrimSuffix(strings.TrimSpace(raw), "/"))
	bad := func(why string) (string, error) {
		return "", fmt.Errorf("web: public URL %q %s; give the origin the app is reached at, such as https://app.example.com", raw, why)
	}
	switch {
	case err != nil || u.Host == "":
		return bad("is not an absolute URL")
	case u.Scheme != "https" && !(insecureDev && u.Scheme == "http"):
		return bad("must use https (http only for development, with --insecure-dev)")
	case u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.ForceQuery:
		return bad("must not have credentials, a query or a fragment")
	case u.Path != "" || u.RawPath != "":
		return bad("must not have a path (the app is served at the root of its host)")
	}
	return u.Scheme + "://" + strings.ToLower(u.Host), nil
}

// LoadKey reads a private ES256 JWK with a key id from path.
func LoadKey(path string) (*jwk.Key, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("web: client key: %w", err)
	}
	defer clear(data)
	k, err := jwk.Parse(data)
	if err != nil {
		return nil, fmt.Errorf("web: client key %s: %w", path, err)
	}
	if k.KeyID() == "" {
		return nil, fmt.Errorf("web: client key %s has no key id (\"kid\"); create keys with `atoauth keygen`", path)
	}
	return k, nil
}
