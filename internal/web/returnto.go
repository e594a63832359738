package web

import "encoding/json"

// appState is the app's data kept with a step-up
// (atoauthhttp.StartOptions.AppState): the form it returns to and the
// digest of the draft cookies set with it. (The return path and the
// session the step-up replaces are atoauthhttp's.)
type appState struct {
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
