package cmdutil

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"reflect"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/atoauth/atoauth/internal/safetext"
)

// What a command prints may come from a server: anyone can run a PDS or
// an authorization server, and any account can post any text. So every
// command prints through these helpers, which never let out anything a
// terminal acts on (escape sequences such as OSC 52, which writes the
// clipboard, C1 controls, bidirectional overrides, invalid UTF-8):
//
//   - text (tables, fields, messages, errors) with Fprintf, Fprintln and
//     Sprintf: each string, error and fmt.Stringer argument is shown on
//     one line with its unsafe characters escaped as Go escapes them
//     (\x1b, \u009b, \u202e, \xff; see internal/safetext), newlines and
//     tabs included; a Multiline argument (a post, a profile description)
//     keeps its newlines and tabs; an error keeps its lines, each after
//     the first indented;
//   - JSON with PrintJSON and EscapeJSON: still valid JSON that decodes to
//     the same strings, with every unsafe character a \u escape;
//   - bytes a server chose (blob get -o -, a non-JSON answer of call) with
//     WriteRaw: as they are when standard output is not a terminal (a
//     pipe, a file), escaped as text when it is.

// Multiline marks a Printf argument that is multi-line text (a post, a
// profile description): its newlines and tabs are kept.
type Multiline string

// Sprintf formats like fmt.Sprintf with every argument made safe for a
// terminal (see the rules above). The format must be the command's own
// text, not a server's.
func Sprintf(format string, args ...any) string {
	safe := make([]any, len(args))
	for i, a := range args {
		safe[i] = safeArg(a)
	}
	// A second pass over the whole, for an argument of a type safeArg
	// passes through (a number's String method, say): it changes nothing
	// that is already safe.
	return safetext.Text(fmt.Sprintf(format, safe...))
}

// Fprintf writes Sprintf(format, args...) to w.
func Fprintf(w io.Writer, format string, args ...any) {
	_, _ = io.WriteString(w, Sprintf(format, args...))
}

// Fprintln writes the arguments, made safe, separated by spaces and
// followed by a newline, like fmt.Fprintln.
func Fprintln(w io.Writer, args ...any) {
	safe := make([]any, len(args))
	for i, a := range args {
		safe[i] = safeArg(a)
	}
	_, _ = io.WriteString(w, safetext.Text(fmt.Sprintln(safe...)))
}

// ErrorText returns err's message safe for a terminal: each line escaped
// (safetext.Line), the lines after the first indented by two spaces (so
// that a line of a server's message cannot pass for a line of atoauth's).
func ErrorText(err error) string {
	lines := strings.Split(fmt.Sprint(err), "\n")
	for i, l := range lines {
		lines[i] = safetext.Line(l)
	}
	return strings.Join(lines, "\n  ")
}

// safeArg makes one formatting argument safe. Numbers, booleans and
// durations are kept (their verbs still apply); everything else becomes
// a string without anything a terminal acts on.
func safeArg(a any) any {
	switch v := a.(type) {
	case nil, bool, int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64, float32, float64, time.Duration:
		return v
	case Multiline:
		return safetext.Text(string(v))
	case string:
		return safetext.Line(v)
	case []byte:
		return safetext.Line(string(v))
	case error:
		return ErrorText(v)
	case []string:
		out := make([]string, len(v))
		for i, s := range v {
			out[i] = safetext.Line(s)
		}
		return out
	}
	switch reflect.ValueOf(a).Kind() {
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Float32, reflect.Float64:
		return a
	}
	// fmt.Sprint calls String or Error (recovering from a panic in it).
	return safetext.Line(fmt.Sprint(a))
}

// PrintJSON writes v as indented JSON, with every character a terminal
// would act on escaped (see EscapeJSON).
func PrintJSON(w io.Writer, v any) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return err
	}
	_, err := w.Write(EscapeJSON(buf.Bytes()))
	return err
}

// EscapeJSON returns the valid JSON document b with every character that
// safetext escapes written as a JSON \u escape, so that it decodes to the
// same strings. encoding/json already escapes the C0 controls and U+2028
// and U+2029, but not DEL, the C1 controls or the bidi controls, and it
// copies a json.RawMessage (a record's value) as it is, invalid UTF-8
// included; a server's JSON (call) may hold any of them. In valid JSON
// these can only be inside strings, so escaping them keeps the document
// valid; invalid UTF-8 becomes U+FFFD, as encoding/json decodes it. A
// carriage return can only be whitespace between tokens, and is dropped.
func EscapeJSON(b []byte) []byte {
	if bytesSafe(b) {
		return b
	}
	out := make([]byte, 0, len(b)+32)
	for i := 0; i < len(b); {
		c := b[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '\r':
			case c == 0x7f:
				out = append(out, `\u007f`...)
			default:
				out = append(out, c)
			}
			i++
			continue
		}
		r, n := utf8.DecodeRune(b[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			out = append(out, `\ufffd`...)
		case !safetext.Safe(string(r)):
			out = fmt.Appendf(out, `\u%04x`, r)
		default:
			out = append(out, b[i:i+n]...)
		}
		i += n
	}
	return out
}

// bytesSafe tells whether EscapeJSON would leave b as it is.
func bytesSafe(b []byte) bool {
	for i := 0; i < len(b); {
		c := b[i]
		if c < utf8.RuneSelf {
			if c == '\r' || c == 0x7f {
				return false
			}
			i++
			continue
		}
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n == 1 || !safetext.Safe(string(r)) {
			return false
		}
		i += n
	}
	return true
}

// WriteRaw writes bytes a server chose to standard output: as they are
// when it is not a terminal (a pipe, a file), so that nothing is lost;
// on a terminal, as text with everything that would act on it escaped
// (safetext.Text), ending with a newline.
func WriteRaw(ios *IOStreams, data []byte) error {
	if !ios.OutTTY {
		_, err := ios.Out.Write(data)
		return err
	}
	s := safetext.Text(string(data))
	if !strings.HasSuffix(s, "\n") {
		s += "\n"
	}
	_, err := io.WriteString(ios.Out, s)
	return err
}
