package agent_test

import (
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/atoauth/atoauth/agent"
)

// span is an expected facet: its text and byte offsets, and what it means.
type span struct {
	start, end int
	kind       string // "link", "mention", "tag"
	value      string // URI, handle or tag
}

func TestDetectFacets(t *testing.T) {
	for _, tc := range []struct {
		text string
		want []span
	}{
		{"hello @alice.test!", []span{{6, 17, "mention", "alice.test"}}},
		// Emoji: 🦋 is 4 bytes (1 rune, 2 UTF-16 units).
		{"🦋 @alice.test", []span{{5, 16, "mention", "alice.test"}}},
		{"🦋🦋 hi @Alice.Test", []span{{12, 23, "mention", "alice.test"}}},
		// A family emoji: 5 runes (3 people, 2 zero-width joiners), 18 bytes.
		{"👨‍👩‍👧 #family", []span{{19, 26, "tag", "family"}}},
		// CJK: 3 bytes per character.
		{"日本語 https://example.com/パス", []span{{10, 36, "link", "https://example.com/パス"}}},
		{"こんにちは @bob.test さん", []span{{16, 25, "mention", "bob.test"}}},
		{"#タグ と #tag123 と #123", []span{{0, 7, "tag", "タグ"}, {12, 19, "tag", "tag123"}}},
		{"한국어 텍스트 #해시태그", []span{{20, 33, "tag", "해시태그"}}},
		// Full-width number sign (3 bytes).
		{"＃全角タグ", []span{{0, 15, "tag", "全角タグ"}}},
		// A combining accent: é is "e" + U+0301 (2 bytes).
		{"cafe\u0301 @bob.test", []span{{7, 16, "mention", "bob.test"}}},
		// Links: trailing punctuation and an unopened parenthesis stay out.
		{"see https://example.com.", []span{{4, 23, "link", "https://example.com"}}},
		{"(https://example.com/a)", []span{{1, 22, "link", "https://example.com/a"}}},
		{"https://en.wikipedia.org/wiki/Go_(language))", []span{{0, 43, "link", "https://en.wikipedia.org/wiki/Go_(language)"}}},
		{"wow https://example.com/?q=1&r=2!!", []span{{4, 32, "link", "https://example.com/?q=1&r=2"}}},
		{"http://example.com/#frag @x", []span{{0, 24, "link", "http://example.com/#frag"}}},
		{"(@alice.test)", []span{{1, 12, "mention", "alice.test"}}},
		{"@alice.test. @bob.test- end", []span{{0, 11, "mention", "alice.test"}, {13, 22, "mention", "bob.test"}}},
		{"@a.test and @b.test", []span{{0, 7, "mention", "a.test"}, {12, 19, "mention", "b.test"}}},
		{"#tag, next", []span{{0, 4, "tag", "tag"}}},
		{"#multi-word_tag!", []span{{0, 15, "tag", "multi-word_tag"}}},
		// Mixed: every kind, after multi-byte text.
		{"Grüße 🌍 @alice.test https://ex.test/ü #über", []span{
			{13, 24, "mention", "alice.test"},
			{25, 43, "link", "https://ex.test/ü"},
			{44, 50, "tag", "über"},
		}},
		// Not facets.
		{"email me@example.com", nil},
		{"@nodot and @-bad.test", nil},
		{"@alice.test_x", nil},
		{"http:// and https://", nil},
		{"a#notatag", nil},
		{"#123 #456.", nil},
		{"#️⃣ keycap", nil},
		{"#" + strings.Repeat("a", 65), nil},
		{"example.com is not linked", nil},
		{"", nil},
	} {
		t.Run(tc.text, func(t *testing.T) {
			got := agent.DetectFacets(tc.text)
			if len(got) != len(tc.want) {
				t.Fatalf("got %d facets %+v, want %d", len(got), got, len(tc.want))
			}
			for i, f := range got {
				w := tc.want[i]
				if f.Index.ByteStart != w.start || f.Index.ByteEnd != w.end || len(f.Features) != 1 {
					t.Errorf("facet %d: %+v, want bytes [%d,%d)", i, f, w.start, w.end)
					continue
				}
				ft := f.Features[0]
				var value string
				switch w.kind {
				case "link":
					value = ft.URI
					if ft.Type != agent.FacetLink || tc.text[w.start:w.end] != w.value {
						t.Errorf("facet %d: %+v", i, ft)
					}
				case "mention":
					value = ft.Handle
					if ft.Type != agent.FacetMention || ft.DID != "" || !strings.EqualFold(tc.text[w.start:w.end], "@"+w.value) {
						t.Errorf("facet %d: %+v", i, ft)
					}
				case "tag":
					value = ft.Tag
					if ft.Type != agent.FacetTag || !strings.HasSuffix(tc.text[w.start:w.end], w.value) {
						t.Errorf("facet %d: %+v", i, ft)
					}
				}
				if value != w.value {
					t.Errorf("facet %d: value %q, want %q", i, value, w.value)
				}
				if !utf8.ValidString(tc.text[f.Index.ByteStart:f.Index.ByteEnd]) {
					t.Errorf("facet %d splits a character", i)
				}
			}
		})
	}
}

// Facet offsets are UTF-8 byte offsets, not characters.
func ExampleDetectFacets() {
	text := "🦋 @alice.test 日本 #atproto https://atproto.com"
	for _, f := range agent.DetectFacets(text) {
		ft := f.Features[0]
		fmt.Printf("[%d,%d) %q %s%s%s\n", f.Index.ByteStart, f.Index.ByteEnd, text[f.Index.ByteStart:f.Index.ByteEnd],
			ft.Handle, ft.Tag, ft.URI)
	}
	// Output:
	// [5,16) "@alice.test" alice.test
	// [24,32) "#atproto" atproto
	// [33,52) "https://atproto.com" https://atproto.com
}
