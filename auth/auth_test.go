package auth_test

import (
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
