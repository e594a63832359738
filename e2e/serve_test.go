package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/atoauth/atoauth/atoauthtest"
	"github.com/atoauth/atoauth/internal/cli/serve"
	"github.com/atoauth/atoauth/internal/testnet"
)

// TestServeInABrowser signs in to `atoauth serve` as a person would: the
// app's sign-in form, the PDS's own sign-in and consent pages, then a post
// and sign-out, all in headless Chromium.
func TestServeInABrowser(t *testing.T) {
	n := testnet.Get(t)
	alice := n.Account("alice")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out atoauthtest.Buffer
	done := make(chan error, 1)
	go func() {
		done <- serve.Run(ctx, &serve.Options{
			Addr: "127.0.0.1:0", Scope: "atproto transition:generic",
			PLCURL: n.PLCURL, HandleResolver: n.PDSURL, InsecureDev: true,
			Store: filepath.Join(t.TempDir(), "atoauth.db"),
		}, &out, testWriter{t})
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	}()
	app := waitForAddress(t, &out)

	b, err := testnet.NewBrowser(ctx, t.Name())
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := b.Navigate(app + "/"); err != nil {
		t.Fatal(b.Fail("open app", err))
	}
	if err := b.WaitJS(`!!document.querySelector('input[name=identifier]')`); err != nil {
		t.Fatal(b.Fail("sign-in form", err))
	}
	b.Screenshot("app-sign-in")
	if err := b.Type(`input[name=identifier]`, alice.Handle); err != nil {
		t.Fatal(b.Fail("type handle", err))
	}
	if err := b.ClickButton(`^sign in$`); err != nil {
		t.Fatal(b.Fail("submit", err))
	}
	if _, err := b.SignIn(testnet.AuthorizeOptions{Password: alice.Password, RedirectPrefix: app + "/", Screenshots: true}); err != nil {
		t.Fatal(err)
	}
	if err := b.WaitJS(`document.body.innerText.includes(` + jsString(alice.DID) + `)`); err != nil {
		t.Fatal(b.Fail("home", err))
	}
	b.Screenshot("app-home")

	text := "posted from the atoauth web app " + time.Now().Format(time.RFC3339Nano)
	if err := b.Type(`textarea[name=text]`, text); err != nil {
		t.Fatal(b.Fail("compose", err))
	}
	if err := b.ClickButton(`^post$`); err != nil {
		t.Fatal(b.Fail("post", err))
	}
	if err := b.WaitJS(`document.body.innerText.includes('Posted.')`); err != nil {
		t.Fatal(b.Fail("posted", err))
	}
	if !repoHasPost(t, n, alice.DID, text) {
		t.Fatal("the post is not in the repo")
	}

	if err := b.ClickButton(`^sign out$`); err != nil {
		t.Fatal(b.Fail("sign out", err))
	}
	if err := b.WaitJS(`document.body.innerText.includes('Signed out.') && !!document.querySelector('input[name=identifier]')`); err != nil {
		t.Fatal(b.Fail("signed out", err))
	}
}

func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func repoHasPost(t *testing.T, n *testnet.Network, did, text string) bool {
	return postWithText(t, n, did, text) != nil
}

// postWithText returns the post with text among the latest 50 of the
// repo of did (its record value), or nil.
func postWithText(t *testing.T, n *testnet.Network, did, text string) map[string]any {
	t.Helper()
	q := url.Values{"repo": {did}, "collection": {"app.bsky.feed.post"}, "limit": {"50"}}
	resp, err := http.Get(n.PDSURL + "/xrpc/com.atproto.repo.listRecords?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var list struct {
		Records []struct {
			Value map[string]any `json:"value"`
		} `json:"records"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil {
		t.Fatal(err)
	}
	for _, r := range list.Records {
		if r.Value["text"] == text {
			return r.Value
		}
	}
	return nil
}

var addrRE = regexp.MustCompile(`http://127\.0\.0\.1:\d+`)

func waitForAddress(t *testing.T, out *atoauthtest.Buffer) string {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if a := addrRE.FindString(out.String()); a != "" {
			return a
		}
	}
	t.Fatalf("the server did not announce its address: %q", out.String())
	return ""
}
