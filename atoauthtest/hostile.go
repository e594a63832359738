package atoauthtest

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Hostile makes the fake PDS answer XRPC calls (its own methods and those
// it forwards to the AppView and chat service, errors included) as an
// attacker's PDS would, so that clients, command-line tools and web apps
// can be tested against one: anyone can run a PDS and point their account
// at it. Set it in [Tamper.Hostile]. The zero value changes nothing; the
// knobs combine, applied in the order of the fields.
type Hostile struct {
	// Only, when set, limits the misbehaviour to the calls whose NSID it
	// accepts.
	Only func(nsid string) bool

	// Redirect, when it returns a URL for a request, answers it with a
	// redirect there (RedirectStatus, default 302) instead of serving it:
	// to another origin, or into the PDS itself.
	Redirect       func(r *http.Request) string
	RedirectStatus int

	// HTML answers every call with 200 and an HTML page (a captive portal,
	// a misconfigured proxy) instead of the JSON the client expects.
	HTML bool

	// Strings rewrites every string value of a JSON answer, e.g. with
	// [ControlChars] to add terminal escapes, C1 and bidi controls and
	// invalid UTF-8.
	Strings func(s string) string
	// DuplicateKeys writes every member of every JSON object twice, the
	// second time with its strings passed through Strings (unchanged when
	// Strings is nil): a client sees whichever its decoder keeps.
	DuplicateKeys bool
	// Nest adds to a JSON object answer a member "_nested" holding arrays
	// nested Nest levels deep.
	Nest int
	// Pad adds to a JSON object answer a leading member "_padding": a
	// string of Pad bytes (the JSON stays valid, and huge).
	Pad int

	// ContentType, when set, replaces the answer's Content-Type.
	ContentType string
	// Trickle sends the answer's body one byte at a time, waiting Trickle
	// before each (a slow-loris server).
	Trickle time.Duration
}

// ControlChars is a [Hostile.Strings] that appends to s what a terminal
// would act on or what reorders text: OSC 52 (write the clipboard), OSC 0
// (the window title), CSI 2J (clear the screen), a C1 control (CSI as
// U+009B), a right-to-left override, and invalid UTF-8.
func ControlChars(s string) string {
	return s + "\x1b]52;c;ZXZpbA==\x07\x1b]0;pwned\x07\x1b[2J\u009b2J\u202eevil\xff"
}

// hostile serves an XRPC call through h, misbehaving as t says.
func (n *Network) hostile(t *Hostile, nsid string, w http.ResponseWriter, r *http.Request, serve func(http.ResponseWriter, *http.Request)) {
	if t.Only != nil && !t.Only(nsid) {
		serve(w, r)
		return
	}
	if t.Redirect != nil {
		if to := t.Redirect(r); to != "" {
			status := t.RedirectStatus
			if status == 0 {
				status = http.StatusFound
			}
			http.Redirect(w, r, to, status)
			return
		}
	}
	rec := &recorder{header: http.Header{}, status: http.StatusOK}
	if t.HTML {
		rec.header.Set("Content-Type", "text/html; charset=utf-8")
		rec.body.WriteString("<!doctype html><html><head><title>Sign in to the network</title></head><body><p>Please sign in to continue.</p></body></html>")
	} else {
		serve(rec, r)
		if isJSON(rec.header) {
			if b, ok := t.rewriteJSON(rec.body.Bytes()); ok {
				rec.body.Reset()
				rec.body.Write(b)
			}
		}
	}
	for k, vs := range rec.header {
		w.Header()[k] = vs
	}
	if t.ContentType != "" {
		w.Header().Set("Content-Type", t.ContentType)
	}
	w.Header().Del("Content-Length")
	w.WriteHeader(rec.status)
	if t.Trickle <= 0 {
		_, _ = w.Write(rec.body.Bytes())
		return
	}
	f, _ := w.(http.Flusher)
	for _, c := range rec.body.Bytes() {
		select {
		case <-r.Context().Done():
			return
		case <-n.done:
			return
		case <-time.After(t.Trickle):
		}
		if _, err := w.Write([]byte{c}); err != nil {
			return
		}
		if f != nil {
			f.Flush()
		}
	}
}

func isJSON(h http.Header) bool {
	return strings.HasPrefix(h.Get("Content-Type"), "application/json")
}

// rewriteJSON applies Strings, DuplicateKeys, Nest and Pad to a JSON
// document; ok is false when there is nothing to do or it is not JSON.
func (t *Hostile) rewriteJSON(body []byte) ([]byte, bool) {
	if t.Strings == nil && !t.DuplicateKeys && t.Nest <= 0 && t.Pad <= 0 {
		return nil, false
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, false
	}
	var b bytes.Buffer
	obj, isObj := v.(map[string]any)
	if isObj && (t.Pad > 0 || t.Nest > 0) {
		b.WriteByte('{')
		if t.Pad > 0 {
			b.WriteString(`"_padding":"`)
			b.WriteString(strings.Repeat("a", t.Pad))
			b.WriteString(`",`)
		}
		if t.Nest > 0 {
			b.WriteString(`"_nested":`)
			b.WriteString(strings.Repeat("[", t.Nest))
			b.WriteString(strings.Repeat("]", t.Nest))
			b.WriteByte(',')
		}
		t.writeMembers(&b, obj, t.Strings)
		b.WriteByte('}')
		return b.Bytes(), true
	}
	t.writeValue(&b, v, t.Strings)
	return b.Bytes(), true
}

func (t *Hostile) writeValue(b *bytes.Buffer, v any, edit func(string) string) {
	switch v := v.(type) {
	case map[string]any:
		b.WriteByte('{')
		t.writeMembers(b, v, edit)
		b.WriteByte('}')
	case []any:
		b.WriteByte('[')
		for i, e := range v {
			if i > 0 {
				b.WriteByte(',')
			}
			t.writeValue(b, e, edit)
		}
		b.WriteByte(']')
	case string:
		if edit != nil {
			v = edit(v)
		}
		writeString(b, v)
	case json.Number:
		b.WriteString(v.String())
	case bool:
		b.WriteString(strconv.FormatBool(v))
	case nil:
		b.WriteString("null")
	}
}

// writeMembers writes the members of m (in key order), each twice with
// DuplicateKeys.
func (t *Hostile) writeMembers(b *bytes.Buffer, m map[string]any, edit func(string) string) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	first := true
	member := func(k string, v any, edit func(string) string) {
		if !first {
			b.WriteByte(',')
		}
		first = false
		writeString(b, k)
		b.WriteByte(':')
		t.writeValue(b, v, edit)
	}
	for _, k := range keys {
		if t.DuplicateKeys {
			member(k, m[k], nil)
			second := t.Strings
			if second == nil {
				second = func(s string) string { return s }
			}
			member(k, m[k], second)
			continue
		}
		member(k, m[k], edit)
	}
}

// writeString writes s as a JSON string, keeping invalid UTF-8 bytes as
// they are (encoding/json would replace them): a hostile server sends
// whatever bytes it likes.
func writeString(b *bytes.Buffer, s string) {
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c < 0x20:
			b.WriteString(`\u00`)
			b.WriteByte("0123456789abcdef"[c>>4])
			b.WriteByte("0123456789abcdef"[c&0xf])
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
}

// recorder keeps a handler's answer for rewriting.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
	wrote  bool
}

func (r *recorder) Header() http.Header { return r.header }
func (r *recorder) WriteHeader(code int) {
	if !r.wrote {
		r.wrote, r.status = true, code
	}
}
func (r *recorder) Write(p []byte) (int, error) {
	r.wrote = true
	return r.body.Write(p)
}

var _ io.Writer = (*recorder)(nil)
