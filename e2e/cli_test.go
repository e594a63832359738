package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/atoauth/atoauth/internal/testnet"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// atoauthBinary builds cmd/atoauth once for the test binary.
func atoauthBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		root, err := testnet.RepoRoot()
		if err != nil {
			buildErr = err
			return
		}
		dir, err := os.MkdirTemp("", "atoauth-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "atoauth")
		cmd := exec.Command("go", "build", "-o", binPath, "./cmd/atoauth")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = err
			binPath = string(out)
		}
	})
	if buildErr != nil {
		t.Fatalf("building atoauth: %v\n%s", buildErr, binPath)
	}
	return binPath
}

// cli runs the atoauth binary against the test network with its own
// config directory (so its own SQLite store).
type cli struct {
	t   *testing.T
	bin string
	dir string   // ATOAUTH_CONFIG_DIR
	env []string // the environment, ending with the ATOAUTH_* settings
	set []string // just the ATOAUTH_* settings
}

func newCLI(t *testing.T, n *testnet.Network) *cli {
	dir := t.TempDir()
	set := []string{
		"ATOAUTH_CONFIG_DIR=" + dir,
		"ATOAUTH_PLC_URL=" + n.PLCURL,
		"ATOAUTH_HANDLE_RESOLVER=" + n.PDSURL,
		"ATOAUTH_INSECURE_DEV=1",
	}
	return &cli{t: t, bin: atoauthBinary(t), dir: dir, env: append(os.Environ(), set...), set: set}
}

func (c *cli) run(stdin string, args ...string) (code int, stdout, stderr string) {
	c.t.Helper()
	cmd := exec.Command(c.bin, args...)
	cmd.Env = c.env
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	code = 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		c.t.Fatal(err)
	}
	return code, out.String(), errOut.String()
}

func (c *cli) mustRun(args ...string) string {
	c.t.Helper()
	code, out, errOut := c.run("", args...)
	if code != 0 {
		c.t.Fatalf("atoauth %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

// login runs `atoauth login --no-browser` and drives the printed URL
// through the PDS's pages in Chromium.
func (c *cli) login(acct testnet.Account, extra ...string) string {
	c.t.Helper()
	args := append([]string{"login", "--no-browser"}, extra...)
	return c.inBrowser(acct, append(args, acct.Handle)...)
}

// inBrowser runs a command that prints a sign-in URL (login, scope
// request: with --no-browser) and signs acct in at that URL through the
// PDS's pages in Chromium; it returns the command's standard output.
func (c *cli) inBrowser(acct testnet.Account, args ...string) string {
	c.t.Helper()
	cmd := exec.Command(c.bin, args...)
	cmd.Env = c.env
	stderr, err := cmd.StderrPipe()
	if err != nil {
		c.t.Fatal(err)
	}
	var out bytes.Buffer
	cmd.Stdout = &out
	if err := cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	urls := make(chan string, 1)
	var errText bytes.Buffer
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			errText.WriteString(line + "\n")
			if strings.HasPrefix(line, "http") && strings.Contains(line, "/oauth/authorize?") {
				urls <- line
			}
		}
		close(urls)
	}()
	u, ok := <-urls
	if !ok {
		_ = cmd.Wait()
		c.t.Fatalf("%s printed no URL:\n%s", args[0], errText.String())
	}
	if _, err := testnet.Authorize(context.Background(), u, testnet.AuthorizeOptions{Password: acct.Password, RedirectPrefix: "http://127.0.0.1:", Name: c.t.Name()}); err != nil {
		_ = cmd.Process.Kill()
		c.t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		c.t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, errText.String())
	}
	return out.String()
}

func TestCLIEndToEnd(t *testing.T) {
	n := testnet.Get(t)
	alice := n.Account("alice")
	c := newCLI(t, n)

	out := c.login(alice)
	if !strings.Contains(out, "Logged in as "+alice.Handle+" ("+alice.DID+") on "+n.PDSURL) {
		t.Fatalf("login said %q", out)
	}
	var who struct{ DID, Handle string }
	if err := json.Unmarshal([]byte(c.mustRun("whoami", "--json")), &who); err != nil || who.DID != alice.DID {
		t.Fatalf("whoami: %+v %v", who, err)
	}

	img := filepath.Join(t.TempDir(), "pic.png")
	if err := os.WriteFile(img, testPNG(t), 0o644); err != nil {
		t.Fatal(err)
	}
	out = c.mustRun("post", "posted by the atoauth CLI", "--image", img, "--alt", "a gradient", "--lang", "en")
	uri := strings.Fields(out)[0]
	if !strings.HasPrefix(uri, "at://"+alice.DID+"/app.bsky.feed.post/") {
		t.Fatalf("post printed %q", out)
	}
	if out = c.mustRun("records", "list", "app.bsky.feed.post", "--limit", "100"); !strings.Contains(out, uri) {
		t.Fatalf("records list does not show %s:\n%s", uri, out)
	}
	var rec struct {
		Value struct {
			Text  string
			Embed struct {
				Images []struct {
					Alt   string
					Image struct {
						Ref struct {
							Link string `json:"$link"`
						}
					}
				}
			}
		}
	}
	if err := json.Unmarshal([]byte(c.mustRun("records", "get", uri)), &rec); err != nil || rec.Value.Text != "posted by the atoauth CLI" || len(rec.Value.Embed.Images) != 1 {
		t.Fatalf("records get: %+v %v", rec, err)
	}
	back := filepath.Join(t.TempDir(), "back.png")
	c.mustRun("blob", "get", alice.DID, rec.Value.Embed.Images[0].Image.Ref.Link, "-o", back)
	if got, _ := os.ReadFile(back); !bytes.Equal(got, testPNG(t)) {
		t.Fatal("the image fetched back differs")
	}
	code, _, errOut := c.run(`{"$type":"app.bsky.feed.post","text":"via records put","createdAt":"2026-11-27T12:00:00Z"}`,
		"records", "put", "app.bsky.feed.post", "3kcliputtest2", "-")
	if code != 0 {
		t.Fatalf("records put: %s", errOut)
	}
	c.mustRun("records", "delete", "at://"+alice.DID+"/app.bsky.feed.post/3kcliputtest2")
	c.mustRun("profile", "set", "--display-name", "Alice from the CLI", "--avatar", img)
	if out = c.mustRun("profile"); !strings.Contains(out, "Alice from the CLI") || !strings.Contains(out, "Avatar:") {
		t.Fatalf("profile: %s", out)
	}
	if out = c.mustRun("call", "com.atproto.server.getSession"); !strings.Contains(out, alice.DID) {
		t.Fatalf("call getSession: %s", out)
	}
	if n.AppViewDID != "" {
		// Configured by default: the PDS's own AppView answers.
		if out = c.mustRun("call", "app.bsky.actor.getProfile", "actor="+alice.DID); !strings.Contains(out, alice.DID) {
			t.Fatalf("call getProfile through the PDS: %s", out)
		}
		// The network's AppView named, by flag and by environment.
		if out = c.mustRun("call", "app.bsky.actor.getProfile", "actor="+alice.DID, "--appview", n.AppViewDID+"#bsky_appview"); !strings.Contains(out, alice.DID) {
			t.Fatalf("call getProfile with --appview: %s", out)
		}
		named := *c
		named.env = append(append([]string{}, c.env...), "ATOAUTH_APPVIEW="+n.AppViewDID+"#bsky_appview")
		if out = named.mustRun("call", "app.bsky.actor.getProfile", "actor="+alice.DID); !strings.Contains(out, alice.DID) {
			t.Fatalf("call getProfile with ATOAUTH_APPVIEW: %s", out)
		}
	}
	c.mustRun("records", "delete", uri)

	// logout revokes: a copy of the session taken before can no longer write.
	snapshot := t.TempDir()
	copyDir(t, c.dir, snapshot)
	c.mustRun("logout")
	if code, _, _ := c.run("", "whoami"); code != 4 {
		t.Fatalf("whoami after logout: exit %d, want 4", code)
	}
	revived := *c
	revived.env = append(append([]string{}, c.env...), "ATOAUTH_CONFIG_DIR="+snapshot)
	code, _, errOut = revived.run("", "post", "after logout")
	if code != 4 {
		t.Fatalf("posting with a revoked session: exit %d, want 4 (needs login)\n%s", code, errOut)
	}
}

// TestCLIScopeRequest signs in asking only to post with images, fails a
// profile edit with the exact step-up command in the message, runs it,
// consents on the PDS's page, and edits the profile with the same session.
func TestCLIScopeRequest(t *testing.T) {
	n := testnet.Get(t)
	bob := n.Account("bob")
	c := newCLI(t, n)
	c.login(bob, "--scope", "atproto repo:app.bsky.feed.post?action=create blob:image/*")
	sessions := func() []map[string]any {
		t.Helper()
		var list []map[string]any
		if err := json.Unmarshal([]byte(c.mustRun("sessions", "--json")), &list); err != nil {
			t.Fatal(err)
		}
		return list
	}
	before := sessions()
	if len(before) != 1 {
		t.Fatalf("sessions after login: %v", before)
	}

	name := "Bob stepped up " + strconv.FormatInt(time.Now().UnixNano(), 36)
	code, _, errOut := c.run("", "profile", "set", "--display-name", name)
	want := `atoauth scope request 'repo:app.bsky.actor.profile?action=create&action=update'`
	if code != 1 || !strings.Contains(errOut, "\n  "+want+"\n") {
		t.Fatalf("profile set without the permission: exit %d, want 1 and the line %s:\n%s", code, want, errOut)
	}
	t.Logf("profile set without the permission said:\n%s", errOut)

	out := c.inBrowser(bob, "scope", "request", "--no-browser", "repo:app.bsky.actor.profile?action=create&action=update")
	if !strings.Contains(out, "now has these permissions") {
		t.Fatalf("scope request said:\n%s", out)
	}
	t.Logf("scope request said:\n%s", out)
	c.mustRun("profile", "set", "--display-name", name)
	if out = c.mustRun("profile"); !strings.Contains(out, name) {
		t.Fatalf("profile after the step-up:\n%s", out)
	}
	after := sessions()
	if len(after) != 1 || after[0]["session"] != before[0]["session"] {
		t.Fatalf("sessions after the step-up: %v, want the one session %v", after, before[0]["session"])
	}
	// Posting, granted before, still works on the replaced session.
	// Deleting it was never asked for: the message names that request.
	uri := strings.Fields(c.mustRun("post", "posted after a step-up"))[0]
	if code, _, errOut := c.run("", "records", "delete", uri); code != 1 || !strings.Contains(errOut, "\n  atoauth scope request 'repo:app.bsky.feed.post?action=delete'\n") {
		t.Fatalf("records delete without the permission: exit %d\n%s", code, errOut)
	}
}

func copyDir(t *testing.T, from, to string) {
	entries, err := os.ReadDir(from)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		src, err := os.Open(filepath.Join(from, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		dst, err := os.OpenFile(filepath.Join(to, e.Name()), os.O_CREATE|os.O_WRONLY, 0o600)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(dst, src); err != nil {
			t.Fatal(err)
		}
		src.Close()
		dst.Close()
	}
}

// TestCLILoginInATerminal runs `atoauth login` in a real terminal (tmux):
// Ctrl-C ends the wait cleanly, and so does --timeout.
func TestCLILoginInATerminal(t *testing.T) {
	n := testnet.Get(t)
	if _, err := exec.LookPath("tmux"); err != nil {
		if _, required := testnet.Enabled(); required {
			t.Fatal("tmux is needed (apt-get install tmux); scripts/test installs it")
		}
		t.Skip("no tmux")
	}
	c := newCLI(t, n)
	alice := n.Account("alice")
	sock := filepath.Join(t.TempDir(), "tmux.sock")
	tmux := func(args ...string) string {
		out, err := exec.Command("tmux", append([]string{"-S", sock}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("tmux %v: %v %s", args, err, out)
		}
		return string(out)
	}
	var envArgs []string
	for _, kv := range c.set {
		envArgs = append(envArgs, "-e", kv)
	}
	start := func(name string, args ...string) {
		cmdline := c.bin + " " + strings.Join(args, " ") + "; echo EXIT=$?; sleep 60"
		tmux(append(append([]string{"new-session", "-d", "-s", name, "-x", "200", "-y", "50"}, envArgs...), cmdline)...)
	}
	waitFor := func(name, text string) string {
		deadline := time.Now().Add(30 * time.Second)
		for {
			screen := tmux("capture-pane", "-p", "-t", name)
			if strings.Contains(screen, text) {
				return screen
			}
			if time.Now().After(deadline) {
				t.Fatalf("terminal %s never showed %q:\n%s", name, text, screen)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	defer exec.Command("tmux", "-S", sock, "kill-server").Run()

	start("ctrlc", "login", "--no-browser", alice.Handle)
	waitFor("ctrlc", "/oauth/authorize?")
	waitFor("ctrlc", "waiting for the browser")
	tmux("send-keys", "-t", "ctrlc", "C-c")
	screen := waitFor("ctrlc", "EXIT=")
	if !strings.Contains(screen, "login cancelled") || !strings.Contains(screen, "EXIT=1") {
		t.Fatalf("after Ctrl-C:\n%s", screen)
	}

	start("timeout", "login", "--no-browser", "--timeout", "2s", alice.Handle)
	screen = waitFor("timeout", "EXIT=")
	if !strings.Contains(screen, "timed out") || !strings.Contains(screen, "EXIT=1") {
		t.Fatalf("after the timeout:\n%s", screen)
	}
}
