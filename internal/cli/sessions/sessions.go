// Package sessions implements `atoauth sessions`.
package sessions

import (
	"context"
	"text/tabwriter"
	"time"

	"github.com/atoauth/atoauth/internal/cli/cmdutil"
	"github.com/spf13/cobra"
)

// Options are the inputs of `atoauth sessions`.
type Options struct {
	Factory *cmdutil.Factory
	Use     string
	JSON    bool
}

// NewCmd returns the command.
func NewCmd(f *cmdutil.Factory) *cobra.Command {
	o := &Options{Factory: f}
	cmd := &cobra.Command{
		Use:   "sessions",
		Short: "List stored sessions; --use switches the default",
		Example: `  atoauth sessions
  atoauth sessions --use 3fA9x2`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return Run(cmd.Context(), o) },
	}
	cmd.Flags().StringVar(&o.Use, "use", "", "make this session (id or prefix) the default")
	cmd.Flags().BoolVar(&o.JSON, "json", false, "print JSON")
	return cmd
}

type row struct {
	Session string    `json:"session"`
	Current bool      `json:"current"`
	Handle  string    `json:"handle"`
	DID     string    `json:"did"`
	PDS     string    `json:"pds"`
	Created time.Time `json:"created_at"`
}

// Run lists or switches.
func Run(ctx context.Context, o *Options) error {
	f := o.Factory
	st, err := f.LoadState(ctx)
	if err != nil {
		return err
	}
	if o.Use != "" {
		f.Settings.Session = o.Use
		id, err := f.ResolveSessionID(ctx, st)
		if err != nil {
			return err
		}
		st.Current = id
		if err := f.SaveState(st); err != nil {
			return err
		}
		cmdutil.Fprintf(f.IO.Out, "Now using session %s\n", id[:min(8, len(id))])
		return nil
	}
	store, err := f.Store(ctx)
	if err != nil {
		return err
	}
	all, err := store.ListSessions(ctx, "")
	if err != nil {
		return err
	}
	rows := make([]row, 0, len(all))
	for _, s := range all {
		rows = append(rows, row{Session: s.ID[:min(8, len(s.ID))], Current: s.ID == st.Current, Handle: s.Handle.String(), DID: s.DID.String(), PDS: s.PDS, Created: s.CreatedAt})
	}
	if o.JSON {
		return cmdutil.PrintJSON(f.IO.Out, rows)
	}
	if len(rows) == 0 {
		cmdutil.Fprintf(f.IO.ErrOut, "No sessions. Sign in with `atoauth login <handle>`.\n")
		return nil
	}
	tw := tabwriter.NewWriter(f.IO.Out, 0, 4, 2, ' ', 0)
	cmdutil.Fprintf(tw, "\tSESSION\tHANDLE\tDID\tPDS\tSIGNED IN\n")
	for _, r := range rows {
		mark := ""
		if r.Current {
			mark = "*"
		}
		cmdutil.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", mark, r.Session, r.Handle, r.DID, r.PDS, r.Created.Local().Format("2006-01-02 15:04"))
	}
	return tw.Flush()
}
