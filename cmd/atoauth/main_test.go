package main

import (
	"context"
	"testing"

	"github.com/atoauth/atoauth/internal/cli/cmdutil"
	"github.com/atoauth/atoauth/internal/cli/root"
)

func TestExitCodes(t *testing.T) {
	for _, tt := range []struct {
		args []string
		code int
	}{
		{nil, cmdutil.ExitUsage},
		{[]string{"--help"}, cmdutil.ExitOK},
		{[]string{"frobnicate"}, cmdutil.ExitUsage},
		{[]string{"serve", "--help"}, cmdutil.ExitOK},
		{[]string{"serve", "--no-such-flag"}, cmdutil.ExitUsage},
		{[]string{"serve", "extra"}, cmdutil.ExitUsage},
		{[]string{"serve", "--addr", "256.0.0.1:99999"}, cmdutil.ExitError},
		{[]string{"login"}, cmdutil.ExitUsage},
		{[]string{"records"}, cmdutil.ExitUsage},
		{[]string{"records", "nope"}, cmdutil.ExitUsage},
		{[]string{"whoami", "--bogus"}, cmdutil.ExitUsage},
		{[]string{"whoami"}, cmdutil.ExitNeedsLogin},
	} {
		ios, _, _, stderr := cmdutil.Test()
		settings := cmdutil.DefaultSettings(func(string) string { return "" })
		settings.ConfigDir = t.TempDir()
		f := &cmdutil.Factory{IO: ios, Settings: settings, OpenStore: openStore}
		if got := root.Main(context.Background(), tt.args, f); got != tt.code {
			t.Errorf("atoauth %v: exit %d, want %d (%s)", tt.args, got, tt.code, stderr.String())
		}
	}
}
