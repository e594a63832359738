package web

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/atoauth/atoauth"
)

// Bounds of what Notices remembers about ended sessions.
const (
	// maxEndedSessions is how many ended sessions Notices remembers; past
	// it, the oldest are forgotten first.
	maxEndedSessions = 10000
	// endedSessionMemory is how long Notices remembers why a session
	// ended: a browser that comes back later gets the generic notice.
	endedSessionMemory = 24 * time.Hour
)

// Notices connects the OAuth client's session events to the app. The
// client is built before the app, so create Notices first, put its
// Events in atoauth.Config.Events, and pass it to New in
// Options.Notices:
//
//	notices := web.NewNotices(logger)
//	cfg.Events = notices.Events()
//	client, err := atoauth.NewClient(cfg)
//	app, err := web.New(web.Options{Client: client, Notices: notices})
//
// It logs every event (the session id shortened, the DID, the cause;
// never a token), and remembers, in memory, why each session was deleted
// — revoked by the server, the account moved, signed out in another
// browser, … — so that a browser coming back with a cookie naming that
// session is told "You were signed out because …", and the session is
// dropped from the browser's list of accounts. It remembers at most
// 10,000 sessions, each for 24 hours, in this process only: with several
// instances, a browser whose next request reaches another instance than
// the one that deleted its session gets the generic "Your session has
// ended" notice. A Notices is safe for concurrent use.
type Notices struct {
	log *slog.Logger
	now func() time.Time

	mu    sync.Mutex
	ended map[string]endedSession
	order []endedKey // oldest first
}

type endedSession struct {
	cause atoauth.DeleteCause
	at    time.Time
}

type endedKey struct {
	id string
	at time.Time
}

// NewNotices returns a Notices that logs to logger (nil: discard).
func NewNotices(logger *slog.Logger) *Notices {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Notices{log: logger, now: time.Now, ended: map[string]endedSession{}}
}

// Events returns the callbacks to put in atoauth.Config.Events.
func (n *Notices) Events() atoauth.SessionEvents {
	return atoauth.SessionEvents{
		Created: func(ctx context.Context, e atoauth.SessionCreated) {
			n.log.InfoContext(ctx, "session created", "session", shortSessionID(e.Session.ID),
				"did", e.Session.DID.String(), "handle", e.Session.Handle.String())
		},
		Updated: func(ctx context.Context, e atoauth.SessionUpdated) {
			level := slog.LevelDebug // a routine refresh
			if e.Reason != atoauth.UpdateRefresh || e.Changes != atoauth.ChangedTokens {
				level = slog.LevelInfo
			}
			n.log.Log(ctx, level, "session updated", "session", shortSessionID(e.Session.ID),
				"did", e.Session.DID.String(), "reason", e.Reason.String(), "changes", e.Changes.String())
		},
		Deleted: func(ctx context.Context, e atoauth.SessionDeleted) {
			attrs := []any{"session", shortSessionID(e.Session.ID), "did", e.Session.DID.String(), "cause", e.Cause.String()}
			if e.Err != nil {
				attrs = append(attrs, "err", e.Err.Error())
			}
			n.log.InfoContext(ctx, "session deleted", attrs...)
			n.remember(e.Session.ID, e.Cause)
		},
	}
}

// remember records why session id was deleted.
func (n *Notices) remember(id string, cause atoauth.DeleteCause) {
	if id == "" {
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	now := n.now()
	n.expireLocked(now)
	if e, ok := n.ended[id]; ok { // a deletion is final: seen once
		e.cause = cause
		n.ended[id] = e
		return
	}
	for len(n.ended) >= maxEndedSessions && len(n.order) > 0 {
		n.dropOldestLocked()
	}
	n.ended[id] = endedSession{cause: cause, at: now}
	n.order = append(n.order, endedKey{id: id, at: now})
}

// cause tells why session id was deleted, when this process saw it
// happen in the last endedSessionMemory.
func (n *Notices) cause(id string) (atoauth.DeleteCause, bool) {
	if n == nil || id == "" {
		return 0, false
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.expireLocked(n.now())
	e, ok := n.ended[id]
	return e.cause, ok
}

// notice is the notice code that explains why session id ended ("" when
// unknown).
func (n *Notices) notice(id string) string {
	c, ok := n.cause(id)
	if !ok {
		return ""
	}
	return causeNotice(c)
}

// expireLocked forgets the sessions remembered for longer than
// endedSessionMemory.
func (n *Notices) expireLocked(now time.Time) {
	for len(n.order) > 0 && now.Sub(n.order[0].at) >= endedSessionMemory {
		n.dropOldestLocked()
	}
}

func (n *Notices) dropOldestLocked() {
	k := n.order[0]
	n.order[0] = endedKey{}
	n.order = n.order[1:]
	delete(n.ended, k.id)
	if len(n.order) == 0 {
		n.order = nil // let the array go
	}
}

// size is how many ended sessions are remembered.
func (n *Notices) size() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return len(n.ended)
}

// causeNotice names the notice that explains a deletion.
func causeNotice(c atoauth.DeleteCause) string {
	switch c {
	case atoauth.DeleteSignedOut:
		return "session-signed-out"
	case atoauth.DeleteRevoked:
		return "session-revoked"
	case atoauth.DeleteIdentityChanged:
		return "session-moved"
	case atoauth.DeleteTokenRejected:
		return "session-refused"
	case atoauth.DeleteClientKeyRemoved:
		return "session-key"
	case atoauth.DeleteRefreshFailed:
		return "session-refresh-failed"
	}
	return "session-ended"
}

// shortSessionID is the start of a session id, enough to follow it in
// the logs and too little to use it.
func shortSessionID(id string) string {
	if len(id) > 8 {
		return id[:8] + "…"
	}
	return id
}
