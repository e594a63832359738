-- DPoP nonces shared by the instances on this store (dpop.NonceStore): the
-- last nonce each origin (scheme://host[:port] of an authorization or
-- resource server) sent, and when it was stored. Nonces are public values
-- the servers hand to anyone: kept in the clear. One small row per origin,
-- overwritten in place.

CREATE TABLE atoauth_dpop_nonces (
	origin     text        NOT NULL PRIMARY KEY,
	nonce      text        NOT NULL,
	updated_at timestamptz NOT NULL
);
