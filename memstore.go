package atoauth

import (
	"context"
	"sort"
	"sync"
	"time"

	"github.com/bluesky-social/indigo/atproto/syntax"
)

// MemoryStore is a Store that keeps everything in memory. Sessions are lost
// when the process exits, and its lock only excludes goroutines of this
// process: use it for tests, command-line tools that do not persist, and
// single-process servers that accept that. It is safe for concurrent use;
// the zero value is ready to use.
type MemoryStore struct {
	mu       sync.Mutex
	requests map[string]AuthRequest
	sessions map[string]SessionData
	locks    map[string]*memLock
	now      func() time.Time
}

type memLock struct {
	ch    chan struct{} // holds one token while the lock is free
	until time.Time     // lease end of the current holder
	gen   uint64
}

// NewMemoryStore returns an empty MemoryStore.
func NewMemoryStore() *MemoryStore { return &MemoryStore{} }

func (m *MemoryStore) clock() time.Time {
	if m.now != nil {
		return m.now()
	}
	return time.Now()
}

// SaveAuthRequest stores a pending login under its State.
func (m *MemoryStore) SaveAuthRequest(ctx context.Context, req *AuthRequest) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.requests == nil {
		m.requests = make(map[string]AuthRequest)
	}
	now := m.clock()
	for k, r := range m.requests { // purge expired ones as we go
		if !r.ExpiresAt.After(now) {
			delete(m.requests, k)
		}
	}
	m.requests[req.State] = *req
	return nil
}

// ConsumeAuthRequest returns and removes the pending login for state.
func (m *MemoryStore) ConsumeAuthRequest(ctx context.Context, state string) (*AuthRequest, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.requests[state]
	if !ok {
		return nil, ErrStoreNotFound
	}
	delete(m.requests, state)
	if !r.ExpiresAt.After(m.clock()) {
		return nil, ErrStoreNotFound
	}
	return &r, nil
}

// GetSession returns a copy of the session with the given id.
func (m *MemoryStore) GetSession(ctx context.Context, id string) (*SessionData, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.sessions[id]
	if !ok {
		return nil, ErrStoreNotFound
	}
	return &s, nil
}

// SaveSession inserts or replaces the session with s.ID.
func (m *MemoryStore) SaveSession(ctx context.Context, s *SessionData) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.sessions == nil {
		m.sessions = make(map[string]SessionData)
	}
	m.sessions[s.ID] = *s
	return nil
}

// DeleteSession removes the session with the given id.
func (m *MemoryStore) DeleteSession(ctx context.Context, id string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.sessions[id]; !ok {
		return ErrStoreNotFound
	}
	delete(m.sessions, id)
	return nil
}

// ListSessions returns the sessions of did, oldest first.
func (m *MemoryStore) ListSessions(ctx context.Context, did syntax.DID) ([]*SessionData, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []*SessionData
	for _, s := range m.sessions {
		if did == "" || s.DID == did {
			c := s
			out = append(out, &c)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].CreatedAt.Equal(out[j].CreatedAt) {
			return out[i].CreatedAt.Before(out[j].CreatedAt)
		}
		return out[i].ID < out[j].ID
	})
	return out, nil
}

// LockSession takes the refresh lock of session id within this process. A
// holder that does not unlock within lease loses the lock to the next
// waiter.
func (m *MemoryStore) LockSession(ctx context.Context, id string, lease time.Duration) (func(), error) {
	m.mu.Lock()
	if m.locks == nil {
		m.locks = make(map[string]*memLock)
	}
	l, ok := m.locks[id]
	if !ok {
		l = &memLock{ch: make(chan struct{}, 1)}
		l.ch <- struct{}{}
		m.locks[id] = l
	}
	m.mu.Unlock()

	for {
		m.mu.Lock()
		now := m.clock()
		if !l.until.IsZero() && !l.until.After(now) {
			// The holder's lease has passed: take the lock over.
			unlock := m.grantLocked(l, lease)
			m.mu.Unlock()
			return unlock, nil
		}
		wait := l.until.Sub(now)
		m.mu.Unlock()
		if wait <= 0 {
			wait = time.Second // free a moment ago: poll in case a holder appears and vanishes
		}
		t := time.NewTimer(wait)
		select {
		case <-l.ch:
			t.Stop()
			m.mu.Lock()
			unlock := m.grantLocked(l, lease)
			m.mu.Unlock()
			return unlock, nil
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		}
	}
}

// grantLocked records a new holder of l; m.mu must be held.
func (m *MemoryStore) grantLocked(l *memLock, lease time.Duration) func() {
	l.gen++
	gen := l.gen
	l.until = m.clock().Add(lease)
	var once sync.Once
	return func() {
		once.Do(func() {
			m.mu.Lock()
			defer m.mu.Unlock()
			if l.gen != gen {
				return // the lease passed and someone else holds the lock now
			}
			l.until = time.Time{}
			select {
			case l.ch <- struct{}{}:
			default:
			}
		})
	}
}
