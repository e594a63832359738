package web

import (
	"encoding/json"
	"net/url"
	"path"
	"strings"
)

// maxReturnPath bounds the path a sign-in returns to.
const maxReturnPath = 512

// safeReturn is where a sign-in may send the browser back to: target
// when it is a path of this app — a relative reference of printable
// ASCII starting with a single "/", with no scheme, host, backslash,
// control character (encoded or not), dot segment or encoded slash,
// backslash or dot, at most maxReturnPath bytes — and "/" otherwise. Browsers read "//host",
// "/\host" and, after decoding, some encoded forms as another host, so
// anything unusual is refused rather than repaired.
func safeReturn(target string) string {
	if target == "" || len(target) > maxReturnPath || target[0] != '/' {
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

// appState is the app's data kept with a pending login
// (atoauth.StartOptions.AppState): where to return, and for a step-up
// the session it replaces and the form it returns to. It is well under
// atoauth.MaxAppState: a return path of at most maxReturnPath bytes, a
// session id and a digest.
type appState struct {
	// Return is the path to return to (checked again by safeReturn).
	Return string `json:"r,omitempty"`
	// StepUp is the id of the session a step-up replaces.
	StepUp string `json:"u,omitempty"`
	// Form is the form a step-up returns to (draftPost, …).
	Form string `json:"f,omitempty"`
	// Draft is the digest of the draft cookies set with the step-up.
	Draft string `json:"d,omitempty"`
}

func (s appState) encode() string {
	b, _ := json.Marshal(s) // strings only: never fails
	return string(b)
}

// parseAppState reads an app state; anything unreadable is none.
func parseAppState(raw string) appState {
	var s appState
	if raw == "" || json.Unmarshal([]byte(raw), &s) != nil {
		return appState{}
	}
	return s
}
