package storecrypt_test

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/atoauth/atoauth/storecrypt"
)

func secret(b byte) []byte { return bytes.Repeat([]byte{b}, storecrypt.SecretSize) }

func mustKey(t *testing.T, id string, b byte) storecrypt.Key {
	t.Helper()
	k, err := storecrypt.NewKey(id, secret(b))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestSealOpen(t *testing.T) {
	ring, err := storecrypt.NewKeyring(mustKey(t, "new", 1), mustKey(t, "old", 2))
	if err != nil {
		t.Fatal(err)
	}
	aad := []byte("sessions\x00access_token\x00s1")
	id, sealed, err := ring.Seal([]byte("the token"), aad)
	if err != nil {
		t.Fatal(err)
	}
	if id != "new" || ring.Primary() != "new" || bytes.Contains(sealed, []byte("the token")) {
		t.Fatalf("sealed under %q: %x", id, sealed)
	}
	if _, again, _ := ring.Seal([]byte("the token"), aad); bytes.Equal(again, sealed) {
		t.Error("two seals of one value are equal: nonces repeat")
	}
	plain, err := ring.Open(id, sealed, aad)
	if err != nil || string(plain) != "the token" {
		t.Fatalf("Open = %q, %v", plain, err)
	}
	// Another row or column: does not open.
	if _, err := ring.Open(id, sealed, []byte("sessions\x00access_token\x00s2")); !errors.Is(err, storecrypt.ErrOpen) {
		t.Errorf("moved value: err = %v, want ErrOpen", err)
	}
	// Altered: does not open.
	bad := bytes.Clone(sealed)
	bad[len(bad)-1] ^= 1
	if _, err := ring.Open(id, bad, aad); !errors.Is(err, storecrypt.ErrOpen) {
		t.Errorf("altered value: err = %v, want ErrOpen", err)
	}
	if _, err := ring.Open(id, sealed[:5], aad); !errors.Is(err, storecrypt.ErrOpen) {
		t.Errorf("truncated value: err = %v, want ErrOpen", err)
	}
	// Sealed by the old key: opens after rotation.
	oldRing, _ := storecrypt.NewKeyring(mustKey(t, "old", 2))
	oid, osealed, _ := oldRing.Seal([]byte("old token"), aad)
	if plain, err := ring.Open(oid, osealed, aad); err != nil || string(plain) != "old token" {
		t.Errorf("old key after rotation: %q, %v", plain, err)
	}
	// Unknown key, with its ID in a typed error.
	_, err = oldRing.Open(id, sealed, aad)
	var ke *storecrypt.KeyError
	if !errors.Is(err, storecrypt.ErrUnknownKey) || !errors.As(err, &ke) || ke.KeyID != "new" {
		t.Errorf("unknown key: err = %v", err)
	}
	// Same ID, other secret.
	impostor, _ := storecrypt.NewKeyring(mustKey(t, "new", 9))
	if _, err := impostor.Open(id, sealed, aad); !errors.Is(err, storecrypt.ErrOpen) {
		t.Errorf("other secret: err = %v, want ErrOpen", err)
	}
}

func TestNoKeysIsPlaintext(t *testing.T) {
	for _, ring := range []*storecrypt.Keyring{nil, mustRing(t)} {
		id, out, err := ring.Seal([]byte("x"), nil)
		if err != nil || id != "" || string(out) != "x" || ring.Primary() != "" {
			t.Errorf("Seal without keys = %q, %q, %v", id, out, err)
		}
		if plain, err := ring.Open("", []byte("x"), nil); err != nil || string(plain) != "x" {
			t.Errorf("Open in the clear = %q, %v", plain, err)
		}
		if _, err := ring.Open("k1", []byte("x"), nil); !errors.Is(err, storecrypt.ErrUnknownKey) {
			t.Errorf("sealed value without keys: %v", err)
		}
	}
	// A ring with keys still reads values stored in the clear.
	ring, _ := storecrypt.NewKeyring(mustKey(t, "k", 1))
	if plain, err := ring.Open("", []byte("x"), nil); err != nil || string(plain) != "x" {
		t.Errorf("plain value with keys = %q, %v", plain, err)
	}
}

func mustRing(t *testing.T, keys ...storecrypt.Key) *storecrypt.Keyring {
	t.Helper()
	r, err := storecrypt.NewKeyring(keys...)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestKeyValidation(t *testing.T) {
	for _, tt := range []struct {
		id     string
		secret []byte
	}{
		{"", secret(1)},
		{"has space", secret(1)},
		{"k:1", secret(1)},
		{strings.Repeat("k", 65), secret(1)},
		{"k", secret(1)[:16]},
		{"k", nil},
	} {
		if _, err := storecrypt.NewKey(tt.id, tt.secret); !errors.Is(err, storecrypt.ErrInvalidKey) {
			t.Errorf("NewKey(%q, %d bytes): err = %v", tt.id, len(tt.secret), err)
		}
	}
	if _, err := storecrypt.NewKeyring(mustKey(t, "a", 1), mustKey(t, "a", 2)); !errors.Is(err, storecrypt.ErrInvalidKey) {
		t.Errorf("duplicate ID: %v", err)
	}
	if _, err := storecrypt.NewKeyring(storecrypt.Key{}); !errors.Is(err, storecrypt.ErrInvalidKey) {
		t.Errorf("zero Key: %v", err)
	}
}

func TestParseKeys(t *testing.T) {
	std := base64.StdEncoding.EncodeToString(secret(1))
	url := base64.RawURLEncoding.EncodeToString(secret(2))
	keys, err := storecrypt.ParseKeys(" 2026-06:" + std + " , ,2026-01:" + url)
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 2 || keys[0].ID() != "2026-06" || keys[1].ID() != "2026-01" {
		t.Fatalf("keys = %v", keys)
	}
	if keys, err := storecrypt.ParseKeys(""); err != nil || len(keys) != 0 {
		t.Errorf("empty: %v, %v", keys, err)
	}
	for _, in := range []string{"nocolon", "k:not base64!", "k:" + std[:20], ":" + std, "a:" + std + ",a:" + std} {
		keys, err := storecrypt.ParseKeys(in)
		if err == nil {
			_, err = storecrypt.NewKeyring(keys...)
		}
		if !errors.Is(err, storecrypt.ErrInvalidKey) {
			t.Errorf("ParseKeys(%q): err = %v", in, err)
		}
		if err != nil && strings.Contains(err.Error(), std[:20]) {
			t.Errorf("error reveals the secret: %v", err)
		}
	}
}

func TestKeyNeverPrints(t *testing.T) {
	k := mustKey(t, "k1", 0xAB)
	for _, f := range []string{"%v", "%+v", "%#v", "%s", "%x", "%q", "%d"} {
		out := fmt.Sprintf(f, k) + fmt.Sprintf(f, []storecrypt.Key{k}) + fmt.Sprintf(f, struct{ K storecrypt.Key }{k})
		if strings.Contains(strings.ToLower(out), "abab") || strings.Contains(out, "171") || !strings.Contains(out, "k1") {
			t.Errorf("%s prints %s", f, out)
		}
	}
}
