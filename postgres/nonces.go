package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/atoauth/atoauth/dpop"
	"github.com/jackc/pgx/v5"
)

// The Store shares DPoP nonces between the instances that use its
// database (see dpop.NonceStore): an atoauth.Client on it uses them
// unless atoauth.Config.NonceStore says otherwise.
var _ dpop.NonceStore = (*Store)(nil)

// nonceRetention is how long PurgeExpired keeps a nonce row after it was
// last written: nonces are accepted for minutes, not hours.
const nonceRetention = time.Hour

// GetNonce returns the DPoP nonce stored for origin and when it was
// received, or "" and the zero time when there is none (dpop.NonceStore).
func (s *Store) GetNonce(ctx context.Context, origin string) (string, time.Time, error) {
	var nonce string
	var at time.Time
	err := s.pool.QueryRow(ctx, `SELECT nonce, updated_at FROM atoauth_dpop_nonces WHERE origin = $1`, origin).Scan(&nonce, &at)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", time.Time{}, nil
	}
	if err != nil {
		return "", time.Time{}, fmt.Errorf("postgres: reading a DPoP nonce: %w", err)
	}
	return nonce, at, nil
}

// SetNonce stores nonce as origin's DPoP nonce, received at at, unless the
// row holds one received later or the same nonce (dpop.NonceStore): an
// instance that writes the nonce another has written already updates no
// row. One row per origin, overwritten in place. at is the instance's
// clock, as the nonce cache reads it back: unlike the refresh lock, the
// database server's clock plays no part.
func (s *Store) SetNonce(ctx context.Context, origin, nonce string, at time.Time) error {
	if origin == "" || nonce == "" {
		return errors.New("postgres: storing a DPoP nonce: empty origin or nonce")
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO atoauth_dpop_nonces (origin, nonce, updated_at) VALUES ($1, $2, $3)
		ON CONFLICT (origin) DO UPDATE SET nonce = EXCLUDED.nonce, updated_at = EXCLUDED.updated_at
		WHERE EXCLUDED.updated_at > atoauth_dpop_nonces.updated_at AND EXCLUDED.nonce <> atoauth_dpop_nonces.nonce`,
		origin, nonce, at)
	if err != nil {
		return fmt.Errorf("postgres: storing a DPoP nonce: %w", err)
	}
	return nil
}
