package auth_test

import (
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/atoauth/atoauth/auth"
)

func TestOrigin(t *testing.T) {
	for in, want := range map[string]string{
		"https://PDS.example.com":     "https://pds.example.com",
		"https://pds.example.com/":    "https://pds.example.com",
		"http://127.0.0.1:2583":       "http://127.0.0.1:2583",
		"https://pds.example.com/x":   "",
		"https://u@pds.example.com":   "",
		"ftp://pds.example.com":       "",
		"https://pds.example.com?x=1": "",
		"pds.example.com":             "",
	} {
		got, err := auth.Origin(in)
		if (err != nil) != (want == "") || got != want {
			t.Errorf("Origin(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

func TestPublic(t *testing.T) {
	a, err := auth.Public("https://public.api.bsky.app/", nil)
	if err != nil {
		t.Fatal(err)
	}
	if a.Host() != "https://public.api.bsky.app" || a.HTTPClient() != http.DefaultClient {
		t.Fatalf("%q %v", a.Host(), a.HTTPClient())
	}
	if _, ok := a.(auth.Account); ok {
		t.Fatal("a public Auth acts for an account")
	}
	if _, ok := a.(auth.Permissions); ok {
		t.Fatal("a public Auth claims permissions")
	}
}

// An AppView's public API answers reads without a session: give its
// origin to xrpc.Options.Auth or agent.New.
func ExamplePublic() {
	appview, err := auth.Public("https://public.api.bsky.app", &http.Client{})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(appview.Host())
	// Output: https://public.api.bsky.app
}

type hinted struct{ hint string }

func (h hinted) Error() string { return "hinted" }
func (h hinted) Hint() string  { return h.hint }

// Hint finds the first hint in a chain of wrapped (and joined) errors.
func TestHint(t *testing.T) {
	if auth.Hint(nil) != "" || auth.Hint(errors.New("plain")) != "" {
		t.Fatal("a hint from nowhere")
	}
	wrapped := fmt.Errorf("outer: %w", fmt.Errorf("inner: %w", hinted{"do this"}))
	if got := auth.Hint(wrapped); got != "do this" {
		t.Fatalf("wrapped: %q", got)
	}
	joined := errors.Join(errors.New("a"), fmt.Errorf("b: %w", hinted{"or that"}))
	if got := auth.Hint(joined); got != "or that" {
		t.Fatalf("joined: %q", got)
	}
	if got := auth.Hint(fmt.Errorf("x: %w", hinted{""})); got != "" {
		t.Fatalf("empty hint: %q", got)
	}
}
