package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/atoauth/atoauth/atoauthtest"
	"github.com/atoauth/atoauth/internal/pgtest"
)

// TestMain lets the test binary play the atoauth command, so that tests
// can start real `atoauth serve` processes without building anything.
func TestMain(m *testing.M) {
	if os.Getenv("ATOAUTH_TEST_MAIN") == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

var (
	servingRE = regexp.MustCompile(`serving on (http://127\.0\.0\.1:\d+)`)
	metricsRE = regexp.MustCompile(`metrics on (http://127\.0\.0\.1:\d+/metrics)`)
)

// startServe starts `atoauth serve` as a process and returns its URL.
func startServe(t *testing.T, args ...string) string {
	t.Helper()
	u, _ := startServeWithMetrics(t, args...)
	return u
}

// startServeWithMetrics is startServe that also returns the /metrics URL
// when args hold --metrics-addr.
func startServeWithMetrics(t *testing.T, args ...string) (string, string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], append([]string{"serve", "--addr", "127.0.0.1:0"}, args...)...)
	cmd.Env = append(os.Environ(), "ATOAUTH_TEST_MAIN=1", "ATOAUTH_CONFIG_DIR="+t.TempDir())
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var logs atoauthtest.Buffer
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
		}
		if t.Failed() {
			t.Logf("serve logs:\n%s", logs.String())
		}
	})
	found, metrics := make(chan string, 1), make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if m := servingRE.FindStringSubmatch(sc.Text()); m != nil {
				found <- m[1]
			}
			if m := metricsRE.FindStringSubmatch(sc.Text()); m != nil {
				metrics <- m[1]
			}
		}
	}()
	var u, mu string
	select {
	case u = <-found:
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not start")
	}
	if slices.Contains(args, "--metrics-addr") {
		select {
		case mu = <-metrics:
		case <-time.After(30 * time.Second):
			t.Fatal("serve did not announce its metrics")
		}
	}
	return u, mu
}

// TestTwoServeInstancesShareOnePostgreSQLStore runs two `atoauth serve`
// processes on one PostgreSQL store, as behind a load balancer: a sign-in
// through instance A works on instance B, and when every access token has
// expired, requests to both at once cause exactly one refresh and all
// succeed.
func TestTwoServeInstancesShareOnePostgreSQLStore(t *testing.T) {
	pg := pgtest.Schema(t)
	n := atoauthtest.NewNetwork(t, atoauthtest.Options{})
	alice := n.CreateAccount("alice.test")
	common := []string{"--store", pg, "--insecure-dev", "--plc-url", n.PLC.URL, "--handle-resolver", n.PDS.URL}
	a := startServe(t, common...)
	b := startServe(t, common...)

	jar, _ := cookiejar.New(nil) // cookies are per host, not port: A and B share them
	browser := &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := browser.PostForm(a+"/login", url.Values{"identifier": {"alice.test"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-in on A: HTTP %d", resp.StatusCode)
	}
	redirect, err := n.Approve(context.Background(), resp.Header.Get("Location"), alice)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(redirect.String(), a+"/callback?") {
		t.Fatalf("redirected to %s, want A's callback", redirect)
	}
	resp, err = browser.Get(redirect.String())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("callback on A: HTTP %d", resp.StatusCode)
	}
	home := func(base string) (int, string, error) {
		resp, err := browser.Get(base + "/")
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body), err
	}
	if code, body, err := home(b); err != nil || code != 200 || !strings.Contains(body, alice.String()) {
		t.Fatalf("the session from A does not work on B: HTTP %d %v", code, err)
	}

	before := n.Counters()
	n.ExpireAccessTokens()
	// 20 page views spread over A and B, as many at once as each instance
	// lets one session have (web.Options.MaxConcurrentPerSession, 4).
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	slots := map[string]chan struct{}{a: make(chan struct{}, 4), b: make(chan struct{}, 4)}
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			base := a
			if i%2 == 1 {
				base = b
			}
			slots[base] <- struct{}{}
			defer func() { <-slots[base] }()
			code, body, err := home(base)
			switch {
			case err != nil:
				errs <- err
			case code != 200 || !strings.Contains(body, alice.String()):
				errs <- fmt.Errorf("%s: HTTP %d", base, code)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	after := n.Counters()
	if got := after.Refreshes - before.Refreshes; got != 1 || after.RefreshReplays != before.RefreshReplays {
		t.Fatalf("%d refreshes (%d replays) across the two instances; want exactly 1 and none", got, after.RefreshReplays-before.RefreshReplays)
	}
	if after.PDSAuthenticated <= before.PDSAuthenticated {
		t.Fatal("the home page made no authenticated request: the test proves nothing")
	}
}
