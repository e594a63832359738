package sqlstore

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"math/rand/v2"
	"sync"
	"time"
)

// LockToken returns a random token that names one holding of a lock row,
// so that an unlock after the lease has passed cannot release the lock of
// the next holder.
func LockToken() string {
	var b [16]byte
	_, _ = crand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b[:])
}

// Waker wakes this process's lock waiters when a lock of this process is
// released, so that they retry at once instead of at their next poll.
// The zero value is ready to use.
type Waker struct {
	mu sync.Mutex
	ch chan struct{}
}

// C returns a channel closed at the next Wake.
func (w *Waker) C() <-chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.ch == nil {
		w.ch = make(chan struct{})
	}
	return w.ch
}

// Wake wakes every waiter.
func (w *Waker) Wake() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.ch != nil {
		close(w.ch)
		w.ch = nil
	}
}

// Poll intervals of WaitLock: the first retry comes after MinPoll, then
// the interval doubles up to MaxPoll (with jitter, so that waiters in
// several processes do not retry in step).
const (
	MinPoll = 2 * time.Millisecond
	MaxPoll = 50 * time.Millisecond
)

// WaitLock calls try until it takes the lock (true), fails, or ctx is
// done. Between attempts it sleeps with exponential backoff, or until w
// wakes it.
func WaitLock(ctx context.Context, w *Waker, try func(ctx context.Context) (bool, error)) error {
	wait := MinPoll
	for {
		woken := w.C() // before trying, so that a release during the try is not missed
		ok, err := try(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err() // drivers report an interrupted statement in their own words
			}
			return err
		}
		if ok {
			return nil
		}
		d := wait/2 + rand.N(wait/2+1)
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-woken:
			t.Stop()
		case <-t.C:
		}
		wait = min(2*wait, MaxPoll)
	}
}
