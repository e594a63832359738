-- Sessions and pending logins of atoauth. Secret columns (tokens, PKCE
-- verifier, DPoP private key) hold AES-256-GCM sealed values under the
-- key named by key_id, or the plain value when key_id is ''. Times are
-- NULL when unset.

CREATE TABLE atoauth_auth_requests (
	state         text        NOT NULL PRIMARY KEY,
	issuer        text        NOT NULL,
	pds           text        NOT NULL,
	expected_did  text        NOT NULL,
	login_hint    text        NOT NULL,
	redirect_uri  text        NOT NULL,
	scope         text        NOT NULL,
	key_id        text        NOT NULL,
	pkce_verifier bytea       NOT NULL,
	dpop_key      bytea       NOT NULL,
	client_key_id text        NOT NULL,
	created_at    timestamptz,
	expires_at    timestamptz
);

CREATE INDEX atoauth_auth_requests_expiry ON atoauth_auth_requests (expires_at);

-- A session ID is a credential (the app's cookie): the primary key is its
-- SHA-256 (hex), and the ID itself is kept in the sealed column id.
CREATE TABLE atoauth_sessions (
	id_hash             text        NOT NULL PRIMARY KEY,
	id                  bytea       NOT NULL,
	did                 text        NOT NULL,
	handle              text        NOT NULL,
	pds                 text        NOT NULL,
	issuer              text        NOT NULL,
	token_endpoint      text        NOT NULL,
	revocation_endpoint text        NOT NULL,
	scope               text        NOT NULL,
	key_id              text        NOT NULL,
	access_token        bytea       NOT NULL,
	refresh_token       bytea       NOT NULL,
	dpop_key            bytea       NOT NULL,
	expires_at          timestamptz,
	client_key_id       text        NOT NULL,
	created_at          timestamptz,
	updated_at          timestamptz
);

CREATE INDEX atoauth_sessions_by_did ON atoauth_sessions (did, created_at NULLS FIRST);

-- Refresh locks: one row per locked session (by the hash of its ID),
-- held by token until expires_at (the lease, on the database server's clock), after which any
-- instance may take it over.
CREATE TABLE atoauth_locks (
	id_hash    text        NOT NULL PRIMARY KEY,
	token      text        NOT NULL,
	expires_at timestamptz NOT NULL
);
