package gateway

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/atoauth/atoauth/atoauthtest"
	"github.com/atoauth/atoauth/internal/metrics"
)

func TestSecretNeverPrints(t *testing.T) {
	s := testSecret
	type holder struct {
		S   Secret
		Ptr *Secret
	}
	h := holder{S: s, Ptr: &s}
	var out []string
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%10.3s", "%T"} {
		out = append(out, fmt.Sprintf(verb, s), fmt.Sprintf(verb, h), fmt.Sprintf(verb, []Secret{s}), fmt.Sprintf(verb, map[string]Secret{"k": s}))
	}
	out = append(out, fmt.Sprint(s), fmt.Sprintln(s), s.String(), s.GoString())
	j, _ := json.Marshal(h)
	out = append(out, string(j))
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("x", "secret", s, "holder", h)
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("x", "secret", s, "holder", h, slog.Any("any", s))
	out = append(out, buf.String())
	for _, o := range out {
		if strings.Contains(o, string(s)) || strings.Contains(o, fmt.Sprintf("%x", string(s))) {
			t.Errorf("the secret printed: %s", o)
		}
	}
	if _, err := ParseSecret("short"); err == nil || strings.Contains(err.Error(), "short") {
		t.Errorf("ParseSecret(short): %v", err)
	}
	if _, err := ParseSecret(strings.Repeat("x", 40) + " y"); err == nil || strings.Contains(err.Error(), "xxxx") {
		t.Errorf("ParseSecret with a space: %v", err)
	}
	if got, err := ParseSecret(string(testSecret)); err != nil || got != testSecret {
		t.Errorf("ParseSecret: %v", err)
	}
}

func TestNoSecretsInLogsOrAnswers(t *testing.T) {
	e, app := newUpstreamEnv(t, envOptions{gw: Options{MaxResponseBytes: 100 << 10}})
	var answers bytes.Buffer
	keep := func(resp *http.Response) {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Fprintf(&answers, "%v\n%s\n", resp.Header, b)
	}
	// Everything that logs or refuses: acting during and after a request,
	// wrong secrets, cut answers, a failing upstream and session layer.
	keep(e.browser(req{path: "/app/act?rkey=x", as: e.alice}))
	tok := app.act[len(app.act)-1]
	keep(e.act(http.MethodGet, "/xrpc/com.atproto.server.getSession", string(testSecret), tok, nil, nil))
	keep(e.act(http.MethodGet, "/xrpc/com.atproto.server.getSession", "wrong"+string(testSecret), tok, nil, nil))
	checkTok := checkToken(t, e, e.bob)
	keep(e.act(http.MethodGet, "/xrpc/com.atproto.server.getSession", string(testSecret), checkTok, nil, http.Header{HeaderDID: {"did:plc:x"}}))
	e.net.SetTamper(atoauthtest.Tamper{Hostile: &atoauthtest.Hostile{Pad: 200 << 10}})
	resp := e.browser(req{path: "/xrpc/com.atproto.server.getSession", as: e.alice})
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	e.net.SetTamper(atoauthtest.Tamper{})
	keep(e.browser(req{path: "/xrpc/com.atproto.repo.createRecord", method: http.MethodPost, as: e.alice, csrf: "wrong"}))
	e.sessions.mu.Lock()
	e.sessions.fail = fmt.Errorf("store down")
	e.sessions.mu.Unlock()
	keep(e.browser(req{path: "/api/session", as: e.alice}))
	keep(e.browser(req{path: upstreamPath, as: e.alice}))

	logs := e.logText()
	if !strings.Contains(logs, "act token refused") || !strings.Contains(logs, "answer cut") {
		t.Fatalf("the scenario did not log what it should:\n%s", logs)
	}
	secrets := map[string]string{
		"shared secret": string(testSecret), "act token": tok, "check act token": checkTok,
		"alice's session id": e.alice.sess.ID(), "bob's session id": e.bob.sess.ID(),
		"alice's cookie": e.alice.cookie, "alice's csrf": e.alice.csrf,
	}
	for name, s := range secrets {
		if strings.Contains(logs, s) {
			t.Errorf("the logs hold %s", name)
		}
		if name != "alice's csrf" && strings.Contains(answers.String(), s) {
			t.Errorf("an answer holds %s", name)
		}
	}
}

func TestMetricsPerRoute(t *testing.T) {
	m := metrics.New()
	e, _ := newUpstreamEnv(t, envOptions{gw: Options{Metrics: m}})
	readAll(t, e.browser(req{path: "/api/session", as: e.alice}))
	readAll(t, e.browser(req{path: "/api/session"}))
	readAll(t, e.browser(req{path: "/xrpc/com.atproto.server.getSession", as: e.alice}))
	tok := checkToken(t, e, e.alice)
	readAll(t, e.act(http.MethodGet, "/xrpc/com.atproto.server.getSession", string(testSecret), tok, nil, nil))
	readAll(t, e.browser(req{path: upstreamPath, as: e.alice}))
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	text := string(readAll(t, resp))
	for _, want := range []string{
		`atoauth_gateway_requests_total{route="session",status="2xx"} 1`,
		`atoauth_gateway_requests_total{route="session",status="4xx"} 1`,
		`atoauth_gateway_requests_total{route="xrpc",status="2xx"} 1`,
		`atoauth_gateway_requests_total{route="auth_check",status="2xx"} 1`,
		`atoauth_gateway_requests_total{route="act",status="2xx"} 1`,
		`atoauth_gateway_requests_total{route="upstream",status="2xx"} 1`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("missing %s", want)
		}
	}
}

func TestNewChecksOptions(t *testing.T) {
	s := &cookieSessions{}
	for name, o := range map[string]Options{
		"no sessions":      {},
		"short secret":     {Sessions: s, Secret: "short"},
		"upstream scheme":  {Sessions: s, Upstream: &url.URL{Scheme: "ftp", Host: "x"}},
		"upstream creds":   {Sessions: s, Upstream: &url.URL{Scheme: "http", Host: "x", User: url.User("u")}},
		"services":         {Sessions: s, Services: map[string]string{"app.bsky.": "not-a-ref"}},
		"blob cap":         {Sessions: s, MaxBlobBytes: 1 << 40},
		"trusted origin":   {Sessions: s, TrustedOrigins: []string{"not an origin"}},
		"services key bad": {Sessions: s, Services: map[string]string{"..": "did:web:x#y"}},
	} {
		if _, err := New(o); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := New(Options{Sessions: s, Secret: testSecret, Services: map[string]string{"app.bsky.": "did:web:appview.example#bsky_appview"},
		Upstream: &url.URL{Scheme: "http", Host: "127.0.0.1:1"}}); err != nil {
		t.Errorf("valid options: %v", err)
	}
}

func TestHandlerWithoutUpstream(t *testing.T) {
	e := newEnv(t, envOptions{})
	expectError(t, e.browser(req{path: "/elsewhere", as: e.alice}), http.StatusNotFound, "not_found")
}
