package atoauth

import (
	"context"
	"time"

	"github.com/atoauth/atoauth/dpop"
)

// LocalNonces, as Config.NonceStore (LocalNonces{}), keeps DPoP nonces in
// this process only, whatever Config.Store can do. Its methods store
// nothing.
type LocalNonces struct{}

// GetNonce finds nothing.
func (LocalNonces) GetNonce(context.Context, string) (string, time.Time, error) {
	return "", time.Time{}, nil
}

// SetNonce stores nothing.
func (LocalNonces) SetNonce(context.Context, string, string, time.Time) error { return nil }

// newNonceCache makes the Client's DPoP nonce cache, which every session
// shares, on the nonce store that cfg chooses (see Config.NonceStore):
// errors of the store are logged as warnings, at most about two a minute
// per server origin (the store's read and write intervals).
func newNonceCache(cfg *Config) *dpop.NonceCache {
	c := &dpop.NonceCache{Clock: cfg.Clock}
	switch s := cfg.NonceStore; s.(type) {
	case LocalNonces, *LocalNonces:
	case nil:
		c.Store, _ = cfg.Store.(dpop.NonceStore)
	default:
		c.Store = s
	}
	if c.Store != nil && cfg.Logger != nil {
		log := cfg.Logger
		c.OnStoreError = func(ctx context.Context, err error) {
			log.WarnContext(ctx, "atoauth: DPoP nonce store failed; going on with this process's nonces", "err", err)
		}
	}
	return c
}
