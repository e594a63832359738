// Package storecrypt seals the secrets that session stores keep at rest —
// access and refresh tokens, PKCE verifiers, DPoP private keys and session
// IDs — with AES-256-GCM under keys the application supplies, so that a
// leaked database file or dump is not a leaked account.
//
// Every sealed value is stored with the ID of the key that sealed it. A
// [Keyring] seals with its first key and opens with whichever of its keys
// the stored ID names. Keys are rotated in steps, each deployed to every
// instance before the next:
//
//  1. add the new key after the current one (all instances can now read
//     what either key seals);
//  2. move the new key first (new writes are sealed with it);
//  3. re-seal what the old key sealed, with a store's Rekey method;
//  4. drop the old key.
//
// Values stored in the clear (key ID "") stay readable when keys are
// configured, so encryption can be turned on for an existing store; Rekey
// then seals them.
//
// Each value is bound to where it is stored through the additional data
// passed to [Keyring.Seal] and [Keyring.Open] (the stores use table, column
// and row key), so that a sealed value copied to another row or column
// does not open.
package storecrypt

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Sentinel errors. Errors returned by this package wrap one of them; the
// *KeyError that carries them names the key ID concerned.
var (
	// ErrInvalidKey reports a key that cannot be used: an empty, duplicate
	// or malformed ID, or a secret that is not 32 bytes.
	ErrInvalidKey = errors.New("storecrypt: invalid key")

	// ErrUnknownKey reports a value sealed under a key ID that the Keyring
	// does not hold (a key dropped too early, or a store opened without
	// its keys).
	ErrUnknownKey = errors.New("storecrypt: value sealed under a key that is not configured")

	// ErrOpen reports a sealed value that does not open under the key its
	// ID names: the key's secret is not the one that sealed it, or the
	// value was altered or moved to another row or column.
	ErrOpen = errors.New("storecrypt: sealed value does not open (wrong key secret, or altered data)")
)

// KeyError is an error about one key. It never contains key material.
type KeyError struct {
	KeyID  string // the key ID concerned, "" when the key has none
	Reason string // short explanation, "" when Err says it all
	Err    error  // ErrInvalidKey, ErrUnknownKey or ErrOpen
}

// Error implements the error interface.
func (e *KeyError) Error() string {
	s := e.Err.Error() + ": key " + strconv.Quote(e.KeyID)
	if e.Reason != "" {
		s += ": " + e.Reason
	}
	return s
}

// Unwrap returns the sentinel error.
func (e *KeyError) Unwrap() error { return e.Err }

// SecretSize is the size of a key secret: AES-256.
const SecretSize = 32

// maxIDLen bounds key IDs, which are stored with every sealed row.
const maxIDLen = 64

// Key is an AES-256-GCM key with the ID stored next to every value it
// seals. It keeps no copy of its secret, and formatting it prints the ID
// only. The zero Key is not usable.
type Key struct {
	id   string
	aead cipher.AEAD
}

// NewKey returns the key with the given ID and 32-byte secret. IDs are
// short names such as "2026-01" made of letters, digits, '.', '_' and '-'
// (at most 64). The secret must come from a cryptographic random source,
// for example `openssl rand -base64 32`.
func NewKey(id string, secret []byte) (Key, error) {
	if err := checkID(id); err != nil {
		return Key{}, err
	}
	if len(secret) != SecretSize {
		return Key{}, &KeyError{KeyID: id, Reason: fmt.Sprintf("secret is %d bytes, want %d", len(secret), SecretSize), Err: ErrInvalidKey}
	}
	block, err := aes.NewCipher(secret)
	if err != nil {
		return Key{}, &KeyError{KeyID: id, Reason: "cannot make an AES cipher", Err: ErrInvalidKey}
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return Key{}, &KeyError{KeyID: id, Reason: "cannot make a GCM cipher", Err: ErrInvalidKey}
	}
	return Key{id: id, aead: aead}, nil
}

func checkID(id string) error {
	if id == "" {
		return &KeyError{Reason: "the key ID is empty", Err: ErrInvalidKey}
	}
	if len(id) > maxIDLen {
		return &KeyError{KeyID: id[:maxIDLen] + "…", Reason: "the key ID is longer than 64 bytes", Err: ErrInvalidKey}
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return &KeyError{KeyID: id, Reason: "key IDs hold letters, digits, '.', '_' and '-' only", Err: ErrInvalidKey}
		}
	}
	return nil
}

// ParseKeys parses a comma-separated list of keys written as
// ID:SECRET, where SECRET is the 32-byte secret in base64 (standard or
// URL alphabet, padded or not), newest first, as kept in an environment
// variable:
//
//	ATOAUTH_STORE_KEYS=2026-06:q0p8…=,2026-01:Zm9v…=
//
// Blank entries and spaces around entries are ignored; an empty string
// gives no keys. Errors name the entry and its ID, never the secret.
func ParseKeys(s string) ([]Key, error) {
	var keys []Key
	for i, entry := range strings.Split(s, ",") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		id, enc, ok := strings.Cut(entry, ":")
		if !ok {
			return nil, &KeyError{Reason: fmt.Sprintf("entry %d is not ID:SECRET", i+1), Err: ErrInvalidKey}
		}
		secret, err := decodeSecret(strings.TrimSpace(enc))
		if err != nil {
			return nil, &KeyError{KeyID: id, Reason: fmt.Sprintf("entry %d: the secret is not base64", i+1), Err: ErrInvalidKey}
		}
		k, err := NewKey(strings.TrimSpace(id), secret)
		clear(secret)
		if err != nil {
			return nil, err
		}
		keys = append(keys, k)
	}
	return keys, nil
}

func decodeSecret(s string) ([]byte, error) {
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			return b, nil
		}
	}
	return nil, errors.New("not base64")
}

// ID returns the key's ID.
func (k Key) ID() string { return k.id }

// String describes the key by its ID.
func (k Key) String() string { return "storecrypt.Key(" + strconv.Quote(k.id) + ")" }

// GoString is String, so that %#v does not print the cipher state either.
func (k Key) GoString() string { return k.String() }

// Format implements fmt.Formatter so that every verb prints String: the
// key's cipher state is never printed.
func (k Key) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, k.String()) }

// sealVersion is the first byte of every sealed value: the format
// (AES-256-GCM, 12-byte random nonce, 16-byte tag).
const sealVersion = 1

// Keyring seals with its first key and opens with any of its keys. A
// Keyring without keys seals nothing: Seal returns the plaintext with key
// ID "", and Open accepts exactly that. Keyring is safe for concurrent use.
type Keyring struct {
	keys []Key
}

// NewKeyring returns a Keyring over keys, the one that seals first. It
// fails on a zero Key or a repeated ID.
func NewKeyring(keys ...Key) (*Keyring, error) {
	seen := make(map[string]bool, len(keys))
	for _, k := range keys {
		if k.aead == nil {
			return nil, &KeyError{Reason: "zero Key (use NewKey or ParseKeys)", Err: ErrInvalidKey}
		}
		if seen[k.id] {
			return nil, &KeyError{KeyID: k.id, Reason: "the key ID appears twice", Err: ErrInvalidKey}
		}
		seen[k.id] = true
	}
	return &Keyring{keys: append([]Key(nil), keys...)}, nil
}

// Primary returns the ID of the key that seals, "" when the Keyring has
// no keys.
func (r *Keyring) Primary() string {
	if r == nil || len(r.keys) == 0 {
		return ""
	}
	return r.keys[0].id
}

// Seal encrypts plaintext under the primary key, binding it to aad, and
// returns the key ID to store with it. Without keys it returns a copy of
// plaintext and "".
func (r *Keyring) Seal(plaintext, aad []byte) (keyID string, sealed []byte, err error) {
	if r == nil || len(r.keys) == 0 {
		return "", append([]byte(nil), plaintext...), nil
	}
	k := r.keys[0]
	out := make([]byte, 1+k.aead.NonceSize(), 1+k.aead.NonceSize()+len(plaintext)+k.aead.Overhead())
	out[0] = sealVersion
	if _, err := rand.Read(out[1:]); err != nil {
		return "", nil, fmt.Errorf("storecrypt: drawing a nonce: %w", err)
	}
	return k.id, k.aead.Seal(out, out[1:], plaintext, aad), nil
}

// Open decrypts a value sealed under the key keyID with the same aad. A
// keyID of "" means the value was stored in the clear (before encryption
// was turned on) and is returned as is. Errors are a *KeyError wrapping
// ErrUnknownKey or ErrOpen.
func (r *Keyring) Open(keyID string, sealed, aad []byte) ([]byte, error) {
	if keyID == "" {
		return append([]byte(nil), sealed...), nil
	}
	var k *Key
	if r != nil {
		for i := range r.keys {
			if r.keys[i].id == keyID {
				k = &r.keys[i]
				break
			}
		}
	}
	if k == nil {
		return nil, &KeyError{KeyID: keyID, Err: ErrUnknownKey}
	}
	n := k.aead.NonceSize()
	if len(sealed) < 1+n+k.aead.Overhead() || sealed[0] != sealVersion {
		return nil, &KeyError{KeyID: keyID, Reason: "not a sealed value", Err: ErrOpen}
	}
	plain, err := k.aead.Open(nil, sealed[1:1+n], sealed[1+n:], aad)
	if err != nil {
		return nil, &KeyError{KeyID: keyID, Err: ErrOpen}
	}
	return plain, nil
}
