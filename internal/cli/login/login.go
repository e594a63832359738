// Package login implements `atoauth login`: sign in through the browser
// with a loopback redirect.
package login

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"net"
	"net/http"
	"strings"
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
	ln, err := net.Listen("tcp", "127.0.0.1:0") // loopback only, never all interfaces
	if err != nil {
		return fmt.Errorf("listening for the browser's callback: %w", err)
	}
	defer ln.Close()
	redirect := fmt.Sprintf("http://127.0.0.1:%d/callback", ln.Addr().(*net.TCPAddr).Port)

	scope := strings.Join(strings.Fields(o.Scope), " ")
	if _, err := atscope.Parse(scope); err != nil {
		return &cmdutil.UsageError{Err: fmt.Errorf("--scope: %w", err)}
	}
	client, err := f.Client(ctx, scope)
	if err != nil {
		return err
	}
	f.Progress("resolving %s", o.Identifier)
	auth, err := client.Start(ctx, o.Identifier, &atoauth.StartOptions{Prompt: o.Prompt, RedirectURI: redirect})
	if err != nil {
		return err
	}

	done := make(chan result, 1)
	srv := &http.Server{
		ReadHeaderTimeout: 10 * time.Second,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/callback" {
				http.NotFound(w, r)
				return
			}
			sess, err := client.Callback(r.Context(), r.URL.Query(), &atoauth.CallbackOptions{State: auth.State})
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
			if err != nil {
				w.WriteHeader(http.StatusBadRequest)
				_ = donePage.Execute(w, map[string]string{"Title": "Sign-in failed", "Text": err.Error()})
			} else {
				_ = donePage.Execute(w, map[string]string{"Title": "Signed in", "Text": "Signed in as " + sess.Handle().String() + ". You can close this tab and return to the terminal."})
			}
			select {
			case done <- result{sess, err}:
			default:
			}
		}),
	}
	go func() { _ = srv.Serve(ln) }()
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()

	fmt.Fprintln(f.IO.ErrOut, "Open this URL in your browser to sign in:")
	fmt.Fprintln(f.IO.ErrOut, auth.URL)
	if !o.NoBrowser && f.OpenBrowser != nil {
		if err := f.OpenBrowser(auth.URL); err != nil {
			fmt.Fprintf(f.IO.ErrOut, "(could not open a browser: %v)\n", err)
		}
	}
	f.Progress("waiting for the browser (Ctrl-C to cancel)")

	timer := time.NewTimer(o.Timeout)
	defer timer.Stop()
	var res result
	select {
	case res = <-done:
	case <-timer.C:
		return fmt.Errorf("login timed out after %s without an answer from the browser", o.Timeout)
	case <-ctx.Done():
		return errors.New("login cancelled")
	}
	if res.err != nil {
		return res.err
	}
	st, err := f.LoadState()
	if err != nil {
		return err
	}
	st.Current = res.sess.ID()
	st.Sessions[res.sess.ID()] = cmdutil.SessionState{ClientScope: scope}
	if err := f.SaveState(st); err != nil {
		return err
	}
	fmt.Fprintf(f.IO.Out, "Logged in as %s (%s) on %s\n", res.sess.Handle(), res.sess.DID(), res.sess.PDS())
	fmt.Fprintln(f.IO.Out, "Granted:")
	for _, t := range strings.Fields(res.sess.Scope()) {
		words := "(not a valid permission: grants nothing)"
		if p, err := atscope.ParsePermission(t); err == nil {
			words = p.Describe()
		}
		fmt.Fprintf(f.IO.Out, "  %s\n", words)
	}
	return nil
}

var donePage = template.Must(template.New("done").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>atoauth: {{.Title}}</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem}</style></head>
<body><h1>{{.Title}}</h1><p>{{.Text}}</p></body></html>
`))
