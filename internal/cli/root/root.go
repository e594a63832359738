// Package root assembles the atoauth command: global flags, every
// subcommand, and the mapping of errors to exit codes.
package root

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"

	"github.com/atoauth/atoauth"
	"github.com/atoauth/atoauth/auth"
	"github.com/atoauth/atoauth/internal/cli/blob"
	"github.com/atoauth/atoauth/internal/cli/call"
	"github.com/atoauth/atoauth/internal/cli/cmdutil"
	"github.com/atoauth/atoauth/internal/cli/doctor"
	"github.com/atoauth/atoauth/internal/cli/keygen"
	"github.com/atoauth/atoauth/internal/cli/login"
	"github.com/atoauth/atoauth/internal/cli/logout"
	"github.com/atoauth/atoauth/internal/cli/post"
	"github.com/atoauth/atoauth/internal/cli/profile"
	"github.com/atoauth/atoauth/internal/cli/records"
	scopecmd "github.com/atoauth/atoauth/internal/cli/scope"
	"github.com/atoauth/atoauth/internal/cli/serve"
	"github.com/atoauth/atoauth/internal/cli/sessions"
	"github.com/atoauth/atoauth/internal/cli/whoami"
	"github.com/atoauth/atoauth/xrpc"
	"github.com/spf13/cobra"
)

// NewCmd returns the root command over f.
func NewCmd(f *cmdutil.Factory) *cobra.Command {
	s := f.Settings
	cmd := &cobra.Command{
		Use:   "atoauth <command>",
		Short: "Sign in to AT Protocol accounts with OAuth, and act for them",
		Long: `atoauth signs in to an AT Protocol account (Bluesky or any PDS) through
OAuth in your browser and then acts for it: post, read and write records,
upload blobs, call any XRPC method. "atoauth serve" runs the web app.

Settings come from flags, then ATOAUTH_* environment variables, then
defaults. Sessions are kept in a SQLite file under the user's config
directory unless --store names another file or a postgres:// URL.

The legacy way, for a bot or a script where no one can sign in in a
browser: --app-password-for HANDLE (ATOAUTH_APP_PASSWORD_FOR) makes post,
records, blob, profile, call and whoami sign in with an app password taken
from ATOAUTH_APP_PASSWORD, or asked on the terminal (never a flag, never
stored). An app password gives almost full access to the account and its
tokens are bound to no key: prefer "atoauth login".

Exit codes: 0 ok, 1 error, 2 usage, 4 sign-in needed (no session, the
session ended, or the app password was refused).

What servers send (posts, profiles, granted scopes, error messages) is
printed with every character a terminal would act on or that reorders
text shown escaped, as \x1b, \u009b, \u202e or \xff; --json output stays
valid JSON, with those characters as \u escapes. Bytes (blob get -o -, a
non-JSON answer of call) are written as they are only when standard output
is not a terminal.`,
		Example: `  atoauth login alice.bsky.social
  atoauth post "hello from atoauth" --image cat.jpg --alt "a cat"
  atoauth records list app.bsky.feed.post
  atoauth doctor https://app.example.com/oauth-client-metadata.json
  atoauth serve`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	cmdutil.AddGlobalFlags(cmd, s)
	cmd.PersistentPreRunE = func(c *cobra.Command, args []string) error {
		switch c.Name() {
		case "login", "request", "serve", "keygen":
			// login and scope request wait for a person (their own
			// --timeout); serve runs
			// until stopped, with per-request limits of its own.
		default:
			c.SetContext(f.WithTimeout(c.Context()))
		}
		return nil
	}
	cmd.SetOut(f.IO.Out)
	cmd.SetErr(f.IO.ErrOut)

	cmd.AddCommand(
		login.NewCmd(f, nil),
		whoami.NewCmd(f),
		post.NewCmd(f),
		records.NewCmd(f),
		blob.NewCmd(f),
		profile.NewCmd(f),
		call.NewCmd(f),
		logout.NewCmd(f),
		sessions.NewCmd(f),
		scopecmd.NewCmd(f),
		doctor.NewCmd(f),
		serve.NewCmd(f, nil),
		keygen.NewCmd(f, nil),
	)
	usageArgs(cmd)
	return cmd
}

// usageArgs makes argument-count errors usage errors (exit code 2), in
// every command.
func usageArgs(cmd *cobra.Command) {
	if args := cmd.Args; args != nil {
		cmd.Args = func(c *cobra.Command, a []string) error {
			if err := args(c, a); err != nil {
				return &cmdutil.UsageError{Err: err}
			}
			return nil
		}
	} else if cmd.HasSubCommands() {
		// A group without its own action: an unknown subcommand is a
		// usage error too.
		cmd.Args = func(c *cobra.Command, a []string) error {
			if len(a) > 0 {
				return cmdutil.Usagef("unknown command %q for %q", a[0], c.CommandPath())
			}
			return nil
		}
		if cmd.RunE == nil && cmd.Run == nil {
			cmd.RunE = func(c *cobra.Command, a []string) error {
				_ = c.Help()
				return cmdutil.Usagef("%s needs a subcommand", c.CommandPath())
			}
		}
	}
	for _, c := range cmd.Commands() {
		usageArgs(c)
	}
}

// Main runs the command line and returns the exit code.
func Main(ctx context.Context, args []string, f *cmdutil.Factory) int {
	defer f.Close()
	cmd := NewCmd(f)
	cmd.SetArgs(args)
	if len(args) == 0 {
		_ = cmd.Help()
		return cmdutil.ExitUsage
	}
	err := cmd.ExecuteContext(ctx)
	if err == nil {
		return cmdutil.ExitOK
	}
	if strings.HasPrefix(err.Error(), "unknown command") {
		err = &cmdutil.UsageError{Err: err}
	}
	if errors.Is(err, context.DeadlineExceeded) && f.Settings.Timeout > 0 {
		err = fmt.Errorf("%w (atoauth gives up on servers after %s: --request-timeout, ATOAUTH_REQUEST_TIMEOUT)", err, f.Settings.Timeout)
	}
	code := cmdutil.ExitCode(err)
	// The library's messages start with their package ("atoauth: …"):
	// the command names itself once.
	msg := strings.TrimPrefix(err.Error(), "atoauth: ")
	var sme *xrpc.ScopeMissingError
	if errors.As(err, &sme) && sme.Request != "" && f.Settings.AppPasswordFor == "" {
		// Step-up where the user is: name the command that asks for it.
		msg += "\nhint: ask for it (a browser sign-in for the same account; the session keeps its id):\n  " +
			scopecmd.RequestCommand(sme.Request)
	} else if h := auth.Hint(err); h != "" && !strings.Contains(msg, h) {
		msg += "\nhint: " + h
	}
	// Error messages may hold a server's text: cmdutil.Fprintf escapes
	// whatever a terminal would act on (see cmdutil.ErrorText).
	switch {
	case code == cmdutil.ExitUsage:
		cmdutil.Fprintf(f.IO.ErrOut, "atoauth: %v\nRun 'atoauth --help' for usage.\n", cmdutil.Multiline(msg))
	case errors.Is(err, doctor.ErrChecksFailed), errors.Is(err, scopecmd.ErrNotAllowed):
		// doctor has printed its findings; scope allows what is missing.
	case errors.Is(err, atoauth.ErrSessionExpired) && f.Settings.AppPasswordFor != "":
		cmdutil.Fprintf(f.IO.ErrOut, "atoauth: the app-password session for %s has ended: run the command again.\n(%v)\n", f.Settings.AppPasswordFor, err)
	case errors.Is(err, atoauth.ErrSessionExpired):
		cmdutil.Fprintf(f.IO.ErrOut, "atoauth: your session has ended: %s.\nSign in again with `atoauth login <handle>`.\n(%v)\n", cmdutil.SessionEndReason(err), err)
	default:
		cmdutil.Fprintf(f.IO.ErrOut, "atoauth: %v\n", cmdutil.Multiline(msg))
	}
	return code
}

// OpenBrowser opens url with the platform's opener.
func OpenBrowser(url string) error {
	var cmd *exec.Cmd
	switch runtime.GOOS {
	case "darwin":
		cmd = exec.Command("open", url)
	case "windows":
		cmd = exec.Command("rundll32", "url.dll,FileProtocolHandler", url)
	default:
		if b := os.Getenv("BROWSER"); b != "" {
			cmd = exec.Command(b, url)
		} else {
			cmd = exec.Command("xdg-open", url)
		}
	}
	return cmd.Start()
}
