-- Sessions and pending logins of atoauth. Times are Unix microseconds
-- (NULL: unset). Secret columns (tokens, PKCE verifier, DPoP private key)
-- hold AES-256-GCM sealed values under the key named by key_id, or the
-- plain value when key_id is ''.

CREATE TABLE atoauth_auth_requests (
	state         TEXT    NOT NULL PRIMARY KEY,
	issuer        TEXT    NOT NULL,
	pds           TEXT    NOT NULL,
	expected_did  TEXT    NOT NULL,
	login_hint    TEXT    NOT NULL,
	redirect_uri  TEXT    NOT NULL,
	scope         TEXT    NOT NULL,
	key_id        TEXT    NOT NULL,
	pkce_verifier BLOB    NOT NULL,
	dpop_key      BLOB    NOT NULL,
	client_key_id TEXT    NOT NULL,
	created_at    INTEGER,
	expires_at    INTEGER
) STRICT;

CREATE INDEX atoauth_auth_requests_expiry ON atoauth_auth_requests (expires_at);

-- A session ID is a credential (the app's cookie): the primary key is its
-- SHA-256 (hex), and the ID itself is kept in the sealed column id.
CREATE TABLE atoauth_sessions (
	id_hash             TEXT    NOT NULL PRIMARY KEY,
	id                  BLOB    NOT NULL,
	did                 TEXT    NOT NULL,
	handle              TEXT    NOT NULL,
	pds                 TEXT    NOT NULL,
	issuer              TEXT    NOT NULL,
	token_endpoint      TEXT    NOT NULL,
	revocation_endpoint TEXT    NOT NULL,
	scope               TEXT    NOT NULL,
	key_id              TEXT    NOT NULL,
	access_token        BLOB    NOT NULL,
	refresh_token       BLOB    NOT NULL,
	dpop_key            BLOB    NOT NULL,
	expires_at          INTEGER,
	client_key_id       TEXT    NOT NULL,
	created_at          INTEGER,
	updated_at          INTEGER
) STRICT;

CREATE INDEX atoauth_sessions_by_did ON atoauth_sessions (did, created_at);

-- Refresh locks: one row per locked session (by the hash of its ID),
-- held by token until expires_at (the lease), after which any process may take it over.
CREATE TABLE atoauth_locks (
	id_hash    TEXT    NOT NULL PRIMARY KEY,
	token      TEXT    NOT NULL,
	expires_at INTEGER NOT NULL
) STRICT;
