-- The client_id of the client that created each session (atoauth
-- SessionData.ClientID), which its tokens are bound to. It is a public URL,
-- not a secret: kept in the clear. Sessions stored before this migration
-- get '' (unknown) and are adopted by the client that next refreshes them.

ALTER TABLE atoauth_sessions ADD COLUMN client_id TEXT NOT NULL DEFAULT '';
