package atoauthhttp

import (
	"encoding/json"
	"net/url"
	"path"
	"strings"
)

// MaxReturnPath bounds the paths SafeReturn accepts.
const MaxReturnPath = 512

// SafeReturn returns target when it is a path of this app that a
// browser may safely be sent back to after a sign-in, and "/" otherwise.
// It accepts only a relative reference of printable ASCII starting with
// a single "/", with no scheme, host, backslash, control character
// (encoded or not), dot segment or encoded slash, backslash or dot, of at
// most MaxReturnPath bytes; a fragment is dropped. Browsers read "//host",
// "/\host" and, after decoding, some encoded forms as another host (an
// open redirect), so anything unusual is refused rather than repaired.
func SafeReturn(target string) string {
	if target == "" || len(target) > MaxReturnPath || target[0] != '/' {
		return "/"
	}
	if len(target) > 1 && (target[1] == '/' || target[1] == '\\') {
		return "/"
	}
	for i := 0; i < len(target); i++ {
		if c := target[i]; c <= ' ' || c >= 0x7f || c == '\\' {
			return "/"
		}
	}
	if lower := strings.ToLower(target); strings.Contains(lower, "%2f") || strings.Contains(lower, "%5c") || strings.Contains(lower, "%2e") {
		return "/"
	}
	u, err := url.Parse(target)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" || !strings.HasPrefix(u.Path, "/") {
		return "/"
	}
	if strings.HasPrefix(u.Path, "//") || strings.IndexFunc(u.Path, func(r rune) bool { return r < ' ' || r == 0x7f || r == '\\' }) >= 0 {
		return "/" // decoded: no control characters or backslashes either
	}
	// No dot segments and no empty ones: the path is already clean.
	clean := path.Clean(u.Path)
	if clean != u.Path && clean+"/" != u.Path {
		return "/"
	}
	out := u.EscapedPath()
	if u.RawQuery != "" {
		out += "?" + u.RawQuery
	}
	if out != strings.SplitN(target, "#", 2)[0] { // the fragment is dropped
		return "/"
	}
	return out
}

// returnOf is the return path of a request's next: SafeReturn's, or ""
// for none (or one refused).
func returnOf(next string) string {
	if next = SafeReturn(next); next == "/" {
		return ""
	}
	return next
}

// loginState is what this package keeps with a pending login
// (atoauth.StartOptions.AppState): where to return, for a step-up the
// session it replaces, and the app's own data. Its JSON must fit in
// atoauth.MaxAppState (see start).
type loginState struct {
	// Return is the path to return to (checked again by SafeReturn).
	Return string `json:"r,omitempty"`
	// StepUp is the id of the session a step-up replaces.
	StepUp string `json:"u,omitempty"`
	// App is the app's data (StartOptions.AppState).
	App string `json:"a,omitempty"`
}

func (s loginState) encode() string {
	if s == (loginState{}) {
		return ""
	}
	b, _ := json.Marshal(s) // strings only: never fails
	return string(b)
}

// parseLoginState reads a login state; anything unreadable is none.
func parseLoginState(raw string) loginState {
	var s loginState
	if raw == "" || json.Unmarshal([]byte(raw), &s) != nil {
		return loginState{}
	}
	return s
}
