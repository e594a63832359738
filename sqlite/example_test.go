package sqlite_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/atoauth/atoauth"
	"github.com/atoauth/atoauth/sqlite"
	"github.com/atoauth/atoauth/storecrypt"
)

func ExampleOpen() {
	dir, err := os.MkdirTemp("", "atoauth-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	// Optional: seal tokens and DPoP keys at rest. Real keys come from
	// the environment (storecrypt.ParseKeys), never from source code.
	keys, err := storecrypt.ParseKeys("2026-06:AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=")
	if err != nil {
		log.Fatal(err)
	}
	store, err := sqlite.Open(context.Background(), filepath.Join(dir, "atoauth.db"), &sqlite.Options{Keys: keys})
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()

	cfg := atoauth.LoopbackConfig("atproto transition:generic")
	cfg.Store = store
	client, err := atoauth.NewClient(cfg)
	if err != nil {
		log.Fatal(err)
	}
	sessions, err := client.Sessions(context.Background(), "")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(sessions), "sessions")
	// Output: 0 sessions
}
