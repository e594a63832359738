package dpop_test

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/atoauth/atoauth/dpop"
)

// hit is one request as seen by a test server.
type hit struct {
	Method        string
	Body          []byte
	ContentLength int64
	Auth          string
	Proof         proof
}

func (h hit) nonce() string { return h.Proof.str("nonce") }

// recorder is a test server that verifies every DPoP proof independently
// (go-jose) and against the request it arrived with, records it, and hands
// it to a handler.
type recorder struct {
	t    *testing.T
	srv  *httptest.Server
	mu   sync.Mutex
	hits []hit
}

func newServer(t *testing.T, handle func(w http.ResponseWriter, h hit, n int)) *recorder {
	t.Helper()
	rec := &recorder{t: t}
	rec.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			t.Errorf("server reading body: %v", err)
		}
		h := hit{Method: r.Method, Body: body, ContentLength: r.ContentLength, Auth: r.Header.Get("Authorization")}
		if vs := r.Header.Values("DPoP"); len(vs) != 1 {
			t.Errorf("request has %d DPoP headers", len(vs))
		} else if h.Proof, err = verifyProof(vs[0]); err != nil {
			t.Errorf("invalid proof: %v", err)
		}
		if got, want := h.Proof.str("htu"), "http://"+r.Host+r.URL.EscapedPath(); got != want {
			t.Errorf("htu = %q, want %q", got, want)
		}
		if h.Proof.str("htm") != r.Method {
			t.Errorf("htm = %q, want %q", h.Proof.str("htm"), r.Method)
		}
		ath, hasATH := h.Proof.Claims["ath"]
		if scheme, tok, ok := strings.Cut(h.Auth, " "); ok && strings.EqualFold(scheme, "DPoP") {
			sum := sha256.Sum256([]byte(strings.TrimSpace(tok)))
			if ath != b64.EncodeToString(sum[:]) {
				t.Errorf("ath = %v, want hash of access token", ath)
			}
		} else if hasATH {
			t.Errorf("ath present without Authorization: DPoP")
		}
		rec.mu.Lock()
		n := len(rec.hits)
		rec.hits = append(rec.hits, h)
		rec.mu.Unlock()
		handle(w, h, n)
	}))
	t.Cleanup(rec.srv.Close)
	return rec
}

func (r *recorder) Hits() []hit {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]hit(nil), r.hits...)
}

func (r *recorder) origin() string {
	u, _ := url.Parse(r.srv.URL)
	return dpop.Origin(u)
}

func useNonceJSON(w http.ResponseWriter, nonce string) {
	w.Header().Set("DPoP-Nonce", nonce)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusBadRequest)
	_, _ = io.WriteString(w, `{"error":"use_dpop_nonce","error_description":"Authorization server requires nonce in DPoP proof"}`)
}

func useNonceHeader(w http.ResponseWriter, nonce string) {
	w.Header().Set("DPoP-Nonce", nonce)
	w.Header().Set("WWW-Authenticate", `DPoP error="use_dpop_nonce", error_description="Resource server requires nonce in DPoP proof"`)
	w.WriteHeader(http.StatusUnauthorized)
	_, _ = io.WriteString(w, `{"error":"use_dpop_nonce"}`)
}

// countingTransport counts responses and response-body closes.
type countingTransport struct {
	base           http.RoundTripper
	opened, closed atomic.Int32
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := c.base.RoundTrip(r)
	if err == nil {
		c.opened.Add(1)
		resp.Body = &countingBody{ReadCloser: resp.Body, closed: &c.closed}
	}
	return resp, err
}

type countingBody struct {
	io.ReadCloser
	once   sync.Once
	closed *atomic.Int32
}

func (b *countingBody) Close() error {
	b.once.Do(func() { b.closed.Add(1) })
	return b.ReadCloser.Close()
}

func readAll(t *testing.T, resp *http.Response) []byte {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// onlyReader hides the concrete type of a reader so that http.NewRequest
// cannot set GetBody.
type onlyReader struct{ io.Reader }

func TestTransportNonceRetryReplaysBody(t *testing.T) {
	payload := make([]byte, 200<<10)
	_, _ = rand.Read(payload)
	type bodyKind struct {
		name string
		make func() (io.Reader, func()) // reader and a writer to start
	}
	kinds := []bodyKind{
		{"bytes with GetBody", func() (io.Reader, func()) { return bytes.NewReader(payload), func() {} }},
		{"custom reader, no GetBody", func() (io.Reader, func()) { return onlyReader{bytes.NewReader(payload)}, func() {} }},
		{"io.Pipe, no GetBody", func() (io.Reader, func()) {
			pr, pw := io.Pipe()
			return pr, func() {
				go func() {
					for chunk := range slicesChunk(payload, 7000) {
						if _, err := pw.Write(chunk); err != nil {
							return
						}
					}
					_ = pw.Close()
				}()
			}
		}},
	}
	servers := []struct {
		name      string
		challenge func(http.ResponseWriter, string)
		auth      string
		status    int
	}{
		{"AS 400 JSON", useNonceJSON, "", http.StatusBadRequest},
		{"RS 401 WWW-Authenticate", useNonceHeader, "DPoP access-token-123", http.StatusUnauthorized},
	}
	for _, sv := range servers {
		for _, kind := range kinds {
			t.Run(sv.name+"/"+kind.name, func(t *testing.T) {
				rec := newServer(t, func(w http.ResponseWriter, h hit, n int) {
					if h.nonce() != "nonce-1" {
						sv.challenge(w, "nonce-1")
						return
					}
					w.Header().Set("DPoP-Nonce", "nonce-2")
					_, _ = io.WriteString(w, "ok")
				})
				ct := &countingTransport{base: http.DefaultTransport}
				nonces := new(dpop.NonceCache)
				var challenges []int
				client := &http.Client{Transport: &dpop.Transport{Base: ct, Key: newKey(t), Nonces: nonces,
					OnNonceChallenge: func(r *http.Request, status int) { challenges = append(challenges, status) }}}
				body, start := kind.make()
				req, err := http.NewRequest("POST", rec.srv.URL+"/oauth/par?q=1#f", body)
				if err != nil {
					t.Fatal(err)
				}
				req.Header.Set("Content-Type", "application/octet-stream")
				if sv.auth != "" {
					req.Header.Set("Authorization", sv.auth)
				}
				start()
				resp, err := client.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				if ct.opened.Load() != 2 || ct.closed.Load() != 1 {
					t.Errorf("before caller close: %d responses, %d closed; want 2, 1", ct.opened.Load(), ct.closed.Load())
				}
				if got := readAll(t, resp); resp.StatusCode != 200 || string(got) != "ok" {
					t.Fatalf("response %d %q", resp.StatusCode, got)
				}
				if ct.closed.Load() != 2 {
					t.Errorf("%d of 2 responses closed", ct.closed.Load())
				}
				hits := rec.Hits()
				if len(hits) != 2 {
					t.Fatalf("server saw %d requests, want 2", len(hits))
				}
				for i, h := range hits {
					if !bytes.Equal(h.Body, payload) {
						t.Errorf("attempt %d: server got %d body bytes, not the %d sent", i, len(h.Body), len(payload))
					}
					if h.Auth != sv.auth {
						t.Errorf("attempt %d: Authorization %q", i, h.Auth)
					}
				}
				if hits[0].nonce() != "" || hits[1].nonce() != "nonce-1" {
					t.Errorf("nonces %q, %q", hits[0].nonce(), hits[1].nonce())
				}
				if hits[0].Proof.str("jti") == hits[1].Proof.str("jti") {
					t.Error("retry reused the jti")
				}
				if got := nonces.Get(rec.origin()); got != "nonce-2" {
					t.Errorf("cached nonce %q, want nonce-2 from the 200", got)
				}
				if len(challenges) != 1 || challenges[0] != sv.status {
					t.Errorf("OnNonceChallenge saw %v, want [%d]", challenges, sv.status)
				}
			})
		}
	}
}

func slicesChunk(b []byte, n int) func(func([]byte) bool) {
	return func(yield func([]byte) bool) {
		for len(b) > 0 {
			k := min(n, len(b))
			if !yield(b[:k]) {
				return
			}
			b = b[k:]
		}
	}
}

func TestTransportRetriesAtMostOnce(t *testing.T) {
	for _, sv := range []struct {
		name      string
		challenge func(http.ResponseWriter, string)
	}{{"400", useNonceJSON}, {"401", useNonceHeader}} {
		t.Run(sv.name, func(t *testing.T) {
			rec := newServer(t, func(w http.ResponseWriter, h hit, n int) {
				sv.challenge(w, "always-new-"+strconv.Itoa(n)) // never satisfied
			})
			ct := &countingTransport{base: http.DefaultTransport}
			tr := &dpop.Transport{Base: ct, Key: newKey(t)}
			req, _ := http.NewRequest("POST", rec.srv.URL+"/token", strings.NewReader("grant_type=x"))
			resp, err := tr.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			if ct.opened.Load() != 2 || ct.closed.Load() != 1 {
				t.Errorf("%d responses, %d closed before caller; want 2, 1", ct.opened.Load(), ct.closed.Load())
			}
			body := readAll(t, resp)
			if n := len(rec.Hits()); n != 2 {
				t.Fatalf("server saw %d requests, want exactly 2", n)
			}
			if !dpop.IsNonceChallenge(resp, body) {
				t.Errorf("caller got %d %q, want the second challenge", resp.StatusCode, body)
			}
		})
	}
}

func TestTransportNoRetryWithoutNewNonce(t *testing.T) {
	rec := newServer(t, func(w http.ResponseWriter, h hit, n int) {
		w.WriteHeader(http.StatusBadRequest)
		_, _ = io.WriteString(w, `{"error":"use_dpop_nonce"}`) // but no DPoP-Nonce
	})
	tr := &dpop.Transport{Key: newKey(t)}
	req, _ := http.NewRequest("GET", rec.srv.URL, nil)
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	if body := readAll(t, resp); string(body) != `{"error":"use_dpop_nonce"}` {
		t.Errorf("body %q", body)
	}
	if n := len(rec.Hits()); n != 1 {
		t.Errorf("server saw %d requests, want 1", n)
	}
}

func TestTransportNoncePerOrigin(t *testing.T) {
	mk := func(name string) *recorder {
		return newServer(t, func(w http.ResponseWriter, h hit, n int) {
			if h.nonce() != "" && h.nonce() != name+"-"+strconv.Itoa(n-1) {
				t.Errorf("server %s got nonce %q", name, h.nonce())
			}
			w.Header().Set("DPoP-Nonce", name+"-"+strconv.Itoa(n))
			_, _ = io.WriteString(w, name)
		})
	}
	a, b := mk("A"), mk("B")
	client := &http.Client{Transport: &dpop.Transport{Key: newKey(t)}}
	for range 3 {
		for _, s := range []*recorder{a, b} {
			resp, err := client.Get(s.srv.URL + "/x")
			if err != nil {
				t.Fatal(err)
			}
			readAll(t, resp)
		}
	}
	for _, s := range []*recorder{a, b} {
		hits := s.Hits()
		if len(hits) != 3 || hits[0].nonce() != "" || hits[2].nonce() == "" {
			t.Errorf("hits %+v", hits)
		}
	}
}

func TestTransportStoresNonceFromAnyStatus(t *testing.T) {
	rec := newServer(t, func(w http.ResponseWriter, h hit, n int) {
		switch n {
		case 0:
			w.Header().Set("DPoP-Nonce", "from-200")
		case 1:
			w.Header().Set("DPoP-Nonce", "from-500")
			w.WriteHeader(http.StatusInternalServerError)
		case 2:
			w.Header().Set("DPoP-Nonce", "bad nonce with spaces")
			w.WriteHeader(http.StatusNotFound)
		}
	})
	tr := &dpop.Transport{Key: newKey(t)}
	for range 4 {
		req, _ := http.NewRequest("GET", rec.srv.URL+"/r", nil)
		resp, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		readAll(t, resp)
	}
	want := []string{"", "from-200", "from-500", "from-500"}
	for i, h := range rec.Hits() {
		if h.nonce() != want[i] {
			t.Errorf("request %d nonce %q, want %q", i, h.nonce(), want[i])
		}
	}
}

func TestTransportNonChallengeBodyIntact(t *testing.T) {
	big := `{"error":"invalid_request","pad":"` + strings.Repeat("x", 100<<10) + `"}`
	for _, tc := range []struct {
		status int
		body   string
		header string
	}{
		{400, `{"error":"invalid_grant","error_description":"bad code"}`, ""},
		{400, big, ""},
		{400, `not json at all`, ""},
		{401, `{"error":"invalid_token"}`, `DPoP error="invalid_token"`},
		{401, `{"error":"invalid_dpop_proof"}`, ""}, // no skew: Date is current
	} {
		rec := newServer(t, func(w http.ResponseWriter, h hit, n int) {
			w.Header().Set("DPoP-Nonce", "n")
			if tc.header != "" {
				w.Header().Set("WWW-Authenticate", tc.header)
			}
			w.WriteHeader(tc.status)
			_, _ = io.WriteString(w, tc.body)
		})
		tr := &dpop.Transport{Key: newKey(t)}
		req, _ := http.NewRequest("POST", rec.srv.URL+"/token", strings.NewReader("a=b"))
		resp, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		if got := readAll(t, resp); resp.StatusCode != tc.status || string(got) != tc.body {
			t.Errorf("caller got %d, %d bytes; want %d, %d bytes", resp.StatusCode, len(got), tc.status, len(tc.body))
		}
		if n := len(rec.Hits()); n != 1 {
			t.Errorf("status %d: server saw %d requests, want 1", tc.status, n)
		}
	}
}

func TestTransportClockSkew(t *testing.T) {
	const skew = time.Hour
	for _, form := range []string{"json", "header"} {
		t.Run(form, func(t *testing.T) {
			mk := func() *recorder {
				return newServer(t, func(w http.ResponseWriter, h hit, n int) {
					iat := time.Unix(int64(h.Proof.Claims["iat"].(float64)), 0)
					if d := time.Since(iat); d > 10*time.Second || d < -10*time.Second {
						if form == "json" {
							w.WriteHeader(http.StatusBadRequest)
							_, _ = io.WriteString(w, `{"error":"invalid_dpop_proof","error_description":"DPoP proof too old"}`)
						} else {
							w.Header().Set("WWW-Authenticate", `DPoP error="invalid_dpop_proof"`)
							w.WriteHeader(http.StatusUnauthorized)
						}
						return
					}
					_, _ = io.WriteString(w, "ok")
				})
			}
			a, b := mk(), mk()
			tr := &dpop.Transport{Key: newKey(t), Clock: func() time.Time { return time.Now().Add(-skew) }}
			get := func(s *recorder) int {
				req, _ := http.NewRequest("POST", s.srv.URL+"/x", strings.NewReader("body"))
				req.Header.Set("Authorization", "DPoP tok")
				resp, err := tr.RoundTrip(req)
				if err != nil {
					t.Fatal(err)
				}
				readAll(t, resp)
				return resp.StatusCode
			}
			if st := get(a); st != 200 || len(a.Hits()) != 2 {
				t.Fatalf("first request: %d after %d attempts, want 200 after 2", st, len(a.Hits()))
			}
			if st := get(a); st != 200 || len(a.Hits()) != 3 {
				t.Fatalf("second request: %d, %d attempts in all; want 200, 3 (offset remembered)", st, len(a.Hits()))
			}
			if !bytes.Equal(a.Hits()[1].Body, []byte("body")) {
				t.Error("body not replayed")
			}
			// The offset is per origin.
			if st := get(b); st != 200 || len(b.Hits()) != 2 {
				t.Fatalf("other origin: %d after %d attempts, want 200 after 2", st, len(b.Hits()))
			}
		})
	}
}

func TestTransportConcurrent(t *testing.T) {
	const nonce = "server-nonce"
	rec := newServer(t, func(w http.ResponseWriter, h hit, n int) {
		if h.nonce() != nonce {
			useNonceHeader(w, nonce)
			return
		}
		w.Header().Set("DPoP-Nonce", nonce)
		_, _ = w.Write(h.Body)
	})
	ct := &countingTransport{base: http.DefaultTransport}
	client := &http.Client{Transport: &dpop.Transport{Base: ct, Key: newKey(t)}}
	const goroutines, each = 16, 8
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				body := fmt.Sprintf("g%d-i%d", g, i)
				var rd io.Reader = strings.NewReader(body)
				if i%2 == 1 {
					rd = onlyReader{rd}
				}
				req, _ := http.NewRequest("PUT", rec.srv.URL+"/xrpc/m", rd)
				req.Header.Set("Authorization", "DPoP token-"+strconv.Itoa(g))
				resp, err := client.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				got, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 || string(got) != body {
					t.Errorf("got %d %q, want 200 %q", resp.StatusCode, got, body)
				}
			}
		}()
	}
	wg.Wait()
	if n := len(rec.Hits()); n < goroutines*each || n > 2*goroutines*each {
		t.Errorf("%d attempts for %d requests", n, goroutines*each)
	}
	if ct.opened.Load() != ct.closed.Load() {
		t.Errorf("%d responses, %d closed", ct.opened.Load(), ct.closed.Load())
	}
}

func TestTransportDoesNotModifyRequest(t *testing.T) {
	rec := newServer(t, func(w http.ResponseWriter, h hit, n int) {
		if n%2 == 0 {
			useNonceHeader(w, "n"+strconv.Itoa(n))
		}
	})
	for _, withGetBody := range []bool{true, false} {
		var rd io.Reader = strings.NewReader("payload")
		if !withGetBody {
			rd = onlyReader{rd}
		}
		req, _ := http.NewRequest("POST", rec.srv.URL+"/p?x=1", rd)
		req.Header.Set("Authorization", "DPoP tok")
		req.Header.Set("X-Custom", "v")
		before := struct {
			Method, URL, Host string
			Header            http.Header
			ContentLength     int64
			Body              io.ReadCloser
			HasGetBody        bool
			Close             bool
		}{req.Method, req.URL.String(), req.Host, req.Header.Clone(), req.ContentLength, req.Body, req.GetBody != nil, req.Close}
		resp, err := (&dpop.Transport{Key: newKey(t)}).RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		readAll(t, resp)
		after := before
		after.Method, after.URL, after.Host, after.Header, after.ContentLength, after.Body, after.HasGetBody, after.Close =
			req.Method, req.URL.String(), req.Host, req.Header, req.ContentLength, req.Body, req.GetBody != nil, req.Close
		if !reflect.DeepEqual(before, after) {
			t.Errorf("request modified:\nbefore %+v\nafter  %+v", before, after)
		}
		if req.Header.Get("DPoP") != "" {
			t.Error("DPoP header added to the caller's request")
		}
	}
}

// zeros is an endless body that records whether it was read or closed.
type zeros struct {
	read   atomic.Int64
	closed atomic.Bool
}

func (z *zeros) Read(p []byte) (int, error) { clear(p); z.read.Add(int64(len(p))); return len(p), nil }
func (z *zeros) Close() error               { z.closed.Store(true); return nil }

func TestTransportBodyTooLarge(t *testing.T) {
	rec := newServer(t, func(w http.ResponseWriter, h hit, n int) {})
	tr := &dpop.Transport{Key: newKey(t)}

	// Known length over the limit: fails without reading.
	z := &zeros{}
	req, _ := http.NewRequest("POST", rec.srv.URL, z)
	req.ContentLength = dpop.MaxBufferedBody + 1
	_, err := tr.RoundTrip(req)
	var tl *dpop.BodyTooLargeError
	if !errors.Is(err, dpop.ErrBodyTooLarge) || !errors.As(err, &tl) || tl.Limit != dpop.MaxBufferedBody {
		t.Fatalf("error %v", err)
	}
	if z.read.Load() != 0 || !z.closed.Load() {
		t.Errorf("read %d bytes, closed %v", z.read.Load(), z.closed.Load())
	}

	// Unknown length: reads just past the limit, then fails.
	z = &zeros{}
	req, _ = http.NewRequest("POST", rec.srv.URL, z)
	if _, err := tr.RoundTrip(req); !errors.Is(err, dpop.ErrBodyTooLarge) {
		t.Fatalf("error %v", err)
	}
	if z.read.Load() > dpop.MaxBufferedBody+64<<10 || !z.closed.Load() {
		t.Errorf("read %d bytes, closed %v", z.read.Load(), z.closed.Load())
	}
	if n := len(rec.Hits()); n != 0 {
		t.Errorf("server saw %d requests; nothing should be sent", n)
	}
}

func TestTransportErrors(t *testing.T) {
	const token = "secret-access-token"
	z := &zeros{}
	req, _ := http.NewRequest("POST", "https://pds.example/xrpc", z)
	req.Header.Set("Authorization", "DPoP "+token)
	if _, err := (&dpop.Transport{}).RoundTrip(req); !errors.Is(err, dpop.ErrNoKey) || !z.closed.Load() {
		t.Errorf("no key: %v, body closed %v", err, z.closed.Load())
	}
	req, _ = http.NewRequest("GET", "ftp://pds.example/"+token, nil)
	_, err := (&dpop.Transport{Key: newKey(t)}).RoundTrip(req)
	if !errors.Is(err, dpop.ErrInvalidURL) || strings.Contains(err.Error(), token) {
		t.Errorf("ftp: %v", err)
	}
	baseErr := errors.New("dial failed")
	req, _ = http.NewRequest("GET", "https://pds.example/", nil)
	req.Header.Set("Authorization", "DPoP "+token)
	_, err = (&dpop.Transport{Key: newKey(t), Base: roundTripFunc(func(*http.Request) (*http.Response, error) { return nil, baseErr })}).RoundTrip(req)
	if !errors.Is(err, baseErr) || strings.Contains(err.Error(), token) {
		t.Errorf("base error: %v", err)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestTransportAthOnlyForDPoPAuthorization(t *testing.T) {
	rec := newServer(t, func(w http.ResponseWriter, h hit, n int) {})
	tr := &dpop.Transport{Key: newKey(t)}
	for _, auth := range []string{"", "Bearer abc", "DPoP abc", "dpop  abc "} {
		req, _ := http.NewRequest("GET", rec.srv.URL, nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		readAll(t, resp)
	}
	hits := rec.Hits()
	sum := sha256.Sum256([]byte("abc"))
	wantATH := []any{nil, nil, b64.EncodeToString(sum[:]), b64.EncodeToString(sum[:])}
	for i, h := range hits {
		if h.Proof.Claims["ath"] != wantATH[i] {
			t.Errorf("request %d (%q): ath %v, want %v", i, h.Auth, h.Proof.Claims["ath"], wantATH[i])
		}
	}
}

// Replayable buffers a body once: a request that already has GetBody is
// returned as it is, so a second layer does not buffer it again.
func TestReplayable(t *testing.T) {
	req, _ := http.NewRequest(http.MethodPost, "https://pds.example.com/x", io.NopCloser(strings.NewReader("hello")))
	r, err := dpop.Replayable(req)
	if err != nil || r.GetBody == nil || r.ContentLength != 5 {
		t.Fatalf("%v %v %d", err, r.GetBody != nil, r.ContentLength)
	}
	for range 2 {
		b, _ := r.GetBody()
		if got, _ := io.ReadAll(b); string(got) != "hello" {
			t.Fatalf("replayed %q", got)
		}
	}
	if again, _ := dpop.Replayable(r); again != r {
		t.Fatal("a replayable request was buffered again")
	}
	big, _ := http.NewRequest(http.MethodPost, "https://pds.example.com/x", &zeros{})
	if _, err := dpop.Replayable(big); !errors.Is(err, dpop.ErrBodyTooLarge) {
		t.Fatalf("too large: %v", err)
	}
}
