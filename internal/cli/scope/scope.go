// Package scope implements `atoauth scope`: read scope strings and check
// permissions, with the scope package (atproto permission spec).
package scope

import (
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/atoauth/atoauth/internal/cli/cmdutil"
	atscope "github.com/atoauth/atoauth/scope"
	"github.com/spf13/cobra"
)

// ErrNotAllowed is returned by `atoauth scope allows` when the granted
// scope does not cover the requirement (exit code 1; the command has
// printed what is missing).
var ErrNotAllowed = errors.New("not allowed")

// NewCmd returns the `atoauth scope` group.
func NewCmd(f *cmdutil.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "scope <command>",
		Short: "Read OAuth scope strings and check permissions (atproto permission spec)",
		Long: `atoauth scope reads atproto OAuth scope strings the way the reference
implementation (@atproto/oauth-scopes) does: repo:, rpc:, blob:, account:,
identity: and include: permissions, "atproto" and the transition:* scopes,
and asks the current session's account for more ('atoauth scope request').`,
		Example: `  atoauth scope parse 'atproto repo:app.bsky.feed.post?action=create blob:image/*'
  atoauth scope allows --granted 'atproto blob:image/*' blob:image/png
  atoauth scope request 'repo:app.bsky.actor.profile?action=create&action=update'`,
	}
	cmd.AddCommand(newParseCmd(f), newAllowsCmd(f), newRequestCmd(f, nil))
	return cmd
}

// ParseOptions are the inputs of `atoauth scope parse`.
type ParseOptions struct {
	Factory *cmdutil.Factory
	Scope   string
	JSON    bool
}

// Permission is one permission as `atoauth scope parse --json` prints it.
type Permission struct {
	Scope       string `json:"scope"`
	Description string `json:"description"`
}

// Parsed is what `atoauth scope parse --json` prints.
type Parsed struct {
	Scope       string       `json:"scope"`
	Permissions []Permission `json:"permissions"`
}

func newParseCmd(f *cmdutil.Factory) *cobra.Command {
	o := &ParseOptions{Factory: f}
	cmd := &cobra.Command{
		Use:   "parse <scope string>",
		Short: "Print each permission of a scope string normalised and in plain words",
		Long: `parse prints each permission of the scope string in normal form and in
plain words. An invalid string exits 1 with the reason.`,
		Example: `  atoauth scope parse 'atproto repo:app.bsky.feed.post?action=create blob:image/*'
  atoauth scope parse --json 'atproto transition:generic' | jq -r '.permissions[].description'`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Scope = strings.Join(args, " ")
			return RunParse(o)
		},
	}
	cmd.Flags().BoolVar(&o.JSON, "json", false, "print JSON")
	return cmd
}

// RunParse prints the permissions of o.Scope.
func RunParse(o *ParseOptions) error {
	set, err := atscope.Parse(o.Scope)
	if err != nil {
		return err
	}
	if len(set) == 0 {
		return errors.New("scope: the scope string is empty")
	}
	out := Parsed{Scope: set.String(), Permissions: []Permission{}}
	for _, p := range set {
		out.Permissions = append(out.Permissions, Permission{Scope: p.String(), Description: p.Describe()})
	}
	if o.JSON {
		return cmdutil.PrintJSON(o.Factory.IO.Out, out)
	}
	tw := tabwriter.NewWriter(o.Factory.IO.Out, 0, 0, 2, ' ', 0)
	for _, p := range out.Permissions {
		cmdutil.Fprintf(tw, "%s\t%s\n", p.Scope, p.Description)
	}
	return tw.Flush()
}

// AllowsOptions are the inputs of `atoauth scope allows`.
type AllowsOptions struct {
	Factory      *cmdutil.Factory
	Granted      string
	Requirements []string
}

func newAllowsCmd(f *cmdutil.Factory) *cobra.Command {
	o := &AllowsOptions{Factory: f}
	cmd := &cobra.Command{
		Use:   "allows --granted <scope string> <requirement>...",
		Short: "Check whether a granted scope permits an operation (exit 0 yes, 1 no, 2 malformed)",
		Long: `allows checks whether the granted scope string permits each requirement,
as the reference PDS decides it (transitional scopes included). A
requirement is written as a permission naming one concrete operation:

  repo:app.bsky.feed.post?action=create   write a record
  blob:image/png                          upload a blob of this MIME type
  rpc:app.bsky.actor.getProfile?aud=did:web:api.bsky.app%23bsky_appview
                                          call a method at a service
  account:email?action=read               read or manage an account attribute
  identity:handle                         change the handle

The granted scope must be valid (as the server returns it; an unexpanded
include: permission set grants nothing, as at the PDS). Exit code 0 when
every requirement is allowed, 1 when one is not, 2 when an argument is
malformed.`,
		Example: `  atoauth scope allows --granted 'atproto repo:app.bsky.feed.post?action=create' 'repo:app.bsky.feed.post?action=create'
  atoauth scope allows --granted "$(atoauth whoami --json | jq -r '.scopes|join(" ")')" blob:image/png`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !cmd.Flags().Changed("granted") {
				return cmdutil.Usagef("--granted is required")
			}
			o.Requirements = args
			return RunAllows(o)
		},
	}
	cmd.Flags().StringVar(&o.Granted, "granted", "", "the granted scope string")
	return cmd
}

// RunAllows checks o.Requirements against o.Granted.
func RunAllows(o *AllowsOptions) error {
	granted, err := atscope.Parse(o.Granted)
	if err != nil {
		return &cmdutil.UsageError{Err: fmt.Errorf("--granted: %w", err)}
	}
	var reqs []atscope.Requirement
	for _, a := range o.Requirements {
		rs, err := atscope.ParseRequirements(a)
		if err != nil {
			return &cmdutil.UsageError{Err: err}
		}
		reqs = append(reqs, rs...)
	}
	w := o.Factory.IO.Out
	for _, r := range reqs {
		if !granted.Allows(r) {
			cmdutil.Fprintf(w, "not allowed: missing %s (%s)\n", r, r.Describe())
			return ErrNotAllowed
		}
	}
	for _, r := range reqs {
		cmdutil.Fprintf(w, "allowed: %s (%s)\n", r, r.Describe())
	}
	return nil
}
