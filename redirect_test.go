package atoauth_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/atoauth/atoauth/atoauthtest"
)

// foreign is a host that is not the PDS: it records what reaches it and
// answers every request with a redirect to `to`.
type foreign struct {
	*httptest.Server
	mu   sync.Mutex
	seen []*http.Request
	body [][]byte
}

func newForeign(t *testing.T, status int, to func() string) *foreign {
	f := &foreign{}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		f.seen = append(f.seen, r)
		f.body = append(f.body, b)
		f.mu.Unlock()
		if to != nil {
			http.Redirect(w, r, to(), status)
			return
		}
		io.WriteString(w, "foreign page")
	}))
	t.Cleanup(f.Close)
	return f
}

// Credentials follow the request's origin, not the hop: a request that
// started at another host is never signed, even when it is redirected
// into the PDS; Session.HTTPClient does not even follow that redirect.
func TestRedirectIntoThePDSIsNeverSigned(t *testing.T) {
	for _, status := range []int{http.StatusFound, http.StatusTemporaryRedirect} {
		e := newEnv(t)
		s := e.login("alice.test")
		target := s.PDS() + "/xrpc/com.atproto.repo.createRecord"
		method := http.MethodPost
		if status == http.StatusFound {
			target, method = s.PDS()+"/xrpc/com.atproto.server.getSession", http.MethodGet
		}
		link := newForeign(t, status, func() string { return target })
		before := e.net.Counters()

		// Session.HTTPClient returns the redirect to the caller.
		req, _ := http.NewRequest(method, link.URL+"/preview", strings.NewReader(`{"repo":"x"}`))
		resp, err := s.HTTPClient().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != status || resp.Header.Get("Location") != target {
			t.Fatalf("HTTP %d %s: the cross-origin redirect was followed", resp.StatusCode, resp.Header.Get("Location"))
		}

		// A client with the default redirect policy over HTTPClient().Transport
		// follows it, but unsigned: the PDS refuses.
		req, _ = http.NewRequest(method, link.URL+"/preview", bytes.NewReader([]byte(`{"repo":"x"}`)))
		resp, err = (&http.Client{Transport: s.HTTPClient().Transport}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("redirected into the PDS through HTTPClient().Transport: HTTP %d %s, want 401 (unsigned)", resp.StatusCode, body)
		}
		if got := e.net.Counters(); got.PDSAuthenticated != before.PDSAuthenticated {
			t.Fatalf("HTTP %d: a request that started elsewhere was authenticated at the PDS", status)
		}
	}
}

// A PDS redirect to another origin is not followed by Session.HTTPClient
// (the caller gets the 3xx); followed by another client over HTTPClient().Transport,
// it carries no credentials.
func TestRedirectOutOfThePDSCarriesNoCredentials(t *testing.T) {
	e := newEnv(t)
	s := e.login("alice.test")
	away := newForeign(t, 0, nil)
	e.net.UpdateTamper(func(tp *atoauthtest.Tamper) {
		tp.Hostile = &atoauthtest.Hostile{
			Redirect:       func(r *http.Request) string { return away.URL + "/elsewhere" },
			RedirectStatus: http.StatusTemporaryRedirect,
		}
	})
	resp, _, err := createRecord(context.Background(), s, "hello")
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusTemporaryRedirect {
		t.Fatalf("HTTP %d: the cross-origin redirect was followed", resp.StatusCode)
	}
	if len(away.seen) != 0 {
		t.Fatal("the other host was contacted")
	}
	req, _ := http.NewRequest(http.MethodPost, s.PDS()+"/xrpc/com.atproto.repo.createRecord", strings.NewReader(`{"secret":"body"}`))
	req.Header.Set("Content-Type", "application/json")
	resp, err = (&http.Client{Transport: s.HTTPClient().Transport}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	away.mu.Lock()
	defer away.mu.Unlock()
	if len(away.seen) != 1 {
		t.Fatalf("the other host saw %d requests", len(away.seen))
	}
	if h := away.seen[0].Header; h.Get("Authorization") != "" || h.Get("DPoP") != "" {
		t.Fatalf("credentials went to another host: %v", h)
	}
}

// Within the PDS, redirects are followed and signed.
func TestRedirectWithinThePDSIsFollowed(t *testing.T) {
	e := newEnv(t)
	s := e.login("alice.test")
	e.net.UpdateTamper(func(tp *atoauthtest.Tamper) {
		tp.Hostile = &atoauthtest.Hostile{
			Only: func(nsid string) bool { return nsid == "com.atproto.server.describeServer" },
			Redirect: func(r *http.Request) string {
				return "/xrpc/com.atproto.server.getSession"
			},
		}
	})
	req, _ := http.NewRequest(http.MethodGet, s.PDS()+"/xrpc/com.atproto.server.describeServer", nil)
	resp, err := s.HTTPClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), s.DID().String()) {
		t.Fatalf("HTTP %d %s: a same-origin redirect was not followed with credentials", resp.StatusCode, body)
	}
}
