package dpop_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"

	"github.com/atoauth/atoauth/dpop"
	"github.com/atoauth/atoauth/jwk"
)

func ExampleNewProof() {
	key, err := jwk.Generate() // one key per session, stored with it
	if err != nil {
		log.Fatal(err)
	}
	proof, err := dpop.NewProof(key, "POST", "https://pds.example.com/xrpc/com.atproto.repo.createRecord?x=1",
		dpop.ProofOptions{Nonce: "server-nonce", AccessToken: "the-access-token"})
	if err != nil {
		log.Fatal(err)
	}
	// Send it as the DPoP header, beside "Authorization: DPoP <token>".
	parts := strings.Split(proof, ".")
	header, _ := base64.RawURLEncoding.DecodeString(parts[0])
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	var h struct{ Typ, Alg string }
	var c struct{ Htm, Htu, Nonce, Ath string }
	_ = json.Unmarshal(header, &h)
	_ = json.Unmarshal(payload, &c)
	fmt.Println(h.Typ, h.Alg)
	fmt.Println(c.Htm, c.Htu, c.Nonce, c.Ath != "")
	// Output:
	// dpop+jwt ES256
	// POST https://pds.example.com/xrpc/com.atproto.repo.createRecord server-nonce true
}

func Example_transport() {
	// A resource server that demands a DPoP nonce, as the atproto PDS does.
	var attempts atomic.Int32
	pds := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		attempts.Add(1)
		w.Header().Set("DPoP-Nonce", "nonce-1")
		if !strings.Contains(proofPayload(r.Header.Get("DPoP")), `"nonce":"nonce-1"`) {
			w.Header().Set("WWW-Authenticate", `DPoP error="use_dpop_nonce"`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		io.WriteString(w, "created")
	}))
	defer pds.Close()

	key, err := jwk.Generate()
	if err != nil {
		log.Fatal(err)
	}
	client := &http.Client{Transport: &dpop.Transport{Key: key}}

	req, _ := http.NewRequest("POST", pds.URL+"/xrpc/com.atproto.repo.createRecord", strings.NewReader(`{"record":{}}`))
	req.Header.Set("Authorization", "DPoP the-access-token") // the proof gets "ath"
	resp, err := client.Do(req)
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Println(resp.StatusCode, string(body), "after", attempts.Load(), "attempts")
	// Output: 200 created after 2 attempts
}

// proofPayload returns the decoded claims of a proof, unverified (a real
// server verifies it first).
func proofPayload(proof string) string {
	parts := strings.Split(proof, ".")
	if len(parts) != 3 {
		return ""
	}
	b, _ := base64.RawURLEncoding.DecodeString(parts[1])
	return string(b)
}
