package postgres_test

import (
	"context"
	"log"
	"os"

	"github.com/atoauth/atoauth"
	"github.com/atoauth/atoauth/postgres"
	"github.com/atoauth/atoauth/storecrypt"
)

// Every instance of the app opens the same database: they share sessions,
// and a session is refreshed by one instance at a time.
func ExampleOpen() {
	keys, err := storecrypt.ParseKeys(os.Getenv("ATOAUTH_STORE_KEYS"))
	if err != nil {
		log.Fatal(err)
	}
	store, err := postgres.Open(context.Background(), "postgres://app@db.internal/app?search_path=atoauth", &postgres.Options{Keys: keys})
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()
	cfg := atoauth.Config{
		ClientID:     "https://app.example.com/oauth-client-metadata.json",
		RedirectURIs: []string{"https://app.example.com/oauth/callback"},
		Scope:        "atproto transition:generic",
		Store:        store,
	}
	if _, err := atoauth.NewClient(cfg); err != nil {
		log.Fatal(err)
	}
}
