package xrpc_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/atoauth/atoauth/xrpc"
)

// The reference PDS answers a proxied call whose service DID cannot be
// resolved with a bare 500; that is a missing service too.
func TestProxied500IsNoService(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusInternalServerError)
		w.Write([]byte(`{"error":"InternalServerError","message":"Internal Server Error"}`))
	}))
	defer srv.Close()
	c, err := xrpc.NewClient(xrpc.Options{Auth: public(t, srv.URL)})
	if err != nil {
		t.Fatal(err)
	}
	err = c.Query(context.Background(), "app.bsky.actor.getProfile", xrpc.Params{"actor": "x"}, nil, xrpc.WithProxy("did:web:nowhere.invalid#bsky_appview"))
	if !errors.Is(err, xrpc.ErrNoService) || !strings.Contains(err.Error(), "did:web:nowhere.invalid#bsky_appview") {
		t.Fatalf("err = %v", err)
	}
	// A PDS-local method failing with 500 is not about a service.
	err = c.Query(context.Background(), "com.atproto.repo.describeRepo", xrpc.Params{"repo": "x"}, nil)
	if errors.Is(err, xrpc.ErrNoService) {
		t.Fatalf("local 500 reported as a missing service: %v", err)
	}
}
