package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/atoauth/atoauth/dpop"
)

// The Store shares DPoP nonces between the processes that use its file
// (see dpop.NonceStore): an atoauth.Client on it uses them unless
// atoauth.Config.NonceStore says otherwise.
var _ dpop.NonceStore = (*Store)(nil)

// nonceRetention is how long PurgeExpired keeps a nonce row after it was
// last written: nonces are accepted for minutes, not hours.
const nonceRetention = time.Hour

// purgeNonces is the PurgeExpired statement for nonce rows; its parameter
// is the current time in Unix microseconds.
var purgeNonces = `DELETE FROM atoauth_dpop_nonces WHERE updated_at <= ? - ` + strconv.FormatInt(nonceRetention.Microseconds(), 10)

// GetNonce returns the DPoP nonce stored for origin and when it was
// received, or "" and the zero time when there is none (dpop.NonceStore).
func (s *Store) GetNonce(ctx context.Context, origin string) (string, time.Time, error) {
	var nonce string
	var at int64
	err := s.readRow(ctx, `SELECT nonce, updated_at FROM atoauth_dpop_nonces WHERE origin = ?`, origin).Scan(&nonce, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return "", time.Time{}, nil
	}
	if err != nil {
		return "", time.Time{}, fmt.Errorf("sqlite: reading a DPoP nonce: %w", err)
	}
	return nonce, time.UnixMicro(at), nil
}

// SetNonce stores nonce as origin's DPoP nonce, received at at, unless the
// row holds one received later or the same nonce (dpop.NonceStore). One
// row per origin, overwritten in place.
func (s *Store) SetNonce(ctx context.Context, origin, nonce string, at time.Time) error {
	if origin == "" || nonce == "" {
		return errors.New("sqlite: storing a DPoP nonce: empty origin or nonce")
	}
	_, err := s.exec(ctx, `INSERT INTO atoauth_dpop_nonces (origin, nonce, updated_at) VALUES (?, ?, ?)
		ON CONFLICT (origin) DO UPDATE SET nonce = excluded.nonce, updated_at = excluded.updated_at
		WHERE excluded.updated_at > atoauth_dpop_nonces.updated_at AND excluded.nonce <> atoauth_dpop_nonces.nonce`,
		origin, nonce, at.UnixMicro())
	if err != nil {
		return fmt.Errorf("sqlite: storing a DPoP nonce: %w", err)
	}
	return nil
}
