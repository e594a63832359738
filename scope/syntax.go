package scope

import (
	"strings"
	"unicode/utf8"
)

// syntax is one scope token split the way the reference implementation
// splits it (atproto permission spec, "Scope String Syntax"):
// "resource[:positional][?query]". The positional part is decoded like
// JavaScript's decodeURIComponent, the query like URLSearchParams.
type syntax struct {
	resource   string
	positional string
	hasPos     bool
	keys       []string // in order of first appearance
	params     map[string][]string
}

// splitSyntax splits token. It fails only when the positional part is not
// valid percent-encoding.
func splitSyntax(token string) (syntax, error) {
	var s syntax
	q := strings.IndexByte(token, '?')
	c := strings.IndexByte(token, ':')
	end := c
	if q >= 0 && (c < 0 || q < c) {
		end = q
	}
	if end < 0 {
		s.resource = token
		return s, nil
	}
	s.resource = token[:end]
	if c >= 0 && (q < 0 || c < q) {
		raw := token[c+1:]
		if q >= 0 {
			raw = token[c+1 : q]
		}
		p, err := decodeComponent(raw)
		if err != nil {
			return s, err
		}
		s.positional, s.hasPos = p, true
	}
	if q >= 0 && q < len(token)-1 {
		s.parseQuery(token[q+1:])
	}
	return s, nil
}

// parseQuery reads query as URLSearchParams does (WHATWG URL,
// application/x-www-form-urlencoded parsing): a leading "?" is dropped,
// "+" is a space and invalid percent sequences stay as they are.
func (s *syntax) parseQuery(query string) {
	query = strings.TrimPrefix(query, "?")
	for _, part := range strings.Split(query, "&") {
		if part == "" {
			continue
		}
		k, v, _ := strings.Cut(part, "=")
		k, v = formDecode(k), formDecode(v)
		if s.params == nil {
			s.params = map[string][]string{}
		}
		if _, ok := s.params[k]; !ok {
			s.keys = append(s.keys, k)
		}
		s.params[k] = append(s.params[k], v)
	}
}

func formDecode(s string) string {
	s = strings.ReplaceAll(s, "+", " ")
	if !strings.Contains(s, "%") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]) {
			b.WriteByte(unhex(s[i+1])<<4 | unhex(s[i+2]))
			i += 2
			continue
		}
		b.WriteByte(s[i])
	}
	return strings.ToValidUTF8(b.String(), "\uFFFD")
}

// decodeComponent is JavaScript's decodeURIComponent: every "%" must start
// a "%XX" escape and the result must be valid UTF-8.
func decodeComponent(s string) (string, error) {
	if !strings.Contains(s, "%") {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			b.WriteByte(s[i])
			continue
		}
		if i+2 >= len(s) || !isHex(s[i+1]) || !isHex(s[i+2]) {
			return "", errMalformedEscape
		}
		b.WriteByte(unhex(s[i+1])<<4 | unhex(s[i+2]))
		i += 2
	}
	if !utf8.ValidString(b.String()) {
		return "", errMalformedEscape
	}
	return b.String(), nil
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c <= 'F':
		return c - 'A' + 10
	}
	return c - 'a' + 10
}

const upperHex = "0123456789ABCDEF"

// encodeComponent is JavaScript's encodeURIComponent followed by the
// reference implementation's normalisation, which writes ":", "/", "+",
// "," and "@" as themselves. Unlike the reference, "%" stays "%25" so
// that the result parses back to the same value.
func encodeComponent(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case isAlnum(c) || strings.IndexByte("-_.!~*'():/+,@", c) >= 0:
			b.WriteByte(c)
		default:
			b.WriteByte('%')
			b.WriteByte(upperHex[c>>4])
			b.WriteByte(upperHex[c&15])
		}
	}
	return b.String()
}

// encodeQueryValue is the application/x-www-form-urlencoded serializer
// (URLSearchParams.toString) followed by the reference implementation's
// normalisation of ":", "/", "," and "@". Unlike the reference, "+" stays
// "%2B" and "%" stays "%25": written as themselves they would read back as
// a space and as an escape.
func encodeQueryValue(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ':
			b.WriteByte('+')
		case isAlnum(c) || strings.IndexByte("*-._:/,@", c) >= 0:
			b.WriteByte(c)
		default:
			b.WriteByte('%')
			b.WriteByte(upperHex[c>>4])
			b.WriteByte(upperHex[c&15])
		}
	}
	return b.String()
}

func isAlnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

// param is one query parameter of a formatted permission.
type param struct{ key, value string }

// format writes resource[:positional][?k=v&...].
func format(resource string, positional *string, params []param) string {
	var b strings.Builder
	b.WriteString(resource)
	if positional != nil {
		b.WriteByte(':')
		b.WriteString(encodeComponent(*positional))
	}
	for i, p := range params {
		if i == 0 {
			b.WriteByte('?')
		} else {
			b.WriteByte('&')
		}
		b.WriteString(encodeQueryValue(p.key))
		b.WriteByte('=')
		b.WriteString(encodeQueryValue(p.value))
	}
	return b.String()
}
