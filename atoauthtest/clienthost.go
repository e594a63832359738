package atoauthtest

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
)

// ClientHostURL is the origin a [ClientHost] serves: an https origin with a
// domain name and no port, as client IDs require. httptest's certificate is
// valid for *.example.com.
const ClientHostURL = "https://client.example.com"

// ClientHost is a TLS server that plays the web host of an https client:
// it serves client ID metadata documents, JWKS documents or any handler at
// paths of [ClientHostURL]. Point the network at it with
//
//	host := atoauthtest.NewClientHost(t)
//	net := atoauthtest.NewNetwork(t, atoauthtest.Options{ClientHTTPClient: host.HTTPClient()})
//	host.ServeJSON("/client-metadata.json", doc) // client_id: ClientHostURL + "/client-metadata.json"
type ClientHost struct {
	// Server is the underlying TLS test server.
	Server *httptest.Server

	mu       sync.Mutex
	handlers map[string]http.Handler
}

// NewClientHost starts a ClientHost; t.Cleanup closes it.
func NewClientHost(t testing.TB) *ClientHost {
	h := &ClientHost{handlers: map[string]http.Handler{}}
	h.Server = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.mu.Lock()
		handler := h.handlers[r.URL.Path]
		h.mu.Unlock()
		if handler == nil {
			http.NotFound(w, r)
			return
		}
		handler.ServeHTTP(w, r)
	}))
	t.Cleanup(h.Server.Close)
	return h
}

// Handle serves handler at path (exact match), replacing any previous one.
// A nil handler removes the path.
func (h *ClientHost) Handle(path string, handler http.Handler) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if handler == nil {
		delete(h.handlers, path)
		return
	}
	h.handlers[path] = handler
}

// ServeJSON serves v, marshalled once now, as application/json at path and
// returns the document's URL (ClientHostURL + path).
func (h *ClientHost) ServeJSON(path string, v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic("atoauthtest: ServeJSON: " + err.Error())
	}
	h.Handle(path, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(b)
	}))
	return ClientHostURL + path
}

// HTTPClient returns a client that trusts the host's certificate and sends
// every request, whatever its host name, to the host. Use it as
// [Options.ClientHTTPClient].
func (h *ClientHost) HTTPClient() *http.Client {
	tr := h.Server.Client().Transport.(*http.Transport).Clone()
	addr := h.Server.Listener.Addr().String()
	var d net.Dialer
	tr.DialContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
		return d.DialContext(ctx, network, addr)
	}
	return &http.Client{Transport: tr}
}
