// Package postgres is an atoauth.Store in PostgreSQL, for apps that run
// several instances (behind a load balancer, on several machines): they
// share sessions and never refresh the same session twice.
//
// It uses pgx v5 and its pool. The schema is created and upgraded by
// embedded migrations, each in a transaction that holds an advisory lock,
// so that instances starting together do not race. Tables live in the
// first schema of the connection's search_path: add
// "?search_path=myschema" to the URL to keep them apart. Pending logins
// are consumed with one atomic DELETE … RETURNING; expired ones are
// purged.
//
// The refresh lock is a row with a lease, timed by the database server's
// clock so that clock skew between app machines does not matter. A lease
// row rather than an advisory lock: an advisory lock lives as long as the
// connection that took it, so it would pin one pooled connection per
// refresh in flight, and a process that hangs (rather than dies) with its
// connection open would hold it for ever; a lease ends on its own, and
// waiting for it costs no connection.
//
// Session IDs are credentials (they are the app's cookies), so rows are
// keyed by the SHA-256 of the ID. With Options.Keys, tokens, PKCE
// verifiers, DPoP private keys, the apps' login state
// (StartOptions.AppState) and the session IDs themselves are sealed with
// AES-256-GCM (see package storecrypt).
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/url"
	"path"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/atoauth/atoauth"
	"github.com/atoauth/atoauth/internal/sqlstore"
	"github.com/atoauth/atoauth/storecrypt"
	"github.com/bluesky-social/indigo/atproto/syntax"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// ErrNewerSchema reports a database whose atoauth schema was written by a
// newer version of atoauth than this one.
var ErrNewerSchema = errors.New("postgres: the database schema is newer than this version of atoauth")

// Options configures a Store. The zero value is ready to use.
type Options struct {
	// Keys seal tokens, PKCE verifiers, DPoP private keys, app states and
	// session IDs at rest: the first key seals, every key opens what it sealed.
	// Without keys the secrets are stored in the clear. Rows written
	// before keys were configured stay readable.
	Keys []storecrypt.Key
}

// Store is an atoauth.Store in PostgreSQL. It is safe for concurrent use,
// by goroutines and by every process that uses the same database.
type Store struct {
	pool  *pgxpool.Pool
	own   bool // Close closes the pool
	desc  string
	codec sqlstore.Codec
	waker sqlstore.Waker
	now   func() time.Time

	lastPurge atomic.Int64 // unix microseconds
	closeOnce sync.Once
}

var _ atoauth.Store = (*Store)(nil)

//go:embed migrations/*.sql
var migrationFiles embed.FS

const (
	purgeEvery  = time.Minute
	minLease    = time.Millisecond
	unlockLimit = 10 * time.Second
	// migrationLock is the advisory lock key that serialises migrations
	// ("atoauth" in ASCII).
	migrationLock = 0x61746f61757468
)

// Open connects to the database at connString (a postgres:// URL or a
// keyword/value string, as pgx reads them; pool_max_conns and the like
// included), creates or upgrades the schema, and returns the Store. Close
// it when done.
func Open(ctx context.Context, connString string, opts *Options) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(connString)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err) // pgx hides the password in its errors
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	s, err := New(ctx, pool, opts)
	if err != nil {
		pool.Close()
		return nil, err
	}
	s.own = true
	return s, nil
}

// New returns a Store on an existing pool, after creating or upgrading
// the schema. Close does not close the pool.
func New(ctx context.Context, pool *pgxpool.Pool, opts *Options) (*Store, error) {
	if opts == nil {
		opts = &Options{}
	}
	ring, err := storecrypt.NewKeyring(opts.Keys...)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	s := &Store{pool: pool, desc: describe(pool.Config().ConnConfig), codec: sqlstore.Codec{Ring: ring}, now: time.Now}
	if err := s.migrate(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// describe names the database without the password.
func describe(c *pgx.ConnConfig) string {
	u := url.URL{Scheme: "postgres", User: url.User(c.User), Host: net.JoinHostPort(c.Host, strconv.Itoa(int(c.Port))), Path: "/" + c.Database}
	if path.IsAbs(c.Host) { // a Unix socket directory
		u.Host = ""
		u.RawQuery = url.Values{"host": {c.Host}}.Encode()
	}
	return u.String()
}

func (s *Store) migrate(ctx context.Context) error {
	names, err := fs.Glob(migrationFiles, "migrations/*.sql")
	if err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	sort.Strings(names)
	for i, name := range names {
		body, err := migrationFiles.ReadFile(name)
		if err != nil {
			return fmt.Errorf("postgres: %w", err)
		}
		if err := s.migrateOne(ctx, i+1, len(names), string(body)); err != nil {
			return fmt.Errorf("postgres: migration %s: %w", path.Base(name), err)
		}
	}
	return nil
}

func (s *Store) migrateOne(ctx context.Context, version, latest int, body string) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(migrationLock)); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS atoauth_schema (version integer NOT NULL)`); err != nil {
			return err
		}
		var cur int
		if err := tx.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM atoauth_schema`).Scan(&cur); err != nil {
			return err
		}
		if cur > latest {
			return fmt.Errorf("%w (schema %d, this version knows %d)", ErrNewerSchema, cur, latest)
		}
		if cur >= version {
			return nil
		}
		if _, err := tx.Exec(ctx, body); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO atoauth_schema (version) VALUES ($1)`, version)
		return err
	})
}

// Close closes the pool if Open made it.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		if s.own {
			s.pool.Close()
		}
	})
	return nil
}

// String describes the store by its database URL, without the password.
func (s *Store) String() string { return s.desc }

func tstz(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t
}

func fromTstz(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return *t
}

// blob keeps an empty value from being sent as NULL.
func blob(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

const authRequestColumns = `state, issuer, pds, expected_did, login_hint, redirect_uri, scope,
	key_id, pkce_verifier, dpop_key, client_key_id, created_at, expires_at, app_state`

func scanAuthRequest(row pgx.Row) (*sqlstore.AuthRequestRow, error) {
	var r sqlstore.AuthRequestRow
	var created, expires *time.Time
	if err := row.Scan(&r.State, &r.Issuer, &r.PDS, &r.ExpectedDID, &r.LoginHint, &r.RedirectURI, &r.Scope,
		&r.KeyID, &r.PKCEVerifier, &r.DPoPKey, &r.ClientKeyID, &created, &expires, &r.AppState); err != nil {
		return nil, err
	}
	r.CreatedAt, r.ExpiresAt = fromTstz(created), fromTstz(expires)
	return &r, nil
}

// SaveAuthRequest stores a pending login under its State, replacing one
// with the same State. Now and then it also purges expired ones.
func (s *Store) SaveAuthRequest(ctx context.Context, req *atoauth.AuthRequest) error {
	r, err := s.codec.AuthRequestRow(req)
	if err != nil {
		return fmt.Errorf("postgres: saving a pending login: %w", err)
	}
	s.maybePurge(ctx)
	_, err = s.pool.Exec(ctx, `INSERT INTO atoauth_auth_requests (`+authRequestColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
		ON CONFLICT (state) DO UPDATE SET
			issuer = EXCLUDED.issuer, pds = EXCLUDED.pds, expected_did = EXCLUDED.expected_did,
			login_hint = EXCLUDED.login_hint, redirect_uri = EXCLUDED.redirect_uri, scope = EXCLUDED.scope,
			key_id = EXCLUDED.key_id, pkce_verifier = EXCLUDED.pkce_verifier, dpop_key = EXCLUDED.dpop_key,
			client_key_id = EXCLUDED.client_key_id, created_at = EXCLUDED.created_at, expires_at = EXCLUDED.expires_at,
			app_state = EXCLUDED.app_state`,
		r.State, r.Issuer, r.PDS, r.ExpectedDID, r.LoginHint, r.RedirectURI, r.Scope,
		r.KeyID, blob(r.PKCEVerifier), blob(r.DPoPKey), r.ClientKeyID, tstz(r.CreatedAt), tstz(r.ExpiresAt), blob(r.AppState))
	if err != nil {
		return fmt.Errorf("postgres: saving a pending login: %w", err)
	}
	return nil
}

// ConsumeAuthRequest removes the pending login for state and returns it,
// in one statement: of concurrent calls for one state, one gets it. A
// missing or expired request gives atoauth.ErrStoreNotFound.
func (s *Store) ConsumeAuthRequest(ctx context.Context, state string) (*atoauth.AuthRequest, error) {
	r, err := scanAuthRequest(s.pool.QueryRow(ctx,
		`DELETE FROM atoauth_auth_requests WHERE state = $1 RETURNING `+authRequestColumns, state))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, atoauth.ErrStoreNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: consuming a pending login: %w", err)
	}
	if !r.ExpiresAt.After(s.now()) {
		return nil, atoauth.ErrStoreNotFound
	}
	a, err := s.codec.AuthRequest(r)
	if err != nil {
		return nil, fmt.Errorf("postgres: reading a pending login: %w", err)
	}
	return a, nil
}

const sessionColumns = `id_hash, id, did, handle, pds, issuer, token_endpoint, revocation_endpoint, scope,
	key_id, access_token, refresh_token, dpop_key, expires_at, client_key_id, created_at, updated_at, client_id`

func scanSession(row pgx.Row) (*sqlstore.SessionRow, error) {
	var r sqlstore.SessionRow
	var expires, created, updated *time.Time
	if err := row.Scan(&r.Key, &r.ID, &r.DID, &r.Handle, &r.PDS, &r.Issuer, &r.TokenEndpoint, &r.RevocationEndpoint, &r.Scope,
		&r.KeyID, &r.AccessToken, &r.RefreshToken, &r.DPoPKey, &expires, &r.ClientKeyID, &created, &updated, &r.ClientID); err != nil {
		return nil, err
	}
	r.ExpiresAt, r.CreatedAt, r.UpdatedAt = fromTstz(expires), fromTstz(created), fromTstz(updated)
	return &r, nil
}

// GetSession returns the session with the given id, or atoauth.ErrStoreNotFound.
func (s *Store) GetSession(ctx context.Context, id string) (*atoauth.SessionData, error) {
	r, err := scanSession(s.pool.QueryRow(ctx, `SELECT `+sessionColumns+` FROM atoauth_sessions WHERE id_hash = $1`, sqlstore.SessionKey(id)))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, atoauth.ErrStoreNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: loading a session: %w", err)
	}
	d, err := s.codec.Session(r)
	if err != nil {
		return nil, fmt.Errorf("postgres: reading a session: %w", err)
	}
	return d, nil
}

// SaveSession inserts the session or replaces the one with the same ID.
func (s *Store) SaveSession(ctx context.Context, d *atoauth.SessionData) error {
	r, err := s.codec.SessionRow(d)
	if err != nil {
		return fmt.Errorf("postgres: saving a session: %w", err)
	}
	_, err = s.pool.Exec(ctx, `INSERT INTO atoauth_sessions (`+sessionColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)
		ON CONFLICT (id_hash) DO UPDATE SET
			id = EXCLUDED.id, did = EXCLUDED.did, handle = EXCLUDED.handle, pds = EXCLUDED.pds, issuer = EXCLUDED.issuer,
			token_endpoint = EXCLUDED.token_endpoint, revocation_endpoint = EXCLUDED.revocation_endpoint,
			scope = EXCLUDED.scope, key_id = EXCLUDED.key_id, access_token = EXCLUDED.access_token,
			refresh_token = EXCLUDED.refresh_token, dpop_key = EXCLUDED.dpop_key, expires_at = EXCLUDED.expires_at,
			client_key_id = EXCLUDED.client_key_id, created_at = EXCLUDED.created_at, updated_at = EXCLUDED.updated_at,
			client_id = EXCLUDED.client_id`,
		r.Key, blob(r.ID), r.DID, r.Handle, r.PDS, r.Issuer, r.TokenEndpoint, r.RevocationEndpoint, r.Scope,
		r.KeyID, blob(r.AccessToken), blob(r.RefreshToken), blob(r.DPoPKey), tstz(r.ExpiresAt), r.ClientKeyID,
		tstz(r.CreatedAt), tstz(r.UpdatedAt), r.ClientID)
	if err != nil {
		return fmt.Errorf("postgres: saving a session: %w", err)
	}
	return nil
}

// DeleteSession removes the session with the given id; atoauth.ErrStoreNotFound
// when there is none.
func (s *Store) DeleteSession(ctx context.Context, id string) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM atoauth_sessions WHERE id_hash = $1`, sqlstore.SessionKey(id))
	if err != nil {
		return fmt.Errorf("postgres: deleting a session: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return atoauth.ErrStoreNotFound
	}
	return nil
}

// ListSessions returns the sessions of did (every session when did is
// empty), oldest first.
func (s *Store) ListSessions(ctx context.Context, did syntax.DID) ([]*atoauth.SessionData, error) {
	q := `SELECT ` + sessionColumns + ` FROM atoauth_sessions WHERE did = $1`
	args := []any{did.String()}
	if did == "" {
		q, args = `SELECT `+sessionColumns+` FROM atoauth_sessions`, nil
	}
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("postgres: listing sessions: %w", err)
	}
	defer rows.Close()
	var out []*atoauth.SessionData
	for rows.Next() {
		r, err := scanSession(rows)
		if err != nil {
			return nil, fmt.Errorf("postgres: listing sessions: %w", err)
		}
		d, err := s.codec.Session(r)
		if err != nil {
			return nil, fmt.Errorf("postgres: reading a session: %w", err)
		}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: listing sessions: %w", err)
	}
	sqlstore.SortSessions(out)
	return out, nil
}

// LockSession takes the refresh lock of session id: a row held until
// unlock is called or lease has passed on the database server's clock,
// whichever comes first. It excludes every process that uses the same
// database, and waits until ctx is done.
func (s *Store) LockSession(ctx context.Context, id string, lease time.Duration) (func(), error) {
	lease = max(lease, minLease)
	key := sqlstore.SessionKey(id)
	token := sqlstore.LockToken()
	err := sqlstore.WaitLock(ctx, &s.waker, func(ctx context.Context) (bool, error) {
		// Look before writing: waiters poll, and a read takes no row lock.
		var held bool
		switch err := s.pool.QueryRow(ctx, `SELECT expires_at > clock_timestamp() FROM atoauth_locks WHERE id_hash = $1`, key).Scan(&held); {
		case err == nil && held:
			return false, nil
		case err != nil && !errors.Is(err, pgx.ErrNoRows):
			return false, err
		}
		var got string
		err := s.pool.QueryRow(ctx, `INSERT INTO atoauth_locks (id_hash, token, expires_at)
			VALUES ($1, $2, clock_timestamp() + $3::bigint * interval '1 microsecond')
			ON CONFLICT (id_hash) DO UPDATE SET token = EXCLUDED.token, expires_at = EXCLUDED.expires_at
			WHERE atoauth_locks.expires_at <= clock_timestamp()
			RETURNING token`, key, token, lease.Microseconds()).Scan(&got)
		if errors.Is(err, pgx.ErrNoRows) {
			return false, nil
		}
		return got == token, err
	})
	if err != nil {
		if ctx.Err() != nil {
			return nil, err
		}
		return nil, fmt.Errorf("postgres: taking a session lock: %w", err)
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), unlockLimit)
			defer cancel()
			// Only our own holding: after the lease another may hold it.
			// On failure the lease still ends it.
			_, _ = s.pool.Exec(ctx, `DELETE FROM atoauth_locks WHERE id_hash = $1 AND token = $2`, key, token)
			s.waker.Wake()
		})
	}, nil
}

func (s *Store) maybePurge(ctx context.Context) {
	now := s.now().UnixMicro()
	last := s.lastPurge.Load()
	if now-last < purgeEvery.Microseconds() || !s.lastPurge.CompareAndSwap(last, now) {
		return
	}
	_, _ = s.PurgeExpired(ctx) // best effort; the next save tries again in a minute
}

// PurgeExpired deletes expired pending logins, lock rows whose lease
// has passed and DPoP nonces last stored over an hour ago, and returns how
// many rows it deleted. SaveAuthRequest calls it at most once a minute
// per Store; call it yourself to purge on a schedule.
func (s *Store) PurgeExpired(ctx context.Context) (int, error) {
	a, err := s.pool.Exec(ctx, `DELETE FROM atoauth_auth_requests WHERE expires_at IS NULL OR expires_at <= $1`, s.now())
	if err != nil {
		return 0, fmt.Errorf("postgres: purging expired rows: %w", err)
	}
	l, err := s.pool.Exec(ctx, `DELETE FROM atoauth_locks WHERE expires_at <= clock_timestamp()`)
	if err != nil {
		return int(a.RowsAffected()), fmt.Errorf("postgres: purging expired rows: %w", err)
	}
	n, err := s.pool.Exec(ctx, `DELETE FROM atoauth_dpop_nonces WHERE updated_at <= $1`, s.now().Add(-nonceRetention))
	if err != nil {
		return int(a.RowsAffected() + l.RowsAffected()), fmt.Errorf("postgres: purging expired rows: %w", err)
	}
	return int(a.RowsAffected() + l.RowsAffected() + n.RowsAffected()), nil
}

// Rekey re-seals every session and pending login that is not sealed
// under the first of Options.Keys (rows from before encryption was turned
// on included) and returns how many it rewrote. Run it after putting a new
// key first; once it has succeeded the old keys can be dropped. It is safe
// to run while the store is in use: a row changed meanwhile is left to
// the writer, which seals it with its own first key.
func (s *Store) Rekey(ctx context.Context) (int, error) {
	n := 0
	primary := s.codec.Ring.Primary()
	for after := ""; ; {
		rows, err := s.pool.Query(ctx, `SELECT `+sessionColumns+` FROM atoauth_sessions
			WHERE key_id <> $1 AND id_hash > $2 ORDER BY id_hash LIMIT 100`, primary, after)
		if err != nil {
			return n, fmt.Errorf("postgres: rekey: %w", err)
		}
		batch, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*sqlstore.SessionRow, error) { return scanSession(r) })
		if err != nil {
			return n, fmt.Errorf("postgres: rekey: %w", err)
		}
		if len(batch) == 0 {
			break
		}
		for _, old := range batch {
			after = old.Key
			nr, changed, err := s.codec.Reseal(old)
			if err != nil {
				return n, fmt.Errorf("postgres: rekey: a session: %w", err)
			}
			if !changed {
				continue
			}
			tag, err := s.pool.Exec(ctx, `UPDATE atoauth_sessions
				SET key_id = $1, id = $2, access_token = $3, refresh_token = $4, dpop_key = $5
				WHERE id_hash = $6 AND key_id = $7 AND access_token = $8 AND refresh_token = $9 AND dpop_key = $10`,
				nr.KeyID, blob(nr.ID), blob(nr.AccessToken), blob(nr.RefreshToken), blob(nr.DPoPKey),
				old.Key, old.KeyID, blob(old.AccessToken), blob(old.RefreshToken), blob(old.DPoPKey))
			if err != nil {
				return n, fmt.Errorf("postgres: rekey: %w", err)
			}
			n += int(tag.RowsAffected())
		}
	}
	rows, err := s.pool.Query(ctx, `SELECT `+authRequestColumns+` FROM atoauth_auth_requests WHERE key_id <> $1`, primary)
	if err != nil {
		return n, fmt.Errorf("postgres: rekey: %w", err)
	}
	reqs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*sqlstore.AuthRequestRow, error) { return scanAuthRequest(r) })
	if err != nil {
		return n, fmt.Errorf("postgres: rekey: %w", err)
	}
	for _, old := range reqs {
		nr, changed, err := s.codec.ResealAuthRequest(old)
		if err != nil {
			return n, fmt.Errorf("postgres: rekey: a pending login: %w", err)
		}
		if !changed {
			continue
		}
		tag, err := s.pool.Exec(ctx, `UPDATE atoauth_auth_requests SET key_id = $1, pkce_verifier = $2, dpop_key = $3, app_state = $4
			WHERE state = $5 AND key_id = $6 AND pkce_verifier = $7 AND dpop_key = $8 AND app_state = $9`,
			nr.KeyID, blob(nr.PKCEVerifier), blob(nr.DPoPKey), blob(nr.AppState),
			old.State, old.KeyID, blob(old.PKCEVerifier), blob(old.DPoPKey), blob(old.AppState))
		if err != nil {
			return n, fmt.Errorf("postgres: rekey: %w", err)
		}
		n += int(tag.RowsAffected())
	}
	return n, nil
}
