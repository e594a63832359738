package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

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
	var out lockedBuffer
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
	q := url.Values{"repo": {did}, "collection": {"app.bsky.feed.post"}, "limit": {"50"}}
	resp, err := http.Get(n.PDSURL + "/xrpc/com.atproto.repo.listRecords?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var list struct {
		Records []struct {
			Value struct{ Text string }
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil {
		t.Fatal(err)
	}
	for _, r := range list.Records {
		if r.Value.Text == text {
			return true
		}
	}
	return false
}

var addrRE = regexp.MustCompile(`http://127\.0\.0\.1:\d+`)

func waitForAddress(t *testing.T, out *lockedBuffer) string {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if a := addrRE.FindString(out.String()); a != "" {
			return a
		}
	}
	t.Fatalf("the server did not announce its address: %q", out.String())
	return ""
}

type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.Clone(b.buf.String())
}
