// Package blob implements `atoauth blob`: upload and download blobs.
package blob

import (
	"os"

	"github.com/atoauth/atoauth/internal/cli/cmdutil"
	"github.com/spf13/cobra"
)

// NewCmd returns `atoauth blob` and its subcommands.
func NewCmd(f *cmdutil.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "blob",
		Short: "Upload and download blobs (images, video)",
		Example: `  atoauth blob upload cat.jpg
  atoauth blob get did:plc:abc bafkrei… -o cat.jpg`,
	}
	var mime string
	upload := &cobra.Command{
		Use:     "upload <file>",
		Short:   "Upload a file and print its blob reference",
		Example: "  atoauth blob upload cat.jpg\n  atoauth blob upload clip.mp4 --type video/mp4",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			fh, err := os.Open(args[0])
			if err != nil {
				return err
			}
			defer fh.Close()
			a, err := f.Agent(ctx)
			if err != nil {
				return err
			}
			f.Progress("uploading %s", args[0])
			b, err := a.UploadBlob(ctx, fh, mime)
			if err != nil {
				return err
			}
			return cmdutil.PrintJSON(f.IO.Out, b)
		},
	}
	upload.Flags().StringVar(&mime, "type", "", "MIME type (default: sniffed from the content)")

	var out string
	get := &cobra.Command{
		Use:   "get <did> <cid>",
		Short: "Download a blob's original bytes",
		Long: `Download a blob's original bytes to a file, or with -o - to standard
output: as they are when it is a pipe or a file, escaped when it is a
terminal (a blob may hold escape sequences a terminal would obey).`,
		Example: "  atoauth blob get did:plc:abc bafkrei… -o cat.jpg",
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if out == "" {
				return cmdutil.Usagef("give the output file with -o (or -o - for standard output)")
			}
			a, err := f.Agent(ctx)
			if err != nil {
				return err
			}
			data, mime, err := a.GetBlob(ctx, args[0], args[1])
			if err != nil {
				return err
			}
			if out == "-" {
				return cmdutil.WriteRaw(f.IO, data)
			}
			if err := os.WriteFile(out, data, 0o644); err != nil {
				return err
			}
			cmdutil.Fprintf(f.IO.ErrOut, "Wrote %d bytes (%s) to %s\n", len(data), mime, out)
			return nil
		},
	}
	get.Flags().StringVarP(&out, "output", "o", "", "file to write (- for standard output)")
	cmd.AddCommand(upload, get)
	return cmd
}
