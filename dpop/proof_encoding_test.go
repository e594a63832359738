package dpop_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"slices"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/atoauth/atoauth/dpop"
	"github.com/atoauth/atoauth/jwk"
)

// TestNewProofClaimsEncoding checks that proofs verify both with
// jwk.VerifyJWT and with go-jose (verifyProof), and that their payload is
// byte-for-byte what encoding/json makes of the claims, for URLs whose
// "htu" needs JSON escaping and with and without "nonce" and "ath".
func TestNewProofClaimsEncoding(t *testing.T) {
	type claims = dpop.RefClaims
	key := newKey(t)
	now := time.Unix(1_700_000_123, 0)
	urls := []string{
		"https://pds.example.com/xrpc/com.atproto.repo.createRecord?x=1",
		`https://a&b<c>"d/`, // url.Parse accepts these in a host
		"https://h/a&b'c;d=e/%22<>?q#f",
		"https://é.example/p", "https://a\u2028b/", "https://%ff/", // the last one is not UTF-8
		"http://[fe80::1%25en0]:8080/p",
	}
	for _, u := range urls {
		for _, opts := range []dpop.ProofOptions{
			{Now: now},
			{Now: now, Nonce: "<n&nce>"},
			{Now: now, AccessToken: "at"},
			{Now: now, Nonce: "eyJ7S_zG.eyJH0-Z.HX4w-7v", AccessToken: "eyJhbGciOiJFUzI1NiJ9.e30.sig"},
		} {
			htu, err := dpop.HTU(u)
			if err != nil {
				t.Fatal(u, err)
			}
			raw, err := dpop.NewProof(key, "DELETE", u, opts)
			if err != nil {
				t.Fatal(u, err)
			}
			if _, err := verifyProof(raw); err != nil {
				t.Fatalf("%s: %v", u, err)
			}
			_, payload, err := jwk.VerifyJWT(raw, key.Public())
			if err != nil {
				t.Fatalf("%s: %v", u, err)
			}
			var got claims
			if err := json.Unmarshal(payload, &got); err != nil {
				t.Fatalf("%s: %s: %v", u, payload, err)
			}
			want := claims{JTI: got.JTI, HTM: "DELETE", HTU: htu, IAT: now.Unix(), Nonce: opts.Nonce}
			if opts.AccessToken != "" {
				sum := sha256.Sum256([]byte(opts.AccessToken))
				want.ATH = b64.EncodeToString(sum[:])
			}
			wantJSON, err := json.Marshal(want)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(payload, wantJSON) {
				t.Errorf("%s: payload\n got %s\nwant %s", u, payload, wantJSON)
			}
			if utf8.ValidString(htu) && got != want {
				t.Errorf("%s: claims %+v, want %+v", u, got, want)
			}
			var m map[string]any
			_ = json.Unmarshal(payload, &m)
			wantKeys := []string{"htm", "htu", "iat", "jti"}
			if opts.Nonce != "" {
				wantKeys = append(wantKeys, "nonce")
			}
			if opts.AccessToken != "" {
				wantKeys = append(wantKeys, "ath")
			}
			slices.Sort(wantKeys)
			if keys := sortedKeys(m); !slices.Equal(keys, wantKeys) {
				t.Errorf("%s: claims %v, want %v", u, keys, wantKeys)
			}
		}
	}
}

// TestNewProofLong checks proofs larger than the internal stack buffers.
func TestNewProofLong(t *testing.T) {
	key := newKey(t)
	u := "https://pds.example.com/" + string(bytes.Repeat([]byte("long/"), 400))
	nonce := string(bytes.Repeat([]byte("n"), dpop.MaxNonceLen))
	raw, err := dpop.NewProof(key, "POST", u, dpop.ProofOptions{Nonce: nonce, AccessToken: "at"})
	if err != nil {
		t.Fatal(err)
	}
	p, err := verifyProof(raw)
	if err != nil {
		t.Fatal(err)
	}
	if p.str("htu") != u || p.str("nonce") != nonce {
		t.Errorf("claims %v", p.Claims)
	}
	if _, _, err := jwk.VerifyJWT(raw, key.Public()); err != nil {
		t.Fatal(err)
	}
}
