package main

import (
	"context"
	"io"
	"os"
	"path/filepath"

	"github.com/atoauth/atoauth"
	"github.com/atoauth/atoauth/storecrypt"
	"github.com/atoauth/atoauth/storeurl"
)

// openStore opens the session store named by spec (see package storeurl):
// a SQLite file — by default atoauth.db in the config directory — a
// postgres:// URL, or "memory". ATOAUTH_STORE_KEYS seals secrets at rest.
func openStore(ctx context.Context, spec, dir string) (atoauth.Store, io.Closer, error) {
	if spec == "" {
		spec = filepath.Join(dir, "atoauth.db")
	}
	keys, err := storecrypt.ParseKeys(os.Getenv("ATOAUTH_STORE_KEYS"))
	if err != nil {
		return nil, nil, err
	}
	st, err := storeurl.Open(ctx, spec, &storeurl.Options{Keys: keys})
	if err != nil {
		return nil, nil, err
	}
	return st, st, nil
}
