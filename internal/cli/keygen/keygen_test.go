package keygen

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/atoauth/atoauth/internal/cli/cmdutil"
	"github.com/atoauth/atoauth/jwk"
	"github.com/spf13/cobra"
)

func TestWritesAPrivateJWKWithKid(t *testing.T) {
	path := filepath.Join(t.TempDir(), "client.jwk")
	var out bytes.Buffer
	if err := Run(context.Background(), &Options{Path: path}, time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC), &out); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode().Perm())
	}
	data, _ := os.ReadFile(path)
	key, err := jwk.Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(key.KeyID(), "2026-03-01-") || len(key.KeyID()) != len("2026-03-01-")+8 {
		t.Errorf("kid %q", key.KeyID())
	}
	// The output names the kid and the public key, never the private one.
	if !strings.Contains(out.String(), key.KeyID()) || !strings.Contains(out.String(), key.PublicJWK().X) {
		t.Errorf("output: %s", out.String())
	}
	if strings.Contains(out.String(), `"d"`) {
		t.Errorf("the private key was printed: %s", out.String())
	}
	// A client can use it.
	if _, err := key.SignJWT(map[string]any{"kid": key.KeyID()}, map[string]any{"iss": "x"}); err != nil {
		t.Fatal(err)
	}
}

func TestRefusesToOverwrite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "client.jwk")
	if err := os.WriteFile(path, []byte("precious"), 0o600); err != nil {
		t.Fatal(err)
	}
	err := Run(context.Background(), &Options{Path: path}, time.Now(), io.Discard)
	if !errors.Is(err, ErrExists) {
		t.Fatalf("err = %v, want ErrExists", err)
	}
	if b, _ := os.ReadFile(path); string(b) != "precious" {
		t.Fatal("the existing file was changed")
	}
	// A dangling symlink counts as existing too (O_EXCL does not follow it).
	link := filepath.Join(t.TempDir(), "link.jwk")
	target := filepath.Join(t.TempDir(), "elsewhere.jwk")
	if err := os.Symlink(target, link); err != nil {
		t.Skip(err)
	}
	if err := Run(context.Background(), &Options{Path: link}, time.Now(), io.Discard); !errors.Is(err, ErrExists) {
		t.Fatalf("symlink: %v", err)
	}
	if _, err := os.Stat(target); err == nil {
		t.Fatal("wrote through a symlink")
	}
}

func TestExplicitKid(t *testing.T) {
	path := filepath.Join(t.TempDir(), "k.jwk")
	o, _, err := parse("--kid", "prod-2026-03", path)
	if err != nil {
		t.Fatal(err)
	}
	if err := Run(context.Background(), o, time.Now(), io.Discard); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	key, err := jwk.Parse(data)
	if err != nil || key.KeyID() != "prod-2026-03" {
		t.Fatalf("kid %q, %v", key.KeyID(), err)
	}
}

// parse runs `atoauth keygen args...` up to Run, and returns the options
// Run would get and what was printed.
func parse(args ...string) (*Options, string, error) {
	ios, _, out, _ := cmdutil.Test()
	f := &cmdutil.Factory{IO: ios, Settings: cmdutil.DefaultSettings(func(string) string { return "" })}
	var got *Options
	root := &cobra.Command{Use: "atoauth", SilenceErrors: true, SilenceUsage: true}
	cmdutil.AddGlobalFlags(root, f.Settings)
	root.SetOut(out)
	root.SetErr(out)
	root.AddCommand(NewCmd(f, func(_ context.Context, o *Options) error { got = o; return nil }))
	root.SetArgs(append([]string{"keygen"}, args...))
	err := root.Execute()
	return got, out.String(), err
}

func TestParseFlags(t *testing.T) {
	for _, args := range [][]string{nil, {"a", "b"}, {"--kid", "has space", "f"}, {"--bogus", "f"}} {
		if _, _, err := parse(args...); cmdutil.ExitCode(err) != cmdutil.ExitUsage {
			t.Errorf("%q: err = %v, want a usage error", args, err)
		}
	}
	o, help, err := parse("--help")
	if err != nil || o != nil || !strings.Contains(help, "--client-key") || !strings.Contains(help, "Examples:") {
		t.Errorf("--help: %v %q", err, help)
	}
}

func TestMissingDirectory(t *testing.T) {
	path := filepath.Join(t.TempDir(), "no", "such", "dir", "k.jwk")
	if err := Run(context.Background(), &Options{Path: path}, time.Now(), io.Discard); err == nil || errors.Is(err, ErrExists) {
		t.Fatalf("err = %v", err)
	}
}
