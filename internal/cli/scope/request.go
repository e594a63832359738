package scope

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/atoauth/atoauth"
	"github.com/atoauth/atoauth/internal/cli/cmdutil"
	"github.com/atoauth/atoauth/internal/cli/login"
	atscope "github.com/atoauth/atoauth/scope"
	"github.com/spf13/cobra"
)

// RequestOptions are the inputs of `atoauth scope request`.
type RequestOptions struct {
	Factory     *cmdutil.Factory
	Permissions []string
	Prompt      string
	NoBrowser   bool
	Timeout     time.Duration
}

func newRequestCmd(f *cmdutil.Factory, runF func(context.Context, *RequestOptions) error) *cobra.Command {
	o := &RequestOptions{Factory: f}
	cmd := &cobra.Command{
		Use:   "request <permission>...",
		Short: "Ask for more permissions for the current session (step-up, in the browser)",
		Long: `request asks the account of the current session for more permissions: it
runs a browser sign-in for that account asking for everything the session
was granted plus the permissions named, and the new grant replaces the
session under the same id (its old tokens are revoked). Nothing is lost:
until you consent, the session keeps working as before.

When a command fails for a missing permission, it names the request to
run. Permissions are written as in a scope string (see 'atoauth scope
parse'); quote them for the shell.`,
		Example: `  atoauth scope request 'repo:app.bsky.actor.profile?action=create&action=update'
  atoauth scope request blob:video/mp4 transition:chat.bsky`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Permissions = args
			if runF != nil {
				return runF(cmd.Context(), o)
			}
			return RunRequest(cmd.Context(), o)
		},
	}
	cmd.Flags().StringVar(&o.Prompt, "prompt", "", "prompt parameter: login or consent")
	cmd.Flags().BoolVar(&o.NoBrowser, "no-browser", false, "print the URL instead of opening a browser")
	cmd.Flags().DurationVar(&o.Timeout, "timeout", 5*time.Minute, "how long to wait for the browser")
	return cmd
}

// RunRequest steps the current session up to its granted scope plus
// o.Permissions.
func RunRequest(ctx context.Context, o *RequestOptions) error {
	f := o.Factory
	extra, err := atscope.Parse(strings.Join(o.Permissions, " "))
	if err != nil {
		return &cmdutil.UsageError{Err: err}
	}
	if f.Settings.AppPasswordFor != "" {
		return cmdutil.Usagef("an app-password session has no permissions to ask for: sign in with `atoauth login` to use scopes")
	}
	sess, err := f.Session(ctx)
	if err != nil {
		return err
	}
	granted := tokens(atscope.ParseGranted(sess.Scope()))
	var missing []string
	for _, t := range tokens(extra) {
		if !slices.Contains(granted, t) {
			missing = append(missing, t)
		}
	}
	if len(missing) == 0 {
		cmdutil.Fprintf(f.IO.Out, "Session %s (%s) already has %s: nothing to ask for.\n", cmdutil.ShortID(sess.ID()), sess.Handle(), extra)
		return nil
	}
	// A loopback client's client_id carries its scope: the step-up is a
	// login through the client of the larger scope, which replaces the
	// session (atoauth.Session.StepUp).
	want := stepUpScope(granted, missing)
	client, err := f.Client(ctx, want)
	if err != nil {
		return err
	}
	f.Progress("asking %s for %s", sess.Handle(), strings.Join(missing, " "))
	next, err := login.Browser(ctx, &login.BrowserOptions{
		Factory:    f,
		Client:     client,
		Identifier: sess.DID().String(),
		Start:      atoauth.StartOptions{Scope: want, Prompt: o.Prompt},
		Replace:    sess.ID(),
		NoBrowser:  o.NoBrowser,
		Timeout:    o.Timeout,
	})
	if err != nil {
		return err
	}
	cmdutil.Fprintf(f.IO.Out, "Session %s for %s (%s) now has these permissions.\n", cmdutil.ShortID(next.ID()), next.Handle(), next.DID())
	login.PrintGranted(f.IO.Out, next.Scope())
	now := tokens(atscope.ParseGranted(next.Scope()))
	var refused []string
	for _, t := range missing {
		if !slices.Contains(now, t) {
			refused = append(refused, t)
		}
	}
	if len(refused) > 0 {
		return fmt.Errorf("the server did not grant %s", strings.Join(refused, " "))
	}
	return nil
}

// tokens returns the permissions of set in normal form.
func tokens(set atscope.Set) []string {
	out := make([]string, 0, len(set))
	for _, p := range set {
		out = append(out, p.String())
	}
	return out
}

// stepUpScope is the scope a step-up asks for: "atproto", the granted
// permissions, and the missing ones, in normal form without repeats.
func stepUpScope(granted, missing []string) string {
	all := append([]string{string(atscope.Atproto)}, granted...)
	all = append(all, missing...)
	slices.Sort(all)
	return strings.Join(slices.Compact(all), " ")
}

// RequestCommand is the `atoauth scope request` line that asks for the
// permissions of a scope string, quoted for a POSIX shell.
func RequestCommand(permissions string) string {
	fields := strings.Fields(permissions)
	for i, p := range fields {
		fields[i] = shellQuote(p)
	}
	return "atoauth scope request " + strings.Join(fields, " ")
}

// shellQuote quotes s for a POSIX shell when it holds anything but
// letters, digits and -_.:/=@%+,.
func shellQuote(s string) string {
	plain := s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_.:/=@%+,", r))
	}) < 0
	if plain {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
