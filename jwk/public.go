package jwk

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
)

// PublicJWK is a public JSON Web Key (RFC 7517 §4) for an EC key
// (RFC 7518 §6.2.1). It is plain data, safe to copy and to use concurrently;
// decoding one with encoding/json does not validate it, [PublicJWK.ECDSA]
// and [ParsePublic] do.
type PublicJWK struct {
	Kty string `json:"kty"`           // key type, "EC" (RFC 7517 §4.1)
	Crv string `json:"crv"`           // curve, "P-256" (RFC 7518 §6.2.1.1)
	X   string `json:"x"`             // base64url x coordinate (RFC 7518 §6.2.1.2)
	Y   string `json:"y"`             // base64url y coordinate (RFC 7518 §6.2.1.3)
	Kid string `json:"kid,omitempty"` // key ID (RFC 7517 §4.5)
	Alg string `json:"alg,omitempty"` // algorithm, "ES256" (RFC 7517 §4.4)
	Use string `json:"use,omitempty"` // public key use, "sig" (RFC 7517 §4.2)
}

// ECDSA validates p as an ES256 public key and returns it. "kty" must be
// "EC", "crv" "P-256", "alg" empty or "ES256", "use" empty or "sig"; x and y
// must be unpadded base64url of exactly 32 bytes and name a point on the
// curve (RFC 7518 §6.2.1). Errors are a *[KeyError].
func (p PublicJWK) ECDSA() (*ecdsa.PublicKey, error) {
	pb, err := p.point()
	if err != nil {
		return nil, err
	}
	pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), pb)
	if err != nil {
		return nil, &KeyError{Reason: "point (x, y) is not on the P-256 curve", Err: ErrInvalidKey}
	}
	return pub, nil
}

// point validates the members of p and returns the uncompressed point.
func (p PublicJWK) point() ([]byte, error) {
	switch {
	case p.Kty == "":
		return nil, &KeyError{Member: "kty", Reason: "missing", Err: ErrInvalidKey}
	case p.Kty != ktyEC:
		return nil, &KeyError{Member: "kty", Reason: "key type " + quote(p.Kty) + " is not supported (want \"EC\")", Err: ErrUnsupportedKey}
	case p.Crv == "":
		return nil, &KeyError{Member: "crv", Reason: "missing", Err: ErrInvalidKey}
	case p.Crv != crvP256:
		return nil, &KeyError{Member: "crv", Reason: "curve " + quote(p.Crv) + " is not supported (want \"P-256\")", Err: ErrUnsupportedKey}
	case p.Alg != "" && p.Alg != Algorithm:
		return nil, &KeyError{Member: "alg", Reason: "algorithm " + quote(p.Alg) + " is not supported (want \"ES256\")", Err: ErrUnsupportedKey}
	case p.Use != "" && p.Use != useSig:
		return nil, &KeyError{Member: "use", Reason: "use " + quote(p.Use) + " is not supported (want \"sig\")", Err: ErrUnsupportedKey}
	}
	x, err := decodeFixed(p.X, "x")
	if err != nil {
		return nil, err
	}
	y, err := decodeFixed(p.Y, "y")
	if err != nil {
		return nil, err
	}
	pb := make([]byte, 0, 1+2*coordLen)
	pb = append(pb, 4)
	pb = append(pb, x...)
	pb = append(pb, y...)
	if _, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), pb); err != nil {
		return nil, &KeyError{Reason: "point (x, y) is not on the P-256 curve", Err: ErrInvalidKey}
	}
	return pb, nil
}

// ParsePublic parses and validates a public EC JWK (RFC 7517 §4,
// RFC 7518 §6.2.1) as [PublicJWK.ECDSA] does. It rejects a JWK that holds a
// private key ("d"), so that a private key is never mistaken for a public
// one. Errors are a *[KeyError].
func ParsePublic(data []byte) (PublicJWK, error) {
	m, err := decodeObject(data)
	if err != nil {
		return PublicJWK{}, err
	}
	if _, ok := m["d"]; ok {
		return PublicJWK{}, &KeyError{Member: "d", Reason: "private key member present in a public JWK", Err: ErrInvalidKey}
	}
	f, err := stringMembers(m, "kty", "crv", "x", "y", "kid", "alg", "use")
	if err != nil {
		return PublicJWK{}, err
	}
	p := PublicJWK{Kty: f["kty"], Crv: f["crv"], X: f["x"], Y: f["y"], Kid: f["kid"], Alg: f["alg"], Use: f["use"]}
	if _, err := p.point(); err != nil {
		return PublicJWK{}, err
	}
	return p, nil
}

// Set is a JWK Set (RFC 7517 §5), as published at a jwks_uri or embedded
// in client metadata. The zero Set is empty and ready to use. A Set is plain
// data: safe for concurrent reads, but not for concurrent modification.
type Set struct {
	Keys []PublicJWK `json:"keys"`
}

// Find returns the first key whose "kid" equals kid (RFC 7517 §4.5; the
// comparison is case-sensitive). An empty kid matches nothing.
func (s Set) Find(kid string) (PublicJWK, bool) {
	if kid == "" {
		return PublicJWK{}, false
	}
	for _, k := range s.Keys {
		if k.Kid == kid {
			return k, true
		}
	}
	return PublicJWK{}, false
}

// decodeObject decodes a JSON object into its members, exactly as named
// (encoding/json struct decoding would match names case-insensitively).
// Error messages never include member values.
func decodeObject(data []byte) (map[string]json.RawMessage, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return nil, &KeyError{Reason: "malformed JSON at byte " + strconv.FormatInt(se.Offset, 10), Err: ErrInvalidKey}
		}
		return nil, &KeyError{Reason: "not a JSON object", Err: ErrInvalidKey}
	}
	if m == nil { // JSON null
		return nil, &KeyError{Reason: "not a JSON object", Err: ErrInvalidKey}
	}
	return m, nil
}

// stringMembers returns the named members of m that are present, which must
// be JSON strings.
func stringMembers(m map[string]json.RawMessage, names ...string) (map[string]string, error) {
	out := make(map[string]string, len(names))
	for _, name := range names {
		raw, ok := m[name]
		if !ok {
			continue
		}
		if len(raw) == 0 || raw[0] != '"' {
			return nil, &KeyError{Member: name, Reason: "not a JSON string", Err: ErrInvalidKey}
		}
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, &KeyError{Member: name, Reason: "not a JSON string", Err: ErrInvalidKey}
		}
		out[name] = s
	}
	return out, nil
}

// decodeFixed decodes an unpadded base64url member that must hold exactly
// coordLen bytes.
func decodeFixed(s, member string) ([]byte, error) {
	if s == "" {
		return nil, &KeyError{Member: member, Reason: "missing", Err: ErrInvalidKey}
	}
	// The base64 package skips CR and LF; JWK members may not contain them.
	if strings.ContainsAny(s, "\r\n") {
		return nil, &KeyError{Member: member, Reason: "not unpadded base64url", Err: ErrInvalidKey}
	}
	if b64.DecodedLen(len(s)) != coordLen {
		return nil, &KeyError{Member: member, Reason: "must encode exactly 32 bytes", Err: ErrInvalidKey}
	}
	b, err := b64.DecodeString(s)
	if err != nil {
		return nil, &KeyError{Member: member, Reason: "not unpadded base64url", Err: ErrInvalidKey}
	}
	if len(b) != coordLen {
		clear(b)
		return nil, &KeyError{Member: member, Reason: "must encode exactly 32 bytes", Err: ErrInvalidKey}
	}
	return b, nil
}

// quote quotes an untrusted, non-secret member value for an error message,
// truncated to keep messages short.
func quote(s string) string {
	const max = 32
	if len(s) > max {
		return strconv.Quote(s[:max]) + "..."
	}
	return strconv.Quote(s)
}
