package jwk

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/asn1"
	"math/big"
	"testing"
)

// asn1Sig is the ECDSA-Sig-Value of RFC 3279 §2.2.3.
type asn1Sig struct{ R, S *big.Int }

func TestRawSignature(t *testing.T) {
	n := elliptic.P256().Params().N
	one := big.NewInt(1)
	values := []*big.Int{
		one, big.NewInt(0x7f), big.NewInt(0x80), big.NewInt(0xff), big.NewInt(0x100),
		new(big.Int).Lsh(one, 247), new(big.Int).Lsh(one, 248), new(big.Int).Lsh(one, 255),
		new(big.Int).Sub(new(big.Int).Lsh(one, 255), one), new(big.Int).Sub(n, one),
	}
	for _, r := range values {
		for _, s := range values {
			der, err := asn1.Marshal(asn1Sig{r, s})
			if err != nil {
				t.Fatal(err)
			}
			var got, want [sigLen]byte
			r.FillBytes(want[:coordLen])
			s.FillBytes(want[coordLen:])
			if !rawSignature(&got, der) || got != want {
				t.Errorf("rawSignature(%x) = %x, want %x", der, got, want)
			}
		}
	}
}

func TestRawSignatureRejects(t *testing.T) {
	int32b := append([]byte{0x02, 0x20}, bytes.Repeat([]byte{0x7f}, 32)...)
	seq := func(parts ...[]byte) []byte {
		body := bytes.Join(parts, nil)
		return append([]byte{0x30, byte(len(body))}, body...)
	}
	for name, der := range map[string][]byte{
		"empty":             nil,
		"not a sequence":    {0x31, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01},
		"length too long":   {0x30, 0x07, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01},
		"length too short":  {0x30, 0x05, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01},
		"long-form length":  {0x30, 0x81, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01},
		"one integer":       seq([]byte{0x02, 0x01, 0x01}),
		"three integers":    seq([]byte{0x02, 0x01, 0x01}, []byte{0x02, 0x01, 0x01}, []byte{0x02, 0x01, 0x01}),
		"not an integer":    seq([]byte{0x04, 0x01, 0x01}, []byte{0x02, 0x01, 0x01}),
		"empty integer":     seq([]byte{0x02, 0x00}, []byte{0x02, 0x01, 0x01}),
		"zero":              seq([]byte{0x02, 0x01, 0x01}, []byte{0x02, 0x01, 0x00}),
		"negative":          seq([]byte{0x02, 0x01, 0x80}, []byte{0x02, 0x01, 0x01}),
		"non-minimal":       seq([]byte{0x02, 0x02, 0x00, 0x01}, []byte{0x02, 0x01, 0x01}),
		"integer truncated": seq([]byte{0x02, 0x01, 0x01}, []byte{0x02, 0x02, 0x01}),
		"33 bytes":          seq(append([]byte{0x02, 0x21}, bytes.Repeat([]byte{0x7f}, 33)...), int32b),
		"33 bytes padded":   seq(int32b, append([]byte{0x02, 0x22, 0x00}, bytes.Repeat([]byte{0x80}, 33)...)),
		"trailing data":     append(seq(int32b, int32b), 0),
	} {
		var sig [sigLen]byte
		if rawSignature(&sig, der) {
			t.Errorf("%s: rawSignature(%x) accepted", name, der)
		}
	}
}

// TestSignPayloadVerifies signs enough times that some r or s is shorter
// than 32 bytes (probability about 1/128 per signature) and checks every
// signature with crypto/ecdsa.
func TestSignPayloadVerifies(t *testing.T) {
	k, err := Generate()
	if err != nil {
		t.Fatal(err)
	}
	n := 1000
	if testing.Short() {
		n = 100
	}
	short := 0
	for range n {
		var payload [8]byte
		_, _ = rand.Read(payload[:])
		tok, err := k.signPayload("eyJhbGciOiJFUzI1NiJ9", payload[:])
		if err != nil {
			t.Fatal(err)
		}
		head, sig, err := splitSignature(tok)
		if err != nil {
			t.Fatal(err)
		}
		if sig[0] == 0 || sig[coordLen] == 0 {
			short++
		}
		digest := sha256.Sum256([]byte(head))
		r := new(big.Int).SetBytes(sig[:coordLen])
		s := new(big.Int).SetBytes(sig[coordLen:])
		if !ecdsa.Verify(&k.priv.PublicKey, digest[:], r, s) {
			t.Fatalf("signature %x does not verify", sig)
		}
		if _, got, err := VerifyJWT(tok, k.Public()); err != nil || !bytes.Equal(got, payload[:]) {
			t.Fatalf("VerifyJWT: %x, %v", got, err)
		}
	}
	t.Logf("%d of %d signatures had a short r or s", short, n)
}

func splitSignature(tok string) (head string, sig []byte, err error) {
	i := len(tok) - 1
	for tok[i] != '.' {
		i--
	}
	sig, err = b64.DecodeString(tok[i+1:])
	return tok[:i], sig, err
}
