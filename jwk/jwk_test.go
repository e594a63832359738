package jwk_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/atoauth/atoauth/jwk"
	jose "github.com/go-jose/go-jose/v4"
)

// RFC 7515 Appendix A.3 (ES256) key and JWS.
const (
	rfcX   = "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU"
	rfcY   = "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"
	rfcD   = "jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI"
	rfcJWK = `{"kty":"EC","crv":"P-256","x":"` + rfcX + `","y":"` + rfcY + `","d":"` + rfcD + `"}`
	rfcJWS = "eyJhbGciOiJFUzI1NiJ9" +
		".eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ" +
		".DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q"
)

var b64 = base64.RawURLEncoding

func mustGenerate(t testing.TB) *jwk.Key {
	t.Helper()
	k, err := jwk.Generate()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// privateD returns the base64url "d" of k, read through MarshalPrivate.
func privateD(t testing.TB, k *jwk.Key) string {
	t.Helper()
	data, err := k.MarshalPrivate()
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]string
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	if m["d"] == "" {
		t.Fatalf("MarshalPrivate without d: %s", data)
	}
	return m["d"]
}

func TestRFC7515VectorVerifies(t *testing.T) {
	k, err := jwk.Parse([]byte(rfcJWK))
	if err != nil {
		t.Fatal(err)
	}
	h, p, err := jwk.VerifyJWT(rfcJWS, k.Public())
	if err != nil {
		t.Fatalf("VerifyJWT(RFC 7515 A.3): %v", err)
	}
	if string(h) != `{"alg":"ES256"}` {
		t.Errorf("header = %s", h)
	}
	if !strings.Contains(string(p), `"iss":"joe"`) {
		t.Errorf("payload = %q", p)
	}
}

func TestGenerateRoundTrip(t *testing.T) {
	k := mustGenerate(t).WithKeyID("k1")
	data, err := k.MarshalPrivate()
	if err != nil {
		t.Fatal(err)
	}
	k2, err := jwk.Parse(data)
	if err != nil {
		t.Fatalf("Parse(MarshalPrivate()): %v", err)
	}
	if k2.KeyID() != "k1" || k2.Thumbprint() != k.Thumbprint() || k2.PublicJWK() != k.PublicJWK() {
		t.Errorf("round trip changed the key: %v vs %v", k2, k)
	}
	if !k2.Public().Equal(k.Public()) {
		t.Error("public keys differ")
	}
	// A token signed by the parsed key verifies with the original.
	tok, err := k2.SignJWT(nil, map[string]any{"a": 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := jwk.VerifyJWT(tok, k.Public()); err != nil {
		t.Error(err)
	}
}

func TestWithKeyID(t *testing.T) {
	k := mustGenerate(t)
	k1 := k.WithKeyID("one")
	if k.KeyID() != "" || k1.KeyID() != "one" || k1.PublicJWK().Kid != "one" || k.PublicJWK().Kid != "" {
		t.Errorf("WithKeyID: k=%v k1=%v", k, k1)
	}
	if k1.Thumbprint() != k.Thumbprint() {
		t.Error("thumbprint depends on kid")
	}
	if k0 := k1.WithKeyID(""); k0.KeyID() != "" || k0.PublicJWK().Kid != "" {
		t.Error("WithKeyID(\"\") kept the kid")
	}
}

func TestPublicJWK(t *testing.T) {
	k := mustGenerate(t)
	p := k.PublicJWK()
	if p.Kty != "EC" || p.Crv != "P-256" || p.Alg != "ES256" || p.Use != "sig" || p.Kid != "" {
		t.Errorf("PublicJWK = %+v", p)
	}
	data, _ := json.Marshal(p)
	if strings.Contains(string(data), "kid") {
		t.Errorf("empty kid encoded: %s", data)
	}
	pub, err := p.ECDSA()
	if err != nil || !pub.Equal(k.Public()) {
		t.Fatalf("ECDSA() = %v, %v", pub, err)
	}
	p2, err := jwk.ParsePublic(data)
	if err != nil || p2 != p {
		t.Errorf("ParsePublic = %+v, %v", p2, err)
	}
	// go-jose reads it as the same key.
	var jk jose.JSONWebKey
	if err := jk.UnmarshalJSON(data); err != nil {
		t.Fatal(err)
	}
	if gp, ok := jk.Key.(*ecdsa.PublicKey); !ok || !gp.Equal(k.Public()) {
		t.Errorf("go-jose parsed %T", jk.Key)
	}
}

func TestThumbprintMatchesGoJose(t *testing.T) {
	keys := []*jwk.Key{mustGenerate(t), mustGenerate(t).WithKeyID("x")}
	rfc, err := jwk.Parse([]byte(rfcJWK))
	if err != nil {
		t.Fatal(err)
	}
	keys = append(keys, rfc)
	for _, k := range keys {
		want, err := (&jose.JSONWebKey{Key: k.Public()}).Thumbprint(crypto.SHA256)
		if err != nil {
			t.Fatal(err)
		}
		if got := k.Thumbprint(); got != b64.EncodeToString(want) {
			t.Errorf("Thumbprint = %s, go-jose %s", got, b64.EncodeToString(want))
		}
	}
}

func TestGoJosePrivateInterop(t *testing.T) {
	// go-jose → Parse
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	data, err := (&jose.JSONWebKey{Key: priv, KeyID: "gj", Algorithm: "ES256", Use: "sig"}).MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	k, err := jwk.Parse(data)
	if err != nil {
		t.Fatalf("Parse(go-jose JWK): %v", err)
	}
	if k.KeyID() != "gj" || !k.Public().Equal(&priv.PublicKey) {
		t.Errorf("parsed %v", k)
	}
	// MarshalPrivate → go-jose
	out, err := k.MarshalPrivate()
	if err != nil {
		t.Fatal(err)
	}
	var jk jose.JSONWebKey
	if err := jk.UnmarshalJSON(out); err != nil {
		t.Fatal(err)
	}
	gp, ok := jk.Key.(*ecdsa.PrivateKey)
	if !ok || !gp.Equal(priv) || jk.KeyID != "gj" {
		t.Errorf("go-jose read back %T kid=%q", jk.Key, jk.KeyID)
	}
}

func TestSignJWTVerifiedByGoJose(t *testing.T) {
	k := mustGenerate(t).WithKeyID("kid-1")
	claims := map[string]any{"iss": "client", "n": 42, "s": "<&>\"\u2028"}
	hdr := map[string]any{"typ": "JWT"}
	tok, err := k.SignJWT(hdr, claims)
	if err != nil {
		t.Fatal(err)
	}
	if len(hdr) != 1 {
		t.Errorf("SignJWT modified the header map: %v", hdr)
	}
	jws, err := jose.ParseSigned(tok, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		t.Fatalf("go-jose ParseSigned: %v", err)
	}
	payload, err := jws.Verify(k.Public())
	if err != nil {
		t.Fatalf("go-jose Verify: %v", err)
	}
	var got map[string]any
	if err := json.Unmarshal(payload, &got); err != nil || got["s"] != claims["s"] || got["n"] != float64(42) {
		t.Errorf("payload %s (%v)", payload, err)
	}
	h := jws.Signatures[0].Protected
	if h.Algorithm != "ES256" || h.KeyID != "kid-1" || h.ExtraHeaders[jose.HeaderType] != "JWT" {
		t.Errorf("header %+v", h)
	}
	// Raw R||S, 64 bytes.
	sig, err := b64.DecodeString(tok[strings.LastIndexByte(tok, '.')+1:])
	if err != nil || len(sig) != 64 {
		t.Errorf("signature length %d (%v)", len(sig), err)
	}
	// A caller-supplied kid wins.
	tok, _ = k.SignJWT(map[string]any{"kid": "other"}, claims)
	jws, _ = jose.ParseSigned(tok, []jose.SignatureAlgorithm{jose.ES256})
	if jws.Signatures[0].Protected.KeyID != "other" {
		t.Error("header kid overridden")
	}
}

func TestSignJWTErrors(t *testing.T) {
	k := mustGenerate(t)
	if _, err := k.SignJWT(map[string]any{"alg": "none"}, map[string]any{}); !errors.Is(err, jwk.ErrUnsupportedAlgorithm) {
		t.Errorf("alg none: %v", err)
	}
	if _, err := k.SignJWT(nil, "a string"); !errors.Is(err, jwk.ErrInvalidJWT) {
		t.Errorf("non-object claims: %v", err)
	}
	if _, err := k.SignJWT(nil, map[string]any{"c": make(chan int)}); err == nil || !strings.HasPrefix(err.Error(), "jwk: ") {
		t.Errorf("unencodable claims: %v", err)
	}
	var zero jwk.Key
	if _, err := zero.SignJWT(nil, map[string]any{}); !errors.Is(err, jwk.ErrNoPrivateKey) {
		t.Errorf("zero key: %v", err)
	}
	var nilKey *jwk.Key
	if _, err := nilKey.SignEmbeddedJWT("x", map[string]any{}); !errors.Is(err, jwk.ErrNoPrivateKey) {
		t.Errorf("nil key: %v", err)
	}
	if _, err := zero.MarshalPrivate(); !errors.Is(err, jwk.ErrNoPrivateKey) {
		t.Errorf("zero MarshalPrivate: %v", err)
	}
	if zero.Public() != nil || zero.Thumbprint() != "" || nilKey.KeyID() != "" {
		t.Error("zero key accessors")
	}
}

func TestSignEmbeddedJWT(t *testing.T) {
	k := mustGenerate(t).WithKeyID("must-not-appear")
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			typ := "dpop+jwt"
			if i%2 == 1 {
				typ = "other+jwt"
			}
			tok, err := k.SignEmbeddedJWT(typ, map[string]any{"i": i})
			if err != nil {
				t.Error(err)
				return
			}
			jws, err := jose.ParseSigned(tok, []jose.SignatureAlgorithm{jose.ES256})
			if err != nil {
				t.Error(err)
				return
			}
			h := jws.Signatures[0].Protected
			if h.JSONWebKey == nil || h.ExtraHeaders[jose.HeaderType] != typ || h.KeyID != "" {
				t.Errorf("header %+v", h)
				return
			}
			if _, err := jws.Verify(h.JSONWebKey); err != nil {
				t.Error(err)
			}
			raw, _ := b64.DecodeString(tok[:strings.IndexByte(tok, '.')])
			want := `{"alg":"ES256","jwk":{"crv":"P-256","kty":"EC","x":"` + k.PublicJWK().X + `","y":"` + k.PublicJWK().Y + `"},"typ":"` + typ + `"}`
			if string(raw) != want {
				t.Errorf("header\n got %s\nwant %s", raw, want)
			}
		}()
	}
	wg.Wait()
}

func TestVerifyJWTAgainstGoJose(t *testing.T) {
	priv, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: priv}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	obj, err := signer.Sign([]byte(`{"sub":"x"}`))
	if err != nil {
		t.Fatal(err)
	}
	tok, _ := obj.CompactSerialize()
	h, p, err := jwk.VerifyJWT(tok, &priv.PublicKey)
	if err != nil || string(p) != `{"sub":"x"}` || !strings.Contains(string(h), `"typ":"JWT"`) {
		t.Fatalf("VerifyJWT(go-jose token) = %s, %s, %v", h, p, err)
	}
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if _, _, err := jwk.VerifyJWT(tok, &other.PublicKey); !errors.Is(err, jwk.ErrInvalidSignature) {
		t.Errorf("wrong key: %v", err)
	}
}

func TestVerifyJWTRejects(t *testing.T) {
	k := mustGenerate(t)
	good, err := k.SignJWT(nil, map[string]any{"a": 1})
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(good, ".")
	enc := func(s string) string { return b64.EncodeToString([]byte(s)) }
	// Swap in another header; the signature no longer matches, so checks on
	// the header itself must come first.
	signRaw := func(header string) string { return enc(header) + "." + parts[1] + "." + parts[2] }
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	derSig := func() string {
		// An ASN.1 DER signature (≈70 bytes) instead of raw R||S.
		return parts[0] + "." + parts[1] + "." + b64.EncodeToString(make([]byte, 71))
	}
	tests := []struct {
		name  string
		token string
		pub   *ecdsa.PublicKey
		want  error
	}{
		{"empty", "", k.Public(), jwk.ErrInvalidJWT},
		{"two parts", parts[0] + "." + parts[1], k.Public(), jwk.ErrInvalidJWT},
		{"four parts", good + ".x", k.Public(), jwk.ErrInvalidJWT},
		{"alg none", enc(`{"alg":"none"}`) + "." + parts[1] + ".", k.Public(), jwk.ErrUnsupportedAlgorithm},
		{"alg HS256", signRaw(`{"alg":"HS256"}`), k.Public(), jwk.ErrUnsupportedAlgorithm},
		{"alg es256 lower", signRaw(`{"alg":"es256"}`), k.Public(), jwk.ErrUnsupportedAlgorithm},
		{"alg missing", signRaw(`{"typ":"JWT"}`), k.Public(), jwk.ErrInvalidJWT},
		{"alg number", signRaw(`{"alg":1}`), k.Public(), jwk.ErrInvalidJWT},
		{"header not object", signRaw(`["alg"]`), k.Public(), jwk.ErrInvalidJWT},
		{"header bad base64", "!!!." + parts[1] + "." + parts[2], k.Public(), jwk.ErrInvalidJWT},
		{"header padded", parts[0] + "==." + parts[1] + "." + parts[2], k.Public(), jwk.ErrInvalidJWT},
		{"crit", signRaw(`{"alg":"ES256","crit":["b64"],"b64":false}`), k.Public(), jwk.ErrUnsupportedAlgorithm},
		{"payload bad base64", parts[0] + ".a$b." + parts[2], k.Public(), jwk.ErrInvalidJWT},
		{"payload newline", parts[0] + "." + parts[1][:4] + "\n" + parts[1][4:] + "." + parts[2], k.Public(), jwk.ErrInvalidJWT},
		{"sig bad base64", parts[0] + "." + parts[1] + ".%%", k.Public(), jwk.ErrInvalidJWT},
		{"sig DER length", derSig(), k.Public(), jwk.ErrInvalidSignature},
		{"sig empty", parts[0] + "." + parts[1] + ".", k.Public(), jwk.ErrInvalidSignature},
		{"sig zero", parts[0] + "." + parts[1] + "." + b64.EncodeToString(make([]byte, 64)), k.Public(), jwk.ErrInvalidSignature},
		{"tampered payload", parts[0] + "." + enc(`{"a":2}`) + "." + parts[2], k.Public(), jwk.ErrInvalidSignature},
		{"header swapped", signRaw(`{"alg":"ES256","x":1}`), k.Public(), jwk.ErrInvalidSignature},
		{"nil key", good, nil, jwk.ErrUnsupportedKey},
		{"P-384 key", good, &p384.PublicKey, jwk.ErrUnsupportedKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, p, err := jwk.VerifyJWT(tt.token, tt.pub)
			if !errors.Is(err, tt.want) {
				t.Fatalf("VerifyJWT error = %v, want %v", err, tt.want)
			}
			if h != nil || p != nil {
				t.Error("returned data with an error")
			}
			if !strings.HasPrefix(err.Error(), "jwk: ") {
				t.Errorf("error %q lacks package prefix", err)
			}
			if len(tt.token) > 20 && strings.Contains(err.Error(), tt.token) {
				t.Error("error contains the token")
			}
		})
	}
	if _, _, err := jwk.VerifyJWT(good, k.Public()); err != nil {
		t.Fatal(err)
	}
}

func TestParseRejects(t *testing.T) {
	other := mustGenerate(t)
	otherD := privateD(t, other)
	obj := func(members string) string { return "{" + members + "}" }
	base := `"kty":"EC","crv":"P-256","x":"` + rfcX + `","y":"` + rfcY + `"`
	// (x, y+1) is not on the curve.
	yb, _ := b64.DecodeString(rfcY)
	yb[31] ^= 1
	badY := b64.EncodeToString(yb)
	nBytes := elliptic.P256().Params().N.FillBytes(make([]byte, 32))
	tests := []struct {
		name   string
		json   string
		want   error
		member string
	}{
		{"empty", ``, jwk.ErrInvalidKey, ""},
		{"null", `null`, jwk.ErrInvalidKey, ""},
		{"array", `[]`, jwk.ErrInvalidKey, ""},
		{"string", `"EC"`, jwk.ErrInvalidKey, ""},
		{"truncated", obj(base)[:20], jwk.ErrInvalidKey, ""},
		{"trailing garbage", rfcJWK + "x", jwk.ErrInvalidKey, ""},
		{"missing kty", obj(`"crv":"P-256","x":"` + rfcX + `","y":"` + rfcY + `","d":"` + rfcD + `"`), jwk.ErrInvalidKey, "kty"},
		{"kty RSA", obj(`"kty":"RSA","n":"AQAB","e":"AQAB","d":"AQAB"`), jwk.ErrUnsupportedKey, "kty"},
		{"kty oct", obj(`"kty":"oct","k":"AAAA"`), jwk.ErrUnsupportedKey, "kty"},
		{"kty OKP", obj(`"kty":"OKP","crv":"Ed25519","x":"` + rfcX + `","d":"` + rfcD + `"`), jwk.ErrUnsupportedKey, "kty"},
		{"kty lower", obj(`"kty":"ec","crv":"P-256","x":"` + rfcX + `","y":"` + rfcY + `","d":"` + rfcD + `"`), jwk.ErrUnsupportedKey, "kty"},
		{"KTY upper name", obj(`"KTY":"EC","crv":"P-256","x":"` + rfcX + `","y":"` + rfcY + `","d":"` + rfcD + `"`), jwk.ErrInvalidKey, "kty"},
		{"kty number", obj(`"kty":1`), jwk.ErrInvalidKey, "kty"},
		{"crv P-384", obj(`"kty":"EC","crv":"P-384","x":"` + rfcX + `","y":"` + rfcY + `","d":"` + rfcD + `"`), jwk.ErrUnsupportedKey, "crv"},
		{"crv secp256k1", obj(`"kty":"EC","crv":"secp256k1","x":"` + rfcX + `","y":"` + rfcY + `","d":"` + rfcD + `"`), jwk.ErrUnsupportedKey, "crv"},
		{"crv missing", obj(`"kty":"EC","x":"` + rfcX + `","y":"` + rfcY + `","d":"` + rfcD + `"`), jwk.ErrInvalidKey, "crv"},
		{"alg RS256", obj(base + `,"alg":"RS256","d":"` + rfcD + `"`), jwk.ErrUnsupportedKey, "alg"},
		{"alg none", obj(base + `,"alg":"none","d":"` + rfcD + `"`), jwk.ErrUnsupportedKey, "alg"},
		{"use enc", obj(base + `,"use":"enc","d":"` + rfcD + `"`), jwk.ErrUnsupportedKey, "use"},
		{"kid number", obj(base + `,"kid":7,"d":"` + rfcD + `"`), jwk.ErrInvalidKey, "kid"},
		{"x missing", obj(`"kty":"EC","crv":"P-256","y":"` + rfcY + `","d":"` + rfcD + `"`), jwk.ErrInvalidKey, "x"},
		{"y missing", obj(`"kty":"EC","crv":"P-256","x":"` + rfcX + `","d":"` + rfcD + `"`), jwk.ErrInvalidKey, "y"},
		{"x short", obj(`"kty":"EC","crv":"P-256","x":"` + rfcX[:42] + `","y":"` + rfcY + `","d":"` + rfcD + `"`), jwk.ErrInvalidKey, "x"},
		{"x 31 bytes", obj(`"kty":"EC","crv":"P-256","x":"` + b64.EncodeToString(make([]byte, 31)) + `","y":"` + rfcY + `","d":"` + rfcD + `"`), jwk.ErrInvalidKey, "x"},
		{"x 33 bytes", obj(`"kty":"EC","crv":"P-256","x":"` + b64.EncodeToString(append([]byte{0}, make([]byte, 32)...)) + `","y":"` + rfcY + `","d":"` + rfcD + `"`), jwk.ErrInvalidKey, "x"},
		{"x padded", obj(`"kty":"EC","crv":"P-256","x":"` + rfcX + `=","y":"` + rfcY + `","d":"` + rfcD + `"`), jwk.ErrInvalidKey, "x"},
		{"x std base64", obj(`"kty":"EC","crv":"P-256","x":"` + strings.NewReplacer("-", "+", "_", "/").Replace(rfcY) + `","y":"` + rfcY + `","d":"` + rfcD + `"`), jwk.ErrInvalidKey, "x"},
		{"x newline", obj(`"kty":"EC","crv":"P-256","x":"` + rfcX[:10] + `\n` + rfcX[10:] + `","y":"` + rfcY + `","d":"` + rfcD + `"`), jwk.ErrInvalidKey, "x"},
		{"x non-canonical", obj(`"kty":"EC","crv":"P-256","x":"` + rfcX[:42] + `V","y":"` + rfcY + `","d":"` + rfcD + `"`), jwk.ErrInvalidKey, "x"},
		{"point off curve", obj(`"kty":"EC","crv":"P-256","x":"` + rfcX + `","y":"` + badY + `","d":"` + rfcD + `"`), jwk.ErrInvalidKey, ""},
		{"point zero", obj(`"kty":"EC","crv":"P-256","x":"` + b64.EncodeToString(make([]byte, 32)) + `","y":"` + b64.EncodeToString(make([]byte, 32)) + `","d":"` + rfcD + `"`), jwk.ErrInvalidKey, ""},
		{"d missing (public key)", obj(base), jwk.ErrInvalidKey, "d"},
		{"d empty", obj(base + `,"d":""`), jwk.ErrInvalidKey, "d"},
		{"d number", obj(base + `,"d":123456789012345678901234567890`), jwk.ErrInvalidKey, "d"},
		{"d short", obj(base + `,"d":"` + rfcD[:40] + `"`), jwk.ErrInvalidKey, "d"},
		{"d zero", obj(base + `,"d":"` + b64.EncodeToString(make([]byte, 32)) + `"`), jwk.ErrInvalidKey, "d"},
		{"d = n", obj(base + `,"d":"` + b64.EncodeToString(nBytes) + `"`), jwk.ErrInvalidKey, "d"},
		{"d mismatched", obj(base + `,"d":"` + otherD + `"`), jwk.ErrInvalidKey, "d"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := jwk.Parse([]byte(tt.json))
			if !errors.Is(err, tt.want) {
				t.Fatalf("Parse error = %v, want %v", err, tt.want)
			}
			if k != nil {
				t.Error("non-nil key with error")
			}
			var ke *jwk.KeyError
			if !errors.As(err, &ke) {
				t.Fatalf("error %T is not *KeyError", err)
			}
			if ke.Member != tt.member {
				t.Errorf("Member = %q, want %q (%v)", ke.Member, tt.member, err)
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "jwk: ") {
				t.Errorf("message %q lacks package prefix", msg)
			}
			for _, secret := range []string{rfcD, otherD, rfcD[:40], "123456789012345678901234567890"} {
				if strings.Contains(msg, secret) {
					t.Errorf("error %q reveals d", msg)
				}
			}
		})
	}
}

func TestParseAccepts(t *testing.T) {
	base := `"kty":"EC","crv":"P-256","x":"` + rfcX + `","y":"` + rfcY + `","d":"` + rfcD + `"`
	for _, s := range []string{
		"{" + base + "}",
		"{" + base + `,"kid":"a","alg":"ES256","use":"sig"}`,
		"{" + base + `,"key_ops":["sign"],"ext":true,"x5c":[]}`, // unknown members are ignored
		" \n{" + base + "}\t",
	} {
		if _, err := jwk.Parse([]byte(s)); err != nil {
			t.Errorf("Parse(%s): %v", s, err)
		}
	}
}

func TestParsePublicRejects(t *testing.T) {
	for _, s := range []string{
		rfcJWK, // has d
		`{"kty":"EC","crv":"P-256","x":"` + rfcX + `"}`,
		`{"kty":"RSA","n":"AQAB","e":"AQAB"}`,
		`{"kty":"EC","crv":"P-521","x":"` + rfcX + `","y":"` + rfcY + `"}`,
		`{"kty":"EC","crv":"P-256","x":"` + rfcX + `","y":"` + rfcX + `"}`,
		`{}`, `[]`, `nul`,
	} {
		_, err := jwk.ParsePublic([]byte(s))
		if err == nil {
			t.Errorf("ParsePublic(%s) succeeded", s)
			continue
		}
		if strings.Contains(err.Error(), rfcD) {
			t.Errorf("error reveals d: %v", err)
		}
	}
	if _, err := (jwk.PublicJWK{Kty: "EC", Crv: "P-256", X: rfcX, Y: rfcX}).ECDSA(); !errors.Is(err, jwk.ErrInvalidKey) {
		t.Errorf("off-curve ECDSA(): %v", err)
	}
}

func TestSetFind(t *testing.T) {
	a, b := mustGenerate(t).WithKeyID("a"), mustGenerate(t).WithKeyID("b")
	data, _ := json.Marshal(jwk.Set{Keys: []jwk.PublicJWK{a.PublicJWK(), b.PublicJWK(), {Kty: "RSA", Kid: "r"}}})
	var s jwk.Set
	if err := json.Unmarshal(data, &s); err != nil {
		t.Fatal(err)
	}
	if got, ok := s.Find("b"); !ok || got != b.PublicJWK() {
		t.Errorf("Find(b) = %+v, %v", got, ok)
	}
	if _, ok := s.Find("c"); ok {
		t.Error("Find(c) found")
	}
	if _, ok := s.Find(""); ok {
		t.Error("Find(\"\") found")
	}
	if r, ok := s.Find("r"); !ok || r.Kty != "RSA" {
		t.Error("Find(r)")
	} else if _, err := r.ECDSA(); !errors.Is(err, jwk.ErrUnsupportedKey) {
		t.Errorf("RSA ECDSA(): %v", err)
	}
	var zero jwk.Set
	if _, ok := zero.Find("a"); ok {
		t.Error("zero Set found a key")
	}
}

// TestNoLeak checks that no formatting or encoding path reveals d.
func TestNoLeak(t *testing.T) {
	k := mustGenerate(t).WithKeyID("leak-test")
	d := privateD(t, k)
	raw, _ := b64.DecodeString(d)
	secrets := []string{
		d,
		hex.EncodeToString(raw),
		strings.ToUpper(hex.EncodeToString(raw)),
		base64.StdEncoding.EncodeToString(raw),
		base64.RawStdEncoding.EncodeToString(raw),
	}
	// Decimal form of the scalar, as fmt would print a *big.Int.
	var dec []byte
	{
		data, _ := k.MarshalPrivate()
		jk := jose.JSONWebKey{}
		if err := jk.UnmarshalJSON(data); err != nil {
			t.Fatal(err)
		}
		dec = []byte(jk.Key.(*ecdsa.PrivateKey).D.String())
	}
	secrets = append(secrets, string(dec))

	type holder struct {
		Key     *jwk.Key
		private *jwk.Key
	}
	var outs []string
	for _, f := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d"} {
		outs = append(outs, fmt.Sprintf(f, k), fmt.Sprintf(f, holder{k, k}), fmt.Sprintf(f, &holder{k, k}), fmt.Sprintf(f, []*jwk.Key{k}))
	}
	outs = append(outs, fmt.Sprint(k), fmt.Sprintln(k), k.String(), k.GoString())
	for _, v := range []any{k, holder{Key: k}, map[string]*jwk.Key{"k": k}} {
		data, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		outs = append(outs, string(data))
	}
	// Errors mentioning a mismatched key.
	other := mustGenerate(t)
	p := other.PublicJWK()
	_, err := jwk.Parse([]byte(`{"kty":"EC","crv":"P-256","x":"` + p.X + `","y":"` + p.Y + `","d":"` + d + `"}`))
	if err == nil {
		t.Fatal("mismatched d accepted")
	}
	outs = append(outs, err.Error(), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err))
	_, err = jwk.ParsePublic([]byte(`{"kty":"EC","crv":"P-256","x":"` + p.X + `","y":"` + p.Y + `","d":"` + d + `"}`))
	outs = append(outs, err.Error(), fmt.Sprintf("%#v", err))

	for _, out := range outs {
		for _, s := range secrets {
			if strings.Contains(out, s) {
				t.Fatalf("output reveals d: %s", out)
			}
		}
	}
	if got := k.String(); got != `jwk.Key{kid="leak-test", thumbprint="`+k.Thumbprint()+`"}` {
		t.Errorf("String() = %s", got)
	}
	// MarshalJSON is exactly the public JWK.
	data, _ := json.Marshal(k)
	want, _ := json.Marshal(k.PublicJWK())
	if string(data) != string(want) {
		t.Errorf("MarshalJSON = %s, want %s", data, want)
	}
	// Decoding into a Key fails loudly rather than producing a zero Key.
	var decoded struct{ Key *jwk.Key }
	if err := json.Unmarshal([]byte(`{"Key":`+string(data)+`}`), &decoded); !errors.Is(err, jwk.ErrInvalidKey) {
		t.Errorf("json.Unmarshal into *Key: %v", err)
	}
	var nilKey *jwk.Key
	if s := fmt.Sprintf("%v %#v %s", nilKey, nilKey, nilKey); strings.Contains(s, "PANIC") {
		t.Errorf("nil key formatting: %s", s)
	}
}
