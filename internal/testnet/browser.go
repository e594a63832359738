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

// Authorize plays the person at the PDS's own pages in a fresh headless
// Chromium: it opens authURL, signs in with the password, accepts (or
// denies) the consent screen and waits until the browser is redirected to
// the client. It returns the URL the browser was redirected to. On failure
// it saves a screenshot under ArtifactsDir.
func Authorize(ctx context.Context, authURL string, opts AuthorizeOptions) (string, error) {
	chromium, err := ChromiumPath()
	if err != nil {
		return "", err
	}
	profile, err := os.MkdirTemp("", "atoauth-chromium-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(profile)

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
	ctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	actx, acancel := chromedp.NewExecAllocator(ctx, allocOpts...)
	defer acancel()
	bctx, bcancel := chromedp.NewContext(actx)
	defer bcancel()

	shot := func(step string) {
		sctx, c := context.WithTimeout(bctx, 10*time.Second)
		defer c()
		png, err := chromedp.Run(sctx, chromedp.FullScreenshot(90))
		if err != nil || len(png) == 0 {
			return
		}
		dir := ArtifactsDir()
		_ = os.MkdirAll(dir, 0o755)
		name := fmt.Sprintf("%03d-%s-%s.png", shotSeq.Add(1), safeName(opts.Name), step)
		_ = os.WriteFile(filepath.Join(dir, name), png, 0o644)
	}
	step := "start"
	fail := func(err error) (string, error) {
		shot("failed-at-" + step)
		dctx, c := context.WithTimeout(bctx, 5*time.Second)
		defer c()
		url, _ := chromedp.Run(dctx, chromedp.Location())
		text, _ := chromedp.Run(dctx, chromedp.Evaluate[string](`document.body ? document.body.innerText.slice(0, 400) : ""`))
		return "", fmt.Errorf("testnet: browser %s: %w (at %s; page says %q)", step, err, url, strings.TrimSpace(text))
	}

	step = "open"
	if err := chromedp.Do(bctx, chromedp.Navigate(authURL)); err != nil {
		return fail(err)
	}
	if opts.Username != "" {
		// Started without a login hint: the welcome page asks what to do.
		step = "welcome"
		if err := waitJS(bctx, `[...document.querySelectorAll('button')].some(b => b.innerText.trim() === 'Sign in') || !!document.querySelector('input[type=password]')`); err != nil {
			return fail(err)
		}
		if opts.Screenshots {
			shot(step)
		}
		if ok, err := chromedp.Run(bctx, chromedp.Evaluate[bool](clickButtonJS(`^sign in$`))); err != nil || !ok {
			if err == nil {
				err = errors.New(`no "Sign in" button`)
			}
			return fail(err)
		}
		step = "username"
		if err := waitJS(bctx, `!!document.querySelector('input[autocomplete=username]')`); err != nil {
			return fail(err)
		}
		if err := typeInto(bctx, `input[autocomplete=username]`, opts.Username); err != nil {
			return fail(err)
		}
	}
	step = "sign-in"
	if err := waitJS(bctx, `!!document.querySelector('input[type=password]')`); err != nil {
		return fail(err)
	}
	if opts.Screenshots {
		shot(step)
	}
	if err := typeInto(bctx, `input[type=password]`, opts.Password); err != nil {
		return fail(err)
	}
	if _, err := chromedp.Run(bctx, chromedp.Evaluate[any](`document.querySelector('button[type=submit]').click()`)); err != nil {
		return fail(err)
	}
	step = "consent"
	if err := waitJS(bctx, `!document.querySelector('input[type=password]') && [...document.querySelectorAll('button')].some(b => /^(authorize|accept|allow)$/i.test(b.innerText.trim()))`); err != nil {
		return fail(err)
	}
	if opts.Screenshots {
		shot(step)
	}
	label := `^(authorize|accept|allow)$`
	if opts.Deny {
		label = `^deny( access)?$`
	}
	if clicked, err := chromedp.Run(bctx, chromedp.Evaluate[bool](clickButtonJS(label))); err != nil || !clicked {
		if err == nil {
			err = errors.New("no such button")
		}
		return fail(err)
	}
	step = "redirect"
	prefix := opts.RedirectPrefix
	if err := waitJS(bctx, fmt.Sprintf(`location.href.startsWith(%q)`, prefix)); err != nil {
		return fail(err)
	}
	final, err := chromedp.Run(bctx, chromedp.Location())
	if err != nil {
		return fail(err)
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
