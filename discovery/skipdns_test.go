package discovery_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/atoauth/atoauth/discovery"
	"github.com/bluesky-social/indigo/atproto/syntax"
)

// A *.bsky.social handle skips DNS; when its well-known lookup fails too,
// the lookup must fail with ErrHandleNotFound rather than yield an empty DID.
func TestSkippedDNSAndFailedWellKnownIsNotFound(t *testing.T) {
	client := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		return &http.Response{StatusCode: 404, Body: http.NoBody, Header: http.Header{}, Request: r}, nil
	})}
	dir := discovery.NewDirectory(discovery.DirectoryOptions{HTTPClient: client})
	_, err := dir.LookupHandle(context.Background(), syntax.Handle("nobody.bsky.social"))
	if !errors.Is(err, discovery.ErrHandleNotFound) {
		t.Fatalf("err = %v, want ErrHandleNotFound", err)
	}
	if strings.Contains(err.Error(), "DID method") {
		t.Fatalf("an empty DID leaked into DID resolution: %v", err)
	}
}
