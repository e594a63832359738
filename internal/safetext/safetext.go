// Package safetext makes text chosen by a server safe to show on a
// terminal or in a plain-text view: a post, a profile field, a granted
// scope, an error message. Anyone can run a PDS, so such text may carry
// terminal escape sequences (OSC 52 writes the clipboard, CSI 2J clears
// the screen), C1 controls that some terminals obey, bidirectional
// overrides that reorder what is shown (Trojan Source, CVE-2021-42574), or
// invalid UTF-8. Every such character is shown escaped, as Go writes it
// in a quoted string (\x1b, \u0085, \u202e), so that nothing is lost and
// nothing acts. Backslashes are kept as they are: the aim is safety, not
// a reversible encoding.
package safetext

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// Text returns s with every unsafe character escaped, keeping newlines
// and tabs (for multi-line text such as a post).
func Text(s string) string { return escape(s, true) }

// Line returns s on one line: as Text, with newlines and tabs escaped too
// (for a table cell, a field value, a log line).
func Line(s string) string { return escape(s, false) }

// Clean returns s for an error message: every unsafe character (as in
// Line) and invalid byte is dropped rather than escaped, surrounding space
// trimmed, and the result cut to at most max bytes on a character
// boundary, with "…" when it was cut.
func Clean(s string, max int) string {
	s = strings.Map(func(r rune) rune {
		if r == utf8.RuneError || unsafe(r) || r == '\n' || r == '\t' {
			return -1
		}
		return r
	}, s)
	s = strings.TrimSpace(s)
	if len(s) > max {
		cut := max
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = strings.TrimSpace(s[:cut]) + "…"
	}
	return s
}

// Safe tells whether s has nothing Line would escape.
func Safe(s string) bool {
	for i, r := range s {
		if r == utf8.RuneError && !validRuneAt(s, i) || unsafe(r) || r == '\n' || r == '\t' {
			return false
		}
	}
	return true
}

func escape(s string, keepLines bool) string {
	if clean(s, keepLines) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 16)
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n <= 1:
			b.WriteString(`\x`)
			b.WriteString(hex2(s[i]))
		case keepLines && (r == '\n' || r == '\t'):
			b.WriteRune(r)
		case unsafe(r) || r == '\n' || r == '\t':
			q := strconv.QuoteRuneToASCII(r)
			b.WriteString(q[1 : len(q)-1])
		default:
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}

// clean reports whether escape would return s unchanged.
func clean(s string, keepLines bool) bool {
	for i, r := range s {
		switch {
		case r == utf8.RuneError && !validRuneAt(s, i):
			return false
		case keepLines && (r == '\n' || r == '\t'):
		case unsafe(r) || r == '\n' || r == '\t':
			return false
		}
	}
	return true
}

// validRuneAt tells whether the U+FFFD at s[i:] is really encoded there
// (and not the decoder's report of an invalid byte).
func validRuneAt(s string, i int) bool {
	_, n := utf8.DecodeRuneInString(s[i:])
	return n == 3
}

// unsafe reports the characters that act on a terminal or reorder text:
// C0 controls and DEL, C1 controls, the line and paragraph separators,
// and the bidirectional formatting characters (Unicode UAX #9).
func unsafe(r rune) bool {
	switch {
	case r < 0x20 || r == 0x7f:
		return true
	case r >= 0x80 && r <= 0x9f:
		return true
	case r == 0x2028 || r == 0x2029:
		return true
	case r == 0x061c || r == 0x200e || r == 0x200f:
		return true
	case r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069:
		return true
	}
	return false
}

func hex2(c byte) string {
	const digits = "0123456789abcdef"
	return string([]byte{digits[c>>4], digits[c&0xf]})
}
