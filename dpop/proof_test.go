package dpop_test

import (
	"crypto"
	"crypto/sha256"
	"errors"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/atoauth/atoauth/dpop"
)

const cryptoSHA256 = crypto.SHA256

func TestNewProof(t *testing.T) {
	key := newKey(t).WithKeyID("kid-must-not-appear")
	now := time.Unix(1_700_000_000, 0)
	raw, err := dpop.NewProof(key, "POST", "https://PDS.example.com:443/xrpc/com.atproto.repo.createRecord?repo=did:plc:x#frag",
		dpop.ProofOptions{Nonce: "n0nce-1", AccessToken: "at.token.value", Now: now})
	if err != nil {
		t.Fatal(err)
	}
	p, err := verifyProof(raw)
	if err != nil {
		t.Fatal(err)
	}
	if p.JKT != key.Thumbprint() {
		t.Errorf("embedded key thumbprint %s, want %s", p.JKT, key.Thumbprint())
	}
	sum := sha256.Sum256([]byte("at.token.value"))
	want := map[string]any{
		"htm":   "POST",
		"htu":   "https://pds.example.com/xrpc/com.atproto.repo.createRecord",
		"iat":   float64(now.Unix()),
		"nonce": "n0nce-1",
		"ath":   b64.EncodeToString(sum[:]),
	}
	for k, v := range want {
		if p.Claims[k] != v {
			t.Errorf("claim %s = %v, want %v", k, p.Claims[k], v)
		}
	}
	if len(p.Claims) != 6 {
		t.Errorf("claims %v", p.Claims)
	}
	if strings.Contains(raw, "kid") {
		t.Error("proof mentions kid")
	}
}

func TestNewProofMinimal(t *testing.T) {
	key := newKey(t)
	before := time.Now().Unix()
	raw, err := dpop.NewProof(key, "GET", "http://127.0.0.1:8080", dpop.ProofOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p, err := verifyProof(raw)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []string{"nonce", "ath", "iss"} {
		if _, ok := p.Claims[c]; ok {
			t.Errorf("unexpected claim %s", c)
		}
	}
	if p.str("htu") != "http://127.0.0.1:8080/" {
		t.Errorf("htu %q", p.str("htu"))
	}
	if iat := int64(p.Claims["iat"].(float64)); iat < before || iat > time.Now().Unix() {
		t.Errorf("iat %d not now", iat)
	}
}

func TestNewProofUniqueJTI(t *testing.T) {
	key := newKey(t)
	var mu sync.Mutex
	seen := make(map[string]bool)
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 250 {
				raw, err := dpop.NewProof(key, "GET", "https://a.example/", dpop.ProofOptions{})
				if err != nil {
					t.Error(err)
					return
				}
				p, err := verifyProof(raw)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				if seen[p.str("jti")] {
					t.Errorf("duplicate jti %s", p.str("jti"))
				}
				seen[p.str("jti")] = true
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
}

func TestNewProofErrors(t *testing.T) {
	key := newKey(t)
	tests := []struct {
		name, method, url string
		opts              dpop.ProofOptions
		want              error
	}{
		{"no key", "GET", "https://a/", dpop.ProofOptions{}, dpop.ErrNoKey},
		{"empty method", "", "https://a/", dpop.ProofOptions{}, dpop.ErrInvalidMethod},
		{"bad method", "GE T", "https://a/", dpop.ProofOptions{}, dpop.ErrInvalidMethod},
		{"ftp", "GET", "ftp://a/", dpop.ProofOptions{}, dpop.ErrInvalidURL},
		{"relative", "GET", "/xrpc/x", dpop.ProofOptions{}, dpop.ErrInvalidURL},
		{"unparsable", "GET", "https://a/%zz?secret=1", dpop.ProofOptions{}, dpop.ErrInvalidURL},
		{"bad nonce", "GET", "https://a/", dpop.ProofOptions{Nonce: `a"b`}, dpop.ErrInvalidNonce},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := key
			if tt.want == dpop.ErrNoKey {
				k = nil
			}
			_, err := dpop.NewProof(k, tt.method, tt.url, tt.opts)
			if !errors.Is(err, tt.want) {
				t.Fatalf("error %v, want %v", err, tt.want)
			}
			if !strings.HasPrefix(err.Error(), "dpop: ") || strings.Contains(err.Error(), "secret") {
				t.Errorf("error message %q", err)
			}
		})
	}
}

func TestHTU(t *testing.T) {
	tests := []struct{ in, want string }{
		{"https://pds.example.com/xrpc/app.bsky.feed.getTimeline?limit=10", "https://pds.example.com/xrpc/app.bsky.feed.getTimeline"},
		{"https://pds.example.com/path#frag", "https://pds.example.com/path"},
		{"https://pds.example.com/path?q#frag", "https://pds.example.com/path"},
		{"https://pds.example.com/path?", "https://pds.example.com/path"},
		{"HTTPS://PDS.Example.COM/Path", "https://pds.example.com/Path"},
		{"https://pds.example.com", "https://pds.example.com/"},
		{"https://pds.example.com?x=1", "https://pds.example.com/"},
		{"https://pds.example.com:443/x", "https://pds.example.com/x"},
		{"http://pds.example.com:80/x", "http://pds.example.com/x"},
		{"https://pds.example.com:80/x", "https://pds.example.com:80/x"},
		{"http://localhost:2583/oauth/token", "http://localhost:2583/oauth/token"},
		{"https://pds.example.com:/x", "https://pds.example.com/x"},
		{"https://pds.example.com:0443/x", "https://pds.example.com/x"},
		{"https://user:pass@pds.example.com/x", "https://pds.example.com/x"},
		{"http://[::1]:8080/cb", "http://[::1]:8080/cb"},
		{"http://[::1]/cb", "http://[::1]/cb"},
		// The path is sent as Go sends it (URL.EscapedPath), encoded slashes kept.
		{"https://pds.example.com/a%2Fb/c%20d", "https://pds.example.com/a%2Fb/c%20d"},
		{"https://pds.example.com/é", "https://pds.example.com/%C3%A9"},
	}
	for _, tt := range tests {
		got, err := dpop.HTU(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("HTU(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
	for _, bad := range []string{"", "pds.example.com/x", "/x", "ftp://a/b", "wss://a/b", "https:opaque", "https:///x", "https://a:b/", "http://%41/"} {
		if got, err := dpop.HTU(bad); !errors.Is(err, dpop.ErrInvalidURL) {
			t.Errorf("HTU(%q) = %q, %v; want ErrInvalidURL", bad, got, err)
		}
	}
}

func TestOrigin(t *testing.T) {
	tests := []struct{ in, want string }{
		{"https://PDS.example.com/xrpc?x", "https://pds.example.com"},
		{"https://pds.example.com:443/", "https://pds.example.com"},
		{"https://pds.example.com:8443/", "https://pds.example.com:8443"},
		{"http://pds.example.com:80", "http://pds.example.com"},
		{"http://127.0.0.1:1234/x", "http://127.0.0.1:1234"},
		{"http://[::1]:1234/x", "http://[::1]:1234"},
		{"/relative", ""},
	}
	for _, tt := range tests {
		u, err := url.Parse(tt.in)
		if err != nil {
			t.Fatal(err)
		}
		if got := dpop.Origin(u); got != tt.want {
			t.Errorf("Origin(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	if dpop.Origin(nil) != "" {
		t.Error("Origin(nil)")
	}
}

func TestNonceCache(t *testing.T) {
	var c dpop.NonceCache // zero value is ready
	if c.Get("https://a") != "" {
		t.Fatal("empty cache returned a nonce")
	}
	c.Set("https://a", "n1")
	c.Set("https://b", "n2")
	if c.Get("https://a") != "n1" || c.Get("https://b") != "n2" {
		t.Fatal("Get after Set")
	}
	c.Set("https://a", "n3")
	if c.Get("https://a") != "n3" {
		t.Fatal("nonce not replaced")
	}
	for _, bad := range []string{"", "has space", `quo"te`, `back\slash`, "tab\t", "nl\n", "é", "\x7f", strings.Repeat("a", dpop.MaxNonceLen+1)} {
		c.Set("https://a", bad)
		if c.Get("https://a") != "n3" {
			t.Errorf("invalid nonce %q stored", bad)
		}
	}
	c.Set("", "n4")
	if c.Get("") != "" {
		t.Error("empty origin stored")
	}
	long := strings.Repeat("~", dpop.MaxNonceLen)
	c.Set("https://a", long)
	if c.Get("https://a") != long {
		t.Error("max-length nonce rejected")
	}
	var nilCache *dpop.NonceCache
	nilCache.Set("https://a", "x")
	if nilCache.Get("https://a") != "" {
		t.Error("nil cache")
	}
}

func TestNonceCacheBounded(t *testing.T) {
	var c dpop.NonceCache
	for i := range 5000 {
		c.Set("https://h"+strconv.Itoa(i), "n")
	}
	n := 0
	for i := range 5000 {
		if c.Get("https://h"+strconv.Itoa(i)) != "" {
			n++
		}
	}
	if n > 1024 || n == 0 {
		t.Errorf("cache holds %d origins", n)
	}
}

func TestNonceCacheConcurrent(t *testing.T) {
	var c dpop.NonceCache
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				c.Set("https://o"+string(rune('a'+g)), "n"+string(rune('a'+i%26)))
				_ = c.Get("https://o" + string(rune('a'+(g+1)%8)))
			}
		}()
	}
	wg.Wait()
}
