// Package clitest runs the atoauth command in tests against the strict
// fake network, with a fake browser that approves every login.
package clitest

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"sync"
	"testing"

	"github.com/atoauth/atoauth"
	"github.com/atoauth/atoauth/atoauthtest"
	"github.com/atoauth/atoauth/internal/cli/cmdutil"
	"github.com/atoauth/atoauth/internal/cli/root"
	"github.com/atoauth/atoauth/storecrypt"
	"github.com/bluesky-social/indigo/atproto/syntax"
)

// Env is a fake network, one account (alice.test) and a shared store.
type Env struct {
	T     testing.TB
	Net   *atoauthtest.Network
	Alice syntax.DID
	Store atoauth.Store
	Dir   string

	// OutTTY makes the command see its standard output as a terminal.
	OutTTY bool
	// Getenv is the command's environment (ATOAUTH_* variables); the
	// settings of the fake network override what it says of them.
	Getenv map[string]string
	// ReadSecret, when set, plays a terminal that the command can ask a
	// secret on (an app password): see cmdutil.IOStreams.ReadSecret.
	ReadSecret func() ([]byte, error)

	mu      sync.Mutex
	Account syntax.DID // who the fake browser signs in as
	Deny    bool
	// BeforeCallback, when set, runs in the fake browser after the
	// approval and before it follows the redirect to the command's
	// loopback listener (e.g. to send it other requests first).
	BeforeCallback func(redirect *url.URL)
}

// New starts the environment.
func New(t testing.TB) *Env {
	n := atoauthtest.NewNetwork(t, atoauthtest.Options{})
	e := &Env{T: t, Net: n, Store: atoauth.NewMemoryStore(), Dir: t.TempDir()}
	e.Alice = n.CreateAccount("alice.test")
	e.Account = e.Alice
	return e
}

// Result is one run of the command.
type Result struct {
	Code   int
	Out    string
	ErrOut string
}

// Run runs `atoauth args...` with stdin in.
func (e *Env) Run(in string, args ...string) Result {
	e.T.Helper()
	ios, inBuf, out, errOut := cmdutil.Test()
	ios.OutTTY = e.OutTTY
	ios.ReadSecret = e.ReadSecret
	inBuf.WriteString(in)
	env := e.Getenv
	settings := cmdutil.DefaultSettings(func(k string) string { return env[k] })
	settings.ConfigDir = e.Dir
	settings.PLCURL = e.Net.PLC.URL
	settings.HandleResolver = e.Net.PDS.URL
	settings.InsecureDev = true
	f := &cmdutil.Factory{
		IO:       ios,
		Settings: settings,
		OpenStore: func(context.Context, string, []storecrypt.Key) (atoauth.Store, io.Closer, error) {
			return e.Store, io.NopCloser(nil), nil
		},
		OpenBrowser: e.browse,
		LookupTXT: func(context.Context, string) ([]string, error) {
			return nil, errors.New("no DNS in hermetic tests")
		},
	}
	code := root.Main(context.Background(), args, f)
	return Result{Code: code, Out: out.String(), ErrOut: errOut.String()}
}

// browse plays the browser and the person: approve at the fake server,
// then follow the redirect to the command's loopback listener.
func (e *Env) browse(authURL string) error {
	e.mu.Lock()
	acct, deny, before := e.Account, e.Deny, e.BeforeCallback
	e.mu.Unlock()
	go func() {
		var opts []atoauthtest.ApproveOption
		if deny {
			opts = append(opts, atoauthtest.Deny())
		}
		redirect, err := e.Net.Approve(context.Background(), authURL, acct, opts...)
		if err != nil {
			e.T.Errorf("fake browser: %v", err)
			return
		}
		if before != nil {
			before(redirect)
		}
		resp, err := http.Get(redirect.String())
		if err != nil {
			e.T.Errorf("fake browser: %v", err)
			return
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}()
	return nil
}

// SetDeny makes the fake person decline.
func (e *Env) SetDeny(d bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.Deny = d
}

// Contains reports whether s contains every part.
func Contains(s string, parts ...string) bool {
	for _, p := range parts {
		if !bytes.Contains([]byte(s), []byte(p)) {
			return false
		}
	}
	return true
}
