package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"

	"github.com/atoauth/atoauth"
)

// identity is what the upstream learns of a proxied request's person.
type identity struct {
	did, handle string
	act         Secret // "" when no act token was issued
}

type identityKey struct{}

func (g *Gateway) setUpstream(u *url.URL, rt http.RoundTripper) error {
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		return errors.New("gateway: Options.Upstream must be an http(s) URL without credentials")
	}
	if rt == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.ResponseHeaderTimeout = DefaultUpstreamHeaderTimeout
		rt = t
	}
	target := *u
	g.proxy = &httputil.ReverseProxy{
		Rewrite:   func(pr *httputil.ProxyRequest) { g.rewrite(&target, pr) },
		Transport: rt,
		ModifyResponse: func(resp *http.Response) error {
			// The upstream cannot set (or clear) the session layer's
			// cookies: no session fixation through a compromised upstream.
			g.cookies.filterSetCookie(resp.Header)
			return nil
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			if r.Context().Err() == nil {
				g.log.Warn("gateway: the upstream failed", "path", r.URL.Path, "error", err.Error())
			}
			secureHeaders(w)
			writeError(w, http.StatusBadGateway, "upstream_unavailable", "the application is not answering")
		},
		ErrorLog: slog.NewLogLogger(g.log.Handler(), slog.LevelWarn),
	}
	return nil
}

// rewrite prepares the request to the upstream: its own headers minus
// every incoming X-Atproto-* header, the session layer's cookies and
// (by default) Authorization; the identity of a signed-in person.
func (g *Gateway) rewrite(target *url.URL, pr *httputil.ProxyRequest) {
	pr.SetURL(target)
	pr.Out.Host = pr.In.Host
	if g.trustProxy {
		// ReverseProxy dropped the proxy's X-Forwarded-* from Out: keep
		// its chain and what it says of the original request.
		if xff := pr.In.Header.Values("X-Forwarded-For"); len(xff) > 0 {
			pr.Out.Header["X-Forwarded-For"] = append([]string(nil), xff...)
		}
	}
	pr.SetXForwarded()
	if g.trustProxy {
		for _, k := range []string{"X-Forwarded-Host", "X-Forwarded-Proto"} {
			if v := pr.In.Header.Get(k); v != "" {
				pr.Out.Header.Set(k, v)
			}
		}
	}
	stripIdentity(pr.Out.Header)
	if c := g.cookies.filterCookieHeader(pr.In.Header.Values("Cookie")); c != "" {
		pr.Out.Header.Set("Cookie", c)
	} else {
		pr.Out.Header.Del("Cookie")
	}
	if !g.forwardAuthz {
		pr.Out.Header.Del("Authorization")
	}
	if id, ok := pr.In.Context().Value(identityKey{}).(*identity); ok {
		pr.Out.Header.Set(HeaderDID, id.did)
		pr.Out.Header.Set(HeaderHandle, id.handle)
		if id.act != "" {
			pr.Out.Header.Set(HeaderAct, string(id.act))
		}
	}
}

// UpstreamHandler reverse-proxies a request to Options.Upstream (nil
// without one). For a signed-in browser the upstream receives
// X-Atproto-Did, X-Atproto-Handle and, with a Secret, X-Atproto-Act: an
// act token live until the upstream's answer is complete (or ActTTL).
// A cross-origin request with an unsafe method is proxied as anonymous,
// as is any request without a session. The upstream never receives an
// incoming X-Atproto-* header or the session layer's cookies, and cannot
// set those cookies.
func (g *Gateway) UpstreamHandler() http.Handler {
	if g.proxy == nil {
		return nil
	}
	return g.route("upstream", noAbort(func(w http.ResponseWriter, r *http.Request) {
		if !g.unsafeCrossOrigin(r, r.Method) {
			sess, _, err := g.lookup(r)
			switch {
			case err == nil:
				id := &identity{did: sess.DID().String(), handle: sess.Handle().String()}
				if g.acts != nil {
					tok, revoke, err := g.acts.issue(sess)
					if err != nil {
						g.log.Warn("gateway: no act token for this request", "error", err.Error())
					} else {
						id.act = tok
						defer revoke()
					}
				}
				r = r.WithContext(context.WithValue(r.Context(), identityKey{}, id))
			case !errors.Is(err, ErrNotSignedIn):
				g.log.Warn("gateway: the session layer failed; proxying as anonymous", "error", err.Error())
			}
		}
		g.proxy.ServeHTTP(w, r)
	}))
}

// CheckHandler answers forward-auth requests of a reverse proxy (nginx
// auth_request, Caddy forward_auth, Traefik ForwardAuth), whatever their
// method: 200 with X-Atproto-Did, X-Atproto-Handle and (with a Secret)
// X-Atproto-Act for a request carrying a signed-in session; 401
// otherwise, or with the query "optional=1", 200 without those headers.
// An act token issued here cannot be revoked when the request ends (the
// gateway does not see it): it lives ActTTL. An unsafe cross-origin
// original request counts as anonymous; behind a trusted proxy its
// method is X-Forwarded-Method (Caddy, Traefik) or X-Original-Method
// (nginx), its host X-Forwarded-Host.
func (g *Gateway) CheckHandler() http.Handler {
	return g.route("auth_check", noAbort(func(w http.ResponseWriter, r *http.Request) {
		secureHeaders(w)
		optional := r.URL.Query().Get("optional") == "1"
		anonymous := func() {
			if optional {
				w.WriteHeader(http.StatusOK)
				return
			}
			writeError(w, http.StatusUnauthorized, "not_signed_in", "sign in first")
		}
		if g.unsafeCrossOrigin(r, g.originalMethod(r)) {
			anonymous()
			return
		}
		sess, _, err := g.lookup(r)
		switch {
		case errors.Is(err, ErrNotSignedIn):
			anonymous()
			return
		case err != nil:
			g.log.Warn("gateway: the session layer failed", "error", err.Error())
			writeError(w, http.StatusServiceUnavailable, "session_unavailable", "sessions cannot be read right now; try again")
			return
		}
		w.Header().Set(HeaderDID, sess.DID().String())
		w.Header().Set(HeaderHandle, sess.Handle().String())
		if g.acts != nil {
			if tok, _, err := g.acts.issue(sess); err != nil {
				g.log.Warn("gateway: no act token for this request", "error", err.Error())
			} else {
				w.Header().Set(HeaderAct, string(tok))
			}
		}
		w.WriteHeader(http.StatusOK)
	}))
}

// originalMethod is the method of the request a forward-auth request
// asks about.
func (g *Gateway) originalMethod(r *http.Request) string {
	if g.trustProxy {
		for _, k := range []string{"X-Forwarded-Method", "X-Original-Method"} {
			if m := strings.TrimSpace(r.Header.Get(k)); m != "" && isToken(m) {
				return strings.ToUpper(m)
			}
		}
	}
	return r.Method
}

// isToken tells whether s is an HTTP method token (RFC 9110 §5.6.2).
func isToken(s string) bool {
	if len(s) > 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}

// InternalHandler serves the upstream's calls on a private listener (nil
// without Options.Secret): /xrpc/{nsid} (GET query, POST procedure) and
// GET /api/session, each with "Authorization: Bearer <Secret>" and
// "X-Atproto-Act: <act token>". The call goes through the act token's
// session, with the caps, pre-check and routing of the browser's
// /xrpc/, and counts against the token's ActMaxCalls. An optional
// X-Atproto-Did must name the token's account. Wrong secret: 401; an act
// token unknown, revoked, expired, used up or of another account: 403.
func (g *Gateway) InternalHandler() http.Handler {
	if g.acts == nil {
		return nil
	}
	return g.route("act", func(w http.ResponseWriter, r *http.Request) bool {
		secureHeaders(w)
		if !g.secretMatches(r.Header.Values("Authorization")) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="atoauth-gateway"`)
			writeError(w, http.StatusUnauthorized, "unauthorized", "Authorization: Bearer <the gateway's shared secret> is required")
			return false
		}
		var nsid string
		info := r.URL.Path == PathSession
		if info {
			if r.Method != http.MethodGet && r.Method != http.MethodHead {
				methodNotAllowed(w, "GET, HEAD")
				return false
			}
		} else {
			var ok bool
			if nsid, ok = nsidFromPath(r.URL.Path); !ok {
				writeError(w, http.StatusNotFound, "invalid_nsid", "the path is neither "+PathSession+" nor /xrpc/ followed by a valid NSID")
				return false
			}
			if r.Method != http.MethodGet && r.Method != http.MethodPost {
				methodNotAllowed(w, "GET, POST")
				return false
			}
		}
		sess, err := g.actSession(r, !info)
		if err != nil {
			g.log.Info("gateway: act token refused", "reason", err.Error())
			writeError(w, http.StatusForbidden, "act_token_invalid", err.Error())
			return false
		}
		if info {
			writeJSON(w, http.StatusOK, sessionInfo(sess, ""))
			return false
		}
		return g.passthrough(w, r, sess, nsid)
	})
}

// secretMatches checks "Authorization: Bearer <secret>" (exactly one
// header) in constant time.
func (g *Gateway) secretMatches(values []string) bool {
	if len(values) != 1 {
		return false
	}
	tok, ok := parseBearer(values[0])
	sum := sumSecret(tok)
	return subtleEqual(sum[:], g.secretSum[:]) && ok
}

// actSession returns the live session of the request's act token.
func (g *Gateway) actSession(r *http.Request, count bool) (*atoauth.Session, error) {
	vs := r.Header.Values(HeaderAct)
	if len(vs) != 1 {
		return nil, errors.New("exactly one " + HeaderAct + " header is required")
	}
	tok, ok := parseActToken(vs[0])
	if !ok {
		return nil, errors.New("the " + HeaderAct + " header is not an act token")
	}
	sess, err := g.acts.use(tok, count)
	switch {
	case errors.Is(err, errActUnknown):
		return nil, errors.New("the act token is unknown, revoked or expired: it is live only while the request it came with is")
	case errors.Is(err, errActExhausted):
		return nil, fmt.Errorf("the act token has been used for its %d calls", g.acts.maxCalls)
	case err != nil:
		return nil, err
	}
	if did := r.Header.Values(HeaderDID); len(did) > 0 && (len(did) != 1 || did[0] != sess.DID().String()) {
		return nil, errors.New("the act token belongs to another account than " + HeaderDID + " names")
	}
	return sess, nil
}
