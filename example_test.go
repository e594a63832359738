package atoauth_test

import (
	"fmt"
	"log"
	"net/http/httptest"

	"github.com/atoauth/atoauth"
	"github.com/atoauth/atoauth/jwk"
)

// A loopback development client needs no hosting: its client_id carries
// its redirect URI and scope. The redirect URI has no port: each login
// names the port it listens on.
func ExampleLoopbackConfig() {
	client, err := atoauth.NewClient(atoauth.LoopbackConfig("atproto transition:generic"))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(client.ClientID())
	// auth, err := client.Start(ctx, "alice.example.com", &atoauth.StartOptions{RedirectURI: "http://127.0.0.1:54321/callback"})
	// Output: http://localhost?redirect_uri=http%3A%2F%2F127.0.0.1%2Fcallback&scope=atproto+transition%3Ageneric
}

// The client of a stored session is rebuilt from the session's ClientID.
func ExampleParseLoopbackClientID() {
	cfg, err := atoauth.ParseLoopbackClientID("http://localhost?redirect_uri=http%3A%2F%2F127.0.0.1%2Fcallback&scope=atproto+transition%3Ageneric")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%q %q\n", cfg.RedirectURIs, cfg.Scope)
	// Output: ["http://127.0.0.1/callback"] "atproto transition:generic"
}

// A confidential web client serves its metadata document and public keys
// from the app itself.
func ExampleClient_MetadataHandler() {
	key, err := jwk.Generate()
	if err != nil {
		log.Fatal(err)
	}
	client, err := atoauth.NewClient(atoauth.Config{
		ClientID:     "https://app.example.com/oauth-client-metadata.json",
		RedirectURIs: []string{"https://app.example.com/oauth/callback"},
		Scope:        "atproto transition:generic",
		ClientName:   "Example App",
		Keys:         []*jwk.Key{key.WithKeyID("2026-11")},
	})
	if err != nil {
		log.Fatal(err)
	}
	// http.Handle("/oauth-client-metadata.json", client.MetadataHandler())
	// http.Handle("/oauth/jwks.json", client.JWKSHandler())
	rec := httptest.NewRecorder()
	client.MetadataHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/oauth-client-metadata.json", nil))
	md := client.Metadata()
	fmt.Println(rec.Code, rec.Header().Get("Content-Type"))
	fmt.Println(md.TokenEndpointAuthMethod, md.TokenEndpointAuthSigningAlg, md.DPoPBoundAccessTokens, md.JWKS.Keys[0].Kid)
	// Output:
	// 200 application/json
	// private_key_jwt ES256 true 2026-11
}

// Configuration mistakes are caught before any request is sent.
func ExampleNewClient_invalid() {
	_, err := atoauth.NewClient(atoauth.Config{
		RedirectURIs: []string{"http://localhost:8080/callback"},
	})
	fmt.Println(err)
	// Output: atoauth: invalid client configuration: RedirectURIs: "http://localhost:8080/callback": use http://127.0.0.1 rather than the hostname localhost (atproto OAuth spec, loopback clients)
}
