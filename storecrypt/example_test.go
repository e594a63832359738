package storecrypt_test

import (
	"fmt"
	"log"

	"github.com/atoauth/atoauth/storecrypt"
)

// Keys come from the environment, newest first; the stores seal with the
// first and open with any.
func ExampleParseKeys() {
	// In production: os.Getenv("ATOAUTH_STORE_KEYS"), secrets from
	// `openssl rand -base64 32`.
	keys, err := storecrypt.ParseKeys("2026-06:AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=,2026-01:AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI=")
	if err != nil {
		log.Fatal(err)
	}
	ring, err := storecrypt.NewKeyring(keys...)
	if err != nil {
		log.Fatal(err)
	}
	aad := []byte("atoauth_sessions\x00refresh_token\x00session-id")
	id, sealed, err := ring.Seal([]byte("refresh-token"), aad)
	if err != nil {
		log.Fatal(err)
	}
	plain, err := ring.Open(id, sealed, aad)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(keys, id, string(plain))
	// Output: [storecrypt.Key("2026-06") storecrypt.Key("2026-01")] 2026-06 refresh-token
}
