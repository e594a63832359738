package discovery_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/atoauth/atoauth/discovery"
	"github.com/bluesky-social/indigo/atproto/syntax"
)

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// Only an answer says that a handle does not exist; a lookup that could
// not be made (offline: the domain does not resolve; a server error) says
// it could not be checked.
func TestHandleWellKnownFailures(t *testing.T) {
	nxdomain := func(r *http.Request) (*http.Response, error) {
		return nil, &net.DNSError{Err: "no such host", Name: r.URL.Hostname(), IsNotFound: true}
	}
	status := func(code int, body string) roundTripFunc {
		return func(r *http.Request) (*http.Response, error) {
			return &http.Response{StatusCode: code, Header: http.Header{"Content-Type": {"text/plain"}}, Body: io.NopCloser(strings.NewReader(body)), Request: r}, nil
		}
	}
	for _, tc := range []struct {
		name string
		rt   roundTripFunc
		want error
	}{
		{"offline", nxdomain, discovery.ErrUnreachable},
		{"server error", status(503, "down"), discovery.ErrUnreachable},
		{"no such handle", status(404, "not found"), discovery.ErrHandleNotFound},
		{"no DID", status(200, "<html>hello</html>"), discovery.ErrHandleNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := discovery.NewDirectory(discovery.DirectoryOptions{
				HTTPClient: &http.Client{Transport: tc.rt},
				LookupTXT: func(context.Context, string) ([]string, error) {
					return nil, &net.DNSError{Err: "no such host", IsNotFound: true}
				},
			})
			_, err := dir.LookupHandle(context.Background(), syntax.Handle("alice.atoauth-test.dev"))
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if tc.want == discovery.ErrUnreachable && !strings.Contains(err.Error(), "could not check") {
				t.Fatalf("err = %v does not say the handle could not be checked", err)
			}
		})
	}
}
