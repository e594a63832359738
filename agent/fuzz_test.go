package agent_test

// Fuzz targets for the decoders of what a hostile PDS or AppView answers
// (issue 12): records, profile records, blob references, profile and
// post views, repo descriptions, sessions.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/atoauth/atoauth"
	"github.com/atoauth/atoauth/agent"
	"github.com/atoauth/atoauth/atoauthtest"
	"github.com/atoauth/atoauth/safehttp"
	"github.com/atoauth/atoauth/xrpc"
)

// fuzzPDS answers the session's XRPC calls in-process, once armed, with
// the status and body of the current fuzz input; before that (the
// sign-in) everything goes to the fake network.
type fuzzPDS struct {
	next http.RoundTripper
	pds  string // origin of the PDS

	mu     sync.Mutex
	armed  bool
	status int
	body   []byte
	calls  int
}

func (h *fuzzPDS) RoundTrip(r *http.Request) (*http.Response, error) {
	h.mu.Lock()
	armed, status, body := h.armed, h.status, h.body
	if armed {
		h.calls++
	}
	h.mu.Unlock()
	if !armed || r.URL.Scheme+"://"+r.URL.Host != h.pds || !strings.HasPrefix(r.URL.Path, "/xrpc/") {
		return h.next.RoundTrip(r)
	}
	if r.Body != nil {
		_, _ = io.Copy(io.Discard, r.Body)
		r.Body.Close()
	}
	hdr := http.Header{"Content-Type": {"application/json; charset=utf-8"}}
	return &http.Response{
		StatusCode: status, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1, Request: r,
		Header: hdr, Body: io.NopCloser(bytes.NewReader(body)), ContentLength: int64(len(body)),
	}, nil
}

// set arms h with the next answer and resets the call count.
func (h *fuzzPDS) set(status int, body []byte) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.armed, h.status, h.body, h.calls = true, status, body, 0
}

func (h *fuzzPDS) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.calls
}

// newFuzzAgent signs alice in on a fake network (once, over loopback)
// and returns her Agent, whose XRPC calls then go to h.
func newFuzzAgent(f *testing.F) (*agent.Agent, *fuzzPDS) {
	n := atoauthtest.NewNetwork(f, atoauthtest.Options{Logger: slog.New(slog.DiscardHandler)})
	alice := n.CreateAccount("alice.test")
	hc := safehttp.NewClient(safehttp.Options{AllowInsecureDevelopment: true})
	h := &fuzzPDS{next: hc.Transport, pds: n.PDS.URL}
	hc.Transport = h
	cfg := n.ClientConfig(genericScope)
	cfg.HTTPClient = hc
	c, err := atoauth.NewClient(cfg)
	if err != nil {
		f.Fatal(err)
	}
	sess, err := n.Login(context.Background(), c, alice)
	if err != nil {
		f.Fatal(err)
	}
	a, err := agent.New(sess, &agent.Options{Resolver: c.Resolver()})
	if err != nil {
		f.Fatal(err)
	}
	return a, h
}

// fuzzMaxCalls bounds the requests of one Agent method, whatever the server
// answers: UpdateProfile reads and writes up to three times; a read left
// to the PDS's default AppView may be sent twice.
const fuzzMaxCalls = 6

func FuzzDecode(f *testing.F) {
	// The operations, by op % 16: see the switch below.
	const (
		opGetRecord = iota
		opProfileRecord
		opListPage
		opListAll
		opProfileView
		opTimeline
		opAuthorFeed
		opDescribeRepo
		opGetSession
		opUploadBlob
		opGetBlob
		opUpdateProfile
		opPost
		opDelete
		opApplyWrites
		opCreate
	)
	for _, s := range []struct {
		op     uint8
		status int
		body   string
	}{
		{opGetRecord, 200, `{"uri":"at://did:plc:aaaaaaaaaaaaaaaaaaaaaaaa/app.bsky.feed.post/3kabc","cid":"bafyreia","value":{"$type":"app.bsky.feed.post","text":"hello","createdAt":"2026-01-01T00:00:00.000Z","reply":{"root":{"uri":"at://did:plc:b/app.bsky.feed.post/1","cid":"bafyreib"},"parent":{"uri":"at://did:plc:b/app.bsky.feed.post/2","cid":"bafyreic"}}}}`},
		{opGetRecord, 200, `{"uri":"\u001b[2J\u202e","cid":"x","value":{"text":1,"langs":"en"}}`},
		{opProfileRecord, 200, `{"uri":"at://did:plc:a/app.bsky.actor.profile/self","cid":"bafyreid","value":{"$type":"app.bsky.actor.profile","displayName":"Alice","description":"hi","avatar":{"$type":"blob","ref":{"$link":"bafkreie"},"mimeType":"image/png","size":1234},"pronouns":"she/her","pinnedPost":{"uri":"at://x","cid":"y"}}}`},
		{opProfileRecord, 200, `{"uri":"x","cid":"y","value":{"displayName":1,"avatar":"nope"}}`},
		{opUpdateProfile, 200, `{"uri":"x","cid":"y","value":{"avatar":null,"banner":{},"createdAt":"","":"","$type":"other"}}`},
		{opUpdateProfile, 400, `{"error":"InvalidSwap","message":"Record was at bafy"}`},
		{opUpdateProfile, 400, `{"error":"RecordNotFound"}`},
		{opListPage, 200, `{"records":[{"uri":"at://did:plc:a/com.example.note/1","cid":"c1","value":{"text":"one"}},{"uri":"at://did:plc:a/com.example.note/2","cid":"c2","value":null}],"cursor":"2"}`},
		{opListAll, 200, `{"records":[{"uri":"a"}],"cursor":"c"}`},
		{opListAll, 200, `{"records":[],"cursor":"same"}`},
		{opUploadBlob, 200, `{"blob":{"$type":"blob","ref":{"$link":"bafkreif"},"mimeType":"image/png","size":68}}`},
		{opUploadBlob, 200, `{"blob":{"ref":{}}}`},
		{opProfileView, 200, `{"did":"did:plc:a","handle":"alice.test","displayName":"Alice","avatar":"https://cdn.example/a.jpg","followersCount":-1,"followsCount":9223372036854775807,"postsCount":1e3}`},
		{opProfileView, 404, `{"error":"XRPCNotSupported"}`},
		{opProfileView, 400, `{"error":"InvalidRequest","message":"No service configured for app.bsky.actor.getProfile"}`},
		{opTimeline, 200, `{"feed":[{"post":{"uri":"at://a","cid":"b","author":{"did":"did:plc:a","handle":"a.test"},"record":{"text":"\u001b[2Jhi","createdAt":"x"},"embed":{"images":[]},"likeCount":3,"indexedAt":"z"},"reason":{"$type":"app.bsky.feed.defs#reasonRepost","by":{"handle":"b.test"}}}],"cursor":"c"}`},
		{opAuthorFeed, 200, `{"feed":[{"post":{"record":"not an object"}}]}`},
		{opDescribeRepo, 200, `{"handle":"alice.test","did":"did:plc:a","didDoc":{"id":"did:plc:a","service":[]},"collections":["app.bsky.feed.post",1],"handleIsCorrect":true}`},
		{opGetSession, 200, `{"did":"did:plc:a","handle":"alice.test","email":"a@example.com","emailConfirmed":true,"active":false,"status":"takendown"}`},
		{opGetBlob, 200, "\x89PNG\r\n\x1a\n"},
		{opPost, 200, `{"uri":"at://did:plc:a/app.bsky.feed.post/3k","cid":"bafy","did":"did:plc:bbbbbbbbbbbbbbbbbbbbbbbb","value":{"reply":{"root":{"uri":"at://r","cid":"c"}}},"commit":{"cid":"c","rev":"r"},"validationStatus":"valid"}`},
		{opDelete, 200, `{"commit":null}`},
		{opApplyWrites, 200, `{"commit":{"cid":"c","rev":"r"},"results":[{"uri":"u","cid":"c"},{}]}`},
		{opCreate, 200, `{"uri":"at://did:plc:a/com.example.note/3k","cid":"bafy","commit":{"cid":"c","rev":"r"}}`},
		{opCreate, 200, `[`},
		{opGetRecord, 200, `null`},
		{opListPage, 200, `""`},
		{opGetRecord, 200, `{"uri":` + strings.Repeat("[", 100) + `}`},
		{opTimeline, 200, "\xff"},
	} {
		f.Add(s.op, s.status, []byte(s.body))
	}

	a, h := newFuzzAgent(f)
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, op uint8, status int, body []byte) {
		if status < 200 || status > 599 {
			status = 200 + int(uint(status)%400)
		}
		h.set(status, body)
		var err error
		switch op % 16 {
		case opGetRecord:
			var rec *agent.Record
			rec, err = a.GetRecord(ctx, "", "app.bsky.feed.post", "3kabc")
			if err == nil {
				var v struct {
					Text  string            `json:"text"`
					Reply *agent.ReplyRef   `json:"reply"`
					Embed map[string]any    `json:"embed"`
					Langs []string          `json:"langs"`
					Other map[string]string `json:"other"`
				}
				_ = rec.Decode(&v)
				var m map[string]any
				_ = rec.Decode(&m)
				_ = rec.Ref()
			}
		case opProfileRecord:
			var p *agent.Profile
			p, _, err = a.GetProfileRecord(ctx)
			if err == nil {
				fuzzCheckProfile(t, p)
			}
		case opListPage:
			_, err = a.ListRecordsPage(ctx, "", "com.example.note", &agent.ListOptions{Limit: 10, Cursor: "x"})
		case opListAll:
			n := 0
			for rec, lerr := range a.ListRecords(ctx, "", "com.example.note", nil) {
				if lerr != nil {
					err = lerr
					break
				}
				if rec == nil {
					t.Fatal("a nil record without an error")
				}
				if n++; n > 10_000 {
					t.Fatal("ListRecords does not end")
				}
			}
			// The same answer twice is the same cursor: the listing ends.
			if c := h.count(); c > 2 {
				t.Errorf("ListRecords made %d requests for a server that answers the same page", c)
			}
		case opProfileView:
			var pv *agent.ProfileView
			pv, err = a.GetProfile(ctx, "")
			if err == nil && pv == nil {
				t.Fatal("nil profile view without an error")
			}
		case opTimeline:
			var feed *agent.Feed
			feed, err = a.GetTimeline(ctx, &agent.FeedOptions{Limit: 20})
			if err == nil {
				for _, it := range feed.Items {
					_ = it.Post.Text()
				}
			}
		case opAuthorFeed:
			var feed *agent.Feed
			feed, err = a.GetAuthorFeed(ctx, "alice.test", &agent.FeedOptions{Filter: "posts_with_media"})
			if err == nil {
				for _, it := range feed.Items {
					_ = it.Post.Text()
				}
			}
		case opDescribeRepo:
			_, err = a.DescribeRepo(ctx, "")
		case opGetSession:
			_, err = a.GetSession(ctx)
		case opUploadBlob:
			var b *agent.Blob
			b, err = a.UploadBlob(ctx, bytes.NewReader([]byte("\x89PNG\r\n\x1a\n")), "image/png")
			if err == nil && (b == nil || b.CID() == "") {
				t.Fatalf("UploadBlob succeeded without a blob reference: %+v", b)
			}
		case opGetBlob:
			var data []byte
			data, _, err = a.GetBlob(ctx, "", "bafkreif")
			if err == nil && !bytes.Equal(data, body) {
				t.Fatal("GetBlob changed the bytes")
			}
		case opUpdateProfile:
			var seen *agent.Profile
			_, err = a.UpdateProfile(ctx, func(p *agent.Profile) error {
				seen = p
				p.Description = "updated"
				return nil
			})
			if seen != nil {
				fuzzCheckProfile(t, seen)
			}
		case opPost:
			// Post reads the parent (replyRef), resolves the mention, then
			// writes: all three answers come from the server.
			_, err = a.Post(ctx, "hello @bob.test", &agent.PostOptions{
				ReplyTo: &agent.StrongRef{URI: "at://did:plc:aaaaaaaaaaaaaaaaaaaaaaaa/app.bsky.feed.post/3kabc"},
			})
		case opDelete:
			_, err = a.DeleteRecord(ctx, "com.example.note", "1", nil)
		case opApplyWrites:
			_, err = a.ApplyWrites(ctx, []agent.Write{
				agent.Create("com.example.note", "", map[string]any{"text": "a"}),
				agent.Delete("com.example.note", "2"),
			}, nil)
		case opCreate:
			var res *agent.WriteResult
			res, err = a.CreateRecord(ctx, "com.example.note", map[string]any{"text": "a"}, nil)
			if err == nil {
				_ = res.Ref()
			}
		}
		if c := h.count(); c > fuzzMaxCalls {
			t.Errorf("op %d made %d requests", op%16, c)
		}
		if status >= 300 && err == nil {
			t.Errorf("op %d: HTTP %d gave no error", op%16, status)
		}
		if err != nil {
			_ = err.Error()
			_ = errors.Is(err, xrpc.ErrRecordNotFound)
		}
	})
}

// fuzzCheckProfile checks that a decoded profile encodes, and
// decodes again to the same profile: an update keeps every field.
func fuzzCheckProfile(t *testing.T, p *agent.Profile) {
	t.Helper()
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatalf("a decoded profile does not encode: %v (%+v)", err, p)
	}
	var again agent.Profile
	if err := json.Unmarshal(b, &again); err != nil {
		t.Fatalf("an encoded profile does not decode: %v\n%s", err, b)
	}
	if again.DisplayName != p.DisplayName || again.Description != p.Description || again.CreatedAt != p.CreatedAt ||
		!reflect.DeepEqual(again.Avatar, p.Avatar) || !reflect.DeepEqual(again.Banner, p.Banner) ||
		!fuzzSameJSON(again.Other, p.Other) {
		t.Fatalf("profile round trip:\n%+v\nbecame\n%+v\nvia %s", p, again, b)
	}
}

// fuzzSameJSON compares two sets of raw JSON fields by value.
func fuzzSameJSON(a, b map[string]json.RawMessage) bool {
	if len(a) != len(b) {
		return false
	}
	for k, va := range a {
		vb, ok := b[k]
		if !ok {
			return false
		}
		xa, erra := fuzzDecodeJSON(va)
		xb, errb := fuzzDecodeJSON(vb)
		if erra != nil || errb != nil || !reflect.DeepEqual(xa, xb) {
			return false
		}
	}
	return true
}

// fuzzDecodeJSON decodes raw JSON, keeping numbers as written (1e700 is
// valid JSON, though no float64).
func fuzzDecodeJSON(raw json.RawMessage) (any, error) {
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var v any
	err := d.Decode(&v)
	return v, err
}

func FuzzProfileJSON(f *testing.F) {
	for _, s := range []string{
		`{"$type":"app.bsky.actor.profile","displayName":"Alice","description":"hi 👋","avatar":{"$type":"blob","ref":{"$link":"bafkrei"},"mimeType":"image/jpeg","size":1000},"createdAt":"2026-01-01T00:00:00.000Z","pronouns":"she/her","labels":{"$type":"com.atproto.label.defs#selfLabels","values":[]}}`,
		`{}`, `{"displayName":null}`, `{"avatar":{"size":1e400}}`, `{"banner":[]}`, `{"a":1,"a":2}`, `{"$type":1}`,
		`{"displayName":"\u202e\u0000\ud800"}`, `{"x":"<\u2028>"}`, "{\"x\":\"\xff\"}",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var p agent.Profile
		if err := json.Unmarshal(b, &p); err != nil {
			return
		}
		fuzzCheckProfile(t, &p)
		fuzzCheckLegacyBlobs(t, b, &p)
	})
}

// fuzzCheckLegacyBlobs checks that an avatar or banner in the legacy blob
// format, {"cid": "bafkrei…", "mimeType": "image/jpeg"} without "ref",
// which the atproto data model says implementations should be able to
// read (profiles written before 2023 hold them), is read: Blob.CID gives
// its cid, so that showing the avatar and writing the profile back
// (UpdateProfile, the web app's profile editor) keep it.
//
// KNOWN BUG (testdata/fuzz/FuzzProfileJSON/legacy-avatar): agent.Blob
// only reads "ref": {"$link": …}. A legacy avatar decodes to a Blob with
// an empty CID and "$type": "", which Profile.MarshalJSON writes back as
// {"$type":"","ref":{"$link":""},"mimeType":"image/jpeg","size":0}: the
// avatar is lost, or the PDS refuses the whole profile update.
func fuzzCheckLegacyBlobs(t *testing.T, b []byte, p *agent.Profile) {
	t.Helper()
	var fields map[string]json.RawMessage
	if json.Unmarshal(b, &fields) != nil {
		return
	}
	for name, got := range map[string]*agent.Blob{"avatar": p.Avatar, "banner": p.Banner} {
		var blob map[string]json.RawMessage
		if json.Unmarshal(fields[name], &blob) != nil {
			continue
		}
		var cid string
		if _, hasRef := blob["ref"]; hasRef || json.Unmarshal(blob["cid"], &cid) != nil || cid == "" {
			continue
		}
		if got == nil || got.CID() != cid {
			t.Errorf("the legacy blob reference %s %s was decoded as %+v: CID() %q, want %q", name, fields[name], got, fuzzBlobCID(got), cid)
		}
	}
}

func fuzzBlobCID(b *agent.Blob) string {
	if b == nil {
		return ""
	}
	return b.CID()
}
