// Package password signs in to an AT Protocol account with an app
// password (com.atproto.server.createSession): the legacy way, for bots
// and scripts that have not moved to OAuth. A [Session] is an auth.Auth,
// so packages xrpc and agent work with it as with an OAuth session.
//
// Prefer OAuth (package atoauth) wherever a person signs in: the app never
// sees a password, the person approves exactly what it may do (granular
// permissions), tokens are bound to a key (DPoP) so a stolen token is
// useless elsewhere, and the person can see and revoke the app's access.
// An app password gives everything but account management to whoever holds
// it, its Bearer tokens work from anywhere, and it must be kept somewhere
// (this package never stores it: pass it from a prompt or the
// environment). Use it where there is no one to sign in: a bot, a
// migration from app passwords to OAuth.
package password

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/atoauth/atoauth/auth"
	"github.com/atoauth/atoauth/discovery"
	"github.com/atoauth/atoauth/dpop"
	"github.com/atoauth/atoauth/internal/safetext"
	"github.com/atoauth/atoauth/safehttp"
	"github.com/bluesky-social/indigo/atproto/syntax"
	"golang.org/x/sync/singleflight"
)

// ErrBadCredentials reports an identifier and password that the server
// refused.
var ErrBadCredentials = errors.New("password: the server refused the identifier or password")

// Options adjust Login. The zero value signs in to a production account.
type Options struct {
	// PDS, when set, is the server to sign in at (a PDS or an entryway
	// such as https://bsky.social); otherwise the identifier is resolved
	// to its PDS (handle → DID → DID document).
	PDS string
	// Resolver resolves the identifier (nil: a production resolver, or
	// one allowing development networks with AllowInsecureDevelopment).
	Resolver *discovery.Resolver
	// HTTPClient sends every request (nil: a safehttp client).
	HTTPClient *http.Client
	// AllowInsecureDevelopment permits http:// servers on loopback and
	// private addresses, for a local network. Never in production.
	AllowInsecureDevelopment bool
	// Clock returns the current time (nil: time.Now).
	Clock func() time.Time
}

// maxAnswer caps the server's answers to session calls.
const maxAnswer = 64 << 10

// Login signs in as identifier (a handle or a DID) with an app password.
// The password is sent to the account's PDS only, and kept nowhere.
func Login(ctx context.Context, identifier, appPassword string, opts *Options) (*Session, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.HTTPClient == nil {
		o.HTTPClient = safehttp.NewClient(safehttp.Options{AllowInsecureDevelopment: o.AllowInsecureDevelopment})
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	var want syntax.DID
	r := o.Resolver
	if r == nil {
		r = &discovery.Resolver{HTTPClient: o.HTTPClient, AllowInsecureDevelopment: o.AllowInsecureDevelopment}
	}
	host := o.PDS
	if host == "" {
		target, err := r.ResolveLogin(ctx, identifier)
		if err != nil {
			return nil, fmt.Errorf("password: finding the account's server: %w", err)
		}
		if target.Identity == nil {
			return nil, fmt.Errorf("password: %q is not a handle or DID", safetext.Clean(identifier, 100))
		}
		want, host = target.Identity.DID, target.PDS
	}
	host, err := auth.Origin(host)
	if err != nil {
		return nil, fmt.Errorf("password: %w", err)
	}
	s := &Session{host: host, base: o.HTTPClient, clock: o.Clock, resolver: r}
	body, _ := json.Marshal(map[string]string{"identifier": identifier, "password": appPassword})
	tokens, err := s.call(ctx, "com.atproto.server.createSession", "", body)
	if err != nil {
		return nil, err
	}
	if want != "" && tokens.DID != want {
		return nil, fmt.Errorf("%w: signed in as %s at %s, the identifier is %s", auth.ErrIdentityMismatch, tokens.DID, host, want)
	}
	s.tokens = tokens
	return s, nil
}

// Session is a signed-in app-password session: an auth.Auth (and
// auth.Account) whose HTTPClient sends the access token as Bearer to the
// account's PDS only, and refreshes it (com.atproto.server.refreshSession)
// before it expires and when the PDS answers ExpiredToken. It is safe for
// concurrent use. Its tokens never print: String, GoString, LogValue and
// MarshalJSON show who, not how.
type Session struct {
	host     string
	base     *http.Client
	clock    func() time.Time
	resolver *discovery.Resolver

	mu     sync.Mutex
	tokens tokens

	refreshes singleflight.Group
}

type tokens struct {
	Access  string     `json:"accessJwt"`
	Refresh string     `json:"refreshJwt"`
	DID     syntax.DID `json:"did"`
	Handle  string     `json:"handle"`
}

// Resolver returns the resolver the session was signed in with, which
// agent.Agent.Identity uses.
func (s *Session) Resolver() *discovery.Resolver { return s.resolver }

// Host returns the account's PDS origin (auth.Auth).
func (s *Session) Host() string { return s.host }

// DID returns the account's DID (auth.Account).
func (s *Session) DID() syntax.DID { return s.current().DID }

// Handle returns the account's handle as the PDS gave it (auth.Account).
func (s *Session) Handle() syntax.Handle {
	h, err := syntax.ParseHandle(s.current().Handle)
	if err != nil {
		return syntax.HandleInvalid
	}
	return h
}

// HTTPClient returns a client that authenticates requests to Host, and
// only those: like an OAuth session's, it follows redirects within the
// origin a request started at and no other (auth.Auth).
func (s *Session) HTTPClient() *http.Client {
	return &http.Client{Transport: (*transport)(s), CheckRedirect: func(req *http.Request, via []*http.Request) error {
		if req.URL.Scheme+"://"+req.URL.Host != via[0].URL.Scheme+"://"+via[0].URL.Host {
			return http.ErrUseLastResponse
		}
		if len(via) >= 10 {
			return errors.New("password: stopped after 10 redirects")
		}
		return nil
	}}
}

// Logout ends the session at the server (com.atproto.server.deleteSession).
func (s *Session) Logout(ctx context.Context) error {
	_, err := s.call(ctx, "com.atproto.server.deleteSession", s.current().Refresh, nil)
	return err
}

// String describes the session without its tokens.
func (s *Session) String() string {
	t := s.current()
	return fmt.Sprintf("password.Session{did=%s handle=%s pds=%s}", t.DID, t.Handle, s.host)
}

// GoString is String.
func (s *Session) GoString() string { return s.String() }

// LogValue shows what String shows (slog.LogValuer).
func (s *Session) LogValue() slog.Value {
	t := s.current()
	return slog.GroupValue(slog.String("did", t.DID.String()), slog.String("handle", t.Handle), slog.String("pds", s.host))
}

// MarshalJSON encodes who the session is for, never its tokens.
func (s *Session) MarshalJSON() ([]byte, error) {
	t := s.current()
	return json.Marshal(map[string]string{"did": t.DID.String(), "handle": t.Handle, "pds": s.host})
}

func (s *Session) current() tokens {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tokens
}

// expiresSoon tells whether the access token has less than a quarter of
// its life left (read from its exp and iat claims; an unreadable token is
// refreshed only when the PDS refuses it).
func (s *Session) expiresSoon(access string) bool {
	parts := strings.Split(access, ".")
	if len(parts) != 3 {
		return false
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return false
	}
	var c struct {
		Exp int64 `json:"exp"`
		Iat int64 `json:"iat"`
	}
	if json.Unmarshal(payload, &c) != nil || c.Exp == 0 {
		return false
	}
	exp := time.Unix(c.Exp, 0)
	margin := 2 * time.Minute
	if c.Iat > 0 && c.Iat < c.Exp {
		margin = min(margin, exp.Sub(time.Unix(c.Iat, 0))/4)
	}
	return !s.clock().Before(exp.Add(-margin))
}

// refresh renews the tokens once for every caller that saw access
// refused; a refresh token is single-use.
func (s *Session) refresh(ctx context.Context, access string) error {
	ch := s.refreshes.DoChan("refresh", func() (any, error) {
		t := s.current()
		if t.Access != access {
			return nil, nil // renewed meanwhile
		}
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		next, err := s.call(rctx, "com.atproto.server.refreshSession", t.Refresh, nil)
		if err != nil {
			return nil, err
		}
		if next.DID != t.DID {
			return nil, fmt.Errorf("%w: the refreshed session is for %s, not %s", auth.ErrIdentityMismatch, next.DID, t.DID)
		}
		s.mu.Lock()
		s.tokens = next
		s.mu.Unlock()
		return nil, nil
	})
	select {
	case r := <-ch:
		return r.Err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// call posts to a session method of the PDS with token as Bearer (none
// when ""), reading its answer into tokens (when it has a body).
func (s *Session) call(ctx context.Context, nsid, token string, body []byte) (tokens, error) {
	var t tokens
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.host+"/xrpc/"+nsid, rd)
	if err != nil {
		return t, fmt.Errorf("password: %s: %w", nsid, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := s.base.Do(req)
	if err != nil {
		return t, fmt.Errorf("password: %s: %w", nsid, err)
	}
	defer resp.Body.Close()
	answer, err := safehttp.ReadBody(resp, maxAnswer)
	if err != nil {
		return t, fmt.Errorf("password: %s: reading the answer: %w", nsid, err)
	}
	if resp.StatusCode != http.StatusOK {
		return t, answerError(nsid, resp.StatusCode, answer)
	}
	if nsid == "com.atproto.server.deleteSession" {
		return t, nil
	}
	if err := json.Unmarshal(answer, &t); err != nil || t.Access == "" || t.Refresh == "" {
		return t, fmt.Errorf("password: %s: the answer is not a session", nsid)
	}
	if _, err := syntax.ParseDID(t.DID.String()); err != nil {
		return t, fmt.Errorf("password: %s: the answer's did is not a DID", nsid)
	}
	return t, nil
}

// answerError turns a refused session call into an error: refused
// credentials match ErrBadCredentials, a refused refresh
// auth.ErrSessionExpired.
func answerError(nsid string, status int, body []byte) error {
	var e struct{ Error, Message string }
	_ = json.Unmarshal(body, &e)
	msg := fmt.Sprintf("password: %s answered HTTP %d %s: %s", nsid, status, safetext.Clean(e.Error, 100), safetext.Clean(e.Message, 300))
	switch {
	case nsid == "com.atproto.server.createSession" && (status == http.StatusUnauthorized || e.Error == "AuthenticationRequired"):
		return fmt.Errorf("%w (%s)", ErrBadCredentials, msg)
	case nsid == "com.atproto.server.refreshSession" && status < 500 && status != http.StatusTooManyRequests:
		return fmt.Errorf("%w (%s)", auth.ErrSessionExpired, msg)
	}
	return errors.New(msg)
}

// transport adds the access token to requests whose whole redirect chain
// is at the PDS, and refreshes it when it is about to expire or the PDS
// says it has.
type transport Session

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	s := (*Session)(t)
	if !chainAt(req, s.host) {
		return t.baseTransport().RoundTrip(req)
	}
	req, err := dpop.Replayable(req) // sent again after a refresh
	if err != nil {
		return nil, err
	}
	ctx := req.Context()
	access := s.current().Access
	if s.expiresSoon(access) {
		if err := s.refresh(ctx, access); err != nil {
			return nil, err
		}
	}
	resp, err := t.send(req, s.current().Access, true)
	if err != nil || !expired(resp) {
		return resp, err
	}
	drain(resp.Body)
	access = s.current().Access
	if err := s.refresh(ctx, access); err != nil {
		return nil, err
	}
	return t.send(req, s.current().Access, false)
}

func (t *transport) send(req *http.Request, access string, first bool) (*http.Response, error) {
	r := req.Clone(req.Context())
	if !first && req.GetBody != nil {
		body, err := req.GetBody()
		if err != nil {
			return nil, err
		}
		r.Body = body
	}
	r.Header.Set("Authorization", "Bearer "+access)
	return t.baseTransport().RoundTrip(r)
}

func (t *transport) baseTransport() http.RoundTripper {
	if t.base.Transport == nil {
		return http.DefaultTransport
	}
	return t.base.Transport
}

// expired tells the reference PDS's answer to an expired access token:
// 400 {"error":"ExpiredToken"}. The body is read (a little) and put back.
func expired(resp *http.Response) bool {
	if resp.StatusCode != http.StatusBadRequest && resp.StatusCode != http.StatusUnauthorized {
		return false
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	resp.Body = rebody{io.MultiReader(bytes.NewReader(body), resp.Body), resp.Body}
	var e struct{ Error string }
	return json.Unmarshal(body, &e) == nil && e.Error == "ExpiredToken"
}

// rebody is a response body whose start was read and put back.
type rebody struct {
	io.Reader
	io.Closer
}

// chainAt tells whether req, and every request of the redirect chain that
// led to it, goes to origin.
func chainAt(req *http.Request, origin string) bool {
	for r, hops := req, 0; r != nil && hops <= 20; hops++ {
		if r.URL == nil || r.URL.Scheme+"://"+r.URL.Host != origin {
			return false
		}
		if r.Response == nil {
			return true
		}
		r = r.Response.Request
	}
	return false
}

func drain(r io.ReadCloser) {
	_, _ = io.Copy(io.Discard, io.LimitReader(r, 64<<10))
	_ = r.Close()
}
