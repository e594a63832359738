package atoauth

import (
	"fmt"
	"net/url"
)

// LoopbackRedirectURI is the redirect URI of the loopback development
// client of LoopbackConfig. It names no port: see LoopbackConfig.
const LoopbackRedirectURI = "http://127.0.0.1/callback"

// LoopbackConfig returns the Config of a loopback development client
// (atproto OAuth spec, "Localhost Client Development") that declares scope
// ("atproto" when empty). Such a client needs no hosting: its client_id,
// http://localhost?redirect_uri=http%3A%2F%2F127.0.0.1%2Fcallback&scope=…,
// carries its redirect URI (LoopbackRedirectURI) and its scope. The
// authorization server treats it as a public native client, so its
// sessions are short.
//
// The redirect URI is registered without a port, because a loopback
// redirect matches whatever its port (RFC 8252 §7.3): each login listens
// on any free port of 127.0.0.1 and names it in StartOptions.RedirectURI,
// http://127.0.0.1:<port>/callback (without it the browser is sent to
// port 80). The client_id, which every session is bound to (see
// ErrOtherClient), so stays the same across logins, restarts and
// programs: the atoauth command and its web app share the sessions of a
// scope. ParseLoopbackClientID is the inverse.
//
// Set Store, Logger and the other fields of the result as needed.
func LoopbackConfig(scope string) Config {
	return Config{RedirectURIs: []string{LoopbackRedirectURI}, Scope: scope}
}

// ParseLoopbackClientID returns the Config of the loopback development
// client whose client_id is clientID (its redirect URIs and scope): the
// inverse of LoopbackConfig, and of any loopback Config. A Client made
// from it (with a Store and the rest set as needed) has exactly that
// client_id, so it can use the sessions made with it (see
// SessionData.ClientID).
//
// It fails, with a *ConfigError, for a client_id that is not a loopback
// one, and for one that NewClient would not write that way (parameters
// in another order or encoding, unknown parameters, no redirect_uri): no
// Client of this package has that client_id.
func ParseLoopbackClientID(clientID string) (Config, error) {
	bad := func(format string, args ...any) (Config, error) {
		return Config{}, &ConfigError{Field: "ClientID", Reason: fmt.Sprintf("%q: ", cleanText(clientID)) + fmt.Sprintf(format, args...)}
	}
	u, err := url.Parse(clientID)
	if err != nil || u.Scheme != "http" || u.Host != "localhost" || u.User != nil || u.Path != "" || u.Fragment != "" {
		return bad("not a loopback client_id (%s?redirect_uri=…&scope=…)", LoopbackClientID)
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return bad("the query does not parse: %v", err)
	}
	for k := range q {
		if k != "redirect_uri" && k != "scope" {
			return bad("unknown parameter %q", cleanText(k))
		}
	}
	if len(q["scope"]) > 1 {
		return bad("scope is given more than once")
	}
	if len(q["redirect_uri"]) == 0 {
		return bad("no redirect_uri")
	}
	cfg := Config{RedirectURIs: q["redirect_uri"], Scope: q.Get("scope")}
	probe := cfg
	md, err := buildMetadata(&probe)
	if err != nil {
		return Config{}, err
	}
	if md.ClientID != clientID {
		return bad("not written the way this package writes it (%s)", md.ClientID)
	}
	return cfg, nil
}
