// Package keygen implements `atoauth keygen`: it writes a new ES256
// private key as a JWK with a key id, for a confidential client
// (`atoauth serve --public-url … --client-key FILE`).
package keygen

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"regexp"
	"time"

	"github.com/atoauth/atoauth/internal/cli/cmdutil"
	"github.com/atoauth/atoauth/jwk"
	"github.com/spf13/cobra"
)

// ErrExists reports that the key file is already there: keygen never
// overwrites a key, since sessions are bound to it.
var ErrExists = errors.New("keygen: the file already exists; keygen never overwrites a key (sessions are bound to it): choose a new file name")

// Options are the settings of `atoauth keygen`.
type Options struct {
	// Path is the file to create.
	Path string
	// KeyID is the key id ("kid"); "" makes one from today's date and the
	// key's thumbprint, such as "2026-03-01-Kq3vX9aB".
	KeyID string
}

// NewCmd returns the command. runF, when set, replaces Run (for tests).
func NewCmd(f *cmdutil.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	o := &Options{}
	cmd := &cobra.Command{
		Use:   "keygen FILE",
		Short: "Write a new ES256 client key (JWK, mode 0600) for a confidential 'atoauth serve'",
		Long: `Write a new ES256 (P-256) private key, as a JSON Web Key with a key id, to
FILE (created with mode 0600; an existing file is never overwritten). Give
it to 'atoauth serve --public-url https://… --client-key FILE' to make the
app a confidential OAuth client (private_key_jwt), whose sessions last much
longer than a public client's. The key id and the public key are printed,
never the private key.

Key rotation: create a new key and publish it beside the old one first
  atoauth serve --public-url https://app.example.com --client-key old.jwk --client-key new.jwk
then, at least 10 minutes later (authorization servers cache a client's
keys; the reference server for 10 minutes), list it first:
  atoauth serve --public-url https://app.example.com --client-key new.jwk --client-key old.jwk
New sessions use the first key; existing sessions keep the key they were
created with for as long as it is listed. Keep FILE secret: whoever has it
can act as your app.`,
		Example: `  atoauth keygen /etc/atoauth/client-key-2026-03.jwk
  atoauth keygen --kid prod-2026-03 /etc/atoauth/client-key-2026-03.jwk`,
		Args: func(cmd *cobra.Command, args []string) error {
			switch len(args) {
			case 0:
				return cmdutil.Usagef("keygen: name the file to write")
			case 1:
				return nil
			}
			return cmdutil.Usagef("keygen: unexpected argument %q", args[1])
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Path = args[0]
			if o.KeyID != "" && !kidRE.MatchString(o.KeyID) {
				return cmdutil.Usagef("keygen: --kid %q: use 1 to 64 letters, digits, '.', '_', '~' or '-'", o.KeyID)
			}
			if runF != nil {
				return runF(cmd.Context(), o)
			}
			now := time.Now
			if f.Now != nil {
				now = f.Now
			}
			return Run(cmd.Context(), o, now(), f.IO.Out)
		},
	}
	cmd.Flags().StringVar(&o.KeyID, "kid", "", "key id (default: today's date and the key's thumbprint)")
	return cmd
}

// kidRE is what a key id may contain: it travels in JWT headers and
// appears in logs, so keep it plain.
var kidRE = regexp.MustCompile(`^[A-Za-z0-9._~-]{1,64}$`)

// Run generates the key and writes it to o.Path, then prints the key id
// and the public key (never the private one) to stdout. now dates the
// default key id.
func Run(ctx context.Context, o *Options, now time.Time, stdout io.Writer) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	key, err := jwk.Generate()
	if err != nil {
		return fmt.Errorf("keygen: %w", err)
	}
	kid := o.KeyID
	if kid == "" {
		kid = now.UTC().Format("2006-01-02") + "-" + key.Thumbprint()[:8]
	}
	key = key.WithKeyID(kid)
	data, err := key.MarshalPrivate()
	if err != nil {
		return fmt.Errorf("keygen: %w", err)
	}
	defer clear(data)
	if err := writeNew(o.Path, append(data, '\n')); err != nil {
		return err
	}
	pub, err := jsonLine(key.PublicJWK())
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "atoauth: wrote a new ES256 client key to %s (mode 0600)\nkid: %s\npublic key: %s\n", o.Path, kid, pub)
	return nil
}

// writeNew creates path with mode 0600, failing if it exists, and writes
// data to it; a partly written file is removed.
func writeNew(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("%w (%s)", ErrExists, path)
	}
	if err != nil {
		return fmt.Errorf("keygen: %w", err)
	}
	fail := func(err error) error {
		f.Close()
		os.Remove(path)
		return fmt.Errorf("keygen: writing %s: %w", path, err)
	}
	// The umask can only clear bits, but make the mode explicit anyway.
	if err := f.Chmod(0o600); err != nil {
		return fail(err)
	}
	if _, err := f.Write(data); err != nil {
		return fail(err)
	}
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	if err := f.Close(); err != nil {
		os.Remove(path)
		return fmt.Errorf("keygen: writing %s: %w", path, err)
	}
	return nil
}

func jsonLine(v any) (string, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return "", fmt.Errorf("keygen: %w", err)
	}
	return string(b), nil
}
