package agent

import (
	"errors"
	"time"

	"github.com/atoauth/atoauth"
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
	// headers, retries and limits. Its Session, Host and HTTPClient are
	// set by New.
	XRPC xrpc.Options
	// Resolver resolves and verifies the account's identity for
	// [Agent.Identity]; nil means the session client's Resolver().
	Resolver *discovery.Resolver
	// MaxBlobSize caps uploads (default DefaultMaxBlobSize); a larger
	// blob fails before anything is sent, matching xrpc.ErrTooLarge.
	MaxBlobSize int64
	// Now dates new records (createdAt); nil means time.Now.
	Now func() time.Time
}

// Agent does the everyday things of a signed-in account, each in one
// call: records, blobs, posts, the profile, and reads from the AppView
// through the account's PDS. It is safe for concurrent use.
type Agent struct {
	sess     *atoauth.Session
	xc       *xrpc.Client
	resolver *discovery.Resolver
	maxBlob  int64
	now      func() time.Time
}

// New returns an Agent acting for sess.
func New(sess *atoauth.Session, opts *Options) (*Agent, error) {
	if sess == nil {
		return nil, errors.New("agent: New needs a session")
	}
	var o Options
	if opts != nil {
		o = *opts
	}
	o.XRPC.Session = sess
	xc, err := xrpc.NewClient(o.XRPC)
	if err != nil {
		return nil, err
	}
	a := &Agent{sess: sess, xc: xc, resolver: o.Resolver, maxBlob: o.MaxBlobSize, now: o.Now}
	if a.resolver == nil {
		a.resolver = sess.Client().Resolver()
	}
	if a.maxBlob <= 0 {
		a.maxBlob = DefaultMaxBlobSize
	}
	if a.now == nil {
		a.now = time.Now
	}
	return a, nil
}

// Session returns the session the Agent acts for.
func (a *Agent) Session() *atoauth.Session { return a.sess }

// XRPC returns the underlying XRPC client, for any other method (it is
// also an indigo lexutil.LexClient).
func (a *Agent) XRPC() *xrpc.Client { return a.xc }

// DID returns the account's DID.
func (a *Agent) DID() syntax.DID { return a.sess.DID() }

// Handle returns the account's handle, verified in both directions at
// sign-in and at every refresh (handle.invalid when it does not verify).
func (a *Agent) Handle() syntax.Handle { return a.sess.Handle() }

// repoOrSelf returns repo, or the account's DID when repo is "".
func (a *Agent) repoOrSelf(repo string) string {
	if repo == "" {
		return a.sess.DID().String()
	}
	return repo
}

func (a *Agent) timestamp() string {
	return a.now().UTC().Format("2006-01-02T15:04:05.000Z")
}
