package gateway

import (
	"container/list"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"sync"
	"time"

	"github.com/atoauth/atoauth"
)

// Act tokens let the upstream application act for the person whose
// request it is serving, and for no one else (see the README, "The gateway"). A token
// is random, bound to one session, and live only while that request is:
// registered when the gateway proxies the request to the upstream and
// revoked when the upstream's answer is complete, and in any case at
// most ActTTL after it was issued (forward-auth, where the gateway never
// sees the request end, relies on the TTL alone). Each token allows at
// most ActMaxCalls calls. Only a hash of each token is kept.

const (
	// DefaultActTTL is the default Options.ActTTL.
	DefaultActTTL = 60 * time.Second
	// DefaultActMaxCalls is the default Options.ActMaxCalls.
	DefaultActMaxCalls = 32
	// maxActPerSession bounds the live tokens of one session: issuing one
	// more revokes that session's oldest (a browser hammering
	// /auth/check only shortens its own tokens' lives).
	maxActPerSession = 64
	// maxActTokens bounds the live tokens of the process; past it no
	// token is issued (the request goes on without one).
	maxActTokens = 100_000
)

var (
	errActUnknown   = errors.New("gateway: act token unknown, revoked or expired")
	errActExhausted = errors.New("gateway: act token used for its maximum number of calls")
	errActFull      = errors.New("gateway: too many live act tokens")
)

type actRegistry struct {
	now      func() time.Time
	ttl      time.Duration
	maxCalls int // <= 0: unlimited

	mu        sync.Mutex
	tokens    map[[sha256.Size]byte]*actEntry
	queue     list.List // *actEntry, in issue order (= expiry order: one TTL)
	bySession map[string][]*actEntry
}

type actEntry struct {
	key     [sha256.Size]byte
	sess    *atoauth.Session
	sid     string
	expires time.Time
	calls   int
	el      *list.Element
}

func newActRegistry(now func() time.Time, ttl time.Duration, maxCalls int) *actRegistry {
	return &actRegistry{now: now, ttl: ttl, maxCalls: maxCalls,
		tokens: map[[sha256.Size]byte]*actEntry{}, bySession: map[string][]*actEntry{}}
}

// issue registers a new token for sess; revoke ends it early (calling it
// again, or after expiry, does nothing).
func (a *actRegistry) issue(sess *atoauth.Session) (tok Secret, revoke func(), err error) {
	var raw [actTokenBytes]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", nil, err
	}
	text := base64.RawURLEncoding.EncodeToString(raw[:])
	key := sha256.Sum256([]byte(text))
	sid := sess.ID()

	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.now()
	a.sweepLocked(now)
	if own := a.bySession[sid]; len(own) >= maxActPerSession {
		a.removeLocked(own[0])
	}
	if len(a.tokens) >= maxActTokens {
		return "", nil, errActFull
	}
	e := &actEntry{key: key, sess: sess, sid: sid, expires: now.Add(a.ttl)}
	e.el = a.queue.PushBack(e)
	a.tokens[key] = e
	a.bySession[sid] = append(a.bySession[sid], e)
	return Secret(text), func() {
		a.mu.Lock()
		defer a.mu.Unlock()
		if a.tokens[key] == e {
			a.removeLocked(e)
		}
	}, nil
}

// use returns the session of a live token; count spends one of its calls.
func (a *actRegistry) use(tok string, count bool) (*atoauth.Session, error) {
	key := sha256.Sum256([]byte(tok))
	a.mu.Lock()
	defer a.mu.Unlock()
	a.sweepLocked(a.now())
	e := a.tokens[key]
	if e == nil {
		return nil, errActUnknown
	}
	if count {
		if a.maxCalls > 0 && e.calls >= a.maxCalls {
			return nil, errActExhausted
		}
		e.calls++
	}
	return e.sess, nil
}

// live is the number of live tokens (for tests).
func (a *actRegistry) live() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.sweepLocked(a.now())
	return len(a.tokens)
}

// sweepLocked removes the expired tokens: they are at the front.
func (a *actRegistry) sweepLocked(now time.Time) {
	for f := a.queue.Front(); f != nil; f = a.queue.Front() {
		e := f.Value.(*actEntry)
		if now.Before(e.expires) {
			return
		}
		a.removeLocked(e)
	}
}

func (a *actRegistry) removeLocked(e *actEntry) {
	delete(a.tokens, e.key)
	a.queue.Remove(e.el)
	own := a.bySession[e.sid]
	for i, o := range own {
		if o == e {
			own = append(own[:i], own[i+1:]...)
			break
		}
	}
	if len(own) == 0 {
		delete(a.bySession, e.sid)
	} else {
		a.bySession[e.sid] = own
	}
}
