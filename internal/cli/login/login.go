// Package login implements `atoauth login`: sign in through the browser
// with a loopback redirect.
package login

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"html/template"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/atoauth/atoauth"
	"github.com/atoauth/atoauth/internal/cli/cmdutil"
	atscope "github.com/atoauth/atoauth/scope"
	"github.com/spf13/cobra"
)

// Options are the inputs of `atoauth login`.
type Options struct {
	Factory    *cmdutil.Factory
	Identifier string
	Scope      string
	Prompt     string
	NoBrowser  bool
	Timeout    time.Duration
}

// NewCmd returns the command. runF, when set, replaces Run (for tests).
func NewCmd(f *cmdutil.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	o := &Options{Factory: f}
	cmd := &cobra.Command{
		Use:   "login <handle|did|pds-url>",
		Short: "Sign in through your browser",
		Long: `Sign in to an AT Protocol account through OAuth in your browser.

atoauth listens on 127.0.0.1 on a free port, sends you to your server's own
sign-in and consent pages, and stores the session. It never sees your
password. It uses a loopback development client, so no hosting is needed.`,
		Example: `  atoauth login alice.bsky.social
  atoauth login --no-browser did:plc:abcdefghijklmnopqrstuvwx
  atoauth login --scope "atproto repo:app.bsky.feed.post?action=create blob:image/*" alice.bsky.social
  atoauth login https://bsky.social        # choose the account at the server`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Identifier = args[0]
			if runF != nil {
				return runF(cmd.Context(), o)
			}
			return Run(cmd.Context(), o)
		},
	}
	cmd.Flags().StringVar(&o.Scope, "scope", cmdutil.DefaultScope, "permissions to ask for (space-separated)")
	cmd.Flags().StringVar(&o.Prompt, "prompt", "", "prompt parameter: login, consent, select_account or create")
	cmd.Flags().BoolVar(&o.NoBrowser, "no-browser", false, "print the URL instead of opening a browser")
	cmd.Flags().DurationVar(&o.Timeout, "timeout", 5*time.Minute, "how long to wait for the browser")
	return cmd
}

type result struct {
	sess *atoauth.Session
	err  error
}

// Run signs in.
func Run(ctx context.Context, o *Options) error {
	f := o.Factory
	scope := strings.Join(strings.Fields(o.Scope), " ")
	if _, err := atscope.Parse(scope); err != nil {
		return &cmdutil.UsageError{Err: fmt.Errorf("--scope: %w", err)}
	}
	client, err := f.Client(ctx, scope)
	if err != nil {
		return err
	}
	f.Progress("resolving %s", o.Identifier)
	sess, err := Browser(ctx, &BrowserOptions{
		Factory:    f,
		Client:     client,
		Identifier: o.Identifier,
		Start:      atoauth.StartOptions{Prompt: o.Prompt},
		NoBrowser:  o.NoBrowser,
		Timeout:    o.Timeout,
	})
	if err != nil {
		return err
	}
	st, err := f.LoadState(ctx)
	if err != nil {
		return err
	}
	st.Current = sess.ID() // the session records its client (and so its scope) itself
	if err := f.SaveState(st); err != nil {
		return err
	}
	cmdutil.Fprintf(f.IO.Out, "Logged in as %s (%s) on %s\n", sess.Handle(), sess.DID(), sess.PDS())
	PrintGranted(f.IO.Out, sess.Scope())
	return nil
}

// PrintGranted prints each permission of a granted scope in plain words,
// under "Granted:".
func PrintGranted(w io.Writer, granted string) {
	cmdutil.Fprintf(w, "Granted:\n")
	for _, t := range strings.Fields(granted) {
		words := "(not a valid permission: grants nothing)"
		if p, err := atscope.ParsePermission(t); err == nil {
			words = p.Describe()
		}
		cmdutil.Fprintf(w, "  %s\n", words)
	}
}

// BrowserOptions are the inputs of Browser.
type BrowserOptions struct {
	Factory *cmdutil.Factory
	// Client is the loopback client to sign in with.
	Client *atoauth.Client
	// Identifier is the handle, DID or PDS URL to sign in to.
	Identifier string
	// Start holds the authorization options; RedirectURI is set by
	// Browser.
	Start atoauth.StartOptions
	// Replace, when set, is the id of the session the new one replaces
	// (a step-up: atoauth.CallbackOptions.Replace).
	Replace   string
	NoBrowser bool
	// Timeout is how long to wait for the browser.
	Timeout time.Duration
}

// Browser runs one sign-in in the browser: it listens on a free port of
// 127.0.0.1, starts the login with that redirect, prints the URL (and
// opens it unless NoBrowser), and completes the login when the browser
// comes back with the login's state.
func Browser(ctx context.Context, o *BrowserOptions) (*atoauth.Session, error) {
	f := o.Factory
	ln, err := net.Listen("tcp", "127.0.0.1:0") // loopback only, never all interfaces
	if err != nil {
		return nil, fmt.Errorf("listening for the browser's callback: %w", err)
	}
	defer ln.Close()
	start := o.Start
	start.RedirectURI = fmt.Sprintf("http://127.0.0.1:%d/callback", ln.Addr().(*net.TCPAddr).Port)
	auth, err := o.Client.Start(ctx, o.Identifier, &start)
	if err != nil {
		return nil, err
	}

	done := make(chan result, 1)
	srv := &http.Server{
		ReadHeaderTimeout: 10 * time.Second,
		Handler:           &callback{client: o.Client, state: auth.State, replace: o.Replace, done: done},
	}
	go func() { _ = srv.Serve(ln) }()
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()

	cmdutil.Fprintf(f.IO.ErrOut, "Open this URL in your browser to sign in:\n%s\n", auth.URL)
	if !o.NoBrowser && f.OpenBrowser != nil {
		if err := f.OpenBrowser(auth.URL); err != nil {
			cmdutil.Fprintf(f.IO.ErrOut, "(could not open a browser: %v)\n", err)
		}
	}
	f.Progress("waiting for the browser (Ctrl-C to cancel)")

	timeout := o.Timeout
	if timeout <= 0 {
		timeout = 5 * time.Minute
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	var res result
	select {
	case res = <-done:
	case <-timer.C:
		return nil, fmt.Errorf("login timed out after %s without an answer from the browser", timeout)
	case <-ctx.Done():
		return nil, errors.New("login cancelled")
	}
	return res.sess, res.err
}

// callback answers requests to the loopback listener. Only a GET of
// /callback whose state is the pending login's ends the login: signed in,
// or failed with the server's answer (access_denied, say). Anything else
// (a missing or other state: a sign-in started in another browser or
// terminal, a page or a port scan probing the port) gets an error page,
// and the listener keeps waiting for the real redirect until the timeout
// or Ctrl-C, so that one blind request cannot abort the login. Other
// paths answer 404, other methods 405.
type callback struct {
	client  *atoauth.Client
	state   string
	replace string        // CallbackOptions.Replace
	done    chan<- result // buffered: receives exactly one result
	taken   atomic.Bool   // the matching redirect has arrived
}

func (c *callback) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/callback" {
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	q := r.URL.Query()
	if st := q["state"]; len(st) != 1 || subtle.ConstantTimeCompare([]byte(st[0]), []byte(c.state)) != 1 {
		page(w, http.StatusBadRequest, "Not this sign-in",
			"This is not the sign-in you started here: it does not carry the state of the login atoauth is waiting for "+
				"(it may have been started in another browser or terminal). atoauth keeps waiting: finish the sign-in from the link it printed.")
		return
	}
	if !c.taken.CompareAndSwap(false, true) {
		page(w, http.StatusConflict, "Already answered", "This sign-in has already been answered: return to the terminal.")
		return
	}
	sess, err := c.client.Callback(r.Context(), q, &atoauth.CallbackOptions{State: c.state, Replace: c.replace})
	if err != nil {
		page(w, http.StatusBadRequest, "Sign-in failed", cmdutil.ErrorText(err))
	} else {
		page(w, http.StatusOK, "Signed in", cmdutil.Sprintf("Signed in as %s. You can close this tab and return to the terminal.", sess.Handle()))
	}
	c.done <- result{sess, err}
}

func page(w http.ResponseWriter, status int, title, text string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = donePage.Execute(w, map[string]string{"Title": title, "Text": text})
}

var donePage = template.Must(template.New("done").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>atoauth: {{.Title}}</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem}</style></head>
<body><h1>{{.Title}}</h1><p>{{.Text}}</p></body></html>
`))
