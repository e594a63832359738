package dpop

import (
	"encoding/base64"
	"strconv"
	"unicode/utf8"
)

// appendProofClaims appends to dst the JSON claims set of a DPoP proof JWT
// (RFC 9449 §4.2): "jti" (base64url of jti), "htm", "htu", "iat", then
// "nonce" unless it is empty and "ath" (base64url of ath) unless ath is
// empty, in that order and without whitespace.
//
// The output is byte-for-byte what encoding/json produces for
//
//	struct {
//		JTI   string `json:"jti"`
//		HTM   string `json:"htm"`
//		HTU   string `json:"htu"`
//		IAT   int64  `json:"iat"`
//		Nonce string `json:"nonce,omitempty"`
//		ATH   string `json:"ath,omitempty"`
//	}
//
// which the tests check; building it by hand saves reflection and
// allocations on every request.
func appendProofClaims(dst, jti []byte, htm, htu string, iat int64, nonce string, ath []byte) []byte {
	dst = append(dst, `{"jti":"`...)
	dst = base64.RawURLEncoding.AppendEncode(dst, jti)
	dst = append(dst, `","htm":`...)
	dst = appendJSONString(dst, htm)
	dst = append(dst, `,"htu":`...)
	dst = appendJSONString(dst, htu)
	dst = append(dst, `,"iat":`...)
	dst = strconv.AppendInt(dst, iat, 10)
	if nonce != "" {
		dst = append(dst, `,"nonce":`...)
		dst = appendJSONString(dst, nonce)
	}
	if len(ath) > 0 {
		dst = append(dst, `,"ath":"`...)
		dst = base64.RawURLEncoding.AppendEncode(dst, ath)
		dst = append(dst, '"')
	}
	return append(dst, '}')
}

// appendJSONString appends s to dst as a JSON string (RFC 8259 §7), escaped
// exactly as encoding/json.Marshal escapes strings: '"' and '\\' with a
// backslash; \b, \f, \n, \r and \t by name; other control characters and
// the HTML-sensitive '<', '>' and '&' as \u00XX; U+2028 and U+2029 as
// \u2028 and \u2029; and each byte of invalid UTF-8 replaced by \ufffd.
func appendJSONString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	start := 0 // s[start:i] is pending, needing no escape
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hex[r&0xF])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
