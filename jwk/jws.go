package jwk

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
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
	encHeader, err := k.embeddedHeader(typ)
	if err != nil {
		return "", err
	}
	return k.sign(encHeader, claims)
}

// SignEmbeddedJWS returns a compact JWS (RFC 7515 §7.1) with the same
// protected header as [Key.SignEmbeddedJWT] and payload, verbatim, as its
// JWS Payload, signed with ES256 (RFC 7518 §3.4: the signature is the
// 64-byte R||S concatenation).
//
// Unlike SignEmbeddedJWT it does not encode or inspect payload: RFC 7515
// allows any octets there. For the result to be a JWT (RFC 7519 §7.1) the
// caller must pass the UTF-8 JSON encoding of a JSON object, as package
// dpop does with the fixed claim set of a DPoP proof (RFC 9449 §4.2). It
// exists so that such callers can build their claims without
// encoding/json; use SignEmbeddedJWT for anything else.
func (k *Key) SignEmbeddedJWS(typ string, payload []byte) (string, error) {
	encHeader, err := k.embeddedHeader(typ)
	if err != nil {
		return "", err
	}
	return k.signPayload(encHeader, payload)
}

// embeddedHeader returns the base64url protected header of
// SignEmbeddedJWT for typ, from the cache in k when it is there.
func (k *Key) embeddedHeader(typ string) (string, error) {
	if k == nil || k.priv == nil || k.cache == nil {
		return "", ErrNoPrivateKey
	}
	if c := k.cache.embedded.Load(); c != nil && c.typ == typ {
		return c.enc, nil
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
	return c.enc, nil
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
	return k.signPayload(encHeader, payload)
}

// signBufLen is the size of the stack buffer signPayload builds a token
// in; larger tokens go to the heap. A DPoP proof is about 600 bytes.
const signBufLen = 1024

// signPayload returns the compact JWS encHeader "." base64url(payload) "."
// base64url(R||S) (RFC 7515 §7.1, RFC 7518 §3.4).
func (k *Key) signPayload(encHeader string, payload []byte) (string, error) {
	n := len(encHeader) + 1 + b64.EncodedLen(len(payload)) + 1 + b64.EncodedLen(sigLen)
	var stack [signBufLen]byte
	buf := stack[:0]
	if n > len(stack) {
		buf = make([]byte, 0, n)
	}
	buf = append(buf, encHeader...)
	buf = append(buf, '.')
	buf = b64.AppendEncode(buf, payload)
	digest := sha256.Sum256(buf)
	// SignASN1 draws its nonce from crypto/rand (it is hedged with the key
	// and digest, never deterministic). Unlike ecdsa.Sign it does not
	// convert r and s to big.Int, which rawSignature does without
	// allocating.
	der, err := ecdsa.SignASN1(rand.Reader, k.priv, digest[:])
	if err != nil {
		return "", fmt.Errorf("jwk: signing: %w", err)
	}
	var sig [sigLen]byte
	if !rawSignature(&sig, der) {
		return "", errors.New("jwk: signing: malformed ASN.1 signature from crypto/ecdsa")
	}
	buf = append(buf, '.')
	buf = b64.AppendEncode(buf, sig[:])
	return string(buf), nil
}

// rawSignature converts der, a DER ECDSA-Sig-Value (RFC 3279 §2.2.3:
// SEQUENCE { r INTEGER, s INTEGER }) as returned by ecdsa.SignASN1 for
// P-256, to the JWS form (RFC 7518 §3.4): r and s as 32-byte big-endian
// unsigned integers, concatenated. It reports false unless der is strict
// DER with two positive integers of at most 32 bytes.
func rawSignature(sig *[sigLen]byte, der []byte) bool {
	// The longest value, 0x30 70 (0x02 0x21 0x00 r[32]) (0x02 0x21 0x00
	// s[32]), has a short-form length: only short forms are DER here.
	if len(der) < 2 || der[0] != 0x30 || der[1] >= 0x80 || int(der[1]) != len(der)-2 {
		return false
	}
	rest, ok := derUint(sig[:coordLen], der[2:])
	if !ok {
		return false
	}
	rest, ok = derUint(sig[coordLen:], rest)
	return ok && len(rest) == 0
}

// derUint reads a DER INTEGER (ITU-T X.690 §8.3, §10.1) that must be
// positive and fit in len(dst) bytes from the front of der, stores it
// right-aligned in dst, and returns the rest of der.
func derUint(dst, der []byte) (rest []byte, ok bool) {
	if len(der) < 2 || der[0] != 0x02 || der[1] >= 0x80 {
		return nil, false
	}
	n := int(der[1])
	if n == 0 || n > len(der)-2 {
		return nil, false
	}
	v, rest := der[2:2+n], der[2+n:]
	if v[0]&0x80 != 0 {
		return nil, false // negative
	}
	if v[0] == 0 {
		if n == 1 || v[1]&0x80 == 0 {
			return nil, false // zero, or not minimal
		}
		v = v[1:]
	}
	if len(v) > len(dst) {
		return nil, false
	}
	pad := len(dst) - len(v)
	clear(dst[:pad])
	copy(dst[pad:], v)
	return rest, true
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
