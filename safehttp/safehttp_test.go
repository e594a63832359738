package safehttp_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/atoauth/atoauth/safehttp"
)

// countingServer counts the requests that reach the handler.
func countingServer(t *testing.T, tls bool, h http.HandlerFunc) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var n atomic.Int32
	wrapped := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		if h != nil {
			h(w, r)
			return
		}
		io.WriteString(w, "ok")
	})
	var srv *httptest.Server
	if tls {
		srv = httptest.NewTLSServer(wrapped)
	} else {
		srv = httptest.NewServer(wrapped)
	}
	t.Cleanup(srv.Close)
	return srv, &n
}

// trustOnly returns a transport that trusts srv's certificate and has no dial
// hooks of its own, so the dialer-level check is exercised.
func trustOnly(srv *httptest.Server) *http.Transport {
	return &http.Transport{TLSClientConfig: srv.Client().Transport.(*http.Transport).TLSClientConfig.Clone()}
}

func get(ctx context.Context, c *http.Client, u string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	return c.Do(req)
}

func TestLoopbackRefusedAtDialTime(t *testing.T) {
	srv, hits := countingServer(t, true, nil)
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())

	c := safehttp.NewClient(safehttp.Options{Transport: trustOnly(srv)})
	for _, u := range []string{
		srv.URL,                               // literal 127.0.0.1
		"https://localhost:" + port + "/path", // a name that resolves to loopback
	} {
		_, err := get(t.Context(), c, u)
		if !errors.Is(err, safehttp.ErrForbiddenAddress) {
			t.Fatalf("GET %s: err = %v, want ErrForbiddenAddress", u, err)
		}
		var ae *safehttp.AddressError
		if !errors.As(err, &ae) || ae.Addr == "" {
			t.Fatalf("GET %s: err = %#v, want *AddressError with Addr", u, err)
		}
	}
	if n := hits.Load(); n != 0 {
		t.Fatalf("handler reached %d times, want 0", n)
	}
}

func TestCustomDialIsChecked(t *testing.T) {
	srv, hits := countingServer(t, true, nil)
	base := trustOnly(srv)
	// A custom dialer that sends every connection to the loopback server,
	// whatever the name: the remote address check must still refuse it.
	base.DialContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, srv.Listener.Addr().String())
	}
	base.TLSClientConfig.ServerName = "example.com"
	c := safehttp.NewClient(safehttp.Options{Transport: base})
	_, err := get(t.Context(), c, "https://public.example.com/")
	if !errors.Is(err, safehttp.ErrForbiddenAddress) {
		t.Fatalf("err = %v, want ErrForbiddenAddress", err)
	}
	if n := hits.Load(); n != 0 {
		t.Fatalf("handler reached %d times, want 0", n)
	}
	// The caller's transport is not modified.
	if base.Proxy != nil || base.DialContext == nil {
		t.Fatal("Options.Transport was modified")
	}
}

func TestLiteralPrivateAddressRefusedBeforeDial(t *testing.T) {
	c := safehttp.NewClient(safehttp.Options{})
	for _, u := range []string{
		"https://10.0.0.1/",
		"https://169.254.169.254/latest/meta-data",
		"https://[::1]:8443/",
		"https://[::ffff:127.0.0.1]/",
		"https://[fd00::1]/",
	} {
		_, err := get(t.Context(), c, u)
		if !errors.Is(err, safehttp.ErrForbiddenAddress) {
			t.Errorf("GET %s: err = %v, want ErrForbiddenAddress", u, err)
		}
	}
}

func TestDevelopmentAllowsLoopbackAndHTTP(t *testing.T) {
	plain, _ := countingServer(t, false, nil)
	tlsSrv, _ := countingServer(t, true, nil)
	for _, tc := range []struct {
		url  string
		opts safehttp.Options
	}{
		{plain.URL, safehttp.Options{AllowInsecureDevelopment: true}},
		{tlsSrv.URL, safehttp.Options{AllowInsecureDevelopment: true, Transport: trustOnly(tlsSrv)}},
	} {
		resp, err := get(t.Context(), safehttp.NewClient(tc.opts), tc.url)
		if err != nil {
			t.Fatalf("GET %s: %v", tc.url, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: status %d", tc.url, resp.StatusCode)
		}
	}
}

func TestInsecureURLRefused(t *testing.T) {
	srv, hits := countingServer(t, false, nil)
	c := safehttp.NewClient(safehttp.Options{})
	for _, u := range []string{srv.URL, "http://example.com/", "ftp://example.com/x"} {
		_, err := get(t.Context(), c, u)
		if !errors.Is(err, safehttp.ErrInsecureURL) {
			t.Errorf("GET %s: err = %v, want ErrInsecureURL", u, err)
		}
	}
	// Development mode still refuses schemes other than http(s).
	dev := safehttp.NewClient(safehttp.Options{AllowInsecureDevelopment: true})
	if _, err := get(t.Context(), dev, "ftp://example.com/x"); !errors.Is(err, safehttp.ErrInsecureURL) {
		t.Errorf("dev GET ftp: err = %v, want ErrInsecureURL", err)
	}
	if n := hits.Load(); n != 0 {
		t.Fatalf("handler reached %d times, want 0", n)
	}
}

// hopServer serves /hop/N as a redirect to /hop/N-1 and /hop/0 as 200.
func hopServer(t *testing.T) (*httptest.Server, *atomic.Int32) {
	return countingServer(t, false, func(w http.ResponseWriter, r *http.Request) {
		n, err := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/hop/"))
		if err != nil {
			http.NotFound(w, r)
			return
		}
		if n == 0 {
			io.WriteString(w, "arrived")
			return
		}
		http.Redirect(w, r, fmt.Sprintf("/hop/%d", n-1), http.StatusFound)
	})
}

func TestRedirectRefusedByDefault(t *testing.T) {
	srv, hits := hopServer(t)
	c := safehttp.NewClient(safehttp.Options{AllowInsecureDevelopment: true})
	_, err := get(t.Context(), c, srv.URL+"/hop/1")
	if !errors.Is(err, safehttp.ErrRedirect) {
		t.Fatalf("err = %v, want ErrRedirect", err)
	}
	var re *safehttp.RedirectError
	if !errors.As(err, &re) || re.MaxRedirects != 0 || !strings.HasSuffix(re.URL, "/hop/0") {
		t.Fatalf("err = %#v, want *RedirectError to /hop/0 with MaxRedirects 0", err)
	}
	if n := hits.Load(); n != 1 {
		t.Fatalf("handler reached %d times, want 1 (the redirect is not followed)", n)
	}
}

func TestRedirectHopsCounted(t *testing.T) {
	srv, hits := hopServer(t)
	c := safehttp.NewClient(safehttp.Options{AllowInsecureDevelopment: true, MaxRedirects: 2})

	resp, err := get(t.Context(), c, srv.URL+"/hop/2")
	if err != nil {
		t.Fatalf("two hops with MaxRedirects 2: %v", err)
	}
	b, _ := safehttp.ReadBody(resp, 100)
	resp.Body.Close()
	if string(b) != "arrived" || hits.Load() != 3 {
		t.Fatalf("body %q after %d requests, want \"arrived\" after 3", b, hits.Load())
	}

	hits.Store(0)
	_, err = get(t.Context(), c, srv.URL+"/hop/3")
	if !errors.Is(err, safehttp.ErrRedirect) {
		t.Fatalf("three hops with MaxRedirects 2: err = %v, want ErrRedirect", err)
	}
	if n := hits.Load(); n != 3 {
		t.Fatalf("handler reached %d times, want 3", n)
	}
}

func TestRedirectStripsCredentialsAcrossOrigins(t *testing.T) {
	type seen struct{ auth, dpop, custom string }
	record := make(chan seen, 2)
	target, _ := countingServer(t, false, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/same" {
			http.Redirect(w, r, "/final", http.StatusFound)
			return
		}
		record <- seen{r.Header.Get("Authorization"), r.Header.Get("DPoP"), r.Header.Get("X-Other")}
	})
	origin, _ := countingServer(t, false, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL+"/final", http.StatusFound)
	})
	c := safehttp.NewClient(safehttp.Options{AllowInsecureDevelopment: true, MaxRedirects: 1})
	do := func(u string) seen {
		t.Helper()
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, u, nil)
		req.Header.Set("Authorization", "DPoP token")
		req.Header.Set("DPoP", "proof")
		req.Header.Set("X-Other", "kept")
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return <-record
	}
	if got := do(origin.URL + "/start"); got != (seen{"", "", "kept"}) {
		t.Errorf("cross-origin redirect forwarded %+v, want credentials stripped", got)
	}
	if got := do(target.URL + "/same"); got != (seen{"DPoP token", "proof", "kept"}) {
		t.Errorf("same-origin redirect forwarded %+v, want all headers", got)
	}
}

func TestReadBodyLimit(t *testing.T) {
	const limit = 1024
	srv, _ := countingServer(t, false, func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.URL.Query().Get("n"))
		body := strings.Repeat("x", n)
		if r.URL.Query().Get("chunked") != "" {
			// Flushing before the end forces chunked encoding: no
			// Content-Length.
			io.WriteString(w, body[:n/2])
			w.(http.Flusher).Flush()
			io.WriteString(w, body[n/2:])
			return
		}
		w.Header().Set("Content-Length", strconv.Itoa(n))
		io.WriteString(w, body)
	})
	c := safehttp.NewClient(safehttp.Options{AllowInsecureDevelopment: true})
	for _, tc := range []struct {
		n       int
		chunked bool
		tooBig  bool
	}{
		{limit, false, false},
		{limit, true, false},
		{limit + 1, false, true},
		{limit + 1, true, true},
		{10 * limit, true, true},
		{0, false, false},
	} {
		u := fmt.Sprintf("%s/?n=%d", srv.URL, tc.n)
		if tc.chunked {
			u += "&chunked=1"
		}
		resp, err := get(t.Context(), c, u)
		if err != nil {
			t.Fatal(err)
		}
		if tc.chunked != (resp.ContentLength == -1) {
			t.Fatalf("%s: ContentLength %d", u, resp.ContentLength)
		}
		b, err := safehttp.ReadBody(resp, limit)
		resp.Body.Close()
		if tc.tooBig {
			if !errors.Is(err, safehttp.ErrTooLarge) || b != nil {
				t.Errorf("%s: (%d bytes, %v), want ErrTooLarge", u, len(b), err)
			}
			continue
		}
		if err != nil || len(b) != tc.n {
			t.Errorf("%s: (%d bytes, %v), want %d bytes", u, len(b), err, tc.n)
		}
	}
}

// A declared Content-Length above the limit fails before any byte is read:
// here the server never sends the rest, so reading would block.
func TestReadBodyChecksContentLengthFirst(t *testing.T) {
	done := make(chan struct{})
	srv, _ := countingServer(t, false, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "1000000")
		io.WriteString(w, "{")
		w.(http.Flusher).Flush()
		select {
		case <-done:
		case <-r.Context().Done():
		}
	})
	defer close(done)
	resp, err := get(t.Context(), safehttp.NewClient(safehttp.Options{AllowInsecureDevelopment: true}), srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	result := make(chan error, 1)
	go func() {
		_, err := safehttp.ReadBody(resp, 1024)
		result <- err
	}()
	select {
	case err := <-result:
		if !errors.Is(err, safehttp.ErrTooLarge) {
			t.Fatalf("err = %v, want ErrTooLarge", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("ReadBody read the body instead of checking Content-Length")
	}
}

func TestTimeout(t *testing.T) {
	srv, _ := countingServer(t, false, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	})
	c := safehttp.NewClient(safehttp.Options{AllowInsecureDevelopment: true, Timeout: 50 * time.Millisecond})
	if c.Timeout != 50*time.Millisecond {
		t.Fatalf("Timeout = %v", c.Timeout)
	}
	start := time.Now()
	_, err := get(t.Context(), c, srv.URL)
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("err = %v, want a timeout", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("request took %v", d)
	}
	if d := safehttp.NewClient(safehttp.Options{}).Timeout; d != safehttp.DefaultTimeout {
		t.Fatalf("default Timeout = %v, want %v", d, safehttp.DefaultTimeout)
	}
}

func TestUserAgent(t *testing.T) {
	uas := make(chan string, 1)
	srv, _ := countingServer(t, false, func(w http.ResponseWriter, r *http.Request) { uas <- r.UserAgent() })
	for _, tc := range []struct{ opt, header, want string }{
		{"", "", "atoauth"},
		{"myapp/1.0", "", "myapp/1.0"},
		{"myapp/1.0", "caller/2", "caller/2"},
	} {
		c := safehttp.NewClient(safehttp.Options{AllowInsecureDevelopment: true, UserAgent: tc.opt})
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL, nil)
		if tc.header != "" {
			req.Header.Set("User-Agent", tc.header)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if got := <-uas; got != tc.want {
			t.Errorf("User-Agent = %q, want %q", got, tc.want)
		}
		if tc.header == "" && req.Header.Get("User-Agent") != "" {
			t.Error("the caller's request was modified")
		}
	}
}

func TestProxyNeverUsed(t *testing.T) {
	srv, hits := countingServer(t, false, nil)
	var proxyCalls atomic.Int32
	base := &http.Transport{Proxy: func(*http.Request) (*url.URL, error) {
		proxyCalls.Add(1)
		return url.Parse("http://192.0.2.1:3128")
	}}
	c := safehttp.NewClient(safehttp.Options{AllowInsecureDevelopment: true, Transport: base})
	resp, err := get(t.Context(), c, srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if proxyCalls.Load() != 0 || hits.Load() != 1 {
		t.Fatalf("proxy consulted %d times, server reached %d times", proxyCalls.Load(), hits.Load())
	}
}
