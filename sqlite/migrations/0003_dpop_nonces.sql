-- DPoP nonces shared by the clients on this store (dpop.NonceStore): the
-- last nonce each origin (scheme://host[:port] of an authorization or
-- resource server) sent, and when it was stored (Unix microseconds). Nonces
-- are public values the servers hand to anyone: kept in the clear. One
-- small row per origin, overwritten in place.

CREATE TABLE atoauth_dpop_nonces (
	origin     TEXT    NOT NULL PRIMARY KEY,
	nonce      TEXT    NOT NULL,
	updated_at INTEGER NOT NULL
) STRICT;
