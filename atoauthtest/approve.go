package atoauthtest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/bluesky-social/indigo/atproto/syntax"
)

// approval is the decision of the fake user for one authorization request.
type approval struct {
	account syntax.DID
	deny    bool
	scope   string // "" grants every requested scope
}

// ApproveOption changes the decision [Network.Approve] takes.
type ApproveOption func(*approval)

// Deny makes the user reject the request: the redirect carries
// error=access_denied.
func Deny() ApproveOption {
	return func(a *approval) { a.deny = true }
}

// GrantScope makes the user grant only the given space-separated scopes,
// which must include atproto and be a subset of the requested scopes.
func GrantScope(scope string) ApproveOption {
	return func(a *approval) { a.scope = scope }
}

// Approve plays the browser and the user for an authorization URL built by
// a client. It GETs authorizeURL, which must be the authorization endpoint
// with only client_id and request_uri, signs in as account and approves
// (or, with [Deny], rejects) the pushed request, and returns the redirect
// the browser would follow:
// redirect_uri?state=…&iss=…&code=… (or error=…).
//
// The request_uri (valid 5 minutes after PAR) is consumed whatever the
// outcome; the code is valid for 5 minutes and single use. Approve fails without a
// redirect when the authorization server rejects the URL (unknown, used or
// expired request_uri, extra parameters, ...) or when the user could not
// have signed in as account: an unknown account, or a login_hint naming a
// different account (the real server only lets the user sign in as the
// hinted account). A request made with prompt=none is answered
// error=login_required. Foreign accounts ([Network.CreateForeignAccount])
// can sign in, so that the server issues tokens for an account it does
// not host.
func (n *Network) Approve(ctx context.Context, authorizeURL string, account syntax.DID, opts ...ApproveOption) (*url.URL, error) {
	u, err := url.Parse(authorizeURL)
	if err != nil {
		return nil, fmt.Errorf("atoauthtest: Approve: %w", err)
	}
	if u.Scheme+"://"+u.Host != n.Issuer() || u.Path != authorizePath {
		return nil, fmt.Errorf("atoauthtest: Approve: %q is not the authorization endpoint %s", authorizeURL, n.Issuer()+authorizePath)
	}
	ap := &approval{account: account}
	for _, o := range opts {
		o(ap)
	}
	ticket := randomToken("apv-", 16)
	n.mu.Lock()
	n.approvals[ticket] = ap
	n.mu.Unlock()
	defer func() {
		n.mu.Lock()
		delete(n.approvals, ticket)
		n.mu.Unlock()
	}()

	req, err := http.NewRequestWithContext(ctx, http.MethodGet, authorizeURL, nil)
	if err != nil {
		return nil, fmt.Errorf("atoauthtest: Approve: %w", err)
	}
	req.Header.Set(approvalHeader, ticket)
	hc := &http.Client{
		Transport:     n.AS.Client().Transport,
		Timeout:       30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("atoauthtest: Approve: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != http.StatusFound {
		var e struct {
			Error       string `json:"error"`
			Description string `json:"error_description"`
		}
		if json.Unmarshal(body, &e) == nil && e.Error != "" {
			return nil, fmt.Errorf("atoauthtest: Approve: authorization endpoint answered %d %s: %s", resp.StatusCode, e.Error, e.Description)
		}
		return nil, fmt.Errorf("atoauthtest: Approve: authorization endpoint answered %d: %s", resp.StatusCode, body)
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		return nil, fmt.Errorf("atoauthtest: Approve: bad redirect: %w", err)
	}
	return loc, nil
}
