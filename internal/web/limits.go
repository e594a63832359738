package web

import (
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/atoauth/atoauth/internal/safetext"
	"github.com/atoauth/atoauth/xrpc"
)

// The app signs strangers in, and each chooses the PDS that the app then
// talks to on their behalf: every server the app talks to may be an
// attacker. The limits below keep what one account's server can make the
// app do small: how much of an answer is read, how much of it is shown,
// how long a page waits, and how many pages run at once.

// Response caps: the most the app reads of one answer of the account's
// PDS (or of the AppView, through the PDS), fitted to what each page
// shows. The library's default (xrpc.DefaultMaxResponseBytes, 64 MiB)
// suits a program reading its own PDS, not a shared app. A larger answer
// fails with xrpc.ErrTooLarge, and the page says so in plain words.
const (
	// capProfile: app.bsky.actor.getProfile and the profile record
	// (a few hundred bytes to a few KB).
	capProfile = 256 << 10
	// capWrite: the answers of writes (createRecord, putRecord,
	// deleteRecord, uploadBlob and the handle resolution of mentions):
	// a URI, a CID, a commit.
	capWrite = 256 << 10
	// capRepo: describeRepo (a DID document and the list of collections).
	capRepo = 256 << 10
	// capPosts: the home page's recentPosts records (each at most a few KB).
	capPosts = 512 << 10
	// capTimeline: the home page's timelineItems items of the timeline
	// (post views with their embeds: 5 to 20 KB each).
	capTimeline = 1 << 20
	// capRecords: a page of the record browser (recordsPageSize records).
	capRecords = 1 << 20
	// capRecord: one record of the record browser.
	capRecord = 1 << 20
)

// Bounds of what a page shows of an answer.
const (
	// maxJSONPreview is how much of a record's JSON the record page shows.
	maxJSONPreview = 64 << 10
	// recentPosts and timelineItems are the lengths of the home page's
	// lists (and how many items are asked for).
	recentPosts   = 10
	timelineItems = 20
	// maxCollections is how many record types the record browser lists.
	maxCollections = 500
	// maxImages and maxLangs bound the images and languages shown with a
	// post.
	maxImages = 4
	maxLangs  = 3
	// Lengths, in runes, of the text fields shown; they exceed what the
	// lexicons allow (a post's text is at most 3000 bytes, a display name
	// 640, a description 2560), so that valid content is never cut.
	maxTextRunes = 3000
	maxNameRunes = 640
	maxAltRunes  = 2000
	maxIDRunes   = 512 // handles, DIDs, URIs, CIDs
	// maxURLBytes: a longer image URL is dropped.
	maxURLBytes = 2048
	// maxMessageRunes bounds an error message quoted from a server.
	maxMessageRunes = 300
)

// line makes server text fit for one line of a page: cut to n runes, with
// controls, bidi overrides and invalid UTF-8 shown escaped.
func line(n int, s string) string { return safetext.Line(short(n, s)) }

// text is line for multi-line text (newlines and tabs are kept).
func text(n int, s string) string { return safetext.Text(short(n, s)) }

// imageURL is a server-given image URL, or "" when it is too long.
func imageURL(s string) string {
	if len(s) > maxURLBytes {
		return ""
	}
	return s
}

// responseTooLarge tells whether err is a response cap at work: an answer
// larger than the page reads. (A server refusing a request body as too
// large answers an *xrpc.Error; the app never uploads anything near the
// agent's own upload limit.)
func responseTooLarge(err error) bool {
	var xe *xrpc.Error
	return errors.Is(err, xrpc.ErrTooLarge) && !errors.As(err, &xe)
}

// previewJSON pretty-prints the JSON document v (two-space indents) for a
// plain-text view: at most limit bytes of it, cut at a character
// boundary, with controls, bidi overrides and invalid UTF-8 escaped. cut
// tells whether the text was cut. A document that is not valid JSON (or
// nested too deep for encoding/json) is shown as it is.
func previewJSON(v []byte, limit int) (out string, cut bool) {
	var b strings.Builder
	if json.Valid(v) {
		cut = indentJSON(&b, v, limit)
	} else {
		cut = len(v) > limit
		b.Write(v[:min(len(v), limit)])
	}
	s := b.String()
	if len(s) > limit { // the last indent written went past it
		s, cut = s[:limit], true
	}
	if cut {
		s = cutRune(s)
	}
	return safetext.Text(s), cut
}

// indentJSON writes valid JSON v indented to b, stopping once b holds
// limit bytes (or a few more); it reports whether it stopped early. Its
// output grows with what it writes, never with the nesting of v.
func indentJSON(b *strings.Builder, v []byte, limit int) bool {
	depth := 0
	newline := func(d int) {
		b.WriteByte('\n')
		for i := 0; i < d && b.Len() < limit; i++ {
			b.WriteString("  ")
		}
	}
	inString, escaped := false, false
	for i := 0; i < len(v); i++ {
		if b.Len() >= limit {
			return true
		}
		c := v[i]
		if inString {
			b.WriteByte(c)
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
			continue
		}
		switch c {
		case ' ', '\t', '\n', '\r':
		case '"':
			inString = true
			b.WriteByte(c)
		case '{', '[':
			j := i + 1
			for j < len(v) && (v[j] == ' ' || v[j] == '\t' || v[j] == '\n' || v[j] == '\r') {
				j++
			}
			if j < len(v) && (v[j] == '}' || v[j] == ']') {
				b.WriteByte(c)
				b.WriteByte(v[j])
				i = j
				continue
			}
			b.WriteByte(c)
			depth++
			newline(depth)
		case '}', ']':
			depth--
			newline(depth)
			b.WriteByte(c)
		case ',':
			b.WriteByte(c)
			newline(depth)
		case ':':
			b.WriteString(": ")
		default:
			b.WriteByte(c)
		}
	}
	return false
}

// cutRune drops a character cut in the middle at the end of s.
func cutRune(s string) string {
	for i := len(s) - 1; i >= 0 && i >= len(s)-utf8.UTFMax; i-- {
		if utf8.RuneStart(s[i]) {
			if !utf8.FullRuneInString(s[i:]) {
				return s[:i]
			}
			break
		}
	}
	return s
}

// Concurrency limits: how many requests (static files and health checks
// aside) may be in progress at once for one session and for one client
// address. A page view holds at most its response caps in memory, so
// these bound what one person, or one address signing in many accounts,
// can make the app hold.
const (
	// DefaultMaxConcurrentPerSession is the default
	// Options.MaxConcurrentPerSession: a browser loads a page and its
	// assets over at most six connections, and only the page counts.
	DefaultMaxConcurrentPerSession = 4
	// DefaultMaxConcurrentPerClient is the default
	// Options.MaxConcurrentPerClient.
	DefaultMaxConcurrentPerClient = 16
	// maxInflightKeys bounds the sessions and addresses tracked at once;
	// a request with a new key past it is refused.
	maxInflightKeys = 10000
)

// inflight counts the requests in progress per key (a session, a client
// address). A key is forgotten when its last request ends, so the map
// holds only keys with requests in progress, at most maxInflightKeys.
type inflight struct {
	mu     sync.Mutex
	counts map[string]int
}

// acquire takes a slot for each key whose limit is positive, all or
// none; release gives them back.
func (f *inflight) acquire(keys []string, limits []int) (release func(), ok bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.counts == nil {
		f.counts = map[string]int{}
	}
	for i, k := range keys {
		if limits[i] <= 0 {
			continue
		}
		n, seen := f.counts[k]
		if n >= limits[i] || !seen && len(f.counts) >= maxInflightKeys {
			return nil, false
		}
	}
	var held []string
	for i, k := range keys {
		if limits[i] > 0 {
			f.counts[k]++
			held = append(held, k)
		}
	}
	return func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		for _, k := range held {
			if f.counts[k] <= 1 {
				delete(f.counts, k)
			} else {
				f.counts[k]--
			}
		}
	}, true
}

// tracked is the number of keys with requests in progress.
func (f *inflight) tracked() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.counts)
}

// Timeouts. Every call a request makes to the account's PDS, to the
// AppView through it, or to the authorization server runs under a
// deadline, so that a server that answers slowly (or one byte a second)
// holds a page for a bounded time, after which the page says that the
// server did not answer in time.
const (
	// DefaultPageTimeout is the default Options.PageTimeout: all the
	// calls of a page that reads (home, profile, records, a failed form
	// shown again).
	DefaultPageTimeout = 10 * time.Second
	// DefaultPostTimeout is the default Options.PostTimeout: all the
	// calls of a form that writes (a post with up to four 1 MB images,
	// the profile with its avatar, a deletion, signing out).
	DefaultPostTimeout = 60 * time.Second
	// signInTimeout bounds starting a sign-in (resolving the account,
	// its server's metadata, the pushed authorization request).
	signInTimeout = 30 * time.Second
	// callbackTimeout bounds completing one (the token request, checking
	// the account's identity, ending a previous session).
	callbackTimeout = 60 * time.Second
	// appViewShare is the part of a page's time its AppView calls may
	// take, leaving the rest for a fallback to the PDS.
	appViewShare = 0.6
)

// Recommended timeouts of the http.Server that serves the App (atoauth
// serve uses them), with the default PageTimeout and PostTimeout.
const (
	// ServerReadHeaderTimeout bounds reading a request's headers.
	ServerReadHeaderTimeout = 10 * time.Second
	// ServerReadTimeout bounds reading a whole request: the largest body
	// (a post with four 1 MB images, about 4 MB) in two minutes is 35
	// KB/s, a slow mobile uplink.
	ServerReadTimeout = 2 * time.Minute
	// ServerWriteTimeout bounds a request from the end of its headers to
	// the end of its response: the slowest legitimate request reads the
	// largest body (ServerReadTimeout), makes its writes
	// (DefaultPostTimeout) and, when they fail, shows the home page again
	// (DefaultPageTimeout): 3 min 10 s, plus a margin.
	ServerWriteTimeout = 4 * time.Minute
	// ServerIdleTimeout bounds an idle keep-alive connection.
	ServerIdleTimeout = 2 * time.Minute
)
