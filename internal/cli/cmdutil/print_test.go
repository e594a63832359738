package cmdutil

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/atoauth/atoauth/internal/safetext"
	"github.com/bluesky-social/indigo/atproto/syntax"
)

const evil = "A\x1b]52;c;ZXZpbA==\x07B\x1b]0;pwned\x07C\x1b[2JD\u009bE\u202eF\xffG\x7f\u2028"

// onlySafe reports whether s holds nothing safetext would escape but
// newlines and tabs.
func onlySafe(s string) bool {
	return safetext.Safe(strings.NewReplacer("\n", "", "\t", "").Replace(s))
}

func TestSprintf(t *testing.T) {
	for _, tc := range []struct {
		got, want string
	}{
		{Sprintf("name: %s\n", evil), `name: A\x1b]52;c;ZXZpbA==\aB\x1b]0;pwned\aC\x1b[2JD\u009bE\u202eF\xffG\x7f\u2028` + "\n"},
		{Sprintf("%s|%s", "two\nlines", Multiline("two\nlines\tkept")), `two\nlines|two` + "\nlines\tkept"},
		{Sprintf("%d bytes, %.1f, %t, %v, %x", int64(5), 1.5, true, 90*time.Second, 255), "5 bytes, 1.5, true, 1m30s, ff"},
		{Sprintf("%s", syntax.DID("did:plc:a\x1bb")), `did:plc:a\x1bb`},
		{Sprintf("%v", []string{"a\x1b", "b"}), `[a\x1b b]`},
		{Sprintf("%v", errors.New("first\x1b\nsecond\u202e")), "first\\x1b\n  second\\u202e"},
		{Sprintf("%v", errors.Join(errors.New("a"), errors.New("b"))), "a\n  b"},
		{Sprintf("%v", struct{ S string }{"x\x1b"}), `{x\x1b}`},
		{Sprintf("%s", []byte("b\x1b")), `b\x1b`},
		{Sprintf("%v", nil), "<nil>"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
	var b bytes.Buffer
	Fprintf(&b, "%s\n", evil)
	Fprintln(&b, evil, 3, Multiline("x\ny"))
	if !onlySafe(b.String()) || !strings.HasSuffix(b.String(), " 3 x\ny\n") {
		t.Errorf("Fprintf/Fprintln: %q", b.String())
	}
}

func TestPrintJSON(t *testing.T) {
	in := map[string]any{"text": evil, "raw": json.RawMessage(`"` + "\u009b\u202e\xff" + `"`), "n": 1}
	var b bytes.Buffer
	if err := PrintJSON(&b, in); err != nil {
		t.Fatal(err)
	}
	if !onlySafe(b.String()) {
		t.Fatalf("PrintJSON: unsafe output %q", b.String())
	}
	var got map[string]any
	if err := json.Unmarshal(b.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if got["text"] != strings.ToValidUTF8(evil, "\ufffd") || got["raw"] != "\u009b\u202e\ufffd" {
		t.Errorf("PrintJSON does not decode to the same strings: %q", got)
	}
	if !strings.Contains(b.String(), `"n": 1`) || !strings.Contains(b.String(), `\u009b`) {
		t.Errorf("PrintJSON: %s", b.String())
	}
}

// EscapeJSON keeps any valid JSON valid and decoding to the same value,
// and leaves nothing a terminal acts on.
func FuzzEscapeJSON(f *testing.F) {
	for _, s := range []string{`{"a":"` + "\u009b\u202e\xff\x7f\u2028" + `"}`, "[1,\r\n2]", `"\u001b"`, `{"é":"🐈"}`, `"` + "\xc3" + `"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		if !json.Valid(in) {
			return
		}
		out := EscapeJSON(in)
		if !utf8.Valid(out) || !onlySafe(string(out)) {
			t.Fatalf("EscapeJSON(%q) = %q: unsafe", in, out)
		}
		var a, b any
		if err := json.Unmarshal(in, &a); err != nil {
			return
		}
		if err := json.Unmarshal(out, &b); err != nil {
			t.Fatalf("EscapeJSON(%q) = %q: %v", in, out, err)
		}
		if !reflect.DeepEqual(a, b) {
			t.Fatalf("EscapeJSON(%q) = %q: decodes to %#v, not %#v", in, out, b, a)
		}
	})
}

func TestWriteRaw(t *testing.T) {
	ios, _, out, _ := Test()
	if err := WriteRaw(ios, []byte(evil)); err != nil || out.String() != evil {
		t.Errorf("not a terminal: %q %v, want the bytes as they are", out.String(), err)
	}
	out.Reset()
	ios.OutTTY = true
	if err := WriteRaw(ios, []byte("line\n"+evil)); err != nil || !onlySafe(out.String()) || !strings.HasPrefix(out.String(), "line\nA\\x1b]52") || !strings.HasSuffix(out.String(), "\n") {
		t.Errorf("terminal: %q %v", out.String(), err)
	}
}
