package dpop_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/atoauth/atoauth/dpop"
)

// BenchmarkECDSASignP256 is the floor for BenchmarkNewProof: one bare
// ECDSA P-256 signature over a SHA-256 digest.
func BenchmarkECDSASignP256(b *testing.B) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	digest := sha256.Sum256([]byte("a typical signing input of a couple of hundred bytes"))
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := ecdsa.Sign(rand.Reader, priv, digest[:]); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkNewProof(b *testing.B) {
	key := newKey(b)
	opts := dpop.ProofOptions{Nonce: "eyJ7S_zG.eyJH0-Z.HX4w-7v", AccessToken: "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJkaWQ6cGxjOngifQ.sig"}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := dpop.NewProof(key, "POST", "https://pds.example.com/xrpc/com.atproto.repo.createRecord?x=1", opts); err != nil {
			b.Fatal(err)
		}
	}
}

func benchServer(b *testing.B) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("DPoP-Nonce", "eyJ7S_zG.eyJH0-Z.HX4w-7v")
		_, _ = io.WriteString(w, `{"ok":true}`)
	}))
	b.Cleanup(srv.Close)
	return srv
}

func benchRoundTrip(b *testing.B, rt http.RoundTripper, url string, auth bool) {
	b.ReportAllocs()
	for b.Loop() {
		req, _ := http.NewRequest("GET", url, nil)
		if auth {
			req.Header.Set("Authorization", "DPoP eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJkaWQ6cGxjOngifQ.sig")
		}
		resp, err := rt.RoundTrip(req)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			b.Fatal(resp.Status)
		}
	}
}

// BenchmarkTransportAuthenticated is a full RoundTrip through Transport
// (proof, nonce bookkeeping) to a local server.
func BenchmarkTransportAuthenticated(b *testing.B) {
	srv := benchServer(b)
	benchRoundTrip(b, &dpop.Transport{Key: newKey(b)}, srv.URL+"/xrpc/app.bsky.actor.getProfile?actor=x", true)
}

// BenchmarkTransportPlain is the same request via http.DefaultTransport,
// without DPoP.
func BenchmarkTransportPlain(b *testing.B) {
	srv := benchServer(b)
	benchRoundTrip(b, http.DefaultTransport, srv.URL+"/xrpc/app.bsky.actor.getProfile?actor=x", false)
}
