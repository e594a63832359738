package e2e

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/atoauth/atoauth"
	"github.com/atoauth/atoauth/safehttp"
	"github.com/atoauth/atoauth/sqlite"
)

// challengeCounter counts the nonce challenges of one origin among the
// responses it passes on: the PDS's (401 with WWW-Authenticate: DPoP
// error="use_dpop_nonce") and the authorization server's (400
// use_dpop_nonce). The reference PDS is its own authorization server, on
// one origin, so both share one nonce.
type challengeCounter struct {
	base    http.RoundTripper
	origin  string
	pds, as atomic.Int64
}

func (c *challengeCounter) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := c.base.RoundTrip(r)
	if err != nil || !strings.HasPrefix(r.URL.String(), c.origin) {
		return resp, err
	}
	switch resp.StatusCode {
	case http.StatusUnauthorized: // the PDS
		if strings.Contains(resp.Header.Get("WWW-Authenticate"), "use_dpop_nonce") {
			c.pds.Add(1)
		}
	case http.StatusBadRequest: // the authorization server
		body, rerr := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		resp.Body = io.NopCloser(bytes.NewReader(body))
		if rerr == nil && bytes.Contains(body, []byte(`"use_dpop_nonce"`)) {
			c.as.Add(1)
		}
	}
	return resp, err
}

// TestFleetSharesNoncesOnTheReferencePDS runs two instances of an app on
// one SQLite store against the reference PDS: the session signed in on
// the first, 100 authenticated requests spread over both in turn. With the
// store sharing nonces (the default for the SQL stores) the fleet pays one
// PDS nonce challenge; with nonces kept per process (LocalNonces), one per
// instance. The reference server changes its nonce once a minute, so the
// 100 requests (a few seconds) fall within one or two rotations.
func TestFleetSharesNoncesOnTheReferencePDS(t *testing.T) {
	for _, tc := range []struct {
		name   string
		shared bool
	}{{"shared", true}, {"per instance", false}} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			path := filepath.Join(t.TempDir(), "fleet.db")
			instance := func() (func(*atoauth.Config), *challengeCounter) {
				st, err := sqlite.Open(ctx, path, nil)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { st.Close() })
				base := safehttp.NewClient(safehttp.Options{AllowInsecureDevelopment: true})
				cc := &challengeCounter{base: base.Transport}
				return func(cfg *atoauth.Config) {
					cfg.Store = st
					hc := *base
					hc.Transport = cc
					cfg.HTTPClient = &hc
					if !tc.shared {
						cfg.NonceStore = atoauth.LocalNonces{}
					}
				}, cc
			}
			editA, countA := instance()
			editB, countB := instance()
			a := newHarnessWith(t, "atproto transition:generic", editA)
			b := newHarnessWith(t, "atproto transition:generic", editB)
			countA.origin, countB.origin = a.net.PDSURL, a.net.PDSURL
			sa := a.login(a.net.Account("alice").Handle, a.net.Account("alice"))
			signIn := countA.as.Load() + countA.pds.Load() // at sign-in (PAR, token, identity check)
			sb, err := b.client.Session(ctx, sa.ID())
			if err != nil {
				t.Fatal(err)
			}
			for i := range 100 {
				s := sa
				if i%2 == 1 {
					s = sb
				}
				if code := call(t, s, http.MethodGet, "com.atproto.server.getSession", nil, nil, nil); code != http.StatusOK {
					t.Fatalf("request %d: status %d", i, code)
				}
			}
			a1, b1 := countA.as.Load()+countA.pds.Load(), countB.as.Load()+countB.pds.Load()
			t.Logf("%s: sign-in on A, then 100 requests over 2 instances: nonce challenges for the fleet at the PDS origin (its own authorization server) %d (A %d, %d of them at sign-in; B %d)",
				tc.name, a1+b1, a1, signIn, b1)
			switch {
			case tc.shared && b1 != 0:
				t.Errorf("with the shared store, instance B paid %d challenges (it should use the nonce A stored)", b1)
			case !tc.shared && b1 == 0:
				t.Errorf("with nonces per instance, B paid no challenge: the comparison measures nothing")
			}
		})
	}
}
