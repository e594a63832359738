package httpx

import (
	"net/http/httptest"
	"strings"
	"testing"
)

func TestLimitKey(t *testing.T) {
	for in, want := range map[string]string{
		"198.51.100.7":         "198.51.100.7",
		"2001:db8:1:2:3:4:5:6": "2001:db8:1:2::/64",
		"2001:db8:1:2:ffff::1": "2001:db8:1:2::/64",
		"::ffff:198.51.100.7":  "::ffff:198.51.100.7",
		"not an address":       "not an address",
	} {
		if got := LimitKey(in); got != want {
			t.Errorf("LimitKey(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestClientAddrAndRequestHost(t *testing.T) {
	r := httptest.NewRequest("GET", "http://app.example/", nil)
	r.RemoteAddr = "192.0.2.1:5555"
	r.Header.Add("X-Forwarded-For", "203.0.113.9, 198.51.100.4")
	r.Header.Add("X-Forwarded-For", "forged, 198.51.100.7")
	r.Header.Set("X-Forwarded-Host", "public.example, other.example")
	if got := ClientAddr(r, false); got != "192.0.2.1" {
		t.Errorf("ClientAddr without a proxy = %q", got)
	}
	if got := ClientAddr(r, true); got != "198.51.100.7" {
		t.Errorf("ClientAddr behind the proxy = %q, want the last hop's entry", got)
	}
	r.Header.Set("X-Forwarded-For", "not-an-ip")
	if got := ClientAddr(r, true); got != "192.0.2.1" {
		t.Errorf("ClientAddr with a malformed X-Forwarded-For = %q, want the peer", got)
	}
	if got := RequestHost(r, false); got != "app.example" {
		t.Errorf("RequestHost without a proxy = %q", got)
	}
	if got := RequestHost(r, true); got != "public.example" {
		t.Errorf("RequestHost behind the proxy = %q", got)
	}
}

func TestNormalizeIdentifier(t *testing.T) {
	for in, want := range map[string]string{
		"  @alice.bsky.social \n": "alice.bsky.social",
		"did:plc:abc":             "did:plc:abc",
		strings.Repeat("a", 600):  strings.Repeat("a", 512),
	} {
		if got := NormalizeIdentifier(in); got != want {
			t.Errorf("NormalizeIdentifier(%.20q) = %.20q", in, got)
		}
	}
}
