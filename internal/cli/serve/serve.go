// Package serve implements `atoauth serve`: the web app on the embedded
// defaults (a loopback development client on 127.0.0.1:8080).
package serve

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/atoauth/atoauth"
	"github.com/atoauth/atoauth/internal/web"
)

// ErrUsage marks errors in the command line (exit code 2).
var ErrUsage = errors.New("usage error")

// Options are the settings of `atoauth serve`.
type Options struct {
	Addr           string // listen address, default 127.0.0.1:8080
	PLCURL         string
	HandleResolver string
	InsecureDev    bool
	Scope          string
}

// Usage is the help text.
const Usage = `Usage: atoauth serve [flags]

Serve the atoauth web app: "Sign in with Bluesky", then see who you are and post.
By default it is a loopback development client (no hosting needed) on
http://127.0.0.1:8080.

Flags (each also read from the environment variable shown):
  --addr ADDR              listen address (ATOAUTH_ADDR; default 127.0.0.1:8080)
  --scope SCOPE            scopes to ask for (ATOAUTH_SCOPE; default "atproto transition:generic")
  --plc-url URL            PLC directory (ATOAUTH_PLC_URL; default https://plc.directory)
  --handle-resolver URL    resolve handles through this host's com.atproto.identity.resolveHandle
                           (ATOAUTH_HANDLE_RESOLVER), for development networks
  --insecure-dev           allow http:// and loopback servers (ATOAUTH_INSECURE_DEV=1); development only

Example:
  atoauth serve
  atoauth serve --insecure-dev --plc-url http://localhost:2582 --handle-resolver http://localhost:2583
`

// ParseFlags reads args and the environment into Options.
func ParseFlags(args []string, getenv func(string) string, stderr io.Writer) (*Options, error) {
	o := &Options{
		Addr:           envOr(getenv, "ATOAUTH_ADDR", "127.0.0.1:8080"),
		PLCURL:         getenv("ATOAUTH_PLC_URL"),
		HandleResolver: getenv("ATOAUTH_HANDLE_RESOLVER"),
		Scope:          envOr(getenv, "ATOAUTH_SCOPE", "atproto transition:generic"),
	}
	o.InsecureDev, _ = strconv.ParseBool(getenv("ATOAUTH_INSECURE_DEV"))
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, Usage) }
	fs.StringVar(&o.Addr, "addr", o.Addr, "")
	fs.StringVar(&o.Scope, "scope", o.Scope, "")
	fs.StringVar(&o.PLCURL, "plc-url", o.PLCURL, "")
	fs.StringVar(&o.HandleResolver, "handle-resolver", o.HandleResolver, "")
	fs.BoolVar(&o.InsecureDev, "insecure-dev", o.InsecureDev, "")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, err
		}
		return nil, fmt.Errorf("%w: %w", ErrUsage, err)
	}
	if fs.NArg() > 0 {
		fmt.Fprint(stderr, Usage)
		return nil, fmt.Errorf("%w: serve: unexpected argument %q", ErrUsage, fs.Arg(0))
	}
	return o, nil
}

func envOr(getenv func(string) string, k, def string) string {
	if v := getenv(k); v != "" {
		return v
	}
	return def
}

// Run serves until ctx is done, then shuts down gracefully.
func Run(ctx context.Context, o *Options, stdout, stderr io.Writer) error {
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	ln, err := net.Listen("tcp", o.Addr)
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	cfg := atoauth.LoopbackConfig(port, "/callback", o.Scope)
	cfg.PLCURL = o.PLCURL
	cfg.HandleResolver = o.HandleResolver
	cfg.AllowInsecureDevelopment = o.InsecureDev
	cfg.Logger = logger
	client, err := atoauth.NewClient(cfg)
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	app, err := web.New(web.Options{Client: client, Logger: logger, CanonicalHost: "127.0.0.1:" + strconv.Itoa(port)})
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	srv := &http.Server{Handler: app, ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintf(stdout, "atoauth: serving on http://127.0.0.1:%d (client_id %s)\n", port, client.ClientID())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// Main runs the command with the process's environment.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := ParseFlags(args, os.Getenv, stderr)
	if err != nil {
		return err
	}
	return Run(ctx, o, stdout, stderr)
}
