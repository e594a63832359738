-- The app's own data for a pending login (atoauth AuthRequest.AppState,
-- StartOptions.AppState), returned to the app by the callback and never
-- sent to a server. It may hold a return path or other data of the
-- person's: sealed like the secret columns under key_id when the store has
-- keys. Empty when the login has none, and for every pending login stored
-- before this migration.

ALTER TABLE atoauth_auth_requests ADD COLUMN app_state BLOB NOT NULL DEFAULT x'';
