package testnet

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"time"

	"github.com/chromedp/chromedp"
)

// ChromiumPath returns the Chromium binary: $ATOAUTH_CHROMIUM, or Debian's
// chromium on PATH.
func ChromiumPath() (string, error) {
	if p := os.Getenv("ATOAUTH_CHROMIUM"); p != "" {
		return p, nil
	}
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", errors.New("testnet: chromium not found (apt-get install chromium, or set ATOAUTH_CHROMIUM)")
}

// ArtifactsDir is where screenshots go: $ATOAUTH_ARTIFACTS, or artifacts/
// at the module root.
func ArtifactsDir() string {
	if d := os.Getenv("ATOAUTH_ARTIFACTS"); d != "" {
		return d
	}
	root, err := RepoRoot()
	if err != nil {
		return filepath.Join(os.TempDir(), "atoauth-artifacts")
	}
	return filepath.Join(root, "artifacts")
}

// AuthorizeOptions adjusts Authorize.
type AuthorizeOptions struct {
	// Username is typed on the sign-in page when the login was started
	// without a hint (from a PDS URL); with a hint the field is filled.
	Username string
	Password string
	// Deny clicks "Deny access" on the consent page instead of
	// "Authorize".
	Deny bool
	// RedirectPrefix is the start of the client's redirect URI; Authorize
	// returns once the browser has been sent there.
	RedirectPrefix string
	// Name labels screenshots (e.g. the test name).
	Name string
	// Screenshots, when set, saves a screenshot of every page, not only
	// on failure.
	Screenshots bool
}

var shotSeq atomic.Int64

// Browser is a headless Chromium with a fresh profile. Close it when done.
type Browser struct {
	ctx     context.Context // the tab
	cancels []context.CancelFunc
	profile string
	name    string
}

// BrowserOptions adjust a browser for one test.
type BrowserOptions struct {
	// Loopback names hosts that resolve to 127.0.0.1 in this browser.
	Loopback []string
	// TrustSPKI lists the base64 SHA-256 hashes of server public keys
	// whose certificates this browser accepts (a test CA's certificates).
	TrustSPKI []string
}

// NewBrowser starts Chromium. name labels its screenshots.
func NewBrowser(ctx context.Context, name string) (*Browser, error) {
	return NewBrowserWith(ctx, name, BrowserOptions{})
}

// NewBrowserWith starts Chromium with opts.
func NewBrowserWith(ctx context.Context, name string, opts BrowserOptions) (*Browser, error) {
	chromium, err := ChromiumPath()
	if err != nil {
		return nil, err
	}
	profile, err := os.MkdirTemp("", "atoauth-chromium-")
	if err != nil {
		return nil, err
	}
	allocOpts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.UserDataDir(profile),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-proxy-server", true),
		chromedp.WindowSize(1000, 1000),
	)
	if len(opts.Loopback) > 0 {
		rules := make([]string, len(opts.Loopback))
		for i, h := range opts.Loopback {
			rules[i] = "MAP " + h + " 127.0.0.1"
		}
		allocOpts = append(allocOpts, chromedp.Flag("host-resolver-rules", strings.Join(rules, ",")))
	}
	if len(opts.TrustSPKI) > 0 {
		allocOpts = append(allocOpts, chromedp.Flag("ignore-certificate-errors-spki-list", strings.Join(opts.TrustSPKI, ",")))
	}
	actx, acancel := chromedp.NewExecAllocator(ctx, allocOpts...)
	bctx, bcancel := chromedp.NewContext(actx)
	b := &Browser{ctx: bctx, cancels: []context.CancelFunc{bcancel, acancel}, profile: profile, name: name}
	if err := chromedp.Do(bctx, chromedp.Navigate("about:blank")); err != nil {
		b.Close()
		return nil, fmt.Errorf("testnet: starting chromium: %w", err)
	}
	return b, nil
}

// Context is the browser tab's context, for chromedp actions.
func (b *Browser) Context() context.Context { return b.ctx }

// Close stops Chromium and removes its profile.
func (b *Browser) Close() {
	for _, c := range b.cancels {
		c()
	}
	_ = os.RemoveAll(b.profile)
}

// Navigate opens u.
func (b *Browser) Navigate(u string) error { return chromedp.Do(b.ctx, chromedp.Navigate(u)) }

// Screenshot saves a full-page screenshot under ArtifactsDir and returns
// its path.
func (b *Browser) Screenshot(step string) string {
	sctx, c := context.WithTimeout(b.ctx, 10*time.Second)
	defer c()
	png, err := chromedp.Run(sctx, chromedp.FullScreenshot(100))
	if err != nil || len(png) == 0 {
		return ""
	}
	dir := ArtifactsDir()
	_ = os.MkdirAll(dir, 0o755)
	path := filepath.Join(dir, fmt.Sprintf("%03d-%s-%s.png", shotSeq.Add(1), safeName(b.name), safeName(step)))
	if os.WriteFile(path, png, 0o644) != nil {
		return ""
	}
	return path
}

// Fail saves a screenshot and wraps err with where the browser is and
// what the page says.
func (b *Browser) Fail(step string, err error) error {
	b.Screenshot("failed-at-" + step)
	dctx, c := context.WithTimeout(b.ctx, 5*time.Second)
	defer c()
	url, _ := chromedp.Run(dctx, chromedp.Location())
	text, _ := chromedp.Run(dctx, chromedp.Evaluate[string](`document.body ? document.body.innerText.slice(0, 400) : ""`))
	return fmt.Errorf("testnet: browser %s: %w (at %s; page says %q)", step, err, url, strings.TrimSpace(text))
}

// WaitJS waits until the JavaScript condition is true (30 s at most).
func (b *Browser) WaitJS(cond string) error { return waitJS(b.ctx, cond) }

// Eval evaluates JavaScript in the page.
func Eval[T any](b *Browser, js string) (T, error) {
	return chromedp.Run(b.ctx, chromedp.Evaluate[T](js))
}

// Type focuses the field matching selector and types text.
func (b *Browser) Type(selector, text string) error { return typeInto(b.ctx, selector, text) }

// ClickButton clicks the first button whose text matches the
// case-insensitive regular expression.
func (b *Browser) ClickButton(pattern string) error {
	ok, err := Eval[bool](b, clickButtonJS(pattern))
	if err == nil && !ok {
		err = fmt.Errorf("no button matching %q", pattern)
	}
	return err
}

// Authorize plays the person at the PDS's own pages in a fresh headless
// Chromium: it opens authURL, signs in with the password, accepts (or
// denies) the consent screen and waits until the browser is redirected to
// the client. It returns the URL the browser was redirected to. On failure
// it saves a screenshot under ArtifactsDir.
func Authorize(ctx context.Context, authURL string, opts AuthorizeOptions) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	b, err := NewBrowser(ctx, opts.Name)
	if err != nil {
		return "", err
	}
	defer b.Close()
	if err := b.Navigate(authURL); err != nil {
		return "", b.Fail("open", err)
	}
	return b.SignIn(opts)
}

// SignIn completes the PDS's pages from where the browser is (the PDS's
// authorization page): the welcome page when the login had no hint, the
// password, the consent screen, and the redirect back to the client.
func (b *Browser) SignIn(opts AuthorizeOptions) (string, error) {
	if opts.Username != "" {
		// Started without a login hint: the welcome page asks what to do.
		if err := b.WaitJS(`[...document.querySelectorAll('button')].some(b => b.innerText.trim() === 'Sign in') || !!document.querySelector('input[type=password]')`); err != nil {
			return "", b.Fail("welcome", err)
		}
		if opts.Screenshots {
			b.Screenshot("pds-welcome")
		}
		if err := b.ClickButton(`^sign in$`); err != nil {
			return "", b.Fail("welcome", err)
		}
		if err := b.WaitJS(`!!document.querySelector('input[autocomplete=username]')`); err != nil {
			return "", b.Fail("username", err)
		}
		if err := b.Type(`input[autocomplete=username]`, opts.Username); err != nil {
			return "", b.Fail("username", err)
		}
	}
	if err := b.WaitJS(`!!document.querySelector('input[type=password]')`); err != nil {
		return "", b.Fail("sign-in", err)
	}
	if opts.Screenshots {
		b.Screenshot("pds-sign-in")
	}
	if err := b.Type(`input[type=password]`, opts.Password); err != nil {
		return "", b.Fail("sign-in", err)
	}
	if _, err := Eval[any](b, `document.querySelector('button[type=submit]').click()`); err != nil {
		return "", b.Fail("sign-in", err)
	}
	if err := b.WaitJS(`!document.querySelector('input[type=password]') && [...document.querySelectorAll('button')].some(b => /^(authorize|accept|allow)$/i.test(b.innerText.trim()))`); err != nil {
		return "", b.Fail("consent", err)
	}
	if opts.Screenshots {
		b.Screenshot("pds-consent")
	}
	label := `^(authorize|accept|allow)$`
	if opts.Deny {
		label = `^deny( access)?$`
	}
	if err := b.ClickButton(label); err != nil {
		return "", b.Fail("consent", err)
	}
	if err := b.WaitJS(fmt.Sprintf(`location.href.startsWith(%q)`, opts.RedirectPrefix)); err != nil {
		return "", b.Fail("redirect", err)
	}
	final, err := chromedp.Run(b.ctx, chromedp.Location())
	if err != nil {
		return "", b.Fail("redirect", err)
	}
	return final, nil
}

// clickButtonJS clicks the first button whose text matches the
// case-insensitive pattern, and evaluates to whether it found one.
func clickButtonJS(pattern string) string {
	return fmt.Sprintf(`(() => { const re = new RegExp(%q, 'i'); const b = [...document.querySelectorAll('button')].find(b => re.test(b.innerText.trim())); if (!b) return false; b.click(); return true })()`, pattern)
}

// waitJS polls a JavaScript condition until it is true or 30 s pass.
func waitJS(ctx context.Context, cond string) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](cond))
		if err == nil && ok {
			return nil
		}
		if time.Now().After(deadline) {
			if err == nil {
				err = errors.New("timed out waiting for " + cond)
			}
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(150 * time.Millisecond):
		}
	}
}

// typeInto focuses the field and types text as a person would (through the
// input pipeline, so the page's framework sees it).
func typeInto(ctx context.Context, selector, text string) error {
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[any](fmt.Sprintf(`document.querySelector(%q).focus()`, selector))); err != nil {
		return err
	}
	return chromedp.Do(ctx, chromedp.KeyEvent(text))
}

var unsafeChars = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

func safeName(s string) string {
	if s == "" {
		return "browser"
	}
	return strings.Trim(unsafeChars.ReplaceAllString(s, "_"), "_")
}
