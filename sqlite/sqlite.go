// Package sqlite is the embedded default atoauth.Store: sessions and
// pending logins in one SQLite file, shared safely by every process on
// the machine that opens it.
//
// It uses modernc.org/sqlite, SQLite translated to pure Go, so programs
// build with CGO_ENABLED=0 and `go run` needs no C toolchain. The database
// runs in WAL mode (readers never wait for the writer) with a busy
// timeout; its schema is created and upgraded by embedded migrations, each
// in its own transaction. Pending logins are consumed with one atomic
// DELETE … RETURNING, so that of any number of concurrent callbacks for a
// state exactly one wins; expired ones are purged. The refresh lock is a
// row with a lease in the same file, so it holds across processes, and a
// process that dies holding it only delays the next refresh until the
// lease has passed.
//
// The file is created with mode 0600. Session IDs are credentials (they
// are the app's cookies), so rows are keyed by the SHA-256 of the ID.
// With Options.Keys, tokens, PKCE verifiers, DPoP private keys, the apps'
// login state (StartOptions.AppState) and the session IDs themselves are
// sealed with AES-256-GCM (see package storecrypt).
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/atoauth/atoauth"
	"github.com/atoauth/atoauth/internal/sqlstore"
	"github.com/atoauth/atoauth/storecrypt"
	"github.com/bluesky-social/indigo/atproto/syntax"
	msqlite "modernc.org/sqlite"
)

// ErrNewerSchema reports a database whose schema was written by a newer
// version of atoauth than this one.
var ErrNewerSchema = errors.New("sqlite: the database schema is newer than this version of atoauth")

// Options configures a Store. The zero value is ready to use.
type Options struct {
	// Keys seal tokens, PKCE verifiers, DPoP private keys, app states and
	// session IDs at rest: the first key seals, every key opens what it sealed.
	// Without keys the secrets are stored in the clear (the file is still
	// mode 0600). Rows written before keys were configured stay readable.
	Keys []storecrypt.Key

	// BusyTimeout is how long a statement waits for another process's
	// write to finish (default 10s).
	BusyTimeout time.Duration
}

// Store is an atoauth.Store in a SQLite file. It is safe for concurrent
// use, by goroutines and by processes that open the same file. Close it
// when done.
type Store struct {
	path  string
	w     *sql.DB // the one writer connection: writes queue here, not in SQLite's busy loop
	r     *sql.DB // readers
	ws    stmtCache
	rs    stmtCache
	codec sqlstore.Codec
	waker sqlstore.Waker
	now   func() time.Time

	lastPurge atomic.Int64 // unix microseconds of the last purge
	closeOnce sync.Once
	closeErr  error
}

var _ atoauth.Store = (*Store)(nil)

//go:embed migrations/*.sql
var migrationFiles embed.FS

const (
	purgeEvery  = time.Minute
	minLease    = time.Millisecond
	unlockLimit = 10 * time.Second
)

// Open opens the SQLite database at path, creating it (mode 0600) and its
// schema when missing and upgrading an older schema. An existing database
// and its -wal, -shm and -journal files lose any group and other
// permissions. The directory must exist.
func Open(ctx context.Context, path string, opts *Options) (*Store, error) {
	if opts == nil {
		opts = &Options{}
	}
	if path == "" || path == ":memory:" {
		return nil, errors.New("sqlite: Open needs a file path")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	ring, err := storecrypt.NewKeyring(opts.Keys...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	// Create the file ourselves so that it is private from the start;
	// SQLite gives its -wal and -shm files the same mode. A file that
	// exists already (and its -wal, -shm and -journal) is made private
	// too: it holds tokens and DPoP keys.
	f, err := os.OpenFile(abs, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	f.Close()
	if err := makePrivate(abs); err != nil {
		return nil, err
	}

	busy := opts.BusyTimeout
	if busy <= 0 {
		busy = 10 * time.Second
	}
	uriPath := filepath.ToSlash(abs)
	if !strings.HasPrefix(uriPath, "/") {
		uriPath = "/" + uriPath // file:///C:/… on Windows
	}
	base := "file:" + (&url.URL{Path: uriPath}).EscapedPath() +
		fmt.Sprintf("?_pragma=busy_timeout(%d)", busy.Milliseconds())
	s := &Store{path: abs, codec: sqlstore.Codec{Ring: ring}, now: time.Now}
	if s.w, err = openDB(base + "&_txlock=immediate&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)"); err != nil {
		return nil, err
	}
	s.w.SetMaxOpenConns(1)
	s.w.SetMaxIdleConns(1)
	s.w.SetConnMaxIdleTime(0)
	if err := s.migrate(ctx); err != nil {
		s.w.Close()
		return nil, err
	}
	if s.r, err = openDB(base + "&_pragma=query_only(1)"); err != nil {
		s.w.Close()
		return nil, err
	}
	s.r.SetMaxOpenConns(4)
	s.r.SetMaxIdleConns(4)
	return s, nil
}

// makePrivate removes group and other permissions from the database file
// and the files SQLite keeps beside it. It fails when a file is open to
// others and cannot be changed (another owner), rather than keep tokens
// readable by everyone. Windows has no such modes.
func makePrivate(db string) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	for _, p := range []string{db, db + "-wal", db + "-shm", db + "-journal"} {
		st, err := os.Stat(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("sqlite: %w", err)
		}
		if mode := st.Mode().Perm(); mode&0o077 != 0 {
			if err := os.Chmod(p, mode&^0o077); err != nil {
				return fmt.Errorf("sqlite: %s is open to other users (mode %#o) and could not be made private: %w", p, mode, err)
			}
		}
	}
	return nil
}

func openDB(dsn string) (*sql.DB, error) {
	c, err := msqlite.NewConnector(dsn)
	if err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	return sql.OpenDB(c), nil
}

// migrate brings the schema up to date, one migration per transaction.
// BEGIN IMMEDIATE serialises it with other processes opening the file.
func (s *Store) migrate(ctx context.Context) error {
	names, err := fs.Glob(migrationFiles, "migrations/*.sql")
	if err != nil {
		return fmt.Errorf("sqlite: %w", err)
	}
	sort.Strings(names)
	for i, name := range names {
		version := i + 1
		body, err := migrationFiles.ReadFile(name)
		if err != nil {
			return fmt.Errorf("sqlite: %w", err)
		}
		if err := s.migrateOne(ctx, version, len(names), string(body)); err != nil {
			return fmt.Errorf("sqlite: migration %s: %w", filepath.Base(name), err)
		}
	}
	return nil
}

func (s *Store) migrateOne(ctx context.Context, version, latest int, body string) (err error) {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tx.Rollback()
		}
	}()
	var cur int
	if err := tx.QueryRowContext(ctx, "PRAGMA user_version").Scan(&cur); err != nil {
		return err
	}
	if cur > latest {
		return fmt.Errorf("%w (schema %d, this version knows %d)", ErrNewerSchema, cur, latest)
	}
	if cur >= version {
		return tx.Rollback()
	}
	if _, err := tx.ExecContext(ctx, body); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", version)); err != nil {
		return err
	}
	return tx.Commit()
}

// Close closes the database. Calls after the first return its result.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.closeErr = errors.Join(s.rs.close(), s.ws.close(), s.r.Close(), s.w.Close())
	})
	return s.closeErr
}

// stmtCache keeps one prepared statement per query text, so that SQLite
// parses each query once per connection instead of at every call.
type stmtCache struct {
	mu sync.Mutex
	m  map[string]*sql.Stmt
}

func (c *stmtCache) get(ctx context.Context, db *sql.DB, q string) (*sql.Stmt, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if st, ok := c.m[q]; ok {
		return st, nil
	}
	st, err := db.PrepareContext(ctx, q)
	if err != nil {
		return nil, err
	}
	if c.m == nil {
		c.m = make(map[string]*sql.Stmt)
	}
	c.m[q] = st
	return st, nil
}

func (c *stmtCache) close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	var errs []error
	for _, st := range c.m {
		errs = append(errs, st.Close())
	}
	c.m = nil
	return errors.Join(errs...)
}

type errRow struct{ err error }

func (e errRow) Scan(...any) error { return e.err }

// exec runs a write on the writer connection.
func (s *Store) exec(ctx context.Context, q string, args ...any) (sql.Result, error) {
	st, err := s.ws.get(ctx, s.w, q)
	if err != nil {
		return nil, err
	}
	return st.ExecContext(ctx, args...)
}

// writeRow runs a write that returns one row (… RETURNING).
func (s *Store) writeRow(ctx context.Context, q string, args ...any) interface{ Scan(...any) error } {
	st, err := s.ws.get(ctx, s.w, q)
	if err != nil {
		return errRow{err}
	}
	return st.QueryRowContext(ctx, args...)
}

// readRow runs a query that returns one row on a reader connection.
func (s *Store) readRow(ctx context.Context, q string, args ...any) interface{ Scan(...any) error } {
	st, err := s.rs.get(ctx, s.r, q)
	if err != nil {
		return errRow{err}
	}
	return st.QueryRowContext(ctx, args...)
}

// read runs a query on a reader connection.
func (s *Store) read(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	st, err := s.rs.get(ctx, s.r, q)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(ctx, args...)
}

// String describes the store as "sqlite:" and the file's path.
func (s *Store) String() string { return "sqlite:" + s.path }

func micros(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixMicro()
}

func fromMicros(v sql.NullInt64) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return time.UnixMicro(v.Int64)
}

// blob keeps an empty value from being bound as NULL.
func blob(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

const authRequestColumns = `state, issuer, pds, expected_did, login_hint, redirect_uri, scope,
	key_id, pkce_verifier, dpop_key, client_key_id, created_at, expires_at, app_state`

func scanAuthRequest(row interface{ Scan(...any) error }) (*sqlstore.AuthRequestRow, error) {
	var r sqlstore.AuthRequestRow
	var created, expires sql.NullInt64
	if err := row.Scan(&r.State, &r.Issuer, &r.PDS, &r.ExpectedDID, &r.LoginHint, &r.RedirectURI, &r.Scope,
		&r.KeyID, &r.PKCEVerifier, &r.DPoPKey, &r.ClientKeyID, &created, &expires, &r.AppState); err != nil {
		return nil, err
	}
	r.CreatedAt, r.ExpiresAt = fromMicros(created), fromMicros(expires)
	return &r, nil
}

// SaveAuthRequest stores a pending login under its State, replacing one
// with the same State. Now and then it also purges expired ones.
func (s *Store) SaveAuthRequest(ctx context.Context, req *atoauth.AuthRequest) error {
	r, err := s.codec.AuthRequestRow(req)
	if err != nil {
		return fmt.Errorf("sqlite: saving a pending login: %w", err)
	}
	s.maybePurge(ctx)
	_, err = s.exec(ctx, `INSERT OR REPLACE INTO atoauth_auth_requests (`+authRequestColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		r.State, r.Issuer, r.PDS, r.ExpectedDID, r.LoginHint, r.RedirectURI, r.Scope,
		r.KeyID, blob(r.PKCEVerifier), blob(r.DPoPKey), r.ClientKeyID, micros(r.CreatedAt), micros(r.ExpiresAt), blob(r.AppState))
	if err != nil {
		return fmt.Errorf("sqlite: saving a pending login: %w", err)
	}
	return nil
}

// ConsumeAuthRequest removes the pending login for state and returns it,
// in one statement: of concurrent calls for one state, one gets it. A
// missing or expired request gives atoauth.ErrStoreNotFound.
func (s *Store) ConsumeAuthRequest(ctx context.Context, state string) (*atoauth.AuthRequest, error) {
	r, err := scanAuthRequest(s.writeRow(ctx,
		`DELETE FROM atoauth_auth_requests WHERE state = ? RETURNING `+authRequestColumns, state))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, atoauth.ErrStoreNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: consuming a pending login: %w", err)
	}
	if !r.ExpiresAt.After(s.now()) {
		return nil, atoauth.ErrStoreNotFound
	}
	a, err := s.codec.AuthRequest(r)
	if err != nil {
		return nil, fmt.Errorf("sqlite: reading a pending login: %w", err)
	}
	return a, nil
}

const sessionColumns = `id_hash, id, did, handle, pds, issuer, token_endpoint, revocation_endpoint, scope,
	key_id, access_token, refresh_token, dpop_key, expires_at, client_key_id, created_at, updated_at, client_id`

func scanSession(row interface{ Scan(...any) error }) (*sqlstore.SessionRow, error) {
	var r sqlstore.SessionRow
	var expires, created, updated sql.NullInt64
	if err := row.Scan(&r.Key, &r.ID, &r.DID, &r.Handle, &r.PDS, &r.Issuer, &r.TokenEndpoint, &r.RevocationEndpoint, &r.Scope,
		&r.KeyID, &r.AccessToken, &r.RefreshToken, &r.DPoPKey, &expires, &r.ClientKeyID, &created, &updated, &r.ClientID); err != nil {
		return nil, err
	}
	r.ExpiresAt, r.CreatedAt, r.UpdatedAt = fromMicros(expires), fromMicros(created), fromMicros(updated)
	return &r, nil
}

// GetSession returns the session with the given id, or atoauth.ErrStoreNotFound.
func (s *Store) GetSession(ctx context.Context, id string) (*atoauth.SessionData, error) {
	r, err := scanSession(s.readRow(ctx, `SELECT `+sessionColumns+` FROM atoauth_sessions WHERE id_hash = ?`, sqlstore.SessionKey(id)))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, atoauth.ErrStoreNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: loading a session: %w", err)
	}
	d, err := s.codec.Session(r)
	if err != nil {
		return nil, fmt.Errorf("sqlite: reading a session: %w", err)
	}
	return d, nil
}

// SaveSession inserts the session or replaces the one with the same ID.
func (s *Store) SaveSession(ctx context.Context, d *atoauth.SessionData) error {
	r, err := s.codec.SessionRow(d)
	if err != nil {
		return fmt.Errorf("sqlite: saving a session: %w", err)
	}
	if err := s.upsertSession(ctx, r); err != nil {
		return fmt.Errorf("sqlite: saving a session: %w", err)
	}
	return nil
}

func (s *Store) upsertSession(ctx context.Context, r *sqlstore.SessionRow) error {
	_, err := s.exec(ctx, `INSERT INTO atoauth_sessions (`+sessionColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (id_hash) DO UPDATE SET
			id = excluded.id, did = excluded.did, handle = excluded.handle, pds = excluded.pds, issuer = excluded.issuer,
			token_endpoint = excluded.token_endpoint, revocation_endpoint = excluded.revocation_endpoint,
			scope = excluded.scope, key_id = excluded.key_id, access_token = excluded.access_token,
			refresh_token = excluded.refresh_token, dpop_key = excluded.dpop_key, expires_at = excluded.expires_at,
			client_key_id = excluded.client_key_id, created_at = excluded.created_at, updated_at = excluded.updated_at,
			client_id = excluded.client_id`,
		r.Key, blob(r.ID), r.DID, r.Handle, r.PDS, r.Issuer, r.TokenEndpoint, r.RevocationEndpoint, r.Scope,
		r.KeyID, blob(r.AccessToken), blob(r.RefreshToken), blob(r.DPoPKey), micros(r.ExpiresAt), r.ClientKeyID,
		micros(r.CreatedAt), micros(r.UpdatedAt), r.ClientID)
	return err
}

// DeleteSession removes the session with the given id; atoauth.ErrStoreNotFound
// when there is none.
func (s *Store) DeleteSession(ctx context.Context, id string) error {
	res, err := s.exec(ctx, `DELETE FROM atoauth_sessions WHERE id_hash = ?`, sqlstore.SessionKey(id))
	if err != nil {
		return fmt.Errorf("sqlite: deleting a session: %w", err)
	}
	if n, err := res.RowsAffected(); err == nil && n == 0 {
		return atoauth.ErrStoreNotFound
	}
	return nil
}

// ListSessions returns the sessions of did (every session when did is
// empty), oldest first.
func (s *Store) ListSessions(ctx context.Context, did syntax.DID) ([]*atoauth.SessionData, error) {
	q := `SELECT ` + sessionColumns + ` FROM atoauth_sessions WHERE did = ?`
	args := []any{did.String()}
	if did == "" {
		q, args = `SELECT `+sessionColumns+` FROM atoauth_sessions`, nil
	}
	rows, err := s.read(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: listing sessions: %w", err)
	}
	defer rows.Close()
	var out []*atoauth.SessionData
	for rows.Next() {
		r, err := scanSession(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: listing sessions: %w", err)
		}
		d, err := s.codec.Session(r)
		if err != nil {
			return nil, fmt.Errorf("sqlite: reading a session: %w", err)
		}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: listing sessions: %w", err)
	}
	sqlstore.SortSessions(out)
	return out, nil
}

// LockSession takes the refresh lock of session id: a row in the
// database, held until unlock is called or lease has passed, whichever
// comes first. It excludes every process that uses the same file, and
// waits until ctx is done.
func (s *Store) LockSession(ctx context.Context, id string, lease time.Duration) (func(), error) {
	lease = max(lease, minLease)
	key := sqlstore.SessionKey(id)
	token := sqlstore.LockToken()
	err := sqlstore.WaitLock(ctx, &s.waker, func(ctx context.Context) (bool, error) {
		now := s.now()
		// Look before writing: waiters poll, and a read does not queue
		// behind other processes' writes.
		var until int64
		switch err := s.readRow(ctx, `SELECT expires_at FROM atoauth_locks WHERE id_hash = ?`, key).Scan(&until); {
		case err == nil && until > now.UnixMicro():
			return false, nil
		case err != nil && !errors.Is(err, sql.ErrNoRows):
			return false, err
		}
		var got string
		err := s.writeRow(ctx, `INSERT INTO atoauth_locks (id_hash, token, expires_at) VALUES (?, ?, ?)
			ON CONFLICT (id_hash) DO UPDATE SET token = excluded.token, expires_at = excluded.expires_at
			WHERE atoauth_locks.expires_at <= ?
			RETURNING token`, key, token, now.Add(lease).UnixMicro(), now.UnixMicro()).Scan(&got)
		if errors.Is(err, sql.ErrNoRows) {
			return false, nil
		}
		return got == token, err
	})
	if err != nil {
		if ctx.Err() != nil {
			return nil, err
		}
		return nil, fmt.Errorf("sqlite: taking a session lock: %w", err)
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), unlockLimit)
			defer cancel()
			// Only our own holding: after the lease another may hold it.
			// On failure the lease still ends it.
			_, _ = s.exec(ctx, `DELETE FROM atoauth_locks WHERE id_hash = ? AND token = ?`, key, token)
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
// many rows it deleted. SaveAuthRequest calls it at most once a minute;
// call it yourself to purge on a schedule.
func (s *Store) PurgeExpired(ctx context.Context) (int, error) {
	now := s.now().UnixMicro()
	var n int64
	for _, q := range []string{
		`DELETE FROM atoauth_auth_requests WHERE expires_at IS NULL OR expires_at <= ?`,
		`DELETE FROM atoauth_locks WHERE expires_at <= ?`,
		purgeNonces,
	} {
		res, err := s.exec(ctx, q, now)
		if err != nil {
			return int(n), fmt.Errorf("sqlite: purging expired rows: %w", err)
		}
		k, _ := res.RowsAffected()
		n += k
	}
	return int(n), nil
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
		rows, err := s.read(ctx, `SELECT `+sessionColumns+` FROM atoauth_sessions
			WHERE key_id <> ? AND id_hash > ? ORDER BY id_hash LIMIT 100`, primary, after)
		if err != nil {
			return n, fmt.Errorf("sqlite: rekey: %w", err)
		}
		var batch []*sqlstore.SessionRow
		for rows.Next() {
			r, err := scanSession(rows)
			if err != nil {
				rows.Close()
				return n, fmt.Errorf("sqlite: rekey: %w", err)
			}
			batch = append(batch, r)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return n, fmt.Errorf("sqlite: rekey: %w", err)
		}
		if len(batch) == 0 {
			break
		}
		for _, old := range batch {
			after = old.Key
			nr, changed, err := s.codec.Reseal(old)
			if err != nil {
				return n, fmt.Errorf("sqlite: rekey: a session: %w", err)
			}
			if !changed {
				continue
			}
			res, err := s.exec(ctx, `UPDATE atoauth_sessions
				SET key_id = ?, id = ?, access_token = ?, refresh_token = ?, dpop_key = ?
				WHERE id_hash = ? AND key_id = ? AND access_token = ? AND refresh_token = ? AND dpop_key = ?`,
				nr.KeyID, blob(nr.ID), blob(nr.AccessToken), blob(nr.RefreshToken), blob(nr.DPoPKey),
				old.Key, old.KeyID, blob(old.AccessToken), blob(old.RefreshToken), blob(old.DPoPKey))
			if err != nil {
				return n, fmt.Errorf("sqlite: rekey: %w", err)
			}
			if k, _ := res.RowsAffected(); k == 1 {
				n++
			}
		}
	}
	rows, err := s.read(ctx, `SELECT `+authRequestColumns+` FROM atoauth_auth_requests WHERE key_id <> ?`, primary)
	if err != nil {
		return n, fmt.Errorf("sqlite: rekey: %w", err)
	}
	var reqs []*sqlstore.AuthRequestRow
	for rows.Next() {
		r, err := scanAuthRequest(rows)
		if err != nil {
			rows.Close()
			return n, fmt.Errorf("sqlite: rekey: %w", err)
		}
		reqs = append(reqs, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return n, fmt.Errorf("sqlite: rekey: %w", err)
	}
	for _, old := range reqs {
		nr, changed, err := s.codec.ResealAuthRequest(old)
		if err != nil {
			return n, fmt.Errorf("sqlite: rekey: a pending login: %w", err)
		}
		if !changed {
			continue
		}
		res, err := s.exec(ctx, `UPDATE atoauth_auth_requests SET key_id = ?, pkce_verifier = ?, dpop_key = ?, app_state = ?
			WHERE state = ? AND key_id = ? AND pkce_verifier = ? AND dpop_key = ? AND app_state = ?`,
			nr.KeyID, blob(nr.PKCEVerifier), blob(nr.DPoPKey), blob(nr.AppState),
			old.State, old.KeyID, blob(old.PKCEVerifier), blob(old.DPoPKey), blob(old.AppState))
		if err != nil {
			return n, fmt.Errorf("sqlite: rekey: %w", err)
		}
		if k, _ := res.RowsAffected(); k == 1 {
			n++
		}
	}
	return n, nil
}
