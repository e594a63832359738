// Package httpx holds the small request helpers that atoauthhttp, the web
// app and the gateway share: which host the browser asked for, which
// address it comes from (behind a trusted reverse proxy or not), the key
// of an address for per-client limits, and the cleaning of what people
// type as an account identifier.
package httpx

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"
)

// RequestHost is the host the browser asked for: the request's Host, or
// when trustProxy the first X-Forwarded-Host of the reverse proxy in
// front.
func RequestHost(r *http.Request, trustProxy bool) string {
	if trustProxy {
		if fh := r.Header.Get("X-Forwarded-Host"); fh != "" {
			return strings.TrimSpace(strings.Split(fh, ",")[0])
		}
	}
	return r.Host
}

// ClientAddr is the browser's IP address: the connection's peer, or when
// trustProxy the address the proxy appended last to X-Forwarded-For (one
// trusted hop: earlier entries are the client's to forge).
func ClientAddr(r *http.Request, trustProxy bool) string {
	if trustProxy {
		if vs := r.Header.Values("X-Forwarded-For"); len(vs) > 0 {
			parts := strings.Split(vs[len(vs)-1], ",")
			if ip := net.ParseIP(strings.TrimSpace(parts[len(parts)-1])); ip != nil {
				return ip.String()
			}
		}
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// LimitKey is the key of a client address for per-client limits: the
// address, or for IPv6 its /64, which one subscriber usually holds whole.
func LimitKey(addr string) string {
	ip, err := netip.ParseAddr(addr)
	if err != nil || ip.Is4() || ip.Is4In6() {
		return addr
	}
	p, err := ip.Prefix(64)
	if err != nil {
		return addr
	}
	return p.String()
}

// NormalizeIdentifier trims what people paste as a handle, DID or server
// address: spaces, a leading "@"; and cuts it to 512 bytes.
func NormalizeIdentifier(s string) string {
	s = strings.TrimSpace(s)
	s = strings.TrimPrefix(s, "@")
	if len(s) > 512 {
		s = s[:512]
	}
	return s
}

// SetCookie sets a cookie as atoauthhttp and the web app set theirs:
// HttpOnly, SameSite=Lax (sent on a top-level navigation from another
// site, as the authorization server's redirect to the callback is),
// Path=/, Secure when secure. A negative maxAge deletes the cookie, zero
// makes it last the browser session, and a positive one is rounded down
// to whole seconds, at least 1.
func SetCookie(w http.ResponseWriter, name, value string, maxAge time.Duration, secure bool) {
	c := &http.Cookie{Name: name, Value: value, Path: "/", HttpOnly: true, Secure: secure, SameSite: http.SameSiteLaxMode}
	switch {
	case maxAge < 0:
		c.MaxAge = -1
	case maxAge > 0:
		c.MaxAge = max(1, int(maxAge/time.Second))
	}
	http.SetCookie(w, c)
}

// CookieValue is the value of the request's cookie name, "" without one.
func CookieValue(r *http.Request, name string) string {
	c, err := r.Cookie(name)
	if err != nil {
		return ""
	}
	return c.Value
}
