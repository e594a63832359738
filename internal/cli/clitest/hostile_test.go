package clitest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/atoauth/atoauth/atoauthtest"
)

// evil is text a hostile server (or a hostile account on an honest one)
// chooses: OSC 52 writes the clipboard, OSC 0 the window title, CSI 2J
// clears the screen, U+009B is CSI as a C1 control, U+202E reverses what
// follows, and \xff is not UTF-8.
const evil = "A\x1b]52;c;ZXZpbA==\x07B\x1b]0;pwned\x07C\x1b[2JD\u009bE\u202eF\xffG"

// jsonString writes s as a JSON string the way a careless or hostile
// server does: the C0 controls escaped (JSON requires it), everything
// else, C1 controls, bidi overrides and invalid UTF-8 included, raw.
func jsonString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c < 0x20:
			fmt.Fprintf(&b, `\u%04x`, c)
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// terminalSafe reports what in s a terminal would act on or that reorders
// or corrupts text: a C0 control other than newline and tab (ESC, BEL,
// CR, ...), DEL, a C1 control, a bidi control, a line or paragraph
// separator, or invalid UTF-8.
func terminalSafe(s string) error {
	if !utf8.ValidString(s) {
		i := firstInvalid(s)
		return fmt.Errorf("invalid UTF-8 at byte %d: %q", i, s[max(0, i-20):min(len(s), i+20)])
	}
	for i, r := range s {
		switch {
		case r == '\n' || r == '\t':
		case r < 0x20 || r == 0x7f,
			r >= 0x80 && r <= 0x9f,
			r == 0x2028 || r == 0x2029,
			r == 0x061c || r == 0x200e || r == 0x200f,
			r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069:
			return fmt.Errorf("raw %U at byte %d: %q", r, i, s[max(0, i-20):min(len(s), i+20)])
		}
	}
	return nil
}

func firstInvalid(s string) int {
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			return i
		}
		i += n
	}
	return len(s)
}

// checkSafe fails the test when what a command printed holds anything a
// terminal acts on.
func checkSafe(t *testing.T, what string, r Result) {
	t.Helper()
	if err := terminalSafe(r.Out); err != nil {
		t.Errorf("%s: standard output: %v\n%q", what, err, r.Out)
	}
	if err := terminalSafe(r.ErrOut); err != nil {
		t.Errorf("%s: standard error: %v\n%q", what, err, r.ErrOut)
	}
}

// Whatever a server sends (post text, profile fields, a granted scope,
// blob bytes, error messages, DID documents), no command prints anything
// a terminal would act on: it is shown escaped (\x1b, \u009b, \u202e,
// \xff), and JSON output stays valid JSON that decodes to the server's
// text.
func TestHostileTextIsEscaped(t *testing.T) {
	e := New(t)
	e.OutTTY = true
	// The granted scope, as the token endpoint returns it: control
	// characters in blob: MIME types, an include: NSID, a token of its own.
	granted := "atproto transition:generic blob:image/" + evil + " blob:text/\u009b2J\u202e include:\x1b]0;pwned\x07 \x1b[2J"
	e.Net.UpdateTamper(func(tm *atoauthtest.Tamper) {
		tm.TokenResponse = func(m map[string]any) { m["scope"] = granted }
	})

	r := e.Run("", "login", "alice.test")
	if r.Code != 0 {
		t.Fatalf("login: exit %d\n%s\n%s", r.Code, r.Out, r.ErrOut)
	}
	checkSafe(t, "login", r)
	for _, args := range [][]string{{"whoami"}, {"whoami", "--json"}} {
		r = e.Run("", args...)
		if r.Code != 0 {
			t.Fatalf("%v: exit %d\n%s\n%s", args, r.Code, r.Out, r.ErrOut)
		}
		checkSafe(t, strings.Join(args, " "), r)
	}
	if r = e.Run("", "whoami"); !strings.Contains(r.Out, `\x1b]0;pwned\a`) {
		t.Errorf("whoami does not show the granted scope escaped:\n%s", r.Out)
	}

	// A post and a profile with every kind of control character.
	post := `{"$type":"app.bsky.feed.post","text":` + jsonString(evil+"\nsecond line") + `,"createdAt":"2026-11-27T12:00:00Z"}`
	r = e.Run(post, "records", "create", "app.bsky.feed.post", "-")
	if r.Code != 0 {
		t.Fatalf("records create: exit %d\n%s\n%s", r.Code, r.Out, r.ErrOut)
	}
	var created struct{ URI string }
	if err := json.Unmarshal([]byte(r.Out), &created); err != nil {
		t.Fatalf("records create: %v\n%s", err, r.Out)
	}
	profile := `{"$type":"app.bsky.actor.profile","displayName":` + jsonString(evil) + `,"description":` + jsonString("bio\n"+evil) + `}`
	if r = e.Run(profile, "records", "put", "app.bsky.actor.profile", "self", "-"); r.Code != 0 {
		t.Fatalf("records put: exit %d\n%s\n%s", r.Code, r.Out, r.ErrOut)
	}

	for _, args := range [][]string{
		{"records", "list", "app.bsky.feed.post"},
		{"records", "list", "app.bsky.feed.post", "--json"},
		{"records", "get", created.URI},
		{"profile"},
		{"profile", "show"},
		{"profile", "--json"},
		{"call", "com.atproto.repo.getRecord", "repo=" + e.Alice.String(), "collection=app.bsky.feed.post", "rkey=" + lastSegment(created.URI)},
		{"call", "com.atproto.repo.listRecords", "repo=" + e.Alice.String(), "collection=app.bsky.actor.profile"},
		{"sessions"},
		{"sessions", "--json"},
		{"post", "hello"},
	} {
		r = e.Run("", args...)
		if r.Code != 0 {
			t.Errorf("%v: exit %d\n%s\n%s", args, r.Code, r.Out, r.ErrOut)
			continue
		}
		checkSafe(t, strings.Join(args, " "), r)
	}

	// Shown escaped, not dropped: the person sees that something is there.
	r = e.Run("", "records", "list", "app.bsky.feed.post")
	if !strings.Contains(r.Out, `A\x1b]52;c;ZXZpbA==\aB`) || !strings.Contains(r.Out, `D\u009bE\u202eF`) {
		t.Errorf("records list does not show the text escaped:\n%s", r.Out)
	}
	r = e.Run("", "profile")
	if !Contains(r.Out, `Display name:  A\x1b]52;c;ZXZpbA==\aB`, "Description:   bio\nA") {
		t.Errorf("profile does not show the fields escaped:\n%s", r.Out)
	}
	// JSON stays JSON, and decodes to the server's text (invalid UTF-8
	// as U+FFFD, as encoding/json reads it).
	r = e.Run("", "records", "get", created.URI)
	var rec struct {
		Value struct{ Text string }
	}
	if err := json.Unmarshal([]byte(r.Out), &rec); err != nil || rec.Value.Text != strings.ToValidUTF8(evil, "\ufffd")+"\nsecond line" {
		t.Errorf("records get: %v: text %q\n%s", err, rec.Value.Text, r.Out)
	}
	r = e.Run("", "call", "com.atproto.repo.getRecord", "repo="+e.Alice.String(), "collection=app.bsky.actor.profile", "rkey=self")
	var prof struct {
		Value struct{ DisplayName string }
	}
	if err := json.Unmarshal([]byte(r.Out), &prof); err != nil || prof.Value.DisplayName != strings.ToValidUTF8(evil, "\ufffd") {
		t.Errorf("call getRecord: %v: displayName %q\n%s", err, prof.Value.DisplayName, r.Out)
	}

	// Bytes: a blob of text with escapes, read back through blob get and
	// call (a non-JSON answer).
	file := filepath.Join(t.TempDir(), "evil.txt")
	if err := os.WriteFile(file, []byte(evil), 0o644); err != nil {
		t.Fatal(err)
	}
	r = e.Run("", "blob", "upload", file, "--type", "text/plain")
	var ref struct {
		Ref struct {
			Link string `json:"$link"`
		}
	}
	if r.Code != 0 || json.Unmarshal([]byte(r.Out), &ref) != nil {
		t.Fatalf("blob upload: exit %d\n%s\n%s", r.Code, r.Out, r.ErrOut)
	}
	checkSafe(t, "blob upload", r)
	for _, args := range [][]string{
		{"blob", "get", e.Alice.String(), ref.Ref.Link, "-o", "-"},
		{"blob", "get", e.Alice.String(), ref.Ref.Link, "-o", filepath.Join(t.TempDir(), "back.txt")},
		{"call", "com.atproto.sync.getBlob", "did=" + e.Alice.String(), "cid=" + ref.Ref.Link},
	} {
		r = e.Run("", args...)
		if r.Code != 0 {
			t.Errorf("%v: exit %d\n%s\n%s", args, r.Code, r.Out, r.ErrOut)
			continue
		}
		checkSafe(t, strings.Join(args, " "), r)
	}
	// Not on a terminal, the bytes go out as they are (for a pipe or a
	// redirection to a file).
	e.OutTTY = false
	for _, args := range [][]string{
		{"blob", "get", e.Alice.String(), ref.Ref.Link, "-o", "-"},
		{"call", "com.atproto.sync.getBlob", "did=" + e.Alice.String(), "cid=" + ref.Ref.Link},
	} {
		if r = e.Run("", args...); r.Code != 0 || r.Out != evil {
			t.Errorf("%v not on a terminal: exit %d, out %q, want the blob's bytes", args, r.Code, r.Out)
		}
	}
	e.OutTTY = true

	// Errors, whatever their source, go through one print in root.go: here
	// cobra's, which echoes an argument as it is.
	r = e.Run("", "whoami", "--x"+evil)
	if r.Code != 2 || !strings.Contains(r.ErrOut, `unknown flag: --xA\x1b]52`) {
		t.Errorf("unknown flag: exit %d\n%s", r.Code, r.ErrOut)
	}
	checkSafe(t, "unknown flag", r)
	// Errors: the server's message, which may echo what it was sent.
	r = e.Run("", "call", "com.atproto.repo.describeRepo", "repo="+evil)
	if r.Code != 1 || !strings.Contains(r.ErrOut, "Could not find repo") {
		t.Errorf("call with an unknown repo: exit %d\n%s", r.Code, r.ErrOut)
	}
	checkSafe(t, "call error", r)
	r = e.Run(`{"$type":`+jsonString(evil)+`}`, "records", "create", "app.bsky.feed.post", "-")
	if r.Code != 1 || !strings.Contains(r.ErrOut, "Invalid $type") {
		t.Errorf("records create with a bad $type: exit %d\n%s", r.Code, r.ErrOut)
	}
	checkSafe(t, "records create error", r)

	// doctor: a client metadata document whose (valid) redirect URI
	// carries a bidi override and a C1 control.
	var clientID string
	host := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"client_id": clientID, "client_name": evil, "application_type": "web",
			"redirect_uris": []string{strings.TrimSuffix(clientID, "/client-metadata.json") + "/cb\u202eevil\u009b"},
			"scope":         "atproto", "grant_types": []string{"authorization_code", "refresh_token"}, "response_types": []string{"code"},
			"token_endpoint_auth_method": "none", "dpop_bound_access_tokens": true,
		})
	}))
	defer host.Close()
	clientID = host.URL + "/client-metadata.json"
	r = e.Run("", "doctor", clientID)
	if r.Code != 0 || !strings.Contains(r.Out, `/cb\u202eevil\u009b] are valid`) {
		t.Errorf("doctor: exit %d\n%s\n%s", r.Code, r.Out, r.ErrOut)
	}
	checkSafe(t, "doctor", r)

	r = e.Run("", "logout")
	if r.Code != 0 {
		t.Errorf("logout: exit %d\n%s\n%s", r.Code, r.Out, r.ErrOut)
	}
	checkSafe(t, "logout", r)
}

func lastSegment(uri string) string { return uri[strings.LastIndexByte(uri, '/')+1:] }

// The helper itself: terminalSafe must catch each kind of character the
// test is about, or the test above proves nothing.
func TestTerminalSafeCatches(t *testing.T) {
	for _, s := range []string{"\x1b", "\x07", "\r", "\x7f", "\u009b", "\u0085", "\u202e", "\u2066", "\u2028", "\xff", "a\xc3"} {
		if terminalSafe("ok "+s) == nil {
			t.Errorf("terminalSafe(%q) = nil", s)
		}
	}
	for _, s := range []string{"plain", "two\nlines\tand tab", `\x1b]52 escaped`, "émoji 🐈", "\ufffd"} {
		if err := terminalSafe(s); err != nil {
			t.Errorf("terminalSafe(%q) = %v", s, err)
		}
	}
}

// A PDS that trickles its answers cannot hold a command longer than
// --request-timeout.
func TestSlowPDSTimesOut(t *testing.T) {
	e := New(t)
	if r := e.Run("", "login", "alice.test"); r.Code != 0 {
		t.Fatalf("login: %s", r.ErrOut)
	}
	e.Net.UpdateTamper(func(tp *atoauthtest.Tamper) { tp.Hostile = &atoauthtest.Hostile{Trickle: time.Second} })
	start := time.Now()
	r := e.Run("", "--request-timeout", "1s", "records", "list", "app.bsky.feed.post")
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("the command took %s", took)
	}
	if r.Code != 1 || !strings.Contains(r.ErrOut, "--request-timeout") {
		t.Fatalf("exit %d:\n%s", r.Code, r.ErrOut)
	}
}
