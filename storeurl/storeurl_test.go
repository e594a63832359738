package storeurl_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/atoauth/atoauth"
	"github.com/atoauth/atoauth/internal/pgtest"
	"github.com/atoauth/atoauth/jwk"
	"github.com/atoauth/atoauth/storecrypt"
	"github.com/atoauth/atoauth/storeurl"
)

func roundTrip(t *testing.T, s storeurl.Store) {
	t.Helper()
	ctx := context.Background()
	key, err := jwk.Generate()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SaveSession(ctx, &atoauth.SessionData{ID: "x", DID: "did:plc:x", AccessToken: "at", DPoPKey: key}); err != nil {
		t.Fatal(err)
	}
	if got, err := s.GetSession(ctx, "x"); err != nil || got.AccessToken != "at" {
		t.Fatalf("GetSession = %v, %v", got, err)
	}
}

func TestDefaultIsSQLiteUnderConfigDir(t *testing.T) {
	cfg := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", cfg)
	t.Setenv("HOME", t.TempDir()) // macOS reads HOME
	want, err := storeurl.DefaultPath()
	if err != nil {
		t.Fatal(err)
	}
	s, err := storeurl.Open(context.Background(), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	roundTrip(t, s)
	if s.String() != "sqlite:"+want {
		t.Errorf("String() = %q, want sqlite:%s", s.String(), want)
	}
	fi, err := os.Stat(filepath.Dir(want))
	if err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("config directory: %v %v", fi.Mode(), err)
	}
	if fi, err := os.Stat(want); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("database file: %v %v", fi.Mode(), err)
	}
}

func TestSQLitePaths(t *testing.T) {
	dir := t.TempDir()
	for _, in := range []string{filepath.Join(dir, "a.db"), "sqlite:" + filepath.Join(dir, "b.db"), "sqlite://" + filepath.Join(dir, "c.db")} {
		s, err := storeurl.Open(context.Background(), in, nil)
		if err != nil {
			t.Fatalf("%s: %v", in, err)
		}
		roundTrip(t, s)
		if !strings.HasPrefix(s.String(), "sqlite:"+dir) {
			t.Errorf("%s: String() = %q", in, s.String())
		}
		s.Close()
	}
}

func TestMemory(t *testing.T) {
	s, err := storeurl.Open(context.Background(), "memory", nil)
	if err != nil {
		t.Fatal(err)
	}
	roundTrip(t, s)
	if s.String() != "memory" || s.Close() != nil {
		t.Errorf("String() = %q", s.String())
	}
}

func TestUnsupportedSchemeHidesTheRest(t *testing.T) {
	_, err := storeurl.Open(context.Background(), "mysql://root:hunter2@db/app", nil)
	if !errors.Is(err, storeurl.ErrUnsupported) || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("err = %v", err)
	}
}

func TestKeysArePassedOn(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.db")
	k, err := storecrypt.NewKey("k1", make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	s, err := storeurl.Open(context.Background(), path, &storeurl.Options{Keys: []storecrypt.Key{k}})
	if err != nil {
		t.Fatal(err)
	}
	roundTrip(t, s)
	s.Close()
	plain, err := storeurl.Open(context.Background(), path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	if _, err := plain.GetSession(context.Background(), "x"); !errors.Is(err, storecrypt.ErrUnknownKey) {
		t.Fatalf("session sealed with k1, read without keys: err = %v", err)
	}
}

func TestPostgres(t *testing.T) {
	u := pgtest.Schema(t)
	if !strings.HasPrefix(u, "postgres://") && !strings.HasPrefix(u, "postgresql://") {
		t.Skip("ATOAUTH_TEST_POSTGRES_URL is not a postgres:// URL")
	}
	s, err := storeurl.Open(context.Background(), u, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if !strings.HasPrefix(s.String(), "postgres://") {
		t.Errorf("String() = %q", s.String())
	}
	if _, err := s.GetSession(context.Background(), "storeurl-test-never-stored"); !errors.Is(err, atoauth.ErrStoreNotFound) {
		t.Errorf("GetSession: %v", err)
	}
}
