// Package jwk holds ES256 signing keys (ECDSA on P-256) as JSON Web Keys
// (RFC 7517, RFC 7518 §6.2) and signs and verifies compact JWS / JWTs with
// them (RFC 7515, RFC 7519).
//
// The package deliberately supports one algorithm only: ES256 (RFC 7518
// §3.4). Keys of any other type or curve, and tokens with any other "alg"
// (including "none"), are rejected with an error wrapping
// [ErrUnsupportedKey] or [ErrUnsupportedAlgorithm].
//
// Private key material never leaves a [Key] except through
// [Key.MarshalPrivate]: String, GoString, Format and MarshalJSON show the
// public key only, and errors never quote the private scalar "d".
package jwk
