package atoauthhttp_test

import (
	"net/url"
	"strings"
	"testing"

	"github.com/atoauth/atoauth/atoauthhttp"
)

func TestSafeReturn(t *testing.T) {
	for in, want := range map[string]string{
		"/":                           "/",
		"/profile":                    "/profile",
		"/records/app.bsky.feed.post": "/records/app.bsky.feed.post",
		"/records/app.bsky.feed.post?cursor=3l2k&x=1": "/records/app.bsky.feed.post?cursor=3l2k&x=1",
		"/records/com.example.note/a:b~c":             "/records/com.example.note/a:b~c",
		"/records/":                                   "/records/",
		"/profile#top":                                "/profile",
		// Another origin, however written.
		"":                         "/",
		"//evil.com":               "/",
		"//evil.com/profile":       "/",
		"///evil.com":              "/",
		"/\\evil.com":              "/",
		"\\\\evil.com":             "/",
		"/x\\evil":                 "/",
		"https://evil.com":         "/",
		"https://evil.com/profile": "/",
		"http:evil.com":            "/",
		"evil.com":                 "/",
		"profile":                  "/",
		"javascript:alert(1)":      "/",
		"JaVaScRiPt:alert(1)":      "/",
		"data:text/html,<script>alert(1)</script>": "/",
		"/%2F%2Fevil.com":                          "/",
		"/%2f%2fevil.com":                          "/",
		"/%5Cevil.com":                             "/",
		"/%5cevil.com":                             "/",
		"/%2e%2e//evil.com":                        "/",
		"/..//evil.com":                            "/",
		"/../evil.com":                             "/",
		"/./profile":                               "/",
		"/profile/..":                              "/",
		"/a//b":                                    "/",
		"/\t/evil.com":                             "/",
		"/\n/evil.com":                             "/",
		"/pro\tfile":                               "/",
		"/pro\nfile":                               "/",
		"/pro\rfile":                               "/",
		"/pro\x00file":                             "/",
		"/pro\x7ffile":                             "/",
		"/pro file":                                "/",
		"/profil\u00e9":                            "/",
		"/\u2215\u2215evil.com":                    "/", // division slashes
		"/%0d%0aSet-Cookie:x=y":                    "/",
		"/%00":                                     "/",
		"/a%20b":                                   "/a%20b",
		" /profile":                                "/",
		"/profile\"onmouseover=alert(1)":           "/",
		"/<script>":                                "/",
		"/" + strings.Repeat("a", 600):             "/",
		"/%zz":                                     "/",
	} {
		if got := atoauthhttp.SafeReturn(in); got != want {
			t.Errorf("atoauthhttp.SafeReturn(%q) = %q, want %q", in, got, want)
		}
	}
}

// checkReturn asserts the properties every safeReturn result has: a path
// of this origin, whatever a browser does with it.
func checkReturn(t *testing.T, in, got string) {
	t.Helper()
	if got == "/" {
		return
	}
	if !strings.HasPrefix(got, "/") || strings.HasPrefix(got, "//") || strings.HasPrefix(got, "/\\") || len(got) > atoauthhttp.MaxReturnPath {
		t.Fatalf("atoauthhttp.SafeReturn(%q) = %q: not a single-slash path", in, got)
	}
	for i := 0; i < len(got); i++ {
		if c := got[i]; c <= ' ' || c >= 0x7f || c == '\\' {
			t.Fatalf("atoauthhttp.SafeReturn(%q) = %q: byte %#x", in, got, c)
		}
	}
	base, _ := url.Parse("https://app.example/some/page")
	ref, err := url.Parse(got)
	if err != nil {
		t.Fatalf("atoauthhttp.SafeReturn(%q) = %q does not parse: %v", in, got, err)
	}
	u := base.ResolveReference(ref)
	if u.Host != "app.example" || u.Scheme != "https" || u.User != nil {
		t.Fatalf("atoauthhttp.SafeReturn(%q) = %q resolves to %s", in, got, u)
	}
	// As a browser would read it again after decoding once.
	dec, err := url.PathUnescape(u.EscapedPath())
	if err != nil || strings.HasPrefix(dec, "//") || strings.Contains(dec, "\\") || strings.Contains(dec, "/../") || strings.HasSuffix(dec, "/..") {
		t.Fatalf("atoauthhttp.SafeReturn(%q) = %q decodes to %q", in, got, dec)
	}
	if atoauthhttp.SafeReturn(got) != got {
		t.Fatalf("atoauthhttp.SafeReturn(%q) = %q is not stable", in, got)
	}
}

func FuzzSafeReturn(f *testing.F) {
	for _, s := range []string{"/", "/profile", "/records/app.bsky.feed.post?cursor=x", "//evil.com", "/\\evil.com", "https://evil.com",
		"/%2F%2Fevil.com", "javascript:alert(1)", "/\t/evil.com", "/..//evil.com", "/%2e%2e/x", "/a?b=//evil.com", "/a#//evil.com"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		checkReturn(t, in, atoauthhttp.SafeReturn(in))
	})
}
