package serve

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"

	"github.com/atoauth/atoauth"
	"github.com/atoauth/atoauth/atoauthhttp"
	"github.com/atoauth/atoauth/internal/cli/cmdutil"
	"github.com/atoauth/atoauth/internal/gateway"
	"github.com/atoauth/atoauth/internal/metrics"
	"github.com/atoauth/atoauth/internal/web"
)

// DefaultInternalAddr is where the gateway's internal listener (the
// upstream's calls with act tokens) listens unless --internal-addr says.
const DefaultInternalAddr = "127.0.0.1:8081"

// gatewayMaxAccounts is how many accounts one browser may be signed in
// to through the gateway (the app switches with POST /auth/switch).
const gatewayMaxAccounts = 5

// validateGateway checks the gateway's options (usage errors).
func (o *Options) validateGateway() error {
	if !o.Gateway {
		if o.Upstream != "" {
			return cmdutil.Usagef("serve: --upstream needs --gateway")
		}
		return nil
	}
	if o.Upstream != "" {
		u, err := url.Parse(o.Upstream)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
			return cmdutil.Usagef("serve: --upstream %q must be an http(s) URL of the application, such as http://127.0.0.1:3000", o.Upstream)
		}
	}
	return nil
}

// gatewaySecret reads ATOAUTH_GATEWAY_SECRET: the shared secret of the
// internal listener, never a flag (argv is public).
func gatewaySecret(getenv func(string) string) (gateway.Secret, error) {
	raw := getenv("ATOAUTH_GATEWAY_SECRET")
	if raw == "" {
		return "", nil
	}
	s, err := gateway.ParseSecret(raw)
	if err != nil {
		return "", cmdutil.Usagef("serve: ATOAUTH_GATEWAY_SECRET: %w (make one with: openssl rand -base64 32)", err)
	}
	return s, nil
}

// gatewayHandler builds `atoauth serve --gateway`: atoauthhttp's sign-in
// routes under /auth/ and at the callback, the client's metadata
// documents, and the gateway (the browser API /api/session and /xrpc/,
// forward-auth /auth/check, everything else to the upstream). The
// internal handler, nil without a secret, is for the private listener.
func (o *Options) gatewayHandler(client *atoauth.Client, confidential bool, m *metrics.Metrics, logger *slog.Logger, appView string) (public, internal http.Handler, err error) {
	ao := &atoauthhttp.Options{
		PublicURL: o.PublicURL, TrustProxy: o.TrustProxy, SignInScope: o.SignInScope,
		MaxAccounts: gatewayMaxAccounts, Logger: logger,
	}
	// No CanonicalHost: for the loopback client, atoauthhttp takes the
	// port the request came to (with --trust-proxy, X-Forwarded-Host's),
	// so that the gateway also works behind a reverse proxy on another
	// port (forward-auth).
	auth, err := atoauthhttp.New(client, ao)
	if err != nil {
		return nil, nil, err
	}
	gopts := gateway.Options{
		Sessions:   sessionsOf(auth),
		Logger:     logger,
		Metrics:    m,
		TrustProxy: o.TrustProxy,
		Secret:     o.GatewaySecret,
	}
	if o.PublicURL != "" {
		origin, err := web.PublicOrigin(o.PublicURL, true)
		if err != nil {
			return nil, nil, err
		}
		gopts.TrustedOrigins = []string{origin}
	}
	if appView != "" {
		gopts.Services = map[string]string{"app.bsky.": appView}
	}
	if o.Upstream != "" {
		if gopts.Upstream, err = url.Parse(o.Upstream); err != nil {
			return nil, nil, err
		}
	}
	gw, err := gateway.New(gopts)
	if err != nil {
		return nil, nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("/auth/", auth.Handler())
	for _, r := range client.Metadata().RedirectURIs {
		if u, err := url.Parse(r); err == nil && u.Path != "" && u.Path != "/" {
			mux.Handle(u.Path, auth.Handler())
		}
	}
	mux.Handle(gateway.PathCheck, gw.CheckHandler()) // more specific than /auth/
	mux.Handle("GET "+web.MetadataPath, client.MetadataHandler())
	if confidential {
		mux.Handle("GET "+web.JWKSPath, client.JWKSHandler())
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, "ok\n")
	})
	mux.Handle("/", gw.Handler())
	if ih := gw.InternalHandler(); ih != nil {
		internal = ih
	}
	return mux, internal, nil
}

// sessionsOf adapts atoauthhttp's session lookup to the gateway's
// interface.
func sessionsOf(auth *atoauthhttp.Auth) gateway.Sessions {
	return gateway.SessionsFunc(func(r *http.Request) (*atoauth.Session, string, error) {
		sess, csrf, err := auth.Session(r)
		var ae *atoauthhttp.Error
		if errors.As(err, &ae) && ae.Code == atoauthhttp.CodeNotSignedIn {
			return nil, "", fmt.Errorf("%w: %w", gateway.ErrNotSignedIn, err)
		}
		return sess, csrf, err
	})
}

// loopbackAddr tells whether a listen address is on a loopback interface
// (the internal listener should be).
func loopbackAddr(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}
