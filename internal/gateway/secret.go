package gateway

import (
	"errors"
	"fmt"
	"log/slog"
)

// Secret is a value that must never be printed: the shared secret of the
// internal listener, and the act tokens. Every printing path shows
// "[redacted]": fmt with any verb (%v, %+v, %#v, %s, %q, %x, %d, …),
// encoding/json, encoding.TextMarshaler users, and slog with any handler.
// Use string(s) only where the value must go on the wire.
type Secret string

const redacted = "[redacted]"

// MinSecretBytes is the shortest shared secret New accepts (256 bits of
// base64 or hex text from e.g. `openssl rand -base64 32` is longer).
const MinSecretBytes = 32

// ParseSecret checks a shared secret read from the environment: at least
// MinSecretBytes bytes, no surrounding space, printable ASCII (it travels
// in an Authorization header). The error never contains the value.
func ParseSecret(s string) (Secret, error) {
	if len(s) < MinSecretBytes {
		return "", fmt.Errorf("gateway: the shared secret is %d bytes long; use at least %d (e.g. `openssl rand -base64 32`)", len(s), MinSecretBytes)
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c > '~' {
			return "", errors.New("gateway: the shared secret must be printable ASCII without spaces (e.g. `openssl rand -base64 32`)")
		}
	}
	return Secret(s), nil
}

// String returns "[redacted]".
func (Secret) String() string { return redacted }

// GoString returns "[redacted]" (%#v).
func (Secret) GoString() string { return redacted }

// Format prints "[redacted]" for every verb.
func (Secret) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(redacted)) }

// MarshalJSON returns "[redacted]" as a JSON string.
func (Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + redacted + `"`), nil }

// MarshalText returns "[redacted]".
func (Secret) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// LogValue returns "[redacted]" for slog.
func (Secret) LogValue() slog.Value { return slog.StringValue(redacted) }
