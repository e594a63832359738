// Package profile implements `atoauth profile`: show and edit the profile.
package profile

import (
	"os"

	"github.com/atoauth/atoauth/agent"
	"github.com/atoauth/atoauth/internal/cli/cmdutil"
	"github.com/spf13/cobra"
)

// NewCmd returns `atoauth profile` (show) and `profile set`.
func NewCmd(f *cmdutil.Factory) *cobra.Command {
	var asJSON bool
	show := func(cmd *cobra.Command, args []string) error {
		ctx := cmd.Context()
		a, err := f.Agent(ctx)
		if err != nil {
			return err
		}
		p, cid, err := a.GetProfileRecord(ctx)
		if err != nil {
			return err
		}
		if asJSON {
			return cmdutil.PrintJSON(f.IO.Out, map[string]any{"did": a.DID(), "handle": a.Handle(), "cid": cid, "profile": p})
		}
		w := f.IO.Out
		cmdutil.Fprintf(w, "Handle:        %s\n", a.Handle())
		cmdutil.Fprintf(w, "DID:           %s\n", a.DID())
		cmdutil.Fprintf(w, "Display name:  %s\n", p.DisplayName)
		cmdutil.Fprintf(w, "Description:   %s\n", cmdutil.Multiline(p.Description))
		if p.Avatar != nil {
			cmdutil.Fprintf(w, "Avatar:        %s (%s, %d bytes)\n", p.Avatar.Ref.Link, p.Avatar.MimeType, p.Avatar.Size)
		}
		return nil
	}
	cmd := &cobra.Command{
		Use:   "profile [show|set]",
		Short: "Show or edit your profile",
		Example: `  atoauth profile
  atoauth profile set --display-name "Alice" --description "hello" --avatar me.png`,
		Args: cobra.NoArgs,
		RunE: show,
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	showCmd := &cobra.Command{Use: "show", Short: "Show your profile", Args: cobra.NoArgs, RunE: show,
		Example: "  atoauth profile show --json"}
	showCmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")

	var name, desc, avatar string
	set := &cobra.Command{
		Use:     "set",
		Short:   "Change display name, description or avatar (read, then write with swap)",
		Example: `  atoauth profile set --display-name "Alice" --avatar me.png`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			fl := cmd.Flags()
			if !fl.Changed("display-name") && !fl.Changed("description") && avatar == "" {
				return cmdutil.Usagef("nothing to change: give --display-name, --description or --avatar")
			}
			a, err := f.Agent(ctx)
			if err != nil {
				return err
			}
			var blob *agent.Blob
			if avatar != "" {
				fh, err := os.Open(avatar)
				if err != nil {
					return err
				}
				defer fh.Close()
				if blob, err = a.UploadBlob(ctx, fh, ""); err != nil {
					return err
				}
			}
			res, err := a.UpdateProfile(ctx, func(p *agent.Profile) error {
				if fl.Changed("display-name") {
					p.DisplayName = name
				}
				if fl.Changed("description") {
					p.Description = desc
				}
				if blob != nil {
					p.Avatar = blob
				}
				return nil
			})
			if err != nil {
				return err
			}
			cmdutil.Fprintf(f.IO.Out, "Updated %s\n", res.URI)
			return nil
		},
	}
	set.Flags().StringVar(&name, "display-name", "", "display name")
	set.Flags().StringVar(&desc, "description", "", "description (bio)")
	set.Flags().StringVar(&avatar, "avatar", "", "image file for the avatar")
	cmd.AddCommand(showCmd, set)
	return cmd
}
