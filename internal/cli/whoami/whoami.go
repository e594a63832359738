// Package whoami implements `atoauth whoami`.
package whoami

import (
	"context"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/atoauth/atoauth/internal/cli/cmdutil"
	"github.com/atoauth/atoauth/scope"
	"github.com/spf13/cobra"
)

// Options are the inputs of `atoauth whoami`.
type Options struct {
	Factory *cmdutil.Factory
	JSON    bool
}

// NewCmd returns the command.
func NewCmd(f *cmdutil.Factory) *cobra.Command {
	o := &Options{Factory: f}
	cmd := &cobra.Command{
		Use:   "whoami",
		Short: "Show the signed-in account and its session",
		Long: `Show the signed-in account and its OAuth session: DID, handle, PDS, issuer,
the granted scopes and what they allow, token expiry and session age.

With --app-password-for (the legacy way) it signs in with the app password
instead and shows the account it acts for: a quick check that the password
works.`,
		Example: `  atoauth whoami
  atoauth whoami --json | jq -r .did
  ATOAUTH_APP_PASSWORD=xxxx-xxxx-xxxx-xxxx atoauth whoami --app-password-for alice.bsky.social`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return Run(cmd.Context(), o) },
	}
	cmd.Flags().BoolVar(&o.JSON, "json", false, "print JSON")
	return cmd
}

// Info is what whoami prints.
type Info struct {
	DID    string   `json:"did"`
	Handle string   `json:"handle"`
	PDS    string   `json:"pds"`
	Issuer string   `json:"issuer"`
	Scopes []string `json:"scopes"`
	// Permissions are the granted scopes in plain words.
	Permissions []Permission `json:"permissions"`
	ExpiresAt   time.Time    `json:"access_token_expires_at"`
	CreatedAt   time.Time    `json:"session_created_at"`
	Session     string       `json:"session"`
	ClientKeyID string       `json:"client_key_id,omitempty"`
	// Auth is "oauth" (or "app-password", see AppPasswordInfo).
	Auth string `json:"auth"`
}

// AppPasswordInfo is what whoami prints with --app-password-for.
type AppPasswordInfo struct {
	DID    string `json:"did"`
	Handle string `json:"handle"`
	PDS    string `json:"pds"`
	Auth   string `json:"auth"` // "app-password"
}

// Permission is one granted scope and what it lets atoauth do.
type Permission struct {
	Scope       string `json:"scope"`
	Description string `json:"description"`
}

// describe explains each granted scope with the scope package.
func describe(scopes []string) []Permission {
	out := []Permission{}
	for _, s := range scopes {
		words := "(not a valid permission: grants nothing)"
		if p, err := scope.ParsePermission(s); err == nil {
			words = p.Describe()
		}
		out = append(out, Permission{Scope: s, Description: words})
	}
	return out
}

// Run prints the session.
func Run(ctx context.Context, o *Options) error {
	f := o.Factory
	if f.Settings.AppPasswordFor != "" {
		return runAppPassword(ctx, o)
	}
	s, err := f.Session(ctx)
	if err != nil {
		return err
	}
	i := s.Info()
	info := Info{
		DID: i.DID.String(), Handle: i.Handle.String(), PDS: i.PDS, Issuer: i.Issuer,
		Scopes: strings.Fields(i.Scope), ExpiresAt: i.ExpiresAt, CreatedAt: i.CreatedAt,
		Session: shortID(i.ID), ClientKeyID: i.ClientKeyID, Auth: "oauth",
	}
	info.Permissions = describe(info.Scopes)
	if o.JSON {
		return cmdutil.PrintJSON(f.IO.Out, info)
	}
	now := time.Now()
	if f.Now != nil {
		now = f.Now()
	}
	w := f.IO.Out
	cmdutil.Fprintf(w, "Handle:   %s\n", info.Handle)
	cmdutil.Fprintf(w, "DID:      %s\n", info.DID)
	cmdutil.Fprintf(w, "PDS:      %s\n", info.PDS)
	cmdutil.Fprintf(w, "Issuer:   %s\n", info.Issuer)
	cmdutil.Fprintf(w, "Scopes:   %s\n", strings.Join(info.Scopes, " "))
	cmdutil.Fprintf(w, "Permissions:\n")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, p := range info.Permissions {
		cmdutil.Fprintf(tw, "  %s\t%s\n", p.Scope, p.Description)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if !info.ExpiresAt.IsZero() {
		left := info.ExpiresAt.Sub(now).Round(time.Second)
		state := "expires in " + left.String()
		if left <= 0 {
			state = "expired; refreshed on the next request"
		}
		cmdutil.Fprintf(w, "Token:    %s (%s)\n", info.ExpiresAt.Local().Format(time.RFC3339), state)
	}
	cmdutil.Fprintf(w, "Session:  %s, signed in %s ago\n", info.Session, now.Sub(info.CreatedAt).Round(time.Second))
	return nil
}

// runAppPassword signs in with the app password and prints the account.
func runAppPassword(ctx context.Context, o *Options) error {
	f := o.Factory
	s, err := f.AppPasswordSession(ctx)
	if err != nil {
		return err
	}
	info := AppPasswordInfo{DID: s.DID().String(), Handle: s.Handle().String(), PDS: s.Host(), Auth: "app-password"}
	if o.JSON {
		return cmdutil.PrintJSON(f.IO.Out, info)
	}
	w := f.IO.Out
	cmdutil.Fprintf(w, "Handle:   %s\n", info.Handle)
	cmdutil.Fprintf(w, "DID:      %s\n", info.DID)
	cmdutil.Fprintf(w, "PDS:      %s\n", info.PDS)
	cmdutil.Fprintf(w, "Auth:     app password (legacy): almost full access, tokens bound to no key; not stored, signed out when the command ends\n")
	return nil
}

func shortID(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}
