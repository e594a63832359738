package atoauthtest

import (
	"sync"
	"time"
)

// Clock is a fake clock that a test moves by hand. Its Now method fits
// every Clock hook: [Options.Clock], atoauth.Config.Clock,
// discovery.Resolver.Clock, dpop.Transport.Clock, agent.Options.Clock.
// Share one between the network and a client to make tokens expire at
// once. It is safe for concurrent use.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a Clock that reads start until it is advanced.
func NewClock(start time.Time) *Clock { return &Clock{now: start} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}
