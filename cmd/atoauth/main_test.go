package main

import (
	"bytes"
	"context"
	"io"
	"testing"
)

func TestExitCodes(t *testing.T) {
	for _, tt := range []struct {
		args []string
		code int
	}{
		{nil, exitUsage},
		{[]string{"--help"}, exitOK},
		{[]string{"frobnicate"}, exitUsage},
		{[]string{"serve", "--help"}, exitOK},
		{[]string{"serve", "--no-such-flag"}, exitUsage},
		{[]string{"serve", "extra"}, exitUsage},
		{[]string{"serve", "--addr", "256.0.0.1:99999"}, exitError},
	} {
		var stderr bytes.Buffer
		if got := run(context.Background(), tt.args, io.Discard, &stderr); got != tt.code {
			t.Errorf("atoauth %v: exit %d, want %d (%s)", tt.args, got, tt.code, stderr.String())
		}
	}
}
