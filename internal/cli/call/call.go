// Package call implements `atoauth call`: any XRPC method through the
// session.
package call

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"

	"github.com/atoauth/atoauth/internal/cli/cmdutil"
	"github.com/atoauth/atoauth/xrpc"
	"github.com/spf13/cobra"
)

// Options are the inputs of `atoauth call`.
type Options struct {
	Factory *cmdutil.Factory
	NSID    string
	Params  []string
	Data    string
	Proxy   string
	Method  string
}

// NewCmd returns the command.
func NewCmd(f *cmdutil.Factory) *cobra.Command {
	o := &Options{Factory: f}
	cmd := &cobra.Command{
		Use:   "call <nsid> [key=value]...",
		Short: "Call any XRPC method through the session",
		Long: `Call an XRPC method on your PDS with the session's credentials. Without
--data it is a query (GET) with the key=value parameters; with --data it is a
procedure (POST) with that JSON body (@file reads a file, @- standard input).
app.bsky.* and chat.bsky.* calls are proxied by your PDS (see --proxy).

A JSON answer is printed indented, with every character a terminal would
act on (escape sequences, C1 and bidi controls) written as a \u escape, so
it stays the same JSON. Any other answer is written as it is when standard
output is a pipe or a file, and escaped when it is a terminal.

The legacy way, for a bot or a script: --app-password-for HANDLE calls with
an app password (from ATOAUTH_APP_PASSWORD, or asked on the terminal; never
a flag, never stored) instead of the stored OAuth session. An app password
gives almost full access to the account and its tokens are bound to no key:
prefer "atoauth login".`,
		Example: `  atoauth call com.atproto.server.getSession
  atoauth call app.bsky.actor.getProfile actor=alice.bsky.social
  atoauth call app.bsky.feed.getTimeline limit=5
  atoauth call com.atproto.repo.createRecord --data @record.json
  atoauth call app.bsky.actor.getProfile actor=bob.test --proxy did:web:localhost%3A2584#bsky_appview
  ATOAUTH_APP_PASSWORD=xxxx-xxxx-xxxx-xxxx atoauth call com.atproto.server.getSession --app-password-for alice.bsky.social`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.NSID, o.Params = args[0], args[1:]
			return Run(cmd.Context(), o)
		},
	}
	cmd.Flags().StringVar(&o.Data, "data", "", "JSON body for a procedure, or @file")
	cmd.Flags().StringVar(&o.Proxy, "proxy", "", "atproto-proxy service reference (did#service)")
	cmd.Flags().StringVarP(&o.Method, "method", "X", "", "GET or POST (default: POST with --data, else GET)")
	return cmd
}

// Run calls the method and prints the answer.
func Run(ctx context.Context, o *Options) error {
	f := o.Factory
	params := xrpc.Params{}
	for _, kv := range o.Params {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return cmdutil.Usagef("parameter %q is not key=value", kv)
		}
		if prev, dup := params[k]; dup {
			switch p := prev.(type) {
			case []string:
				params[k] = append(p, v)
			case string:
				params[k] = []string{p, v}
			}
			continue
		}
		params[k] = v
	}
	method := strings.ToUpper(o.Method)
	if method == "" {
		method = "GET"
		if o.Data != "" {
			method = "POST"
		}
	}
	if method != "GET" && method != "POST" {
		return cmdutil.Usagef("--method must be GET or POST")
	}
	var body json.RawMessage
	if o.Data != "" {
		raw := []byte(o.Data)
		if name, ok := strings.CutPrefix(o.Data, "@"); ok {
			var err error
			if raw, err = cmdutil.ReadInput(f.IO, name, 16<<20); err != nil {
				return err
			}
		}
		if !json.Valid(raw) {
			return cmdutil.Usagef("--data is not JSON")
		}
		body = raw
	}
	a, err := f.Agent(ctx)
	if err != nil {
		return err
	}
	var opts []xrpc.CallOption
	if o.Proxy != "" {
		opts = append(opts, xrpc.WithProxy(o.Proxy))
	}
	var out []byte
	if method == "GET" {
		err = a.XRPC().Query(ctx, o.NSID, params, &out, opts...)
	} else {
		var in any
		if body != nil {
			in = body
		}
		err = a.XRPC().Procedure(ctx, o.NSID, params, in, &out, opts...)
	}
	if err != nil {
		return err
	}
	if len(bytes.TrimSpace(out)) == 0 {
		return nil
	}
	// The answer is the server's: JSON is indented (keeping its order)
	// and escaped so that it holds nothing a terminal acts on; anything
	// else goes out as it is only when standard output is not a terminal.
	var pretty bytes.Buffer
	if json.Indent(&pretty, out, "", "  ") == nil {
		pretty.WriteByte('\n')
		_, err = f.IO.Out.Write(cmdutil.EscapeJSON(pretty.Bytes()))
		return err
	}
	return cmdutil.WriteRaw(f.IO, out)
}
