// Command atoauth signs in to AT Protocol accounts through OAuth and acts
// for them: login through the browser, post, records, blobs, profile, any
// XRPC call, doctor, and `atoauth serve`, the web app.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/atoauth/atoauth/internal/cli/cmdutil"
	"github.com/atoauth/atoauth/internal/cli/root"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	f := &cmdutil.Factory{
		IO:          cmdutil.System(),
		Settings:    cmdutil.DefaultSettings(os.Getenv),
		OpenBrowser: root.OpenBrowser,
		Now:         time.Now,
	}
	code := root.Main(ctx, os.Args[1:], f)
	stop()
	os.Exit(code)
}
