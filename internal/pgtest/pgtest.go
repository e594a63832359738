// Package pgtest gives tests an empty PostgreSQL schema on the server
// named by ATOAUTH_TEST_POSTGRES_URL.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

// EnvURL names the variable that points the tests at a PostgreSQL server
// in which they may create and drop schemas (a throwaway server).
const EnvURL = "ATOAUTH_TEST_POSTGRES_URL"

// ServerURL returns the test server's URL. Without one it skips the test
// with one line saying how to run it, or fails it when CI=true: CI must
// run the PostgreSQL tests.
func ServerURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv(EnvURL)
	if u == "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is not set, and CI=true requires the PostgreSQL tests", EnvURL)
		}
		t.Skipf("PostgreSQL tests skipped: set %s to a postgres:// URL of a throwaway server", EnvURL)
	}
	return u
}

// Schema creates an empty schema on the test server, dropped when the
// test ends, and returns a URL whose search_path selects it.
func Schema(t testing.TB) string {
	t.Helper()
	base := ServerURL(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("connecting to %s: %v", EnvURL, err)
	}
	defer conn.Close(ctx)
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "atoauth_test_" + hex.EncodeToString(b[:])
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Error(err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Error(err)
		}
	})
	sep := "?"
	if strings.Contains(base, "?") {
		sep = "&"
	}
	return base + sep + "search_path=" + schema
}
