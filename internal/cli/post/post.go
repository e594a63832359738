// Package post implements `atoauth post`.
package post

import (
	"context"
	"os"

	"github.com/atoauth/atoauth/agent"
	"github.com/atoauth/atoauth/internal/cli/cmdutil"
	"github.com/spf13/cobra"
)

// Options are the inputs of `atoauth post`.
type Options struct {
	Factory *cmdutil.Factory
	Text    string
	Images  []string
	Alts    []string
	Reply   string
	Langs   []string
	JSON    bool
}

// NewCmd returns the command.
func NewCmd(f *cmdutil.Factory) *cobra.Command {
	o := &Options{Factory: f}
	cmd := &cobra.Command{
		Use:   "post <text>",
		Short: "Post, with images, as a reply, in a language",
		Long: `Post to the signed-in account. Links, @mentions and #hashtags in the text
become facets. Each --image takes the --alt given in the same position.

The legacy way, for a bot or a script: --app-password-for HANDLE posts with
an app password (from ATOAUTH_APP_PASSWORD, or asked on the terminal; never
a flag, never stored) instead of the stored OAuth session. An app password
gives almost full access to the account and its tokens are bound to no key:
prefer "atoauth login".`,
		Example: `  atoauth post "hello from the terminal"
  atoauth post "my cat" --image cat.jpg --alt "a grey cat asleep on a keyboard" --lang en
  atoauth post "agreed" --reply at://did:plc:abc/app.bsky.feed.post/3k2a
  ATOAUTH_APP_PASSWORD=xxxx-xxxx-xxxx-xxxx atoauth post "from my bot" --app-password-for bot.example.com`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Text = args[0]
			return Run(cmd.Context(), o)
		},
	}
	cmd.Flags().StringArrayVar(&o.Images, "image", nil, "image file to attach (up to 4)")
	cmd.Flags().StringArrayVar(&o.Alts, "alt", nil, "alt text of the image at the same position")
	cmd.Flags().StringVar(&o.Reply, "reply", "", "at:// URI of the post to reply to")
	cmd.Flags().StringSliceVar(&o.Langs, "lang", nil, "language of the text (BCP 47, e.g. en, ja)")
	cmd.Flags().BoolVar(&o.JSON, "json", false, "print JSON")
	return cmd
}

// Run posts.
func Run(ctx context.Context, o *Options) error {
	f := o.Factory
	if len(o.Alts) > len(o.Images) {
		return cmdutil.Usagef("%d --alt for %d --image", len(o.Alts), len(o.Images))
	}
	if len(o.Images) > agent.MaxImages {
		return cmdutil.Usagef("at most %d images", agent.MaxImages)
	}
	a, err := f.Agent(ctx)
	if err != nil {
		return err
	}
	opts := &agent.PostOptions{Langs: o.Langs}
	for i, path := range o.Images {
		fh, err := os.Open(path)
		if err != nil {
			return err
		}
		defer fh.Close()
		img := agent.Image{Data: fh}
		if i < len(o.Alts) {
			img.Alt = o.Alts[i]
		}
		opts.Images = append(opts.Images, img)
	}
	if o.Reply != "" {
		repo, coll, rkey, err := cmdutil.RecordURI(o.Reply)
		if err != nil {
			return err
		}
		parent, err := a.GetRecord(ctx, repo, coll, rkey)
		if err != nil {
			return err
		}
		opts.ReplyTo = &agent.StrongRef{URI: parent.URI, CID: parent.CID}
	}
	f.Progress("posting")
	res, err := a.Post(ctx, o.Text, opts)
	if err != nil {
		return err
	}
	if o.JSON {
		return cmdutil.PrintJSON(f.IO.Out, map[string]string{"uri": res.URI, "cid": res.CID, "link": cmdutil.WebLink(res.URI)})
	}
	cmdutil.Fprintln(f.IO.Out, res.URI)
	if link := cmdutil.WebLink(res.URI); link != "" {
		cmdutil.Fprintln(f.IO.Out, link)
	}
	return nil
}
