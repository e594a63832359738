// Package storeurl opens the atoauth.Store that a string names, as given
// on a command line or in an environment variable:
//
//	""                            the SQLite file DefaultPath (created on first use)
//	/var/lib/app/atoauth.db       a SQLite file (any path; "sqlite:PATH" too)
//	postgres://user@host/db?…     PostgreSQL ("postgresql://" too)
//	memory                        in memory, lost on exit
//
// It links both the SQLite and the PostgreSQL driver; a program that
// needs only one imports package sqlite or postgres directly.
package storeurl

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/atoauth/atoauth"
	"github.com/atoauth/atoauth/postgres"
	"github.com/atoauth/atoauth/sqlite"
	"github.com/atoauth/atoauth/storecrypt"
)

// ErrUnsupported reports a store string with a scheme this package does
// not know.
var ErrUnsupported = errors.New("storeurl: unsupported store")

// Store is an opened store: an atoauth.Store to Close when done, whose
// String describes it without secrets (a PostgreSQL password, say).
type Store interface {
	atoauth.Store
	Close() error
	String() string
}

// Options configures the store. The zero value is ready to use.
type Options struct {
	// Keys seal tokens, PKCE verifiers and DPoP private keys at rest (see
	// package storecrypt); ignored by the memory store.
	Keys []storecrypt.Key
}

// DefaultPath returns where the default SQLite file lives:
// atoauth/atoauth.db under os.UserConfigDir ($XDG_CONFIG_HOME or
// ~/.config on Linux, ~/Library/Application Support on macOS, %AppData%
// on Windows).
func DefaultPath() (string, error) {
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("storeurl: finding the default store: %w", err)
	}
	return filepath.Join(dir, "atoauth", "atoauth.db"), nil
}

// Open opens the store that s names (see the package documentation). The
// directory of the default SQLite file is created (mode 0700) when
// missing; that of an explicit path must exist.
func Open(ctx context.Context, s string, opts *Options) (Store, error) {
	if opts == nil {
		opts = &Options{}
	}
	s = strings.TrimSpace(s)
	scheme, _, hasScheme := strings.Cut(s, "://")
	switch {
	case s == "memory" || s == "memory:":
		return memory{atoauth.NewMemoryStore()}, nil
	case hasScheme && (strings.EqualFold(scheme, "postgres") || strings.EqualFold(scheme, "postgresql")):
		return postgres.Open(ctx, s, &postgres.Options{Keys: opts.Keys})
	case s == "":
		path, err := DefaultPath()
		if err != nil {
			return nil, err
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, fmt.Errorf("storeurl: %w", err)
		}
		return sqlite.Open(ctx, path, &sqlite.Options{Keys: opts.Keys})
	case strings.HasPrefix(s, "sqlite:"):
		path := strings.TrimPrefix(strings.TrimPrefix(s, "sqlite:"), "//")
		return sqlite.Open(ctx, path, &sqlite.Options{Keys: opts.Keys})
	case hasScheme && !strings.ContainsAny(scheme, `/\`):
		// Name the scheme only: the rest may hold a password.
		return nil, fmt.Errorf("%w %q (want a SQLite file path, a postgres:// URL or \"memory\")", ErrUnsupported, scheme+"://")
	default:
		return sqlite.Open(ctx, s, &sqlite.Options{Keys: opts.Keys})
	}
}

// memory is a MemoryStore with the Close and String of a Store.
type memory struct{ *atoauth.MemoryStore }

func (memory) Close() error   { return nil }
func (memory) String() string { return "memory" }
