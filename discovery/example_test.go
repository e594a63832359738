package discovery_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/atoauth/atoauth/discovery"
)

func ExampleParseAuthServerMetadata() {
	doc := []byte(`{
		"issuer": "https://auth.example.com",
		"authorization_endpoint": "https://auth.example.com/oauth/authorize",
		"token_endpoint": "https://auth.example.com/oauth/token",
		"pushed_authorization_request_endpoint": "https://auth.example.com/oauth/par",
		"require_pushed_authorization_requests": true,
		"response_types_supported": ["code"],
		"grant_types_supported": ["authorization_code", "refresh_token"],
		"code_challenge_methods_supported": ["S256"],
		"token_endpoint_auth_methods_supported": ["none", "private_key_jwt"],
		"token_endpoint_auth_signing_alg_values_supported": ["ES256"],
		"scopes_supported": ["atproto", "transition:generic"],
		"authorization_response_iss_parameter_supported": true,
		"dpop_signing_alg_values_supported": ["ES256"],
		"client_id_metadata_document_supported": true
	}`)
	md, err := discovery.ParseAuthServerMetadata(doc, "https://auth.example.com")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(md.PushedAuthorizationRequestEndpoint)

	// Metadata fetched from one origin cannot name another issuer.
	_, err = discovery.ParseAuthServerMetadata(doc, "https://evil.example.com")
	var me *discovery.MetadataError
	if errors.As(err, &me) {
		fmt.Println(me.Field, errors.Is(err, discovery.ErrInvalidMetadata))
	}
	// Output:
	// https://auth.example.com/oauth/par
	// issuer true
}

func ExampleParseResourceMetadata() {
	doc := []byte(`{"resource":"https://pds.example.com","authorization_servers":["https://auth.example.com"]}`)
	md, err := discovery.ParseResourceMetadata(doc, "https://pds.example.com")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(md.AuthorizationServers[0])
	// Output: https://auth.example.com
}

// A self-hosted PDS on a development network: one local server is the PLC
// directory, the PDS (which resolves .test handles) and its own
// authorization server.
func ExampleResolver_ResolveLogin() {
	const did = "did:plc:ewvi7nxzyoun6zhxrhs64oiz"
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	defer srv.Close()
	reply := func(w http.ResponseWriter, v any) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(v)
	}
	mux.HandleFunc("GET /"+did, func(w http.ResponseWriter, r *http.Request) {
		reply(w, map[string]any{
			"id":          did,
			"alsoKnownAs": []string{"at://alice.test"},
			"service":     []any{map[string]string{"id": "#atproto_pds", "type": "AtprotoPersonalDataServer", "serviceEndpoint": srv.URL}},
		})
	})
	mux.HandleFunc("GET /xrpc/com.atproto.identity.resolveHandle", func(w http.ResponseWriter, r *http.Request) {
		reply(w, map[string]string{"did": did})
	})
	mux.HandleFunc("GET /.well-known/oauth-protected-resource", func(w http.ResponseWriter, r *http.Request) {
		reply(w, map[string]any{"resource": srv.URL, "authorization_servers": []string{srv.URL}})
	})
	mux.HandleFunc("GET /.well-known/oauth-authorization-server", func(w http.ResponseWriter, r *http.Request) {
		reply(w, map[string]any{
			"issuer":                                           srv.URL,
			"authorization_endpoint":                           srv.URL + "/oauth/authorize",
			"token_endpoint":                                   srv.URL + "/oauth/token",
			"pushed_authorization_request_endpoint":            srv.URL + "/oauth/par",
			"require_pushed_authorization_requests":            true,
			"response_types_supported":                         []string{"code"},
			"grant_types_supported":                            []string{"authorization_code", "refresh_token"},
			"code_challenge_methods_supported":                 []string{"S256"},
			"token_endpoint_auth_methods_supported":            []string{"none", "private_key_jwt"},
			"token_endpoint_auth_signing_alg_values_supported": []string{"ES256"},
			"scopes_supported":                                 []string{"atproto"},
			"authorization_response_iss_parameter_supported":   true,
			"dpop_signing_alg_values_supported":                []string{"ES256"},
			"client_id_metadata_document_supported":            true,
		})
	})

	r := &discovery.Resolver{
		AllowInsecureDevelopment: true, // the servers are http on 127.0.0.1
		Directory: discovery.NewDirectory(discovery.DirectoryOptions{
			PLCURL:                   srv.URL,
			HandleResolver:           srv.URL,
			AllowInsecureDevelopment: true,
		}),
	}
	target, err := r.ResolveLogin(context.Background(), "@Alice.test")
	if err != nil {
		fmt.Println(err)
		return
	}
	local := strings.NewReplacer(srv.URL, "$SERVER")
	fmt.Println("login_hint:", target.LoginHint)
	fmt.Println("account:", target.Identity.DID, target.Identity.Handle)
	fmt.Println("PDS:", local.Replace(target.PDS))
	fmt.Println("PAR:", local.Replace(target.AuthServer.PushedAuthorizationRequestEndpoint))

	// After the token response: is this issuer entitled to speak for the
	// token's "sub"?
	_, _, err = r.VerifyIssuer(context.Background(), target.Identity.DID, target.AuthServer.Issuer)
	fmt.Println("issuer verified:", err == nil)
	// Output:
	// login_hint: alice.test
	// account: did:plc:ewvi7nxzyoun6zhxrhs64oiz alice.test
	// PDS: $SERVER
	// PAR: $SERVER/oauth/par
	// issuer verified: true
}
