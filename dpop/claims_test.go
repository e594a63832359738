package dpop

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"math"
	"strings"
	"testing"
	"unicode/utf8"
)

// refClaims is the encoding/json definition of the claims that
// appendProofClaims writes by hand.
type refClaims struct {
	JTI   string `json:"jti"`
	HTM   string `json:"htm"`
	HTU   string `json:"htu"`
	IAT   int64  `json:"iat"`
	Nonce string `json:"nonce,omitempty"`
	ATH   string `json:"ath,omitempty"`
}

// checkClaims fails unless appendProofClaims encodes its arguments exactly
// as encoding/json encodes refClaims.
func checkClaims(t *testing.T, jti []byte, htm, htu string, iat int64, nonce string, ath []byte) {
	t.Helper()
	want, err := json.Marshal(refClaims{
		JTI:   base64.RawURLEncoding.EncodeToString(jti),
		HTM:   htm,
		HTU:   htu,
		IAT:   iat,
		Nonce: nonce,
		ATH:   base64.RawURLEncoding.EncodeToString(ath),
	})
	if err != nil {
		t.Fatal(err)
	}
	prefix := []byte("prefix")
	got := appendProofClaims(prefix[:len(prefix):len(prefix)], jti, htm, htu, iat, nonce, ath)
	if !bytes.HasPrefix(got, prefix) {
		t.Fatalf("dst prefix lost: %q", got)
	}
	if got := got[len(prefix):]; !bytes.Equal(got, want) {
		t.Fatalf("appendProofClaims(%q, %q, %q, %d, %q, %x)\n got %s\nwant %s", jti, htm, htu, iat, nonce, ath, got, want)
	}
}

// jsonStrings are strings that need every kind of escape encoding/json
// applies, and some that need none.
var jsonStrings = []string{
	"",
	"https://pds.example.com/xrpc/com.atproto.repo.createRecord",
	`a"b\c`,
	"<script>&amp;</script>",
	"\b\f\n\r\t\x00\x01\x1f\x7f",
	"é, ß, 日本, 🙂",
	"\u2028\u2029x\u2027\u202a",
	"\xff", "\xc3", "a\xc3(b", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xe2\x80", "ok\xe2\x80\xa8",
	"https://a&b<c>\"d/", "https://[fe80::1%25en0]:8443/p;x=1/a&b'c", "https://%ff/",
	"eyJ7S_zG.eyJH0-Z.HX4w-7v", "!#$%&'()*+,-./:;<=>?@[]^_`{|}~",
}

func TestAppendJSONString(t *testing.T) {
	var all strings.Builder
	for b := range 256 {
		all.WriteByte(byte(b))
	}
	for r := rune(0x80); r < 0x3000; r += 7 {
		all.WriteRune(r)
	}
	for _, s := range append(jsonStrings, all.String()) {
		want, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		if got := appendJSONString(nil, s); !bytes.Equal(got, want) {
			t.Errorf("appendJSONString(%q)\n got %s\nwant %s", s, got, want)
		}
	}
}

func TestAppendProofClaims(t *testing.T) {
	jti := bytes.Repeat([]byte{0xfb}, jtiBytes)
	ath := bytes.Repeat([]byte{0xff, 0x3e}, 16)
	for _, iat := range []int64{0, 1, -1, 1_700_000_000, math.MaxInt64, math.MinInt64} {
		checkClaims(t, jti, "POST", "https://pds.example.com/xrpc/x", iat, "", nil)
	}
	for _, htu := range jsonStrings {
		checkClaims(t, jti, "GET", htu, 1_700_000_000, "", nil)
		checkClaims(t, jti, "GET", htu, 1_700_000_000, "n", ath)
	}
	for _, nonce := range []string{"", "eyJ7S_zG.eyJH0-Z.HX4w-7v", "<&>", strings.Repeat("~", MaxNonceLen)} {
		checkClaims(t, jti, "PATCH", "https://h/", 42, nonce, nil)
		checkClaims(t, jti, "PATCH", "https://h/", 42, nonce, ath)
	}
	checkClaims(t, nil, "x", "y", 0, "", nil)
	checkClaims(t, jti, "!#$%&'*+-.^_`|~", strings.Repeat("https://h/"+strings.Repeat("p", 100), 10), 1, "", ath)
}

func FuzzAppendProofClaims(f *testing.F) {
	f.Add([]byte("0123456789abcdef"), "POST", "https://pds.example.com/xrpc/x", int64(1_700_000_000), "n", []byte("32 bytes of hashed access token."))
	f.Add([]byte{}, "GET", "https://a&b<c>\"d/", int64(-1), "", []byte{})
	f.Add([]byte("0"), "\xcf", "\xbb", int64(-9), "0", []byte("0")) // valid UTF-8 only when concatenated
	f.Add([]byte{0xff}, "\x00", "\xff\u2028\u2029\\\t", int64(0), "<>&", []byte{0})
	f.Fuzz(func(t *testing.T, jti []byte, htm, htu string, iat int64, nonce string, ath []byte) {
		checkClaims(t, jti, htm, htu, iat, nonce, ath)
		got := appendProofClaims(nil, jti, htm, htu, iat, nonce, ath)
		var back refClaims
		if err := json.Unmarshal(got, &back); err != nil {
			t.Fatalf("%s: %v", got, err)
		}
		valid := utf8.ValidString(htm) && utf8.ValidString(htu) && utf8.ValidString(nonce)
		if valid && (back.HTM != htm || back.HTU != htu || back.Nonce != nonce || back.IAT != iat) {
			t.Fatalf("round trip of %s: %+v", got, back)
		}
	})
}
