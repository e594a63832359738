package jwk

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"sync/atomic"
)

// Algorithm is the only JWS algorithm this package implements (RFC 7518 §3.4).
const Algorithm = "ES256"

const (
	ktyEC    = "EC"
	crvP256  = "P-256"
	useSig   = "sig"
	coordLen = 32 // bytes in a P-256 coordinate and private scalar (RFC 7518 §6.2.1.2, §6.2.2.1)
)

var b64 = base64.RawURLEncoding.Strict()

// Key is an ES256 (ECDSA P-256) private signing key with an optional key ID
// (RFC 7517 §4.5).
//
// A Key is immutable apart from an internal header cache and is safe for
// concurrent use by multiple goroutines. Obtain one from [Generate] or
// [Parse]; the zero Key holds no key, and its signing methods return
// [ErrNoPrivateKey].
//
// Formatting a Key with the fmt package, or encoding it with encoding/json,
// shows only the public key: the private scalar is available only through
// [Key.MarshalPrivate].
type Key struct {
	priv       *ecdsa.PrivateKey
	kid        string
	pubBytes   []byte    // uncompressed SEC 1 point 0x04||X||Y
	pub        PublicJWK // with kid, alg and use
	thumbInput []byte    // RFC 7638 §3.2 canonical JSON {"crv","kty","x","y"}
	thumbprint string
	cache      *headerCache
}

// headerCache remembers the last serialised embedded-JWK protected header.
// It is shared by copies made with WithKeyID (the header has no kid).
type headerCache struct {
	embedded atomic.Pointer[cachedHeader]
}

type cachedHeader struct {
	typ string
	enc string // base64url of the header JSON
}

// Generate returns a new random P-256 key, drawn from crypto/rand.
func Generate() (*Key, error) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("jwk: generating P-256 key: %w", err)
	}
	return newKey(priv, "")
}

// newKey derives the public forms of priv.
func newKey(priv *ecdsa.PrivateKey, kid string) (*Key, error) {
	pb, err := priv.PublicKey.Bytes()
	if err != nil || len(pb) != 1+2*coordLen {
		return nil, &KeyError{Reason: "cannot encode public point", Err: ErrInvalidKey}
	}
	x := b64.EncodeToString(pb[1 : 1+coordLen])
	y := b64.EncodeToString(pb[1+coordLen:])
	// RFC 7638 §3.2: required members only, lexicographic order, no
	// whitespace. The values are base64url, so they need no JSON escaping.
	thumbInput := []byte(`{"crv":"` + crvP256 + `","kty":"` + ktyEC + `","x":"` + x + `","y":"` + y + `"}`)
	sum := sha256.Sum256(thumbInput)
	return &Key{
		priv:       priv,
		kid:        kid,
		pubBytes:   pb,
		pub:        PublicJWK{Kty: ktyEC, Crv: crvP256, X: x, Y: y, Kid: kid, Alg: Algorithm, Use: useSig},
		thumbInput: thumbInput,
		thumbprint: b64.EncodeToString(sum[:]),
		cache:      new(headerCache),
	}, nil
}

// Parse parses a private EC JWK (RFC 7517 §4, RFC 7518 §6.2.2):
//
//	{"kty":"EC","crv":"P-256","x":"…","y":"…","d":"…"}
//
// with optional "kid", "alg" (must be "ES256") and "use" (must be "sig").
// Member names are case-sensitive; unknown members are ignored (RFC 7517 §4).
// The coordinates and "d" must be unpadded base64url of exactly 32 bytes,
// the point must be on the curve and "d" must be its private scalar.
// Errors are a *[KeyError] wrapping [ErrInvalidKey] or [ErrUnsupportedKey];
// they never contain the value of "d".
func Parse(data []byte) (*Key, error) {
	m, err := decodeObject(data)
	if err != nil {
		return nil, err
	}
	f, err := stringMembers(m, "kty", "crv", "x", "y", "d", "kid", "alg", "use")
	if err != nil {
		return nil, err
	}
	pubJWK := PublicJWK{Kty: f["kty"], Crv: f["crv"], X: f["x"], Y: f["y"], Kid: f["kid"], Alg: f["alg"], Use: f["use"]}
	pubBytes, err := pubJWK.point()
	if err != nil {
		return nil, err
	}
	if _, ok := m["d"]; !ok {
		return nil, &KeyError{Member: "d", Reason: "missing (this is a public key; use ParsePublic)", Err: ErrInvalidKey}
	}
	d, err := decodeFixed(f["d"], "d")
	if err != nil {
		return nil, err
	}
	defer clear(d)
	priv, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), d)
	if err != nil {
		return nil, &KeyError{Member: "d", Reason: "not a valid P-256 private scalar", Err: ErrInvalidKey}
	}
	derived, err := priv.PublicKey.Bytes()
	if err != nil || string(derived) != string(pubBytes) {
		return nil, &KeyError{Member: "d", Reason: "does not match the public point (x, y)", Err: ErrInvalidKey}
	}
	return newKey(priv, f["kid"])
}

// KeyID returns the key ID ("kid", RFC 7517 §4.5), or "" if none is set.
func (k *Key) KeyID() string {
	if k == nil {
		return ""
	}
	return k.kid
}

// WithKeyID returns a copy of k whose key ID ("kid", RFC 7517 §4.5) is kid.
// An empty kid removes the key ID. k itself is not modified.
func (k *Key) WithKeyID(kid string) *Key {
	if k == nil || k.priv == nil {
		return &Key{}
	}
	pub := k.pub
	pub.Kid = kid
	return &Key{
		priv:       k.priv,
		kid:        kid,
		pubBytes:   k.pubBytes,
		pub:        pub,
		thumbInput: k.thumbInput,
		thumbprint: k.thumbprint,
		cache:      k.cache,
	}
}

// privateJWK is the storage form written by MarshalPrivate.
type privateJWK struct {
	Kty string `json:"kty"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Y   string `json:"y"`
	D   string `json:"d"`
	Kid string `json:"kid,omitempty"`
}

// MarshalPrivate returns the private JWK (RFC 7518 §6.2.2) of k, including
// "kid" when set, for storage. The result contains the private key: protect
// it accordingly. [Parse] reads it back.
func (k *Key) MarshalPrivate() ([]byte, error) {
	if k == nil || k.priv == nil {
		return nil, ErrNoPrivateKey
	}
	d, err := k.priv.Bytes()
	if err != nil {
		return nil, fmt.Errorf("jwk: encoding private key: %w", err)
	}
	defer clear(d)
	return json.Marshal(privateJWK{Kty: k.pub.Kty, Crv: k.pub.Crv, X: k.pub.X, Y: k.pub.Y, D: b64.EncodeToString(d), Kid: k.kid})
}

// PublicJWK returns the public JWK of k (RFC 7517 §4, RFC 7518 §6.2.1):
// kty, crv, x, y, "alg":"ES256", "use":"sig", and kid when set. This is the
// form to publish in a JWKS (RFC 7517 §5).
func (k *Key) PublicJWK() PublicJWK {
	if k == nil {
		return PublicJWK{}
	}
	return k.pub
}

// Thumbprint returns the RFC 7638 JWK thumbprint of k: the base64url SHA-256
// of {"crv":"P-256","kty":"EC","x":…,"y":…}. It does not depend on the key
// ID. It returns "" for a zero Key.
func (k *Key) Thumbprint() string {
	if k == nil {
		return ""
	}
	return k.thumbprint
}

// Public returns a new copy of the public key of k, or nil for a zero Key.
func (k *Key) Public() *ecdsa.PublicKey {
	if k == nil || k.priv == nil {
		return nil
	}
	pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), k.pubBytes)
	if err != nil {
		return nil
	}
	return pub
}

// String returns a description of k that identifies it without revealing
// the private key, such as jwk.Key{kid="k1", thumbprint="…"}.
func (k *Key) String() string {
	if k == nil {
		return "jwk.Key(nil)"
	}
	return "jwk.Key{kid=" + strconv.Quote(k.kid) + ", thumbprint=" + strconv.Quote(k.thumbprint) + "}"
}

// GoString implements fmt.GoStringer for %#v; like String it never reveals
// the private key.
func (k *Key) GoString() string {
	if k == nil {
		return "(*jwk.Key)(nil)"
	}
	return "&jwk.Key{kid:" + strconv.Quote(k.kid) + ", thumbprint:" + strconv.Quote(k.thumbprint) + "}"
}

// Format implements fmt.Formatter so that every verb (%v, %+v, %s, %q, %x,
// ...) prints String, and %#v prints GoString. The private key is never
// printed.
func (k *Key) Format(f fmt.State, verb rune) {
	if verb == 'v' && f.Flag('#') {
		_, _ = io.WriteString(f, k.GoString())
		return
	}
	_, _ = io.WriteString(f, k.String())
}

// MarshalJSON implements json.Marshaler by encoding the PUBLIC JWK of k
// (see [Key.PublicJWK]), so that marshalling a structure holding a Key
// cannot leak the private key. Use [Key.MarshalPrivate] to store a key.
func (k *Key) MarshalJSON() ([]byte, error) {
	if k == nil || k.priv == nil {
		return []byte("null"), nil
	}
	return json.Marshal(k.pub)
}

// UnmarshalJSON implements json.Unmarshaler by always failing: a Key's JSON
// encoding is its public JWK, from which no Key can be rebuilt. Decode
// private JWKs with [Parse] instead. Without this method, decoding into a
// Key would silently produce an unusable zero Key.
func (k *Key) UnmarshalJSON([]byte) error {
	return &KeyError{Reason: "a Key cannot be decoded with encoding/json; store it with MarshalPrivate and read it with Parse", Err: ErrInvalidKey}
}
