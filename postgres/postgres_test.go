package postgres_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/atoauth/atoauth"
	"github.com/atoauth/atoauth/internal/pgtest"
	"github.com/atoauth/atoauth/internal/sqlstore"
	"github.com/atoauth/atoauth/jwk"
	"github.com/atoauth/atoauth/postgres"
	"github.com/atoauth/atoauth/storecrypt"
	"github.com/atoauth/atoauth/storetest"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

const envURL = pgtest.EnvURL

var (
	serverURL   = pgtest.ServerURL
	freshSchema = pgtest.Schema
)

func open(t testing.TB, url string, keys ...storecrypt.Key) *postgres.Store {
	t.Helper()
	s, err := postgres.Open(context.Background(), url, &postgres.Options{Keys: keys})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// backing is one schema.
type backing struct{ url string }

func (b backing) Open(t *testing.T, keys ...storecrypt.Key) atoauth.Store {
	return open(t, b.url, keys...)
}

// Raw returns every value of every atoauth table, bytea as stored.
func (b backing) Raw(t *testing.T) []byte {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, b.url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var all bytes.Buffer
	for _, table := range []string{"atoauth_sessions", "atoauth_auth_requests", "atoauth_locks"} {
		rows, err := conn.Query(ctx, "SELECT * FROM "+table)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			vals, err := rows.Values()
			if err != nil {
				t.Fatal(err)
			}
			for _, v := range vals {
				switch v := v.(type) {
				case []byte:
					all.Write(v)
				case string:
					all.WriteString(v)
				default:
					fmt.Fprint(&all, v)
				}
				all.WriteByte(0)
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
	}
	return all.Bytes()
}

// WriteSessionWithoutClientID makes the schema as the release before
// SessionData.ClientID left it: the first migration only (the file as it
// was shipped), schema version 1, and d in the row shape of that release.
func (b backing) WriteSessionWithoutClientID(t *testing.T, d *atoauth.SessionData) {
	ctx := context.Background()
	init, err := os.ReadFile("migrations/0001_init.sql")
	if err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, b.url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, string(init)); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `CREATE TABLE atoauth_schema (version integer NOT NULL); INSERT INTO atoauth_schema VALUES (1)`); err != nil {
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
	tstz := func(t time.Time) any {
		if t.IsZero() {
			return nil
		}
		return t
	}
	if _, err := conn.Exec(ctx, `INSERT INTO atoauth_sessions (id_hash, id, did, handle, pds, issuer, token_endpoint, revocation_endpoint, scope,
		key_id, access_token, refresh_token, dpop_key, expires_at, client_key_id, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)`,
		r.Key, r.ID, r.DID, r.Handle, r.PDS, r.Issuer, r.TokenEndpoint, r.RevocationEndpoint, r.Scope,
		r.KeyID, r.AccessToken, r.RefreshToken, r.DPoPKey, tstz(r.ExpiresAt), r.ClientKeyID, tstz(r.CreatedAt), tstz(r.UpdatedAt)); err != nil {
		t.Fatal(err)
	}
}

func TestConformance(t *testing.T) {
	serverURL(t)
	storetest.Run(t,
		func(t *testing.T) atoauth.Store { return open(t, freshSchema(t)) },
		storetest.WithBacking(func(t *testing.T) storetest.Backing { return backing{freshSchema(t)} }))
}

func TestConformanceEncrypted(t *testing.T) {
	serverURL(t)
	k, err := storecrypt.NewKey("k1", bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	storetest.Run(t, func(t *testing.T) atoauth.Store { return open(t, freshSchema(t), k) })
}

func TestMigrations(t *testing.T) {
	connString := freshSchema(t)
	ctx := context.Background()
	// Instances starting together: one migrates, the others wait and see.
	errs := make(chan error, 4)
	for range 4 {
		go func() {
			s, err := postgres.Open(ctx, connString, nil)
			if err == nil {
				s.Close()
			}
			errs <- err
		}()
	}
	for range 4 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	conn, err := pgx.Connect(ctx, connString)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var versions []int
	rows, _ := conn.Query(ctx, "SELECT version FROM atoauth_schema ORDER BY version")
	versions, err = pgx.CollectRows(rows, pgx.RowTo[int])
	files, _ := filepath.Glob("migrations/*.sql")
	if err != nil || len(versions) != len(files) || len(files) < 4 {
		t.Fatalf("schema versions = %v, %v; want 1 to %d, one per migration", versions, err, len(files))
	}
	for i, v := range versions {
		if v != i+1 {
			t.Fatalf("schema versions = %v; want 1 to %d", versions, len(files))
		}
	}
	if _, err := conn.Exec(ctx, "INSERT INTO atoauth_schema VALUES (99)"); err != nil {
		t.Fatal(err)
	}
	if _, err := postgres.Open(ctx, connString, nil); !errors.Is(err, postgres.ErrNewerSchema) {
		t.Fatalf("opening a newer schema: err = %v, want ErrNewerSchema", err)
	}
}

func TestStringHidesPassword(t *testing.T) {
	ctx := context.Background()
	u, err := url.Parse(freshSchema(t))
	if err != nil || u.User == nil {
		t.Skipf("%s is not a postgres:// URL with a user name", envURL)
	}
	// Trust authentication ignores the password, so the URL still connects.
	u.User = url.UserPassword(u.User.Username(), "hunter2-secret")
	s := open(t, u.String())
	if strings.Contains(s.String(), "hunter2") || !strings.HasPrefix(s.String(), "postgres://"+u.User.Username()+"@") {
		t.Errorf("String() = %q", s.String())
	}
	if _, err := postgres.Open(ctx, "postgres://u:hunter2-secret@127.0.0.1:1/x?connect_timeout=1", nil); err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("connection error reveals the password or is nil: %v", err)
	}
	if _, err := postgres.Open(ctx, "postgres://u:hunter2-secret@127.0.0.1:bad/x", nil); err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("parse error reveals the password or is nil: %v", err)
	}
}

func poolOf(t *testing.T, connString string) *pgxpool.Pool {
	t.Helper()
	p, err := pgxpool.New(context.Background(), connString)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

func TestSharedPool(t *testing.T) {
	connString := freshSchema(t)
	ctx := context.Background()
	s1 := open(t, connString)
	// New on an existing pool leaves the pool open on Close.
	s2, err := postgres.New(ctx, poolOf(t, connString), nil)
	if err != nil {
		t.Fatal(err)
	}
	s2.Close()
	key, _ := jwk.Generate()
	if err := s1.SaveSession(ctx, &atoauth.SessionData{ID: "x", DID: "did:plc:x", DPoPKey: key}); err != nil {
		t.Fatal(err)
	}
	if _, err := s2.GetSession(ctx, "x"); err != nil {
		t.Fatalf("a Store on a shared pool stopped working after Close: %v", err)
	}
}
