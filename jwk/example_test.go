package jwk_test

import (
	"encoding/json"
	"fmt"
	"log"

	"github.com/atoauth/atoauth/jwk"
)

func ExampleGenerate() {
	key, err := jwk.Generate()
	if err != nil {
		log.Fatal(err)
	}
	key = key.WithKeyID("key-1")

	// Publish the public key in a JWKS (RFC 7517 §5).
	jwks, _ := json.Marshal(jwk.Set{Keys: []jwk.PublicJWK{key.PublicJWK()}})
	var set jwk.Set
	_ = json.Unmarshal(jwks, &set)
	pub, ok := set.Find("key-1")
	fmt.Println(ok, pub.Kty, pub.Crv, pub.Alg, pub.Use)
	// Output: true EC P-256 ES256 sig
}

func ExampleParse() {
	// The P-256 key of RFC 7515 Appendix A.3.
	key, err := jwk.Parse([]byte(`{"kty":"EC","crv":"P-256",
		"x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
		"y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0",
		"d":"jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI"}`))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(key.Thumbprint())
	fmt.Println(key) // never prints the private key
	// Output:
	// oKIywvGUpTVTyxMQ3bwIIeQUudfr_CkLMjCE19ECD-U
	// jwk.Key{kid="", thumbprint="oKIywvGUpTVTyxMQ3bwIIeQUudfr_CkLMjCE19ECD-U"}
}

func ExampleKey_SignJWT() {
	key, err := jwk.Generate()
	if err != nil {
		log.Fatal(err)
	}
	token, err := key.SignJWT(map[string]any{"typ": "JWT"}, map[string]any{"iss": "https://app.example"})
	if err != nil {
		log.Fatal(err)
	}
	header, payload, err := jwk.VerifyJWT(token, key.Public())
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(string(header))
	fmt.Println(string(payload))
	// Output:
	// {"alg":"ES256","typ":"JWT"}
	// {"iss":"https://app.example"}
}
