package atoauth

import (
	"context"
	"time"

	"github.com/atoauth/atoauth/dpop"
)

// LocalNonces is the Config.NonceStore that keeps DPoP nonces in this
// process only, whatever Config.Store can do. Its methods do nothing.
var LocalNonces dpop.NonceStore = localNonces{}

type localNonces struct{}

func (localNonces) GetNonce(context.Context, string) (string, time.Time, error) {
	return "", time.Time{}, nil
}

func (localNonces) SetNonce(context.Context, string, string, time.Time) error { return nil }

// newNonceCache makes the Client's DPoP nonce cache, which every session
// shares, on the nonce store that cfg chooses (see Config.NonceStore):
// errors of the store are logged as warnings, at most about two a minute
// per server origin (the store's read and write intervals).
func newNonceCache(cfg *Config) *dpop.NonceCache {
	c := &dpop.NonceCache{Clock: cfg.Clock}
	switch s := cfg.NonceStore; {
	case s == LocalNonces:
	case s != nil:
		c.Store = s
	default:
		c.Store, _ = cfg.Store.(dpop.NonceStore)
	}
	if c.Store != nil && cfg.Logger != nil {
		log := cfg.Logger
		c.OnStoreError = func(ctx context.Context, err error) {
			log.WarnContext(ctx, "atoauth: DPoP nonce store failed; going on with this process's nonces", "err", err)
		}
	}
	return c
}
