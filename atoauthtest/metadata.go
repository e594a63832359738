package atoauthtest

import (
	"encoding/json"
	"net/http"
	"strings"

	"github.com/bluesky-social/indigo/atproto/syntax"
)

const (
	asMetadataPath       = "/.well-known/oauth-authorization-server"
	resourceMetadataPath = "/.well-known/oauth-protected-resource"
	movedPrefix          = "/_moved"
	parPath              = "/oauth/par"
	authorizePath        = "/oauth/authorize"
	tokenPath            = "/oauth/token"
	revokePath           = "/oauth/revoke"
)

// ASMetadata returns the authorization server metadata document the network
// serves (without tampering).
func (n *Network) ASMetadata() map[string]any {
	iss := n.Issuer()
	return toGeneric(map[string]any{
		"issuer":                                           iss,
		"authorization_endpoint":                           iss + authorizePath,
		"token_endpoint":                                   iss + tokenPath,
		"pushed_authorization_request_endpoint":            iss + parPath,
		"revocation_endpoint":                              iss + revokePath,
		"require_pushed_authorization_requests":            true,
		"response_types_supported":                         []string{"code"},
		"response_modes_supported":                         []string{"query"},
		"grant_types_supported":                            []string{"authorization_code", "refresh_token"},
		"code_challenge_methods_supported":                 []string{"S256"},
		"token_endpoint_auth_methods_supported":            []string{authMethodNone, authMethodPrivateKey},
		"token_endpoint_auth_signing_alg_values_supported": []string{"ES256"},
		"revocation_endpoint_auth_methods_supported":       []string{authMethodNone, authMethodPrivateKey},
		"scopes_supported":                                 supportedStaticScopes,
		"subject_types_supported":                          []string{"public"},
		"authorization_response_iss_parameter_supported":   true,
		"dpop_signing_alg_values_supported":                []string{"ES256"},
		"client_id_metadata_document_supported":            true,
		"require_request_uri_registration":                 true,
		"request_parameter_supported":                      false,
		"request_uri_parameter_supported":                  true,
		"protected_resources":                              []string{n.PDS.URL},
	})
}

// ResourceMetadata returns the PDS protected-resource metadata document the
// network serves (without tampering).
func (n *Network) ResourceMetadata() map[string]any {
	return toGeneric(map[string]any{
		"resource":                 n.PDS.URL,
		"authorization_servers":    []string{n.Issuer()},
		"scopes_supported":         []string{},
		"bearer_methods_supported": []string{"header"},
		"resource_documentation":   "https://atproto.com",
	})
}

// serveMetadata serves a metadata document, applying the metadata knobs.
func (n *Network) serveMetadata(w http.ResponseWriter, r *http.Request, doc map[string]any, edit func(map[string]any)) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET")
		writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "invalid_request", "error_description": "method not allowed"})
		return
	}
	t := n.currentTamper()
	if t.RedirectMetadata && !strings.HasPrefix(r.URL.Path, movedPrefix) {
		http.Redirect(w, r, movedPrefix+r.URL.Path, http.StatusFound)
		return
	}
	if edit != nil {
		edit(doc)
	}
	if t.OversizeMetadata {
		doc["_padding"] = strings.Repeat("x", 1<<20+1)
	}
	body, err := json.Marshal(doc)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	ct := "application/json"
	if t.MetadataContentType != "" {
		ct = t.MetadataContentType
	}
	status := http.StatusOK
	if t.MetadataStatus != 0 {
		status = t.MetadataStatus
	}
	w.Header().Set("Content-Type", ct)
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

func (n *Network) serveASMetadata(w http.ResponseWriter, r *http.Request) {
	n.count(func(c *Counters) { c.ASMetadata++ })
	n.serveMetadata(w, r, n.ASMetadata(), n.currentTamper().ASMetadata)
}

func (n *Network) serveResourceMetadata(w http.ResponseWriter, r *http.Request) {
	n.count(func(c *Counters) { c.ResourceMetadata++ })
	n.serveMetadata(w, r, n.ResourceMetadata(), n.currentTamper().ResourceMetadata)
}

// DIDDocument returns the DID document the PLC directory serves for did
// (without tampering), or nil if the network does not know the DID.
func (n *Network) DIDDocument(did syntax.DID) map[string]any {
	n.mu.Lock()
	a := n.accounts[did]
	n.mu.Unlock()
	if a == nil {
		return nil
	}
	return toGeneric(map[string]any{
		"@context": []string{
			"https://www.w3.org/ns/did/v1",
			"https://w3id.org/security/multikey/v1",
		},
		"id":          a.did,
		"alsoKnownAs": []string{"at://" + a.handle.String()},
		"verificationMethod": []map[string]string{{
			"id":                 a.did.String() + "#atproto",
			"type":               "Multikey",
			"controller":         a.did.String(),
			"publicKeyMultibase": a.key,
		}},
		"service": []map[string]string{{
			"id":              "#atproto_pds",
			"type":            "AtprotoPersonalDataServer",
			"serviceEndpoint": a.pds,
		}},
	})
}

// servePLC answers GET /{did} with the DID document.
func (n *Network) servePLC(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET")
		writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"message": "method not allowed"})
		return
	}
	n.count(func(c *Counters) { c.DIDResolutions++ })
	raw := strings.TrimPrefix(r.URL.Path, "/")
	did, err := syntax.ParseDID(raw)
	if err != nil || did.Method() != "plc" {
		writeJSON(w, http.StatusNotFound, map[string]string{"message": "not a did:plc: " + raw})
		return
	}
	doc := n.DIDDocument(did)
	if doc == nil {
		writeJSON(w, http.StatusNotFound, map[string]string{"message": "DID not registered: " + raw})
		return
	}
	if f := n.currentTamper().DIDDocument; f != nil {
		f(did, doc)
	}
	b, err := json.Marshal(doc)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/did+ld+json; charset=utf-8")
	_, _ = w.Write(b)
}
