package storeurl_test

import (
	"context"
	"fmt"
	"log"

	"github.com/atoauth/atoauth"
	"github.com/atoauth/atoauth/storeurl"
)

// A command reads the store from a flag or ATOAUTH_STORE: "" is the SQLite
// file under the user's config directory, "postgres://…" a shared
// database, "memory" nothing persistent.
func ExampleOpen() {
	store, err := storeurl.Open(context.Background(), "memory", nil)
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()
	cfg := atoauth.LoopbackConfig("atproto")
	cfg.Store = store
	fmt.Println("sessions in", store)
	// Output: sessions in memory
}
