package testnet

import (
	"slices"
	"testing"
)

func TestNetworkEnvPorts(t *testing.T) {
	env := networkEnv(
		[]string{"PATH=/bin", "ATOAUTH_TESTENV_PDS_PORT=4000", "ATOAUTH_TESTENV_APPVIEW_PORT=4002"},
		[]string{"ATOAUTH_TESTENV_APPVIEW_PORT="},
	)
	for _, want := range []string{"PATH=/bin", "ATOAUTH_TESTENV_PDS_PORT=4000", "ATOAUTH_TESTENV_PLC_PORT=0", "ATOAUTH_TESTENV_APPVIEW_PORT=0"} {
		if !slices.Contains(env, want) {
			t.Errorf("networkEnv = %q, missing %q", env, want)
		}
	}
	if slices.Contains(env, "ATOAUTH_TESTENV_PDS_PORT=0") {
		t.Errorf("networkEnv = %q overrides an explicit PDS port", env)
	}
}
