package atoauth

import (
	"errors"
	"net/http"
	"time"
)

// Observer is told what a Client does, for metrics (a Prometheus
// exporter, OpenTelemetry): outcomes, counts and durations — never a
// token, a code, a key, a session id or an account, so that whatever it
// records stays bounded and secret-free. Each field may be nil. Calls are
// synchronous, from any goroutine, possibly concurrently: keep them quick
// (an atomic add) and safe for concurrent use.
type Observer struct {
	// Login is called when Start returns (stage LoginStart) and when
	// Callback or CallbackWithAppState returns (LoginCallback), with the
	// error returned (nil when it succeeded). Classify it with errors.Is
	// (ErrInvalidState, ErrCallbackIssuer, *CallbackError, …).
	Login func(stage LoginStage, err error)
	// Refresh is called after each refresh of a session, however it ended,
	// with how long it took (waiting for the store's lock included).
	Refresh func(outcome RefreshOutcome, took time.Duration)
	// LockWait is called with how long each refresh waited to take the
	// store's refresh lock of its session (LockSession), taken or not.
	LockWait func(waited time.Duration)
	// NonceChallenge is called for each request whose first attempt met
	// a DPoP nonce challenge (use_dpop_nonce): from an authorization
	// server (NonceAuthServer, HTTP 400) or a PDS (NoncePDS, HTTP 401).
	// Each costs a round trip; see Config.NonceStore.
	NonceChallenge func(server NonceServer)
}

// LoginStage names the step of a login an Observer is told about.
type LoginStage string

// The stages of a login.
const (
	LoginStart    LoginStage = "start"    // Client.Start: discovery and PAR
	LoginCallback LoginStage = "callback" // Client.Callback: the code exchange and identity check
)

// RefreshOutcome is how a refresh ended (Observer.Refresh).
type RefreshOutcome string

// The outcomes of a refresh.
const (
	// RefreshDone: new tokens were obtained and stored.
	RefreshDone RefreshOutcome = "refreshed"
	// RefreshAlreadyDone: another process or goroutine had refreshed the
	// session meanwhile; its tokens were taken, none were requested.
	RefreshAlreadyDone RefreshOutcome = "already_refreshed"
	// RefreshTemporaryFailure: the refresh failed for a reason that may
	// pass (network, store, server error); the session is kept.
	RefreshTemporaryFailure RefreshOutcome = "temporary_failure"
	// RefreshSessionEnded: the refresh failed definitively and the
	// session was deleted (see ErrSessionExpired), or it was gone already.
	RefreshSessionEnded RefreshOutcome = "session_ended"
)

// NonceServer says which kind of server sent a nonce challenge.
type NonceServer string

// The servers that send nonce challenges.
const (
	NonceAuthServer NonceServer = "authorization_server"
	NoncePDS        NonceServer = "pds"
)

// observeLogin reports a login stage's result.
func (c *Client) observeLogin(stage LoginStage, err error) {
	if o := c.cfg.Observer; o != nil && o.Login != nil {
		o.Login(stage, err)
	}
}

// observeRefresh reports a refresh's outcome from its result: updated
// tells whether this refresh stored new tokens.
func (c *Client) observeRefresh(start time.Time, updated bool, err error) {
	o := c.cfg.Observer
	if o == nil || o.Refresh == nil {
		return
	}
	outcome := RefreshDone
	var re *RefreshError
	switch {
	case err == nil && !updated:
		outcome = RefreshAlreadyDone
	case errors.As(err, &re) && re.Temporary:
		outcome = RefreshTemporaryFailure
	case err != nil:
		outcome = RefreshSessionEnded
	}
	o.Refresh(outcome, time.Since(start))
}

// observeLockWait reports how long a refresh waited for its lock.
func (c *Client) observeLockWait(start time.Time) {
	if o := c.cfg.Observer; o != nil && o.LockWait != nil {
		o.LockWait(time.Since(start))
	}
}

// onNonceChallenge is the dpop.Transport hook that reports nonce
// challenges; nil without an Observer that counts them.
func (c *Client) onNonceChallenge() func(*http.Request, int) {
	o := c.cfg.Observer
	if o == nil || o.NonceChallenge == nil {
		return nil
	}
	return func(_ *http.Request, status int) {
		server := NoncePDS
		if status == http.StatusBadRequest {
			server = NonceAuthServer
		}
		o.NonceChallenge(server)
	}
}
