// Command roundtrips prints the round-trip figures of the README: the
// HTTP requests atoauth sends per login, per authenticated call and per
// token lifetime (20 s, 5 min, 60 min), measured on the fake network,
// and the cost of a DPoP proof beside a bare ECDSA P-256 signature,
// measured side by side in the same run.
//
//	go run ./internal/roundtrips/cmd [-rounds 5]
package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"flag"
	"fmt"
	"os"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/atoauth/atoauth/dpop"
	"github.com/atoauth/atoauth/internal/roundtrips"
	"github.com/atoauth/atoauth/jwk"
)

func main() {
	rounds := flag.Int("rounds", 5, "benchmark rounds, alternating the two (medians are printed)")
	flag.Parse()
	rep, err := roundtrips.Measure(context.Background(), 20*time.Second, 5*time.Minute, time.Hour)
	if err != nil {
		fmt.Fprintln(os.Stderr, "roundtrips:", err)
		os.Exit(1)
	}
	fmt.Print(rep.Markdown())
	fmt.Println()
	if err := proofCost(*rounds); err != nil {
		fmt.Fprintln(os.Stderr, "roundtrips:", err)
		os.Exit(1)
	}
}

// proofCost benchmarks dpop.NewProof (nonce and ath, as for a PDS call)
// against ecdsa.Sign, alternating rounds, and prints the medians.
func proofCost(rounds int) error {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	key, err := jwk.Generate()
	if err != nil {
		return err
	}
	digest := sha256.Sum256([]byte("a typical signing input of a couple of hundred bytes"))
	opts := dpop.ProofOptions{Nonce: "eyJ7S_zG.eyJH0-Z.HX4w-7v", AccessToken: "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJkaWQ6cGxjOngifQ.sig"}
	sign := func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, _, err := ecdsa.Sign(rand.Reader, priv, digest[:]); err != nil {
				b.Fatal(err)
			}
		}
	}
	proof := func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := dpop.NewProof(key, "POST", "https://pds.example.com/xrpc/com.atproto.repo.createRecord?x=1", opts); err != nil {
				b.Fatal(err)
			}
		}
	}
	var signNs, proofNs []float64
	var signAllocs, proofAllocs int64
	for range rounds {
		r := testing.Benchmark(sign)
		signNs, signAllocs = append(signNs, float64(r.NsPerOp())), r.AllocsPerOp()
		r = testing.Benchmark(proof)
		proofNs, proofAllocs = append(proofNs, float64(r.NsPerOp())), r.AllocsPerOp()
	}
	s, p := median(signNs), median(proofNs)
	fmt.Printf("| operation (%s, %d rounds, medians) | µs/op | allocs/op |\n| --- | --- | --- |\n", runtime.GOARCH, rounds)
	fmt.Printf("| `ecdsa.Sign` P-256 (the floor) | %.1f | %d |\n", s/1e3, signAllocs)
	fmt.Printf("| `dpop.NewProof` with nonce and ath | %.1f (%.2f×) | %d |\n", p/1e3, p/s, proofAllocs)
	return nil
}

func median(v []float64) float64 {
	slices.Sort(v)
	return v[len(v)/2]
}
