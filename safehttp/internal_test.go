package safehttp

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
)

// fakeRoundTripper answers every request to https://public.example.com with
// a redirect to the location in its table, without any network.
type fakeRoundTripper struct {
	redirects map[string]string // path -> Location
	requested []string
}

func (f *fakeRoundTripper) RoundTrip(req *http.Request) (*http.Response, error) {
	f.requested = append(f.requested, req.URL.String())
	resp := &http.Response{
		StatusCode: http.StatusOK,
		Header:     http.Header{},
		Body:       io.NopCloser(strings.NewReader("ok")),
		Request:    req,
	}
	if loc, ok := f.redirects[req.URL.Path]; ok {
		resp.StatusCode = http.StatusFound
		resp.Header.Set("Location", loc)
	}
	return resp, nil
}

// Redirect hops go through the same scheme and address checks as the first
// request: a public https server cannot bounce the client to http or to an
// internal address.
func TestRedirectHopsAreChecked(t *testing.T) {
	for _, tc := range []struct {
		location string
		want     error
	}{
		{"http://public.example.com/next", ErrInsecureURL},
		{"https://127.0.0.1/admin", ErrForbiddenAddress},
		{"https://[fd00::1]/admin", ErrForbiddenAddress},
		{"https://169.254.169.254/latest/meta-data", ErrForbiddenAddress},
	} {
		rt := &fakeRoundTripper{redirects: map[string]string{"/start": tc.location}}
		c := newClient(Options{MaxRedirects: 5}, rt, DefaultTimeout)
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, "https://public.example.com/start", nil)
		_, err := c.Do(req)
		if !errors.Is(err, tc.want) {
			t.Errorf("redirect to %s: err = %v, want %v", tc.location, err, tc.want)
		}
		if len(rt.requested) != 1 {
			t.Errorf("redirect to %s: base transport saw %v, want only the first request", tc.location, rt.requested)
		}
	}

	// A permitted hop goes through.
	rt := &fakeRoundTripper{redirects: map[string]string{"/start": "https://other.example.com/next"}}
	c := newClient(Options{MaxRedirects: 1}, rt, DefaultTimeout)
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, "https://public.example.com/start", nil)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if len(rt.requested) != 2 {
		t.Fatalf("requests = %v", rt.requested)
	}
}
