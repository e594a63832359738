package xrpc

import (
	"context"
	"time"
)

// SetSleep replaces the wait before a Retry-After retry.
func SetSleep(c *Client, f func(ctx context.Context, d time.Duration) error) { c.sleep = f }
