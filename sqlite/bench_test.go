package sqlite_test

import (
	"bytes"
	"path/filepath"
	"testing"

	"github.com/atoauth/atoauth"
	"github.com/atoauth/atoauth/storecrypt"
	"github.com/atoauth/atoauth/storetest"
)

func BenchmarkStore(b *testing.B) {
	storetest.Benchmark(b, func(b *testing.B) atoauth.Store { return open(b, filepath.Join(b.TempDir(), "atoauth.db")) })
}

func BenchmarkStoreEncrypted(b *testing.B) {
	k, err := storecrypt.NewKey("k1", bytes.Repeat([]byte{7}, 32))
	if err != nil {
		b.Fatal(err)
	}
	storetest.Benchmark(b, func(b *testing.B) atoauth.Store { return open(b, filepath.Join(b.TempDir(), "atoauth.db"), k) })
}
