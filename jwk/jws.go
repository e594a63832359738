package jwk

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"maps"
	"math/big"
	"strings"
)

const sigLen = 2 * coordLen // raw R||S (RFC 7518 §3.4)

// SignJWT returns a compact JWS (RFC 7515 §7.1) whose protected header is
// header plus "alg":"ES256", and "kid" when k has a key ID and header does
// not set one. claims is encoded with encoding/json and must encode to a
// JSON object (RFC 7519 §7.1). The signature is the 64-byte R||S
// concatenation required by RFC 7518 §3.4, not ASN.1 DER.
//
// header is not modified. If it sets "alg" to anything but "ES256", SignJWT
// fails with [ErrUnsupportedAlgorithm].
func (k *Key) SignJWT(header map[string]any, claims any) (string, error) {
	if k == nil || k.priv == nil {
		return "", ErrNoPrivateKey
	}
	h := make(map[string]any, len(header)+2)
	maps.Copy(h, header)
	if alg, ok := h["alg"]; ok && alg != Algorithm {
		return "", &JWTError{Part: "header", Reason: "\"alg\" must be \"ES256\"", Err: ErrUnsupportedAlgorithm}
	}
	h["alg"] = Algorithm
	if _, ok := h["kid"]; !ok && k.kid != "" {
		h["kid"] = k.kid
	}
	hb, err := json.Marshal(h)
	if err != nil {
		return "", fmt.Errorf("jwk: encoding JWT header: %w", err)
	}
	return k.sign(b64.EncodeToString(hb), claims)
}

// SignEmbeddedJWT returns a compact JWS (RFC 7515 §7.1) whose protected
// header is exactly
//
//	{"alg":"ES256","jwk":{"crv":"P-256","kty":"EC","x":…,"y":…},"typ":typ}
//
// The "jwk" header parameter (RFC 7515 §4.1.3) carries only the required
// public members (RFC 7638 §3.2) — never "kid" or the private key — which
// is the form DPoP proofs need (RFC 9449 §4.2, typ "dpop+jwt"). claims is
// encoded as in [Key.SignJWT].
//
// The encoded header is cached in k, so repeated calls with the same typ
// cost one JSON encoding of claims and one signature.
func (k *Key) SignEmbeddedJWT(typ string, claims any) (string, error) {
	if k == nil || k.priv == nil || k.cache == nil {
		return "", ErrNoPrivateKey
	}
	if c := k.cache.embedded.Load(); c != nil && c.typ == typ {
		return k.sign(c.enc, claims)
	}
	t, err := json.Marshal(typ)
	if err != nil {
		return "", fmt.Errorf("jwk: encoding JWT header: %w", err)
	}
	hb := make([]byte, 0, 32+len(k.thumbInput)+len(t))
	hb = append(hb, `{"alg":"ES256","jwk":`...)
	hb = append(hb, k.thumbInput...)
	hb = append(hb, `,"typ":`...)
	hb = append(hb, t...)
	hb = append(hb, '}')
	c := &cachedHeader{typ: typ, enc: b64.EncodeToString(hb)}
	k.cache.embedded.Store(c)
	return k.sign(c.enc, claims)
}

// sign encodes claims and signs encHeader "." base64url(claims).
func (k *Key) sign(encHeader string, claims any) (string, error) {
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("jwk: encoding JWT claims: %w", err)
	}
	if len(payload) == 0 || payload[0] != '{' {
		return "", &JWTError{Part: "payload", Reason: "claims must encode to a JSON object", Err: ErrInvalidJWT}
	}
	buf := make([]byte, 0, len(encHeader)+1+b64.EncodedLen(len(payload))+1+b64.EncodedLen(sigLen))
	buf = append(buf, encHeader...)
	buf = append(buf, '.')
	buf = b64.AppendEncode(buf, payload)
	digest := sha256.Sum256(buf)
	r, s, err := ecdsa.Sign(rand.Reader, k.priv, digest[:])
	if err != nil {
		return "", fmt.Errorf("jwk: signing: %w", err)
	}
	var sig [sigLen]byte
	r.FillBytes(sig[:coordLen])
	s.FillBytes(sig[coordLen:])
	buf = append(buf, '.')
	buf = b64.AppendEncode(buf, sig[:])
	return string(buf), nil
}

// VerifyJWT verifies a compact JWS (RFC 7515 §5.2) signed with ES256 by pub
// and returns its decoded protected header (a JSON object) and payload. It
// accepts only "alg":"ES256" (RFC 7518 §3.4) and rejects "none" and every
// other algorithm, a "crit" header (RFC 7515 §4.1.11), padded or otherwise
// non-canonical base64url, and signatures that are not exactly 64 bytes.
// It checks the signature only: validating claims (exp, iat, aud, ...) is
// up to the caller. Errors are a *[JWTError] or *[KeyError] and never
// contain the token.
func VerifyJWT(token string, pub *ecdsa.PublicKey) (header, payload []byte, err error) {
	if pub == nil || pub.Curve != elliptic.P256() {
		return nil, nil, &KeyError{Reason: "verification key is not a P-256 public key", Err: ErrUnsupportedKey}
	}
	first := strings.IndexByte(token, '.')
	last := strings.LastIndexByte(token, '.')
	if first < 0 || first == last || strings.IndexByte(token[first+1:last], '.') >= 0 {
		return nil, nil, &JWTError{Reason: "not a compact JWS (want three dot-separated parts)", Err: ErrInvalidJWT}
	}
	header, err = decodePart(token[:first])
	if err != nil {
		return nil, nil, &JWTError{Part: "header", Reason: "not unpadded base64url", Err: ErrInvalidJWT}
	}
	hm, err := decodeObject(header)
	if err != nil {
		return nil, nil, &JWTError{Part: "header", Reason: "not a JSON object", Err: ErrInvalidJWT}
	}
	var alg string
	if raw, ok := hm["alg"]; !ok {
		return nil, nil, &JWTError{Part: "header", Reason: "missing \"alg\"", Err: ErrInvalidJWT}
	} else if err := json.Unmarshal(raw, &alg); err != nil {
		return nil, nil, &JWTError{Part: "header", Reason: "\"alg\" is not a string", Err: ErrInvalidJWT}
	}
	if alg != Algorithm {
		return nil, nil, &JWTError{Part: "header", Reason: "\"alg\" " + quote(alg) + " is not accepted (want \"ES256\")", Err: ErrUnsupportedAlgorithm}
	}
	if _, ok := hm["crit"]; ok {
		return nil, nil, &JWTError{Part: "header", Reason: "\"crit\" extensions are not supported", Err: ErrUnsupportedAlgorithm}
	}
	payload, err = decodePart(token[first+1 : last])
	if err != nil {
		return nil, nil, &JWTError{Part: "payload", Reason: "not unpadded base64url", Err: ErrInvalidJWT}
	}
	sig, err := decodePart(token[last+1:])
	if err != nil {
		return nil, nil, &JWTError{Part: "signature", Reason: "not unpadded base64url", Err: ErrInvalidJWT}
	}
	if len(sig) != sigLen {
		return nil, nil, &JWTError{Part: "signature", Reason: "must be 64 bytes (R||S)", Err: ErrInvalidSignature}
	}
	digest := sha256.Sum256([]byte(token[:last]))
	r := new(big.Int).SetBytes(sig[:coordLen])
	s := new(big.Int).SetBytes(sig[coordLen:])
	if !ecdsa.Verify(pub, digest[:], r, s) {
		return nil, nil, &JWTError{Part: "signature", Reason: "verification failed", Err: ErrInvalidSignature}
	}
	return header, payload, nil
}

// decodePart decodes one part of a compact JWS.
// The base64 package skips CR and LF, which a compact JWS may not contain.
func decodePart(s string) ([]byte, error) {
	if strings.ContainsAny(s, "\r\n") {
		return nil, ErrInvalidJWT
	}
	return b64.DecodeString(s)
}
