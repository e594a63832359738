package atoauthtest

import (
	"context"
	"fmt"

	"github.com/atoauth/atoauth"
	"github.com/bluesky-social/indigo/atproto/syntax"
)

// ClientConfig returns the configuration of a loopback development client
// wired to the network: its PLC directory, its PDS as the handle resolver,
// and the development switch that its plain-http loopback servers need.
// Add a Store, a Logger or keys as the test requires.
func (n *Network) ClientConfig(scope string) atoauth.Config {
	cfg := atoauth.LoopbackConfig(scope)
	cfg.PLCURL = n.PLC.URL
	cfg.HandleResolver = n.PDS.URL
	cfg.AllowInsecureDevelopment = true
	return cfg
}

// Login signs account in through client as a browser and a person would
// (Start, Approve, Callback) and returns the new session. opts adjust the
// person's answer (GrantScope, Deny).
func (n *Network) Login(ctx context.Context, client *atoauth.Client, account syntax.DID, opts ...ApproveOption) (*atoauth.Session, error) {
	auth, err := client.Start(ctx, account.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("atoauthtest: login: %w", err)
	}
	redirect, err := n.Approve(ctx, auth.URL, account, opts...)
	if err != nil {
		return nil, fmt.Errorf("atoauthtest: login: %w", err)
	}
	sess, err := client.Callback(ctx, redirect.Query(), &atoauth.CallbackOptions{State: auth.State})
	if err != nil {
		return nil, fmt.Errorf("atoauthtest: login: %w", err)
	}
	return sess, nil
}
