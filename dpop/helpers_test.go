package dpop_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/atoauth/atoauth/jwk"
	jose "github.com/go-jose/go-jose/v4"
)

var b64 = base64.RawURLEncoding

// proof is a DPoP proof verified by go-jose, an independent JOSE
// implementation.
type proof struct {
	Header map[string]any
	Claims map[string]any
	JKT    string // thumbprint of the embedded key
}

func (p proof) str(name string) string { s, _ := p.Claims[name].(string); return s }

// verifyProof checks the RFC 9449 §4.2 / §4.3 structure of raw and returns
// it. It returns an error rather than failing so that it can run in server
// goroutines.
func verifyProof(raw string) (proof, error) {
	jws, err := jose.ParseSigned(raw, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		return proof{}, fmt.Errorf("go-jose parse: %w", err)
	}
	if len(jws.Signatures) != 1 {
		return proof{}, fmt.Errorf("%d signatures", len(jws.Signatures))
	}
	h := jws.Signatures[0].Protected
	if h.JSONWebKey == nil || !h.JSONWebKey.IsPublic() || !h.JSONWebKey.Valid() {
		return proof{}, fmt.Errorf("bad embedded jwk")
	}
	payload, err := jws.Verify(h.JSONWebKey)
	if err != nil {
		return proof{}, fmt.Errorf("go-jose verify: %w", err)
	}
	var p proof
	rawHeader, err := b64.DecodeString(raw[:strings.IndexByte(raw, '.')])
	if err != nil {
		return proof{}, err
	}
	if err := json.Unmarshal(rawHeader, &p.Header); err != nil {
		return proof{}, err
	}
	if err := json.Unmarshal(payload, &p.Claims); err != nil {
		return proof{}, err
	}
	if got := sortedKeys(p.Header); !slices.Equal(got, []string{"alg", "jwk", "typ"}) {
		return proof{}, fmt.Errorf("header members %v", got)
	}
	if p.Header["alg"] != "ES256" || p.Header["typ"] != "dpop+jwt" {
		return proof{}, fmt.Errorf("header %v", p.Header)
	}
	if got := sortedKeys(p.Header["jwk"].(map[string]any)); !slices.Equal(got, []string{"crv", "kty", "x", "y"}) {
		return proof{}, fmt.Errorf("jwk members %v", got)
	}
	if _, ok := p.Claims["iss"]; ok {
		return proof{}, fmt.Errorf("proof has iss")
	}
	for _, c := range []string{"jti", "htm", "htu"} {
		if p.str(c) == "" {
			return proof{}, fmt.Errorf("missing %s", c)
		}
	}
	if _, ok := p.Claims["iat"].(float64); !ok {
		return proof{}, fmt.Errorf("iat %v", p.Claims["iat"])
	}
	if jti, err := b64.DecodeString(p.str("jti")); err != nil || len(jti) < 16 {
		return proof{}, fmt.Errorf("jti %q", p.str("jti"))
	}
	tp, err := h.JSONWebKey.Thumbprint(cryptoSHA256)
	if err != nil {
		return proof{}, err
	}
	p.JKT = b64.EncodeToString(tp)
	return p, nil
}

func sortedKeys(m map[string]any) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

func newKey(t testing.TB) *jwk.Key {
	t.Helper()
	k, err := jwk.Generate()
	if err != nil {
		t.Fatal(err)
	}
	return k
}
