package dpop_test

import (
	"errors"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/atoauth/atoauth/dpop"
)

func TestParseWWWAuthenticate(t *testing.T) {
	type C = dpop.Challenge
	type P = map[string]string
	tests := []struct {
		in   string
		want []C
	}{
		{``, nil},
		{`  ,, `, nil},
		{`DPoP`, []C{{Scheme: "DPoP"}}},
		{`DPoP error="use_dpop_nonce", error_description="Resource server requires nonce in DPoP proof"`,
			[]C{{Scheme: "DPoP", Params: P{"error": "use_dpop_nonce", "error_description": "Resource server requires nonce in DPoP proof"}}}},
		{`DPoP algs="ES256 PS256", error=invalid_token`,
			[]C{{Scheme: "DPoP", Params: P{"algs": "ES256 PS256", "error": "invalid_token"}}}},
		{`Bearer realm="example", DPoP error="use_dpop_nonce"`,
			[]C{{Scheme: "Bearer", Params: P{"realm": "example"}}, {Scheme: "DPoP", Params: P{"error": "use_dpop_nonce"}}}},
		{`Basic realm="a \"quoted\" \\ value", charset="UTF-8"`,
			[]C{{Scheme: "Basic", Params: P{"realm": `a "quoted" \ value`, "charset": "UTF-8"}}}},
		{`Newauth realm="apps", type=1, title="Login to \"apps\"", Basic realm="simple"`,
			[]C{{Scheme: "Newauth", Params: P{"realm": "apps", "type": "1", "title": `Login to "apps"`}}, {Scheme: "Basic", Params: P{"realm": "simple"}}}},
		{`Negotiate a87421000492aa874209af8bc028==, Basic realm=x`,
			[]C{{Scheme: "Negotiate", Token68: "a87421000492aa874209af8bc028=="}, {Scheme: "Basic", Params: P{"realm": "x"}}}},
		{`Foo abc/def+ghi~`, []C{{Scheme: "Foo", Token68: "abc/def+ghi~"}}},
		{`DPoP error=`, []C{{Scheme: "DPoP", Token68: "error="}}}, // token68, not an auth-param
		{`DPoP ERROR = "use_dpop_nonce" ,  Error="dup"`, []C{{Scheme: "DPoP", Params: P{"error": "use_dpop_nonce"}}}},
		{"DPoP\terror=\"a\tb\"", []C{{Scheme: "DPoP", Params: P{"error": "a\tb"}}}},
		{`A, B, C x=y`, []C{{Scheme: "A"}, {Scheme: "B"}, {Scheme: "C", Params: P{"x": "y"}}}},
		{`DPoP error=""`, []C{{Scheme: "DPoP", Params: P{"error": ""}}}},
		{"DPoP e=\"\xc3\xa9\"", []C{{Scheme: "DPoP", Params: P{"e": "é"}}}},
	}
	for _, tt := range tests {
		got, err := dpop.ParseWWWAuthenticate(tt.in)
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ParseWWWAuthenticate(%q)\n got %#v, %v\nwant %#v", tt.in, got, err, tt.want)
		}
	}
}

func TestParseWWWAuthenticateMalformed(t *testing.T) {
	tests := []struct {
		in      string
		partial int // complete challenges returned with the error
	}{
		{`=`, 0},
		{`"quoted"`, 0},
		{`DPoP error="unterminated`, 0},
		{`DPoP error="bad\`, 0},
		{"DPoP error=\"ctl\x01\"", 0},
		{"DPoP error=\"del\x7f\"", 0},
		{`DPoP error=a b`, 0},
		{`DPoP error=a, x=`, 0},
		{`DPoP=x`, 0},
		{`DPoP @@@`, 0},
		{`Negotiate abc==def`, 0},
		{`Bearer realm=x, DPoP error="oops`, 1},
		{`Basic, {}`, 1},
	}
	for _, tt := range tests {
		got, err := dpop.ParseWWWAuthenticate(tt.in)
		var he *dpop.HeaderError
		if !errors.Is(err, dpop.ErrMalformedHeader) || !errors.As(err, &he) {
			t.Errorf("ParseWWWAuthenticate(%q) error = %v", tt.in, err)
			continue
		}
		if len(got) != tt.partial {
			t.Errorf("ParseWWWAuthenticate(%q) returned %d challenges, want %d", tt.in, len(got), tt.partial)
		}
		if he.Offset < 0 || he.Offset > len(tt.in) || !strings.HasPrefix(err.Error(), "dpop: ") {
			t.Errorf("bad error %v", err)
		}
	}
}

func TestIsNonceChallenge(t *testing.T) {
	hdr := func(kv ...string) http.Header {
		h := make(http.Header)
		for i := 0; i < len(kv); i += 2 {
			h.Add(kv[i], kv[i+1])
		}
		return h
	}
	tests := []struct {
		name   string
		status int
		header http.Header
		body   string
		want   bool
	}{
		{"AS 400 json", 400, nil, `{"error":"use_dpop_nonce","error_description":"Authorization server requires nonce in DPoP proof"}`, true},
		{"AS 400 other error", 400, nil, `{"error":"invalid_grant"}`, false},
		{"AS 400 not json", 400, nil, `use_dpop_nonce`, false},
		{"AS 400 error not string", 400, nil, `{"error":["use_dpop_nonce"]}`, false},
		{"AS 400 ERROR key", 400, nil, `{"ERROR":"use_dpop_nonce"}`, false},
		{"AS 401 json only", 401, nil, `{"error":"use_dpop_nonce"}`, false},
		{"RS 401 header", 401, hdr("WWW-Authenticate", `DPoP error="use_dpop_nonce", error_description="Resource server requires nonce in DPoP proof"`), ``, true},
		{"RS 401 token error", 401, hdr("WWW-Authenticate", `DPoP algs="ES256", error="invalid_token"`), ``, false},
		{"RS 401 Bearer scheme", 401, hdr("WWW-Authenticate", `Bearer error="use_dpop_nonce"`), ``, false},
		{"RS 401 second field line", 401, hdr("WWW-Authenticate", `Bearer realm="x"`, "WWW-Authenticate", `dpop error=use_dpop_nonce`), ``, true},
		{"RS 401 after other challenge", 401, hdr("WWW-Authenticate", `Basic realm="x", DPoP error="use_dpop_nonce"`), ``, true},
		{"RS 400 header", 400, hdr("WWW-Authenticate", `DPoP error="use_dpop_nonce"`), ``, false},
		{"200", 200, hdr("WWW-Authenticate", `DPoP error="use_dpop_nonce"`), `{"error":"use_dpop_nonce"}`, false},
	}
	for _, tt := range tests {
		resp := &http.Response{StatusCode: tt.status, Header: tt.header, Body: io.NopCloser(strings.NewReader("unread"))}
		if resp.Header == nil {
			resp.Header = http.Header{}
		}
		if got := dpop.IsNonceChallenge(resp, []byte(tt.body)); got != tt.want {
			t.Errorf("%s: IsNonceChallenge = %v, want %v", tt.name, got, tt.want)
		}
	}
	if dpop.IsNonceChallenge(nil, nil) {
		t.Error("nil response")
	}
}
