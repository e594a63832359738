package jwk_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/atoauth/atoauth/jwk"
	jose "github.com/go-jose/go-jose/v4"
)

func TestSignEmbeddedJWS(t *testing.T) {
	k := mustGenerate(t).WithKeyID("must-not-appear")
	for _, typ := range []string{"dpop+jwt", "other+jwt", "dpop+jwt", `a"<b>`} {
		ref, err := k.SignEmbeddedJWT(typ, map[string]int{"a": 1})
		if err != nil {
			t.Fatal(err)
		}
		for _, payload := range [][]byte{[]byte(`{"a":1}`), nil, []byte("not JSON \x00\xff")} {
			tok, err := k.SignEmbeddedJWS(typ, payload)
			if err != nil {
				t.Fatal(err)
			}
			if h := tok[:strings.IndexByte(tok, '.')]; h != ref[:strings.IndexByte(ref, '.')] {
				t.Errorf("typ %q: header %s, SignEmbeddedJWT has %s", typ, h, ref)
			}
			_, got, err := jwk.VerifyJWT(tok, k.Public())
			if err != nil || !bytes.Equal(got, payload) {
				t.Errorf("VerifyJWT: %q, %v; want %q", got, err, payload)
			}
			jws, err := jose.ParseSigned(tok, []jose.SignatureAlgorithm{jose.ES256})
			if err != nil {
				t.Fatal(err)
			}
			h := jws.Signatures[0].Protected
			if h.JSONWebKey == nil || h.KeyID != "" || h.ExtraHeaders[jose.HeaderType] != typ {
				t.Errorf("header %+v", h)
			}
			if got, err := jws.Verify(h.JSONWebKey); err != nil || !bytes.Equal(got, payload) {
				t.Errorf("go-jose: %q, %v", got, err)
			}
		}
	}
	// Larger than any internal buffer.
	big := []byte(`{"a":"` + strings.Repeat("x", 5000) + `"}`)
	tok, err := k.SignEmbeddedJWS("dpop+jwt", big)
	if err != nil {
		t.Fatal(err)
	}
	if _, got, err := jwk.VerifyJWT(tok, k.Public()); err != nil || !bytes.Equal(got, big) {
		t.Errorf("VerifyJWT of a large payload: %v", err)
	}
	for _, zero := range []*jwk.Key{nil, {}} {
		if _, err := zero.SignEmbeddedJWS("dpop+jwt", []byte("{}")); !errors.Is(err, jwk.ErrNoPrivateKey) {
			t.Errorf("zero key: %v", err)
		}
	}
}
