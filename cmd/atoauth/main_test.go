package main

import (
	"context"
	"testing"

	"github.com/atoauth/atoauth/internal/cli/cmdutil"
	"github.com/atoauth/atoauth/internal/cli/root"
)

func TestExitCodes(t *testing.T) {
	badKeys := map[string]string{"ATOAUTH_STORE_KEYS": "k1:c2hvcnQ="}
	appPassword := map[string]string{"ATOAUTH_APP_PASSWORD_FOR": "alice.example.com"}
	for _, tt := range []struct {
		args []string
		code int
		env  map[string]string
	}{
		{nil, cmdutil.ExitUsage, nil},
		{[]string{"--help"}, cmdutil.ExitOK, nil},
		{[]string{"frobnicate"}, cmdutil.ExitUsage, nil},
		{[]string{"serve", "--help"}, cmdutil.ExitOK, nil},
		{[]string{"serve", "--no-such-flag"}, cmdutil.ExitUsage, nil},
		{[]string{"serve", "extra"}, cmdutil.ExitUsage, nil},
		{[]string{"serve", "--addr", "256.0.0.1:99999"}, cmdutil.ExitError, nil},
		{[]string{"serve", "--client-key", "k.jwk"}, cmdutil.ExitUsage, nil},
		{[]string{"serve", "--public-url", "http://app.example.com"}, cmdutil.ExitUsage, nil},
		{[]string{"serve"}, cmdutil.ExitUsage, badKeys},
		{[]string{"sessions"}, cmdutil.ExitUsage, badKeys},
		{[]string{"keygen"}, cmdutil.ExitUsage, nil},
		{[]string{"keygen", "a", "b"}, cmdutil.ExitUsage, nil},
		{[]string{"keygen", "--help"}, cmdutil.ExitOK, nil},
		{[]string{"post", "hi"}, cmdutil.ExitUsage, appPassword}, // no ATOAUTH_APP_PASSWORD, no terminal
		{[]string{"login"}, cmdutil.ExitUsage, nil},
		{[]string{"records"}, cmdutil.ExitUsage, nil},
		{[]string{"records", "nope"}, cmdutil.ExitUsage, nil},
		{[]string{"whoami", "--bogus"}, cmdutil.ExitUsage, nil},
		{[]string{"whoami"}, cmdutil.ExitNeedsLogin, nil},
	} {
		ios, _, _, stderr := cmdutil.Test()
		env := tt.env
		settings := cmdutil.DefaultSettings(func(k string) string { return env[k] })
		settings.ConfigDir = t.TempDir()
		f := &cmdutil.Factory{IO: ios, Settings: settings}
		if got := root.Main(context.Background(), tt.args, f); got != tt.code {
			t.Errorf("atoauth %v: exit %d, want %d (%s)", tt.args, got, tt.code, stderr.String())
		}
	}
}
