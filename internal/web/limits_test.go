package web

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestPreviewJSON(t *testing.T) {
	// Whole documents come out as json.Indent writes them.
	for _, doc := range []string{
		`{}`, `[]`, `"x"`, `12`, `null`,
		`{"a":1,"b":[1,2,{"c":"d"}],"e":{},"f":[],"g":"with \"quotes\", {braces} and [brackets]: too","h":"\\"}`,
		" { \"spaced\" : [ 1 , 2 ] ,\n\t\"empty\" : { } , \"e2\" : [ ] } ",
		`[[[[]]],[{"k":[{}]}]]`,
	} {
		var want bytes.Buffer
		if err := json.Indent(&want, []byte(doc), "", "  "); err != nil {
			t.Fatal(err)
		}
		got, cut := previewJSON([]byte(doc), 1<<20)
		if got != strings.TrimSpace(want.String()) || cut {
			t.Errorf("%s:\n%s\nwant\n%s", doc, got, want.String())
		}
	}
	// Not JSON: shown as it is, cut.
	if got, cut := previewJSON([]byte("not json"), 3); got != "not" || !cut {
		t.Errorf("not JSON: %q %v", got, cut)
	}
	// Cut at a character boundary, with controls escaped.
	doc := `{"t":"` + strings.Repeat("é", 100) + "\u202e" + `"}`
	full, _ := previewJSON([]byte(doc), 1<<20)
	for limit := 1; limit < len(full)+20; limit++ {
		got, cut := previewJSON([]byte(doc), limit)
		if !utf8.ValidString(got) || strings.Contains(got, "\u202e") {
			t.Fatalf("limit %d: %q", limit, got)
		}
		switch {
		case cut && (!strings.HasPrefix(full, got) || got == full || len(got) > limit+3): // + escaping U+202E
			t.Fatalf("limit %d: cut to %q", limit, got)
		case !cut && (got != full || limit < len(full)-3):
			t.Fatalf("limit %d: not cut, %q", limit, got)
		}
	}
	// Deep nesting: bounded output.
	deep := strings.Repeat("[", 9000) + strings.Repeat("]", 9000)
	if got, cut := previewJSON([]byte(deep), 64<<10); !cut || len(got) > 64<<10+64 {
		t.Errorf("deep: %d bytes, cut %v", len(got), cut)
	}
}

func TestShort(t *testing.T) {
	for _, tc := range []struct {
		n       int
		in, out string
	}{
		{3, "abc", "abc"}, {3, "abcd", "abc…"}, {2, "éèê", "éè…"}, {0, "", ""}, {0, "a", "…"}, {5, "a\xffb", "a\xffb"},
	} {
		if got := short(tc.n, tc.in); got != tc.out {
			t.Errorf("short(%d, %q) = %q, want %q", tc.n, tc.in, got, tc.out)
		}
	}
}

func TestInflight(t *testing.T) {
	var f inflight
	rel1, ok1 := f.acquire([]string{"s", "c"}, []int{2, 3})
	rel2, ok2 := f.acquire([]string{"s", "c"}, []int{2, 3})
	if !ok1 || !ok2 {
		t.Fatal("refused under the limits")
	}
	if _, ok := f.acquire([]string{"s", "c"}, []int{2, 3}); ok {
		t.Fatal("a third request of the session")
	}
	// Refused all or none: the address's count did not move.
	rel3, ok := f.acquire([]string{"s2", "c"}, []int{2, 3})
	if !ok {
		t.Fatal("another session")
	}
	if _, ok := f.acquire([]string{"s3", "c"}, []int{2, 3}); ok {
		t.Fatal("a fourth request of the address")
	}
	// No limit: not counted.
	if rel, ok := f.acquire([]string{"", "c2"}, []int{0, 1}); !ok || f.tracked() != 4 {
		t.Fatalf("unlimited key: %v, %d tracked", ok, f.tracked())
	} else {
		rel()
	}
	rel1()
	rel2()
	rel3()
	if f.tracked() != 0 {
		t.Fatalf("%d keys left", f.tracked())
	}
	// The keys tracked are bounded.
	var rels []func()
	for i := range maxInflightKeys {
		rel, ok := f.acquire([]string{fmt.Sprint("k", i)}, []int{1})
		if !ok {
			t.Fatalf("key %d refused", i)
		}
		rels = append(rels, rel)
	}
	if _, ok := f.acquire([]string{"one more"}, []int{1}); ok {
		t.Fatal("no bound on the keys")
	}
	for _, rel := range rels {
		rel()
	}
	if f.tracked() != 0 {
		t.Fatalf("%d keys left", f.tracked())
	}
}
