package web_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"runtime"
	"runtime/metrics"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// padTransport plays a hostile PDS that answers every call with a huge
// JSON document, as atoauthtest.Hostile{Pad: n} does, but generates the
// padding as it is read: the fake network's Pad builds each answer in
// memory (several times its size), which would drown the app's own use
// of the heap in the measurement. When pad is set, every 2xx JSON answer
// to an /xrpc/ call gets a leading "_padding" member of pad bytes.
type padTransport struct {
	pad  atomic.Int64
	next http.RoundTripper
}

func (t *padTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(req)
	n := t.pad.Load()
	if err != nil || n <= 0 || !strings.HasPrefix(req.URL.Path, "/xrpc/") ||
		resp.StatusCode/100 != 2 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		return resp, err
	}
	orig, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	orig = bytes.TrimSpace(orig)
	if len(orig) < 2 || orig[0] != '{' {
		resp.Body = io.NopCloser(bytes.NewReader(orig))
		return resp, nil
	}
	sep := ","
	if bytes.Equal(orig, []byte("{}")) {
		sep = ""
	}
	resp.Body = io.NopCloser(io.MultiReader(
		strings.NewReader(`{"_padding":"`),
		io.LimitReader(repeatA{}, n),
		strings.NewReader(`"`+sep),
		bytes.NewReader(orig[1:]),
	))
	resp.ContentLength = -1
	resp.Header.Del("Content-Length")
	return resp, nil
}

type repeatA struct{}

func (repeatA) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'a'
	}
	return len(p), nil
}

// heapSampler samples the heap (live and not yet collected objects) and
// the bytes allocated, until stopped.
type heapSampler struct {
	baseHeap, baseAlloc uint64
	peak                atomic.Uint64
	stop                chan struct{}
	done                sync.WaitGroup
}

func readHeap() (heap, allocs uint64) {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}, {Name: "/gc/heap/allocs:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64(), s[1].Value.Uint64()
}

func startHeapSampler() *heapSampler {
	runtime.GC()
	h := &heapSampler{stop: make(chan struct{})}
	h.baseHeap, h.baseAlloc = readHeap()
	h.peak.Store(h.baseHeap)
	h.done.Go(func() {
		tick := time.NewTicker(200 * time.Microsecond)
		defer tick.Stop()
		for {
			heap, _ := readHeap()
			if heap > h.peak.Load() {
				h.peak.Store(heap)
			}
			select {
			case <-h.stop:
				return
			case <-tick.C:
			}
		}
	})
	return h
}

// end stops the sampler and returns the peak heap growth and the bytes
// allocated since it started.
func (h *heapSampler) end() (peak, allocs uint64) {
	close(h.stop)
	h.done.Wait()
	_, a := readHeap()
	return h.peak.Load() - h.baseHeap, a - h.baseAlloc
}

var recordLinkRE = regexp.MustCompile(`href="(/records/app\.bsky\.feed\.post/[^"]+)"`)

// TestHostilePDSMemory measures the heap that concurrent page views use
// when every account's PDS answers each call with 60 MB of JSON: signed-in
// strangers choose the PDS the app talks to. Each page's calls are capped
// to what it shows, so a page view costs at most a few megabytes whatever
// the PDS sends.
func TestHostilePDSMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("measures memory with 60 MB answers")
	}
	const (
		users   = 2
		perUser = 2
		views   = users * perUser
		pad     = 60 << 20
		bound   = 5 << 20 // bytes of heap per concurrent page view
		// allocBound bounds the bytes allocated per view, which do not
		// depend on when the sampler looks or the collector runs.
		allocBound = 16 << 20
	)
	tr := &padTransport{next: http.DefaultTransport.(*http.Transport).Clone()}
	e := newEnv(t, &envOptions{httpClient: &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}})
	type user struct {
		b      *browser
		record string
	}
	var us []user
	for i := range users {
		did := e.alice
		if i > 0 {
			did = e.net.CreateAccount(fmt.Sprintf("user%d.test", i))
		}
		b := e.newBrowser()
		if p := b.signIn(did); p.StatusCode != http.StatusSeeOther {
			t.Fatalf("sign-in: HTTP %d", p.StatusCode)
		}
		if p := b.postMultipart("/post", map[string][]string{"text": {"hello"}}); p.StatusCode != http.StatusSeeOther {
			t.Fatalf("post: HTTP %d\n%s", p.StatusCode, p.body)
		}
		m := recordLinkRE.FindStringSubmatch(b.get("/").body)
		if m == nil {
			t.Fatal("no record link on the home page")
		}
		us = append(us, user{b, m[1]})
	}

	tr.pad.Store(pad)
	for _, pg := range []struct {
		name string
		path func(u user) string
	}{
		{"record page", func(u user) string { return u.record }},
		{"home page", func(u user) string { return "/" }},
		{"records list", func(u user) string { return "/records/app.bsky.feed.post" }},
	} {
		h := startHeapSampler()
		start := time.Now()
		var wg sync.WaitGroup
		statuses := make([]int, views)
		for i := range views {
			u := us[i%users]
			wg.Go(func() {
				req, _ := http.NewRequest("GET", e.srv.URL+pg.path(u), nil)
				resp, err := u.b.hc.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				statuses[i] = resp.StatusCode
			})
		}
		wg.Wait()
		peak, allocs := h.end()
		t.Logf("%s: %d concurrent views of %d users against %d MB answers: peak heap +%.1f MB (%.2f MB per view), allocated %.1f MB (%.2f MB per view), %v, statuses %v",
			pg.name, views, users, pad>>20, mb(peak), mb(peak/views), mb(allocs), mb(allocs/views), time.Since(start).Round(time.Millisecond), statuses)
		if peak/views > bound {
			t.Errorf("%s: %.2f MB of heap per concurrent page view, want at most %.0f MB", pg.name, mb(peak/views), mb(bound))
		}
		if allocs/views > allocBound {
			t.Errorf("%s: %.2f MB allocated per page view, want at most %.0f MB", pg.name, mb(allocs/views), mb(allocBound))
		}
	}
}

func mb(n uint64) float64 { return float64(n) / (1 << 20) }
