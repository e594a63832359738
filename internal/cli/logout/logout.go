// Package logout implements `atoauth logout`.
package logout

import (
	"context"
	"errors"

	"github.com/atoauth/atoauth"
	"github.com/atoauth/atoauth/internal/cli/cmdutil"
	"github.com/spf13/cobra"
)

// Options are the inputs of `atoauth logout`.
type Options struct {
	Factory *cmdutil.Factory
	All     bool
}

// NewCmd returns the command.
func NewCmd(f *cmdutil.Factory) *cobra.Command {
	o := &Options{Factory: f}
	cmd := &cobra.Command{
		Use:   "logout",
		Short: "Sign out: revoke the session's tokens and forget it",
		Example: `  atoauth logout
  atoauth logout --all`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return Run(cmd.Context(), o) },
	}
	cmd.Flags().BoolVar(&o.All, "all", false, "sign out of every stored session")
	return cmd
}

// Run signs out.
func Run(ctx context.Context, o *Options) error {
	f := o.Factory
	st, err := f.LoadState(ctx)
	if err != nil {
		return err
	}
	var ids []string
	if o.All {
		store, err := f.Store(ctx)
		if err != nil {
			return err
		}
		all, err := store.ListSessions(ctx, "")
		if err != nil {
			return err
		}
		for _, s := range all {
			ids = append(ids, s.ID)
		}
		if len(ids) == 0 {
			cmdutil.Fprintf(f.IO.ErrOut, "No sessions.\n")
			return nil
		}
	} else {
		id, err := f.ResolveSessionID(ctx, st)
		if err != nil {
			return err
		}
		ids = []string{id}
	}
	store, err := f.Store(ctx)
	if err != nil {
		return err
	}
	var errs []error
	for _, id := range ids {
		d, err := store.GetSession(ctx, id)
		if errors.Is(err, atoauth.ErrStoreNotFound) {
			if st.Current == id {
				st.Current = ""
			}
			continue
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		// Only the client that made the session can revoke its tokens.
		client, err := f.SessionClient(ctx, d)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if err := client.Logout(ctx, id); err != nil && !errors.Is(err, atoauth.ErrSessionNotFound) {
			errs = append(errs, err)
		}
		if st.Current == id {
			st.Current = ""
		}
		cmdutil.Fprintf(f.IO.Out, "Logged out %s\n", d.Handle)
	}
	if err := f.SaveState(st); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
