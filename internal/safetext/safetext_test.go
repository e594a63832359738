package safetext

import (
	"testing"
	"unicode/utf8"
)

func TestEscapes(t *testing.T) {
	for _, tc := range []struct{ in, text, line string }{
		{"hello", "hello", "hello"},
		{"two\nlines\tand a tab", "two\nlines\tand a tab", `two\nlines\tand a tab`},
		{"clipboard \x1b]52;c;ZXZpbA==\x07 done", `clipboard \x1b]52;c;ZXZpbA==\a done`, `clipboard \x1b]52;c;ZXZpbA==\a done`},
		{"title \x1b]0;pwned\x07", `title \x1b]0;pwned\a`, `title \x1b]0;pwned\a`},
		{"clear \x1b[2J", `clear \x1b[2J`, `clear \x1b[2J`},
		{"c1 \u009b2J next \u0085", `c1 \u009b2J next \u0085`, `c1 \u009b2J next \u0085`},
		{"bidi \u202eevil\u202c", `bidi \u202eevil\u202c`, `bidi \u202eevil\u202c`},
		{"isolate \u2066x\u2069 mark \u200f", `isolate \u2066x\u2069 mark \u200f`, `isolate \u2066x\u2069 mark \u200f`},
		{"separator \u2028 here", `separator \u2028 here`, `separator \u2028 here`},
		{"bad \xff\xfe utf8", `bad \xff\xfe utf8`, `bad \xff\xfe utf8`},
		{"real \ufffd replacement", "real \ufffd replacement", "real \ufffd replacement"},
		{"émoji 🐈 and 日本語", "émoji 🐈 and 日本語", "émoji 🐈 and 日本語"},
		{`back\slash`, `back\slash`, `back\slash`},
		{"del \x7f", `del \x7f`, `del \x7f`},
		{"nul \x00", `nul \x00`, `nul \x00`},
	} {
		if got := Text(tc.in); got != tc.text {
			t.Errorf("Text(%q) = %q, want %q", tc.in, got, tc.text)
		}
		if got := Line(tc.in); got != tc.line {
			t.Errorf("Line(%q) = %q, want %q", tc.in, got, tc.line)
		}
	}
}

// Whatever the input, the output holds nothing that acts on a terminal,
// is valid UTF-8, and (for Line) is one line.
func FuzzEscape(f *testing.F) {
	for _, s := range []string{"", "a\x1b[2J", "\u202e", "\xff", "\\x1b", "a\nb", "\u0085"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, out := range []string{Text(s), Line(s)} {
			if !utf8.ValidString(out) {
				t.Fatalf("%q: invalid UTF-8 out: %q", s, out)
			}
			for _, r := range out {
				if unsafe(r) && r != '\n' && r != '\t' {
					t.Fatalf("%q: %q still holds %U", s, out, r)
				}
			}
		}
		if !Safe(Line(s)) {
			t.Fatalf("%q: Line is not safe: %q", s, Line(s))
		}
		if Safe(s) && Line(s) != s {
			t.Fatalf("%q is safe but Line changed it to %q", s, Line(s))
		}
	})
}

func TestClean(t *testing.T) {
	for _, tc := range []struct {
		in   string
		max  int
		want string
	}{
		{"  Record not found  ", 300, "Record not found"},
		{"evil\x1b]52;c;ZXZpbA==\x07 text\u202e\u009b\xff end", 300, "evil]52;c;ZXZpbA== text end"},
		{"line\nbreak\ttab", 300, "linebreaktab"},
		{"日本語のテキスト", 7, "日本…"},
		{"abcdef", 3, "abc…"},
		{"\u2066", 300, ""},
	} {
		if got := Clean(tc.in, tc.max); got != tc.want {
			t.Errorf("Clean(%q, %d) = %q, want %q", tc.in, tc.max, got, tc.want)
		}
	}
}
