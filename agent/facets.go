package agent

import (
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/bluesky-social/indigo/atproto/syntax"
)

// Rich-text facet feature types (lexicon app.bsky.richtext.facet).
const (
	FacetLink    = "app.bsky.richtext.facet#link"
	FacetMention = "app.bsky.richtext.facet#mention"
	FacetTag     = "app.bsky.richtext.facet#tag"
)

// Facet annotates a range of a post's text (app.bsky.richtext.facet).
type Facet struct {
	Index    ByteSlice      `json:"index"`
	Features []FacetFeature `json:"features"`
}

// ByteSlice is a facet's range: byte offsets into the UTF-8 encoding of
// the text, start inclusive, end exclusive (not runes, not UTF-16 units).
type ByteSlice struct {
	ByteStart int `json:"byteStart"`
	ByteEnd   int `json:"byteEnd"`
}

// FacetFeature is what a facet means: a link (URI), a mention (DID) or a
// hashtag (Tag, without "#").
type FacetFeature struct {
	Type string `json:"$type"`
	URI  string `json:"uri,omitempty"`
	DID  string `json:"did,omitempty"`
	Tag  string `json:"tag,omitempty"`
	// Handle is the mentioned handle as DetectFacets found it; Post
	// resolves it to DID. It is not part of the record.
	Handle string `json:"-"`
}

// maxTagLen is the longest hashtag, in characters (the Bluesky app's
// limit).
const maxTagLen = 64

// DetectFacets finds the links, mentions and hashtags of text the way the
// Bluesky app does, and returns their facets with UTF-8 byte offsets:
//
//   - links: http:// or https:// up to the next white space, without a
//     trailing . , ; : ! ? and without closing parentheses it does not
//     open (bare domains are not linked);
//   - mentions: "@" and a valid handle, at the start of the text or after
//     white space or "(", without trailing dots or hyphens. Their DID is
//     left empty and FacetFeature.Handle set: [Agent.Post] resolves them;
//   - hashtags: "#" (or the full-width "＃") after white space or at the
//     start, up to the next white space, without trailing punctuation, at
//     most 64 characters and not only digits.
func DetectFacets(text string) []Facet {
	var out []Facet
	for i := 0; i < len(text); {
		r, size := utf8.DecodeRuneInString(text[i:])
		prev, _ := utf8.DecodeLastRuneInString(text[:i])
		afterSpace := i == 0 || unicode.IsSpace(prev)
		if afterSpace || prev == '(' {
			if f, end, ok := detectMention(text, i); ok {
				out = append(out, f)
				i = end
				continue
			}
			if f, end, ok := detectLink(text, i); ok {
				out = append(out, f)
				i = end
				continue
			}
		}
		if afterSpace && (r == '#' || r == '＃') {
			if f, end, ok := detectTag(text, i, size); ok {
				out = append(out, f)
				i = end
				continue
			}
		}
		i += size
	}
	return out
}

func detectMention(text string, i int) (Facet, int, bool) {
	if text[i] != '@' {
		return Facet{}, 0, false
	}
	j := i + 1
	for j < len(text) && (isASCIIAlnum(text[j]) || text[j] == '.' || text[j] == '-') {
		j++
	}
	end := j
	for end > i+1 && (text[end-1] == '.' || text[end-1] == '-') {
		end--
	}
	if end == j && j < len(text) && text[j] == '_' {
		return Facet{}, 0, false // "@alice.test_x" is not a handle followed by text
	}
	h, err := syntax.ParseHandle(text[i+1 : end])
	if err != nil {
		return Facet{}, 0, false
	}
	return Facet{
		Index:    ByteSlice{ByteStart: i, ByteEnd: end},
		Features: []FacetFeature{{Type: FacetMention, Handle: h.Normalize().String()}},
	}, end, true
}

func detectLink(text string, i int) (Facet, int, bool) {
	rest := text[i:]
	if !strings.HasPrefix(rest, "https://") && !strings.HasPrefix(rest, "http://") {
		return Facet{}, 0, false
	}
	end := i + strings.IndexFunc(rest, unicode.IsSpace)
	if end < i {
		end = len(text)
	}
	for end > i && strings.ContainsRune(".,;:!?", rune(text[end-1])) {
		end--
	}
	for end > i && text[end-1] == ')' && strings.Count(text[i:end], ")") > strings.Count(text[i:end], "(") {
		end--
	}
	uri := text[i:end]
	u, err := url.Parse(uri)
	if err != nil || u.Host == "" {
		return Facet{}, 0, false
	}
	return Facet{
		Index:    ByteSlice{ByteStart: i, ByteEnd: end},
		Features: []FacetFeature{{Type: FacetLink, URI: uri}},
	}, end, true
}

// detectTag reads a hashtag at i, whose "#" is hashLen bytes long.
func detectTag(text string, i, hashLen int) (Facet, int, bool) {
	start := i + hashLen
	if strings.HasPrefix(text[start:], "\ufe0f") {
		return Facet{}, 0, false // "#️⃣", the keycap emoji
	}
	end := start
	for end < len(text) {
		r, size := utf8.DecodeRuneInString(text[end:])
		if unicode.IsSpace(r) || isInvisible(r) {
			break
		}
		end += size
	}
	for end > start {
		r, size := utf8.DecodeLastRuneInString(text[start:end])
		if !unicode.IsPunct(r) {
			break
		}
		end -= size
	}
	tag := text[start:end]
	if tag == "" || utf8.RuneCountInString(tag) > maxTagLen || !strings.ContainsFunc(tag, func(r rune) bool {
		return !unicode.IsDigit(r) && !unicode.IsSpace(r) && !unicode.IsPunct(r)
	}) {
		return Facet{}, 0, false
	}
	return Facet{
		Index:    ByteSlice{ByteStart: i, ByteEnd: end},
		Features: []FacetFeature{{Type: FacetTag, Tag: tag}},
	}, end, true
}

// isInvisible reports the invisible characters that end a hashtag.
func isInvisible(r rune) bool {
	switch r {
	case '\u00ad', '\u2060', '\u200a', '\u200b', '\u200c', '\u200d', '\u20e2':
		return true
	}
	return false
}

func isASCIIAlnum(b byte) bool {
	return (b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z') || (b >= '0' && b <= '9')
}
