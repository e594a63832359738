package dpop_test

import (
	"net/http"
	"net/url"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/atoauth/atoauth/dpop"
)

func FuzzParseWWWAuthenticate(f *testing.F) {
	for _, s := range []string{
		`DPoP error="use_dpop_nonce", error_description="Resource server requires nonce in DPoP proof"`,
		`Bearer realm="example", DPoP algs="ES256 PS256"`,
		`Basic realm="a \"q\" \\ b", charset=UTF-8`,
		`Negotiate a87421000492aa874209af8bc028==, Basic realm=x`,
		`A, B, C x=y`, `DPoP error=`, `,,,`, `DPoP error="unterminated`, "x=\"\x01\"",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, header string) {
		cs, err := dpop.ParseWWWAuthenticate(header)
		for _, c := range cs {
			if c.Scheme == "" || strings.ContainsAny(c.Scheme, " \t,=\"") {
				t.Fatalf("bad scheme %q", c.Scheme)
			}
			if c.Token68 != "" && c.Params != nil {
				t.Fatal("both token68 and params")
			}
			for k := range c.Params {
				if k == "" || k != strings.ToLower(k) {
					t.Fatalf("bad param name %q", k)
				}
			}
		}
		// Used on every 401 by Transport: must not panic either.
		resp := &http.Response{StatusCode: 401, Header: http.Header{"Www-Authenticate": {header}}}
		_ = dpop.IsNonceChallenge(resp, nil)
		if err != nil {
			return
		}
		// Serialising the result and parsing it again gives the same challenges.
		again, err := dpop.ParseWWWAuthenticate(serialize(cs))
		if err != nil || !reflect.DeepEqual(again, cs) {
			t.Fatalf("round trip of %q via %q: %#v, %v; want %#v", header, serialize(cs), again, err, cs)
		}
	})
}

func serialize(cs []dpop.Challenge) string {
	var parts []string
	for _, c := range cs {
		s := c.Scheme
		if c.Token68 != "" {
			s += " " + c.Token68
		}
		var ps []string
		for k, v := range c.Params {
			ps = append(ps, k+`="`+strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(v)+`"`)
		}
		if len(ps) > 0 {
			s += " " + strings.Join(ps, ", ")
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, ", ")
}

func FuzzNonceCacheSet(f *testing.F) {
	// An independent statement of 1*NQCHAR (RFC 6749 Appendix A).
	nqchars := regexp.MustCompile(`^[\x21\x23-\x5B\x5D-\x7E]+$`)
	for _, s := range []string{"abc", "", "a b", `a"b`, `a\b`, "é", strings.Repeat("x", 1025), "eyJ7S_zG.eyJH0-Z.HX4w-7v"} {
		f.Add("https://pds.example", s)
	}
	f.Fuzz(func(t *testing.T, origin, nonce string) {
		var c dpop.NonceCache
		c.Set(origin, "initial")
		c.Set(origin, nonce)
		got := c.Get(origin)
		switch {
		case origin == "":
			if got != "" {
				t.Fatalf("stored under empty origin: %q", got)
			}
		case nqchars.MatchString(nonce) && len(nonce) <= 1024:
			if got != nonce {
				t.Fatalf("valid nonce %q not stored (got %q)", nonce, got)
			}
		default:
			if got != "initial" {
				t.Fatalf("invalid nonce %q stored", nonce)
			}
		}
	})
}

func FuzzHTU(f *testing.F) {
	for _, s := range []string{
		"https://pds.example.com/xrpc/x?y=1#z", "HTTP://A:80", "https://[::1]:443/", "http://[fe80::1%25en0]:8080/p",
		"https://u:p@h/%2F?q", "ftp://x", "https:opaque", "https://h:0443", "https://%C3%A9/",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		htu, err := dpop.HTU(raw)
		if err != nil {
			return
		}
		if strings.ContainsAny(htu, "?#") {
			t.Fatalf("HTU(%q) = %q keeps query or fragment", raw, htu)
		}
		u, err := url.Parse(htu)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
			t.Fatalf("HTU(%q) = %q: not a clean absolute URL (%v)", raw, htu, err)
		}
		again, err := dpop.HTU(htu)
		if err != nil || again != htu {
			t.Fatalf("HTU not idempotent: %q → %q → %q (%v)", raw, htu, again, err)
		}
		if o := dpop.Origin(u); o == "" || !strings.HasPrefix(htu, o+"/") {
			t.Fatalf("Origin %q is not a prefix of %q", o, htu)
		}
	})
}
