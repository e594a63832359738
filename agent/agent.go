package agent

import (
	"errors"
	"time"

	"github.com/atoauth/atoauth/auth"
	"github.com/atoauth/atoauth/discovery"
	"github.com/atoauth/atoauth/xrpc"
	"github.com/bluesky-social/indigo/atproto/syntax"
)

// DefaultMaxBlobSize is the default [Options.MaxBlobSize]: the most an
// upload buffers (so that it can be sent again after a DPoP nonce
// challenge or a token refresh).
const DefaultMaxBlobSize = 64 << 20

// Options configures an [Agent]. The zero value is ready to use.
type Options struct {
	// XRPC configures the underlying client: service routing
	// (Services), the permission pre-check (Authorizer, NoPreCheck),
	// headers, retries and limits. Its Auth is set by New.
	XRPC xrpc.Options
	// Resolver resolves and verifies the account's identity for
	// [Agent.Identity]; nil means the Auth's own (an OAuth session's
	// client's), else a production resolver.
	Resolver *discovery.Resolver
	// MaxBlobSize caps uploads (default DefaultMaxBlobSize); a larger
	// blob fails before anything is sent, matching xrpc.ErrTooLarge.
	MaxBlobSize int64
	// Clock dates new records (createdAt); nil means time.Now.
	Clock func() time.Time
}

// Agent does the everyday things of a signed-in account, each in one
// call: records, blobs, posts, the profile, and reads from the AppView
// through the account's PDS. It is safe for concurrent use.
type Agent struct {
	auth     auth.Auth
	xc       *xrpc.Client
	resolver *discovery.Resolver
	maxBlob  int64
	now      func() time.Time
}

// New returns an Agent acting through a: an OAuth session
// (*atoauth.Session), an app-password session (*password.Session), or
// any auth.Auth. Writes and the profile need an Auth that acts for an
// account (auth.Account); with auth.Public, only reads of a given
// repository or actor work.
func New(a auth.Auth, opts *Options) (*Agent, error) {
	if a == nil {
		return nil, errors.New("agent: New needs an auth.Auth (a session)")
	}
	var o Options
	if opts != nil {
		o = *opts
	}
	o.XRPC.Auth = a
	xc, err := xrpc.NewClient(o.XRPC)
	if err != nil {
		return nil, err
	}
	ag := &Agent{auth: a, xc: xc, resolver: o.Resolver, maxBlob: o.MaxBlobSize, now: o.Clock}
	if ag.resolver == nil {
		if r, ok := a.(interface{ Resolver() *discovery.Resolver }); ok {
			ag.resolver = r.Resolver()
		} else {
			ag.resolver = &discovery.Resolver{}
		}
	}
	if ag.maxBlob <= 0 {
		ag.maxBlob = DefaultMaxBlobSize
	}
	if ag.now == nil {
		ag.now = time.Now
	}
	return ag, nil
}

// Auth returns how the Agent reaches and authenticates to the server.
func (a *Agent) Auth() auth.Auth { return a.auth }

// XRPC returns the underlying XRPC client, for any other method (it is
// also an indigo lexutil.LexClient).
func (a *Agent) XRPC() *xrpc.Client { return a.xc }

// DID returns the account's DID, or "" when the Auth acts for no account.
func (a *Agent) DID() syntax.DID {
	if acct, ok := a.auth.(auth.Account); ok {
		return acct.DID()
	}
	return ""
}

// Handle returns the account's handle (for an OAuth session, verified in
// both directions at sign-in and at every refresh: handle.invalid when it
// does not verify), or "" when the Auth acts for no account.
func (a *Agent) Handle() syntax.Handle {
	if acct, ok := a.auth.(auth.Account); ok {
		return acct.Handle()
	}
	return ""
}

// repoOrSelf returns repo, or the account's DID when repo is "".
func (a *Agent) repoOrSelf(repo string) string {
	if repo == "" {
		return a.DID().String()
	}
	return repo
}

func (a *Agent) timestamp() string {
	return a.now().UTC().Format("2006-01-02T15:04:05.000Z")
}
