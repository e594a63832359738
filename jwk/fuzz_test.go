package jwk_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/atoauth/atoauth/jwk"
)

func FuzzParse(f *testing.F) {
	f.Add([]byte(rfcJWK))
	f.Add([]byte(`{"kty":"EC","crv":"P-256","x":"` + rfcX + `","y":"` + rfcY + `","d":"` + rfcD + `","kid":"k","alg":"ES256","use":"sig"}`))
	f.Add([]byte(`{"kty":"EC","crv":"P-256","x":"` + rfcX + `","y":"` + rfcY + `"}`))
	f.Add([]byte(`{"kty":"RSA"}`))
	f.Add([]byte(`{"kty":"EC","crv":"P-256","x":1}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, data []byte) {
		k, err := jwk.Parse(data)
		if err != nil {
			if k != nil {
				t.Fatal("key and error")
			}
			if !errors.Is(err, jwk.ErrInvalidKey) && !errors.Is(err, jwk.ErrUnsupportedKey) {
				t.Fatalf("unexpected error class: %v", err)
			}
			// The error never quotes the "d" member.
			var m map[string]json.RawMessage
			if json.Unmarshal(data, &m) == nil {
				var d string
				if json.Unmarshal(m["d"], &d) == nil && len(d) >= 8 && strings.Contains(err.Error(), d) {
					t.Fatalf("error reveals d: %v", err)
				}
			}
			return
		}
		out, err := k.MarshalPrivate()
		if err != nil {
			t.Fatal(err)
		}
		k2, err := jwk.Parse(out)
		if err != nil {
			t.Fatalf("re-parse of %s: %v", out, err)
		}
		if k2.Thumbprint() != k.Thumbprint() || k2.KeyID() != k.KeyID() {
			t.Fatal("round trip changed the key")
		}
		out2, _ := k2.MarshalPrivate()
		if !bytes.Equal(out, out2) {
			t.Fatal("MarshalPrivate not stable")
		}
		tok, err := k.SignJWT(nil, map[string]int{"a": 1})
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := jwk.VerifyJWT(tok, k2.Public()); err != nil {
			t.Fatal(err)
		}
	})
}

func FuzzParsePublic(f *testing.F) {
	f.Add([]byte(`{"kty":"EC","crv":"P-256","x":"` + rfcX + `","y":"` + rfcY + `"}`))
	f.Add([]byte(`{"kty":"EC","crv":"P-256","x":"` + rfcX + `","y":"` + rfcY + `","kid":"a","use":"sig"}`))
	f.Add([]byte(rfcJWK))
	f.Add([]byte(`{"keys":[]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := jwk.ParsePublic(data)
		if err != nil {
			if p != (jwk.PublicJWK{}) {
				t.Fatal("key and error")
			}
			return
		}
		pub, err := p.ECDSA()
		if err != nil || pub == nil {
			t.Fatalf("ParsePublic accepted what ECDSA rejects: %v", err)
		}
		enc, _ := json.Marshal(p)
		p2, err := jwk.ParsePublic(enc)
		if err != nil || p2 != p {
			t.Fatalf("round trip: %+v, %v", p2, err)
		}
	})
}

func FuzzVerifyJWT(f *testing.F) {
	k, err := jwk.Parse([]byte(rfcJWK))
	if err != nil {
		f.Fatal(err)
	}
	good, err := k.SignJWT(map[string]any{"typ": "JWT"}, map[string]any{"sub": "x"})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(rfcJWS)
	f.Add(good)
	f.Add("eyJhbGciOiJub25lIn0.e30.")
	f.Add("a.b.c")
	f.Add("..")
	pub := k.Public()
	f.Fuzz(func(t *testing.T, token string) {
		h, p, err := jwk.VerifyJWT(token, pub)
		if err != nil {
			if h != nil || p != nil {
				t.Fatal("data and error")
			}
			return
		}
		var hdr map[string]any
		if json.Unmarshal(h, &hdr) != nil || hdr["alg"] != "ES256" {
			t.Fatalf("accepted header %q", h)
		}
		if strings.Count(token, ".") != 2 {
			t.Fatal("accepted a token without three parts")
		}
	})
}
