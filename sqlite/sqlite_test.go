package sqlite_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/atoauth/atoauth"
	"github.com/atoauth/atoauth/internal/sqlstore"
	"github.com/atoauth/atoauth/jwk"
	"github.com/atoauth/atoauth/sqlite"
	"github.com/atoauth/atoauth/storecrypt"
	"github.com/atoauth/atoauth/storetest"
	msqlite "modernc.org/sqlite"
)

func open(t testing.TB, path string, keys ...storecrypt.Key) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(context.Background(), path, &sqlite.Options{Keys: keys})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// backing is one database file.
type backing struct{ path string }

func (b backing) Open(t *testing.T, keys ...storecrypt.Key) atoauth.Store {
	return open(t, b.path, keys...)
}

func (b backing) Raw(t *testing.T) []byte {
	var all []byte
	for _, suffix := range []string{"", "-wal"} {
		data, err := os.ReadFile(b.path + suffix)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
		all = append(all, data...)
	}
	return all
}

// WriteSessionWithoutClientID makes the file as the release before
// SessionData.ClientID left it: the first migration only (the file as it
// was shipped), user_version 1, and d in the row shape of that release.
func (b backing) WriteSessionWithoutClientID(t *testing.T, d *atoauth.SessionData) {
	init, err := os.ReadFile("migrations/0001_init.sql")
	if err != nil {
		t.Fatal(err)
	}
	db := rawDB(t, b.path)
	if _, err := db.Exec(string(init) + "; PRAGMA user_version = 1"); err != nil {
		t.Fatal(err)
	}
	ring, err := storecrypt.NewKeyring()
	if err != nil {
		t.Fatal(err)
	}
	r, err := (&sqlstore.Codec{Ring: ring}).SessionRow(d)
	if err != nil {
		t.Fatal(err)
	}
	micros := func(t time.Time) any {
		if t.IsZero() {
			return nil
		}
		return t.UnixMicro()
	}
	if _, err := db.Exec(`INSERT INTO atoauth_sessions (id_hash, id, did, handle, pds, issuer, token_endpoint, revocation_endpoint, scope,
		key_id, access_token, refresh_token, dpop_key, expires_at, client_key_id, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		r.Key, r.ID, r.DID, r.Handle, r.PDS, r.Issuer, r.TokenEndpoint, r.RevocationEndpoint, r.Scope,
		r.KeyID, r.AccessToken, r.RefreshToken, r.DPoPKey, micros(r.ExpiresAt), r.ClientKeyID, micros(r.CreatedAt), micros(r.UpdatedAt)); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestConformance(t *testing.T) {
	storetest.Run(t,
		func(t *testing.T) atoauth.Store { return open(t, filepath.Join(t.TempDir(), "atoauth.db")) },
		storetest.WithBacking(func(t *testing.T) storetest.Backing {
			return backing{filepath.Join(t.TempDir(), "atoauth.db")}
		}))
}

func TestConformanceEncrypted(t *testing.T) {
	k, err := storecrypt.NewKey("k1", bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	storetest.Run(t, func(t *testing.T) atoauth.Store { return open(t, filepath.Join(t.TempDir(), "atoauth.db"), k) })
}

func TestFileIsPrivateAndWAL(t *testing.T) {
	path := filepath.Join(t.TempDir(), "atoauth.db")
	s := open(t, path)
	key, _ := jwk.Generate()
	if err := s.SaveSession(context.Background(), &atoauth.SessionData{ID: "x", DID: "did:plc:x", DPoPKey: key}); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", filepath.Base(f), fi.Mode().Perm())
		}
	}
	db := rawDB(t, path)
	var mode string
	if err := db.QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
		t.Errorf("journal_mode = %q, %v; want wal", mode, err)
	}
	if s.String() != "sqlite:"+path {
		t.Errorf("String = %q", s.String())
	}
}

// A database that exists already with loose permissions (created by
// hand, by an older tool, or with a permissive umask), and its -wal and
// -shm, are made private when the store opens it: they hold tokens and
// DPoP keys.
func TestExistingLooseFileIsMadePrivate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "atoauth.db")
	first := open(t, path) // stays open: -wal and -shm exist
	key, _ := jwk.Generate()
	if err := first.SaveSession(context.Background(), &atoauth.SessionData{ID: "x", DID: "did:plc:x", DPoPKey: key}); err != nil {
		t.Fatal(err)
	}
	files := []string{path, path + "-wal", path + "-shm"}
	for _, f := range files {
		if err := os.Chmod(f, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	open(t, path)
	for _, f := range files {
		fi, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s kept mode %v, want 0600", filepath.Base(f), fi.Mode().Perm())
		}
	}
}

func rawDB(t *testing.T, path string) *sql.DB {
	t.Helper()
	c, err := msqlite.NewConnector(path + "?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(c)
	t.Cleanup(func() { db.Close() })
	return db
}

func TestMigrations(t *testing.T) {
	path := filepath.Join(t.TempDir(), "atoauth.db")
	open(t, path).Close()
	open(t, path).Close() // re-opening migrates nothing
	db := rawDB(t, path)
	files, _ := filepath.Glob("migrations/*.sql")
	var v int
	if err := db.QueryRow("PRAGMA user_version").Scan(&v); err != nil || v != len(files) || v < 4 {
		t.Fatalf("user_version = %d, %v; want %d, one per migration", v, err, len(files))
	}
	if _, err := db.Exec("PRAGMA user_version = 99"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	_, err := sqlite.Open(context.Background(), path, nil)
	if !errors.Is(err, sqlite.ErrNewerSchema) {
		t.Fatalf("opening a newer schema: err = %v, want ErrNewerSchema", err)
	}
}

func TestConcurrentOpenMigratesOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "atoauth.db")
	errs := make(chan error, 4)
	for range 4 {
		go func() {
			s, err := sqlite.Open(context.Background(), path, nil)
			if err == nil {
				s.Close()
			}
			errs <- err
		}()
	}
	for range 4 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}

func TestOpenErrors(t *testing.T) {
	if _, err := sqlite.Open(context.Background(), "", nil); err == nil {
		t.Error("empty path accepted")
	}
	if _, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "missing", "dir", "a.db"), nil); err == nil {
		t.Error("missing directory accepted")
	}
	if _, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "a.db"), &sqlite.Options{Keys: []storecrypt.Key{{}}}); !errors.Is(err, storecrypt.ErrInvalidKey) {
		t.Errorf("zero key: %v", err)
	}
}

func TestPathWithSpecialCharacters(t *testing.T) {
	path := filepath.Join(t.TempDir(), "we?ird #name%20.db")
	s := open(t, path)
	key, _ := jwk.Generate()
	if err := s.SaveSession(context.Background(), &atoauth.SessionData{ID: "x", DID: "did:plc:x", DPoPKey: key, CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("database not at the given path: %v", err)
	}
}
