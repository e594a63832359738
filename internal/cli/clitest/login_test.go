package clitest

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// A request to the loopback listener that does not carry the pending
// login's state (another tab, a page in another browser, a port scan, an
// attacker probing the port) must not end the login: it gets a 400 page,
// and the listener keeps waiting for the real redirect. Other paths answer
// 404, other methods 405, and neither ends the login either.
func TestLoginIgnoresBlindCallbacks(t *testing.T) {
	e := New(t)
	e.BeforeCallback = func(redirect *url.URL) {
		iss := redirect.Query().Get("iss")
		send := func(method string, u url.URL, wantStatus int, wantText string) {
			req, err := http.NewRequest(method, u.String(), nil)
			if err != nil {
				t.Error(err)
				return
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Errorf("%s %s: %v", method, u.String(), err)
				return
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != wantStatus || !strings.Contains(string(body), wantText) {
				t.Errorf("%s %s: HTTP %d %q, want %d with %q", method, u.String(), resp.StatusCode, body, wantStatus, wantText)
			}
		}
		for _, q := range []url.Values{
			{"state": {"not-the-state"}, "code": {"cod-forged"}, "iss": {iss}},
			{"code": {"cod-forged"}, "iss": {iss}},
			{"error": {"access_denied"}, "state": {"not-the-state"}, "iss": {iss}},
			{"error": {"access_denied"}, "iss": {iss}},
			{"state": {""}},
			{},
		} {
			u := *redirect
			u.RawQuery = q.Encode()
			send(http.MethodGet, u, http.StatusBadRequest, "not the sign-in you started here")
		}
		for _, path := range []string{"/", "/favicon.ico", "/callback/", "/other"} {
			u := *redirect
			u.Path = path
			send(http.MethodGet, u, http.StatusNotFound, "")
		}
		// The real query, with another method: refused, not consumed.
		send(http.MethodPost, *redirect, http.StatusMethodNotAllowed, "")
	}
	r := e.Run("", "login", "alice.test")
	if r.Code != 0 || !Contains(r.Out, "Logged in as alice.test") {
		t.Fatalf("login after blind requests to the callback: exit %d\n%s\n%s", r.Code, r.Out, r.ErrOut)
	}
	if r = e.Run("", "whoami", "--json"); r.Code != 0 || !strings.Contains(r.Out, e.Alice.String()) {
		t.Fatalf("whoami after login: exit %d %s %s", r.Code, r.Out, r.ErrOut)
	}
}
