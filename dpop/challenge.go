package dpop

import (
	"encoding/json"
	"net/http"
	"strings"
)

// Error codes servers use to ask for a DPoP retry.
const (
	// ErrorUseDPoPNonce is the "use_dpop_nonce" error code: the server
	// requires a (fresh) nonce, given in the DPoP-Nonce response header
	// (RFC 9449 §8, §9).
	ErrorUseDPoPNonce = "use_dpop_nonce"
	// ErrorInvalidDPoPProof is the "invalid_dpop_proof" error code
	// (RFC 9449 §5, §7.1).
	ErrorInvalidDPoPProof = "invalid_dpop_proof"
)

// Challenge is one challenge of a WWW-Authenticate field (RFC 9110 §11.6.1,
// §11.3). It is plain data.
type Challenge struct {
	// Scheme is the auth-scheme as sent; schemes are case-insensitive, so
	// compare with strings.EqualFold.
	Scheme string
	// Params maps lower-cased auth-param names to their values, with
	// quoted-strings unquoted (RFC 9110 §5.6.4). Parameter names are
	// case-insensitive (RFC 9110 §11.2); if one repeats, the first value
	// is kept. Params is nil when there are none.
	Params map[string]string
	// Token68 is the token68 credentials form (RFC 9110 §11.2), used
	// instead of Params by some schemes; "" when absent.
	Token68 string
}

// ParseWWWAuthenticate parses a WWW-Authenticate (or Proxy-Authenticate)
// field value (RFC 9110 §11.6.1):
//
//	WWW-Authenticate = #challenge
//	challenge   = auth-scheme [ 1*SP ( token68 / #auth-param ) ]
//	auth-param  = token BWS "=" BWS ( token / quoted-string )
//
// A header sent as several field lines must be parsed line by line (or the
// lines joined with ", "). On malformed input ParseWWWAuthenticate returns a
// *[HeaderError] together with the challenges that were complete before the
// error, so a well-formed leading challenge is still usable. It runs in
// linear time on any input.
func ParseWWWAuthenticate(header string) ([]Challenge, error) {
	p := &authParser{s: header}
	var out []Challenge
	for {
		p.skipListSeparators()
		if p.eof() {
			return out, nil
		}
		scheme := p.token()
		if scheme == "" {
			return out, p.fail("expected an auth-scheme")
		}
		c := Challenge{Scheme: scheme}
		spaced := p.skipWS()
		if p.eof() || p.peek() == ',' {
			out = append(out, c)
			continue
		}
		if !spaced {
			return out, p.fail("expected a space after the auth-scheme")
		}
		name, value, ok, err := p.param()
		switch {
		case err != nil:
			return out, err
		case ok:
			c.Params = map[string]string{name: value}
			for {
				p.skipWS()
				if p.eof() {
					break
				}
				if p.peek() != ',' {
					return out, p.fail("expected ',' after an auth-param")
				}
				p.skipListSeparators()
				if p.eof() || !p.atParam() {
					break // the next element starts another challenge
				}
				name, value, ok, err := p.param()
				if err != nil {
					return out, err
				}
				if !ok {
					return out, p.fail("invalid auth-param value")
				}
				if _, dup := c.Params[name]; !dup {
					c.Params[name] = value
				}
			}
		default:
			t68, ok := p.token68()
			if !ok {
				return out, p.fail("expected an auth-param or token68")
			}
			c.Token68 = t68
			p.skipWS()
			if !p.eof() && p.peek() != ',' {
				return out, p.fail("expected ',' after token68")
			}
		}
		out = append(out, c)
	}
}

// authParser is a cursor over a WWW-Authenticate value.
type authParser struct {
	s   string
	pos int
}

func (p *authParser) eof() bool  { return p.pos >= len(p.s) }
func (p *authParser) peek() byte { return p.s[p.pos] }

func (p *authParser) fail(reason string) error {
	return &HeaderError{Offset: p.pos, Reason: reason}
}

// skipWS skips OWS (SP / HTAB) and reports whether it skipped any.
func (p *authParser) skipWS() bool {
	start := p.pos
	for !p.eof() && (p.peek() == ' ' || p.peek() == '\t') {
		p.pos++
	}
	return p.pos > start
}

// skipListSeparators skips OWS and commas: RFC 9110 §5.6.1 lets recipients
// accept empty list elements.
func (p *authParser) skipListSeparators() {
	for !p.eof() && (p.peek() == ' ' || p.peek() == '\t' || p.peek() == ',') {
		p.pos++
	}
}

func (p *authParser) token() string {
	start := p.pos
	for !p.eof() && isTchar(p.peek()) {
		p.pos++
	}
	return p.s[start:p.pos]
}

// atParam reports whether an auth-param (token BWS "=") starts at pos,
// as opposed to a new challenge, without consuming input.
func (p *authParser) atParam() bool {
	start := p.pos
	defer func() { p.pos = start }()
	if p.token() == "" {
		return false
	}
	p.skipWS()
	return !p.eof() && p.peek() == '='
}

// param parses token BWS "=" BWS ( token / quoted-string ). If no
// auth-param starts at pos, it returns ok == false and consumes nothing.
// A malformed quoted-string is an error.
func (p *authParser) param() (name, value string, ok bool, err error) {
	start := p.pos
	name = p.token()
	if name == "" {
		return "", "", false, nil
	}
	p.skipWS()
	if p.eof() || p.peek() != '=' {
		p.pos = start
		return "", "", false, nil
	}
	p.pos++
	p.skipWS()
	if !p.eof() && p.peek() == '"' {
		value, err = p.quotedString()
		if err != nil {
			return "", "", false, err
		}
		return asciiLower(name), value, true, nil
	}
	if value = p.token(); value == "" {
		p.pos = start
		return "", "", false, nil
	}
	return asciiLower(name), value, true, nil
}

// quotedString parses a quoted-string (RFC 9110 §5.6.4) starting at the
// opening quote and returns its unescaped content.
func (p *authParser) quotedString() (string, error) {
	p.pos++ // opening DQUOTE
	var b strings.Builder
	for !p.eof() {
		c := p.peek()
		switch {
		case c == '"':
			p.pos++
			return b.String(), nil
		case c == '\\':
			p.pos++
			if p.eof() {
				return "", p.fail("unterminated quoted-pair")
			}
			if c := p.peek(); c != '\t' && (c < 0x20 || c == 0x7f) {
				return "", p.fail("invalid character in quoted-pair")
			}
			b.WriteByte(p.peek())
			p.pos++
		case c == '\t' || (c >= 0x20 && c != 0x7f):
			b.WriteByte(c)
			p.pos++
		default:
			return "", p.fail("control character in quoted-string")
		}
	}
	return "", p.fail("unterminated quoted-string")
}

// token68 parses 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" )
// *"=" (RFC 9110 §11.2).
func (p *authParser) token68() (string, bool) {
	start := p.pos
	for !p.eof() {
		c := p.peek()
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("-._~+/", c) >= 0 {
			p.pos++
			continue
		}
		break
	}
	if p.pos == start {
		return "", false
	}
	for !p.eof() && p.peek() == '=' {
		p.pos++
	}
	return p.s[start:p.pos], true
}

// IsNonceChallenge reports whether resp asks the client to retry with a
// DPoP nonce, in either of the two forms RFC 9449 defines:
//
//   - authorization server (§8): status 400 and a JSON body whose "error"
//     is "use_dpop_nonce";
//   - resource server (§9): status 401 and a WWW-Authenticate challenge
//     with scheme DPoP and error="use_dpop_nonce".
//
// body is the (possibly truncated) response body; IsNonceChallenge does not
// read resp.Body. The new nonce itself is in the DPoP-Nonce header.
func IsNonceChallenge(resp *http.Response, body []byte) bool {
	if resp == nil {
		return false
	}
	switch resp.StatusCode {
	case http.StatusBadRequest:
		return jsonErrorCode(body) == ErrorUseDPoPNonce
	case http.StatusUnauthorized:
		return hasDPoPError(resp.Header, ErrorUseDPoPNonce)
	}
	return false
}

// jsonErrorCode returns the "error" member of an OAuth JSON error body
// (RFC 6749 §5.2), or "".
func jsonErrorCode(body []byte) string {
	var m map[string]json.RawMessage
	if len(body) == 0 || json.Unmarshal(body, &m) != nil {
		return ""
	}
	var code string
	if raw, ok := m["error"]; !ok || json.Unmarshal(raw, &code) != nil {
		return ""
	}
	return code
}

// hasDPoPError reports whether any WWW-Authenticate challenge with scheme
// DPoP has error=code (RFC 9449 §7.1). Well-formed challenges before a
// malformed part still count.
func hasDPoPError(h http.Header, code string) bool {
	for _, v := range h.Values("Www-Authenticate") {
		cs, _ := ParseWWWAuthenticate(v)
		for _, c := range cs {
			if strings.EqualFold(c.Scheme, "DPoP") && c.Params["error"] == code {
				return true
			}
		}
	}
	return false
}
