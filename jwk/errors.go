package jwk

import "errors"

// Sentinel errors. Errors returned by this package wrap one of them, so they
// can be tested with [errors.Is].
var (
	// ErrInvalidKey reports a malformed JWK: bad JSON, a missing or
	// badly encoded member, a point not on the curve, or a private scalar
	// that does not match the public point (RFC 7517 §4, RFC 7518 §6.2).
	ErrInvalidKey = errors.New("jwk: invalid key")

	// ErrUnsupportedKey reports a well-formed JWK that is not an ES256 key:
	// "kty" other than "EC", "crv" other than "P-256", "alg" other than
	// "ES256" or "use" other than "sig".
	ErrUnsupportedKey = errors.New("jwk: unsupported key")

	// ErrNoPrivateKey reports an operation that needs a private key on a
	// Key that has none (the zero Key or a nil *Key).
	ErrNoPrivateKey = errors.New("jwk: no private key")

	// ErrInvalidJWT reports a token that is not a well-formed compact JWS
	// (RFC 7515 §7.1) or claims that are not a JSON object (RFC 7519 §7.1).
	ErrInvalidJWT = errors.New("jwk: invalid JWT")

	// ErrUnsupportedAlgorithm reports a JWS "alg" other than "ES256",
	// including "none" (RFC 7515 §4.1.1), or a "crit" header parameter
	// (RFC 7515 §4.1.11), none of whose extensions this package implements.
	ErrUnsupportedAlgorithm = errors.New("jwk: unsupported algorithm")

	// ErrInvalidSignature reports a JWS signature that is not 64 bytes
	// (RFC 7518 §3.4) or does not verify.
	ErrInvalidSignature = errors.New("jwk: invalid signature")
)

// KeyError describes why a JWK was rejected. Its message names the JWK
// member concerned but never contains private key material.
type KeyError struct {
	// Member is the JWK member at fault ("kty", "crv", "x", "y", "d", ...),
	// or "" when the problem concerns the document as a whole.
	Member string
	// Reason is a short human-readable explanation.
	Reason string
	// Err is ErrInvalidKey or ErrUnsupportedKey.
	Err error
}

// Error implements the error interface.
func (e *KeyError) Error() string {
	s := e.Err.Error()
	if e.Member != "" {
		s += ": member \"" + e.Member + "\""
	}
	return s + ": " + e.Reason
}

// Unwrap returns the sentinel error, ErrInvalidKey or ErrUnsupportedKey.
func (e *KeyError) Unwrap() error { return e.Err }

// JWTError describes why a JWT could not be signed or verified. It never
// contains the token itself.
type JWTError struct {
	// Part is "header", "payload" or "signature", or "" when the problem
	// concerns the token as a whole.
	Part string
	// Reason is a short human-readable explanation.
	Reason string
	// Err is ErrInvalidJWT, ErrUnsupportedAlgorithm or ErrInvalidSignature.
	Err error
}

// Error implements the error interface.
func (e *JWTError) Error() string {
	s := e.Err.Error()
	if e.Part != "" {
		s += ": " + e.Part
	}
	return s + ": " + e.Reason
}

// Unwrap returns the sentinel error.
func (e *JWTError) Unwrap() error { return e.Err }
