package agent_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/atoauth/atoauth"
	"github.com/atoauth/atoauth/agent"
	"github.com/atoauth/atoauth/atoauthtest"
	"github.com/atoauth/atoauth/scope"
	"github.com/atoauth/atoauth/xrpc"
	"github.com/bluesky-social/indigo/atproto/syntax"
)

type note struct {
	Type string `json:"$type"`
	Text string `json:"text"`
}

func newNote(text string) note { return note{Type: "com.example.note", Text: text} }

func rkeyOf(t *testing.T, uri string) string {
	t.Helper()
	u, err := syntax.ParseATURI(uri)
	if err != nil {
		t.Fatal(err)
	}
	return u.RecordKey().String()
}

func TestRecords(t *testing.T) {
	e := newEnv(t, genericScope)
	a := newAgent(t, e, nil)
	ctx := context.Background()

	created, err := a.CreateRecord(ctx, "com.example.note", newNote("one"), &agent.WriteOptions{RKey: "first"})
	if err != nil {
		t.Fatal(err)
	}
	if created.URI != "at://"+e.Account.String()+"/com.example.note/first" || created.Commit == nil || created.Commit.Rev == "" {
		t.Fatalf("create: %+v", created)
	}
	if _, err := a.CreateRecord(ctx, "com.example.note", newNote("dup"), &agent.WriteOptions{RKey: "first"}); err == nil {
		t.Fatal("created a record twice")
	}
	rec, err := a.GetRecord(ctx, "", "com.example.note", "first")
	if err != nil {
		t.Fatal(err)
	}
	var n note
	if err := rec.Decode(&n); err != nil || n.Text != "one" || rec.CID != created.CID || rec.Ref() != created.Ref() {
		t.Fatalf("get: %+v %+v", rec, n)
	}
	// The same record by handle.
	if rec2, err := a.GetRecord(ctx, "alice.test", "com.example.note", "first"); err != nil || rec2.CID != rec.CID {
		t.Fatalf("get by handle: %v", err)
	}

	// Compare-and-swap.
	put, err := a.PutRecord(ctx, "com.example.note", "first", newNote("two"), &agent.WriteOptions{SwapRecord: created.CID})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.PutRecord(ctx, "com.example.note", "first", newNote("stale"), &agent.WriteOptions{SwapRecord: created.CID}); !errors.Is(err, xrpc.ErrInvalidSwap) {
		t.Fatalf("stale swapRecord: %v", err)
	}
	if _, err := a.PutRecord(ctx, "com.example.note", "first", newNote("new?"), &agent.WriteOptions{SwapRecordAbsent: true}); !errors.Is(err, xrpc.ErrInvalidSwap) {
		t.Fatalf("swapRecord null on an existing record: %v", err)
	}
	if _, err := a.PutRecord(ctx, "com.example.note", "second", newNote("new"), &agent.WriteOptions{SwapRecordAbsent: true}); err != nil {
		t.Fatalf("swapRecord null on a new record: %v", err)
	}
	if _, err := a.PutRecord(ctx, "com.example.note", "first", newNote("x"), &agent.WriteOptions{SwapCommit: created.Commit.CID}); !errors.Is(err, xrpc.ErrInvalidSwap) {
		t.Fatalf("stale swapCommit: %v", err)
	}
	if _, err := a.DeleteRecord(ctx, "com.example.note", "first", &agent.WriteOptions{SwapRecord: created.CID}); !errors.Is(err, xrpc.ErrInvalidSwap) {
		t.Fatalf("delete with stale swapRecord: %v", err)
	}
	commit, err := a.DeleteRecord(ctx, "com.example.note", "first", &agent.WriteOptions{SwapRecord: put.CID})
	if err != nil || commit == nil {
		t.Fatalf("delete: %v %v", commit, err)
	}
	if _, err := a.GetRecord(ctx, "", "com.example.note", "first"); !errors.Is(err, xrpc.ErrRecordNotFound) {
		t.Fatalf("get after delete: %v", err)
	}
	if commit, err := a.DeleteRecord(ctx, "com.example.note", "first", nil); err != nil || commit != nil {
		t.Fatalf("deleting a missing record: %v %v", commit, err)
	}

	desc, err := a.DescribeRepo(ctx, "")
	if err != nil || desc.DID != e.Account.String() || desc.Handle != "alice.test" || !slices.Equal(desc.Collections, []string{"com.example.note"}) ||
		!bytes.Contains(desc.DIDDoc, []byte("#atproto_pds")) {
		t.Fatalf("describeRepo: %+v %v", desc, err)
	}
	if _, err := a.DescribeRepo(ctx, "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa"); !errors.Is(err, xrpc.ErrRepoNotFound) {
		t.Fatalf("describeRepo of an unknown repo: %v", err)
	}
}

func TestListRecords(t *testing.T) {
	e := newEnv(t, genericScope)
	a := newAgent(t, e, nil)
	ctx := context.Background()
	var want []string
	for i := range 7 {
		res, err := a.CreateRecord(ctx, "com.example.note", newNote(fmt.Sprint(i)), nil)
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, res.URI)
	}
	slices.Reverse(want) // newest first

	list := func(opts *agent.ListOptions) (uris []string, requests int) {
		before := e.Net.Counters().PDSRequests
		for rec, err := range a.ListRecords(ctx, "", "com.example.note", opts) {
			if err != nil {
				t.Fatal(err)
			}
			uris = append(uris, rec.URI)
		}
		return uris, e.Net.Counters().PDSRequests - before
	}
	got, reqs := list(&agent.ListOptions{Limit: 3})
	if !slices.Equal(got, want) || reqs != 4 { // 3 + 3 + 1, then an empty page
		t.Fatalf("limit 3: %d requests, %v", reqs, got)
	}
	got, _ = list(&agent.ListOptions{Limit: 2, Reverse: true})
	rev := slices.Clone(want)
	slices.Reverse(rev)
	if !slices.Equal(got, rev) {
		t.Fatalf("reverse: %v", got)
	}
	if got, _ := list(nil); !slices.Equal(got, want) {
		t.Fatalf("default page size: %v", got)
	}

	// Stopping early fetches no more pages.
	before := e.Net.Counters().PDSRequests
	for range a.ListRecords(ctx, "", "com.example.note", &agent.ListOptions{Limit: 2}) {
		break
	}
	if n := e.Net.Counters().PDSRequests - before; n != 1 {
		t.Fatalf("break after the first record: %d requests", n)
	}

	// Paging by hand, resuming from a cursor.
	page, err := a.ListRecordsPage(ctx, "alice.test", "com.example.note", &agent.ListOptions{Limit: 4})
	if err != nil || len(page.Records) != 4 || page.Cursor == "" {
		t.Fatalf("page: %+v %v", page, err)
	}
	got, _ = list(&agent.ListOptions{Limit: 4, Cursor: page.Cursor})
	if !slices.Equal(got, want[4:]) {
		t.Fatalf("resumed: %v", got)
	}

	// An error ends the iteration.
	var errs int
	for rec, err := range a.ListRecords(ctx, "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa", "com.example.note", nil) {
		if rec != nil || !errors.Is(err, xrpc.ErrRepoNotFound) {
			t.Fatalf("got %v %v", rec, err)
		}
		errs++
	}
	if errs != 1 {
		t.Fatalf("%d errors", errs)
	}
}

func TestApplyWrites(t *testing.T) {
	e := newEnv(t, genericScope)
	a := newAgent(t, e, nil)
	ctx := context.Background()
	first, err := a.CreateRecord(ctx, "com.example.note", newNote("a"), &agent.WriteOptions{RKey: "a"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.CreateRecord(ctx, "com.example.note", newNote("b"), &agent.WriteOptions{RKey: "b"}); err != nil {
		t.Fatal(err)
	}
	res, err := a.ApplyWrites(ctx, []agent.Write{
		agent.Create("com.example.note", "c", newNote("c")),
		agent.Create("com.example.note", "", newNote("tid")),
		agent.Update("com.example.note", "a", newNote("a2")),
		agent.Delete("com.example.note", "b"),
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Commit == nil || len(res.Results) != 4 || !strings.HasSuffix(res.Results[0].URI, "/c") || res.Results[1].URI == "" ||
		res.Results[2].CID == first.CID || res.Results[3].URI != "" {
		t.Fatalf("results: %+v", res)
	}
	if _, ok := e.Net.Record(e.Account, "com.example.note", "b"); ok {
		t.Fatal("b not deleted")
	}

	// All or nothing: the failing update leaves the create undone.
	_, err = a.ApplyWrites(ctx, []agent.Write{
		agent.Create("com.example.note", "d", newNote("d")),
		agent.Update("com.example.note", "missing", newNote("x")),
	}, nil)
	var xe *xrpc.Error
	if !errors.As(err, &xe) || xe.Name != "InvalidRequest" {
		t.Fatalf("failing batch: %v", err)
	}
	if _, ok := e.Net.Record(e.Account, "com.example.note", "d"); ok {
		t.Fatal("a failed batch was partly applied")
	}
	if _, err := a.ApplyWrites(ctx, []agent.Write{agent.Delete("com.example.note", "c")}, &agent.WriteOptions{SwapCommit: first.Commit.CID}); !errors.Is(err, xrpc.ErrInvalidSwap) {
		t.Fatalf("stale swapCommit: %v", err)
	}
	if _, err := a.ApplyWrites(ctx, []agent.Write{{Action: "upsert"}}, nil); err == nil {
		t.Fatal("bad action accepted")
	}
}

// pngImage encodes a w×h PNG.
func pngImage(w, h int) []byte {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for x := range w {
		img.Set(x, x%h, color.NRGBA{R: uint8(x), G: 100, B: 200, A: 255})
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		panic(err)
	}
	return buf.Bytes()
}

func TestBlobs(t *testing.T) {
	e := newEnv(t, genericScope)
	a := newAgent(t, e, &agent.Options{MaxBlobSize: 1 << 20})
	ctx := context.Background()
	data := pngImage(300, 200)

	// The first PDS request of the session: the PDS asks for a nonce and
	// the upload is sent again from the buffer.
	before := e.Net.Counters().PDSNonceChallenges
	blob, err := a.UploadBlob(ctx, bytes.NewReader(data), "")
	if err != nil {
		t.Fatal(err)
	}
	if e.Net.Counters().PDSNonceChallenges-before != 1 {
		t.Fatal("expected a nonce challenge on the upload")
	}
	if blob.Type != "blob" || blob.MimeType != "image/png" || blob.Size != int64(len(data)) || !strings.HasPrefix(blob.CID(), "bafkrei") {
		t.Fatalf("blob: %+v", blob)
	}
	got, mt, err := a.GetBlob(ctx, "", blob.CID())
	if err != nil || !bytes.Equal(got, data) || mt != "image/png" {
		t.Fatalf("getBlob: %v %s %d bytes", err, mt, len(got))
	}

	// Too large: refused before sending.
	reqs := e.Net.Counters().PDSRequests
	if _, err := a.UploadBlob(ctx, bytes.NewReader(make([]byte, 1<<20+1)), "application/octet-stream"); !errors.Is(err, xrpc.ErrTooLarge) {
		t.Fatalf("oversized: %v", err)
	}
	if _, err := a.UploadBlob(ctx, strings.NewReader("x"), "not a type"); err == nil {
		t.Fatal("bad MIME type accepted")
	}
	if e.Net.Counters().PDSRequests != reqs {
		t.Fatal("refused uploads were sent")
	}
	if _, _, err := a.GetBlob(ctx, "", "bafkreiaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"); err == nil {
		t.Fatal("missing blob found")
	}
}

func TestPost(t *testing.T) {
	e := newEnv(t, genericScope)
	bob := e.Net.CreateAccount("bob.test")
	when := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	a := newAgent(t, e, &agent.Options{Clock: func() time.Time { return when }})
	ctx := context.Background()
	img := pngImage(400, 300)

	text := "こんにちは @bob.test and @nobody.test 🦋 see https://atproto.com/specs. #日本語"
	res, err := a.Post(ctx, text, &agent.PostOptions{
		Images: []agent.Image{{Data: bytes.NewReader(img), Alt: "a test pattern"}},
		Langs:  []string{"ja", "en"},
	})
	if err != nil {
		t.Fatal(err)
	}
	raw, ok := e.Net.Record(e.Account, "app.bsky.feed.post", rkeyOf(t, res.URI))
	if !ok {
		t.Fatal("no record")
	}
	var rec struct {
		Type      string         `json:"$type"`
		Text      string         `json:"text"`
		CreatedAt string         `json:"createdAt"`
		Langs     []string       `json:"langs"`
		Facets    []agent.Facet  `json:"facets"`
		Embed     map[string]any `json:"embed"`
	}
	if err := json.Unmarshal(raw, &rec); err != nil {
		t.Fatal(err)
	}
	if rec.Type != "app.bsky.feed.post" || rec.Text != text || rec.CreatedAt != "2026-11-27T12:00:00.000Z" || !slices.Equal(rec.Langs, []string{"ja", "en"}) {
		t.Fatalf("record: %s", raw)
	}
	// @nobody.test does not resolve: left out.
	if len(rec.Facets) != 3 {
		t.Fatalf("facets: %s", raw)
	}
	for i, want := range []struct{ text, typ, value string }{
		{"@bob.test", agent.FacetMention, bob.String()},
		{"https://atproto.com/specs", agent.FacetLink, "https://atproto.com/specs"},
		{"#日本語", agent.FacetTag, "日本語"},
	} {
		f := rec.Facets[i]
		ft := f.Features[0]
		if text[f.Index.ByteStart:f.Index.ByteEnd] != want.text || ft.Type != want.typ || ft.DID+ft.URI+ft.Tag != want.value {
			t.Errorf("facet %d: %+v", i, f)
		}
	}
	if !strings.Contains(string(raw), `"index":{"byteStart":16,"byteEnd":25}`) || strings.Contains(string(raw), "handle") {
		t.Errorf("mention facet JSON: %s", raw)
	}
	images, _ := rec.Embed["images"].([]any)
	if rec.Embed["$type"] != "app.bsky.embed.images" || len(images) != 1 {
		t.Fatalf("embed: %s", raw)
	}
	im := images[0].(map[string]any)
	ar, _ := im["aspectRatio"].(map[string]any)
	ref := im["image"].(map[string]any)["ref"].(map[string]any)["$link"].(string)
	if im["alt"] != "a test pattern" || ar["width"] != float64(400) || ar["height"] != float64(300) {
		t.Fatalf("image: %v", im)
	}
	if stored, _, ok := e.Net.Blob(e.Account, ref); !ok || !bytes.Equal(stored, img) {
		t.Fatal("image blob not stored")
	}

	// The AppView shows it with CDN URLs.
	feed, err := a.GetAuthorFeed(ctx, "", &agent.FeedOptions{Filter: "posts_with_media"})
	if err != nil || len(feed.Items) != 1 || feed.Items[0].Post.Text() != text || !strings.Contains(string(feed.Items[0].Post.Embed), atoauthtest.CDNPrefix+"/feed_fullsize/plain/"+e.Account.String()+"/"+ref) {
		t.Fatalf("author feed: %+v %v", feed, err)
	}

	// Explicit facets, a pre-uploaded image, no detection.
	blob, err := a.UploadBlob(ctx, bytes.NewReader(img), "image/png")
	if err != nil {
		t.Fatal(err)
	}
	res2, err := a.Post(ctx, "plain @bob.test", &agent.PostOptions{
		Facets: []agent.Facet{},
		Images: []agent.Image{{Blob: blob, Alt: "again", AspectRatio: &agent.AspectRatio{Width: 4, Height: 3}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	raw, _ = e.Net.Record(e.Account, "app.bsky.feed.post", rkeyOf(t, res2.URI))
	if strings.Contains(string(raw), "facets") || !strings.Contains(string(raw), `"aspectRatio":{"width":4,"height":3}`) {
		t.Fatalf("second post: %s", raw)
	}
}

func TestReplies(t *testing.T) {
	e := newEnv(t, genericScope)
	ctx := context.Background()
	bob, err := e.Net.SignIn(ctx, "bob.test", genericScope)
	if err != nil {
		t.Fatal(err)
	}
	bobDID := bob.Account
	a := newAgent(t, e, nil)
	b := newAgent(t, bob, nil)

	root, err := a.Post(ctx, "root", nil)
	if err != nil {
		t.Fatal(err)
	}
	r1, err := b.Post(ctx, "reply", &agent.PostOptions{ReplyTo: &agent.StrongRef{URI: root.URI}})
	if err != nil {
		t.Fatal(err)
	}
	r2, err := a.Post(ctx, "reply to the reply", &agent.PostOptions{ReplyTo: &agent.StrongRef{URI: r1.URI, CID: r1.CID}})
	if err != nil {
		t.Fatal(err)
	}
	check := func(did syntax.DID, res *agent.WriteResult, parent *agent.WriteResult) {
		raw, _ := e.Net.Record(did, "app.bsky.feed.post", rkeyOf(t, res.URI))
		var p struct{ Reply agent.ReplyRef }
		if err := json.Unmarshal(raw, &p); err != nil || p.Reply.Root != root.Ref() || p.Reply.Parent != parent.Ref() {
			t.Fatalf("reply refs of %s: %s", res.URI, raw)
		}
	}
	check(bobDID, r1, root)
	check(e.Account, r2, r1)

	// Alice's timeline: her posts and, once she follows Bob, his.
	tl, err := a.GetTimeline(ctx, nil)
	if err != nil || len(tl.Items) != 2 {
		t.Fatalf("timeline: %+v %v", tl, err)
	}
	if _, err := a.CreateRecord(ctx, "app.bsky.graph.follow", map[string]any{"$type": "app.bsky.graph.follow", "subject": bobDID, "createdAt": "2026-11-27T12:00:00.000Z"}, nil); err != nil {
		t.Fatal(err)
	}
	tl, err = a.GetTimeline(ctx, &agent.FeedOptions{Limit: 2})
	if err != nil || len(tl.Items) != 2 || tl.Cursor == "" || tl.Items[0].Post.URI != r2.URI || tl.Items[1].Post.Author.Handle != "bob.test" || len(tl.Items[0].Reply) == 0 {
		t.Fatalf("timeline page 1: %+v %v", tl, err)
	}
	tl, err = a.GetTimeline(ctx, &agent.FeedOptions{Limit: 2, Cursor: tl.Cursor})
	if err != nil || len(tl.Items) != 1 || tl.Items[0].Post.URI != root.URI || tl.Cursor != "" {
		t.Fatalf("timeline page 2: %+v %v", tl, err)
	}
	prof, err := b.GetProfile(ctx, "alice.test")
	if err != nil || prof.PostsCount != 2 || prof.FollowsCount != 1 || prof.Handle != "alice.test" {
		t.Fatalf("profile: %+v %v", prof, err)
	}
	af, err := a.GetAuthorFeed(ctx, "bob.test", &agent.FeedOptions{Filter: "posts_no_replies"})
	if err != nil || len(af.Items) != 0 {
		t.Fatalf("bob's posts without replies: %+v %v", af, err)
	}

	// Replying to a post that does not exist fails before posting.
	if _, err := a.Post(ctx, "x", &agent.PostOptions{ReplyTo: &agent.StrongRef{URI: "at://" + e.Account.String() + "/app.bsky.feed.post/nope"}}); !errors.Is(err, xrpc.ErrRecordNotFound) {
		t.Fatalf("reply to a missing post: %v", err)
	}
}

func TestPostValidation(t *testing.T) {
	e := newEnv(t, genericScope)
	a := newAgent(t, e, nil)
	ctx := context.Background()
	img := agent.Image{Blob: &agent.Blob{Type: "blob", Ref: agent.BlobLink{Link: "bafkreiaaaa"}, MimeType: "image/png", Size: 1}}
	before := e.Net.Counters().PDSRequests
	for _, tc := range []struct {
		text string
		opts *agent.PostOptions
	}{
		{strings.Repeat("長", 1001), nil},
		{"", nil},
		{"x", &agent.PostOptions{Images: []agent.Image{img, img, img, img, img}}},
		{"x", &agent.PostOptions{Langs: []string{"not a language!"}}},
		{"x", &agent.PostOptions{Images: []agent.Image{{Alt: "nothing"}}}},
		{"x", &agent.PostOptions{Images: []agent.Image{{Data: strings.NewReader("x"), Blob: img.Blob}}}},
		{"x", &agent.PostOptions{Reply: &agent.ReplyRef{}, ReplyTo: &agent.StrongRef{}}},
		{"x", &agent.PostOptions{ReplyTo: &agent.StrongRef{URI: "https://bsky.app/profile/x/post/y"}}},
	} {
		if _, err := a.Post(ctx, tc.text, tc.opts); err == nil {
			t.Errorf("Post(%.20q, %+v) accepted", tc.text, tc.opts)
		}
	}
	if n := e.Net.Counters().PDSRequests - before; n != 0 {
		t.Errorf("invalid posts sent %d requests", n)
	}
}

func TestPermissionsChecked(t *testing.T) {
	const declared = "atproto transition:generic repo:app.bsky.feed.post?action=create blob:image/*"
	e := newEnv(t, declared, atoauthtest.GrantScope("atproto repo:app.bsky.feed.post?action=create"))
	a := newAgent(t, e, nil)
	ctx := context.Background()
	before := e.Net.Counters().PDSRequests

	// No blob permission: the image is not uploaded, nothing is posted.
	_, err := a.Post(ctx, "with image", &agent.PostOptions{Images: []agent.Image{{Data: bytes.NewReader(pngImage(2, 2)), Alt: "x"}}})
	var sme *xrpc.ScopeMissingError
	if !errors.As(err, &sme) || !sme.ClientSide || sme.Permission != "blob:image/png" {
		t.Fatalf("post with image: %v", err)
	}
	_, err = a.UpdateProfile(ctx, func(p *agent.Profile) error { p.DisplayName = "A"; return nil })
	if !errors.As(err, &sme) || !errors.Is(err, atoauth.ErrScopeMissing) || sme.Permission != "repo:app.bsky.actor.profile?action=create" {
		t.Fatalf("profile: %v", err)
	}
	// Left to the PDS's default AppView, no permission for the method at
	// any audience: refused as rpc:…?aud=*.
	if _, err := a.GetProfile(ctx, ""); !errors.As(err, &sme) || sme.Permission != "rpc:app.bsky.actor.getProfile?aud=*" {
		t.Fatalf("getProfile: %v", err)
	}
	// With the AppView named, the exact permission.
	named := newAgent(t, e, &agent.Options{XRPC: xrpc.Options{Services: map[string]string{"app.bsky.": scope.BskyAppView}}})
	if _, err := named.GetProfile(ctx, ""); !errors.As(err, &sme) || sme.Permission != "rpc:app.bsky.actor.getProfile?aud=did:web:api.bsky.app%23bsky_appview" {
		t.Fatalf("getProfile with the AppView named: %v", err)
	}
	if n := e.Net.Counters().PDSRequests - before; n != 0 {
		t.Fatalf("refused calls sent %d requests", n)
	}
	// Posting text is allowed.
	if _, err := a.Post(ctx, "text only", nil); err != nil {
		t.Fatal(err)
	}
	// With the pre-check off, the PDS refuses with the same permission.
	off := newAgent(t, e, &agent.Options{XRPC: xrpc.Options{NoPreCheck: true}})
	_, err = off.UpdateProfile(ctx, func(p *agent.Profile) error { return nil })
	if !errors.As(err, &sme) || sme.ClientSide || sme.Permission != "repo:app.bsky.actor.profile?action=create" {
		t.Fatalf("profile without pre-check: %v", err)
	}
}

func TestProfile(t *testing.T) {
	e := newEnv(t, genericScope)
	a := newAgent(t, e, &agent.Options{Clock: func() time.Time { return time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC) }})
	ctx := context.Background()

	if _, _, err := a.GetProfileRecord(ctx); !errors.Is(err, xrpc.ErrRecordNotFound) {
		t.Fatalf("no profile yet: %v", err)
	}
	// The first update creates the record (swapRecord: null).
	if _, err := a.UpdateProfile(ctx, func(p *agent.Profile) error { p.DisplayName = "Alice"; return nil }); err != nil {
		t.Fatal(err)
	}
	p, cid, err := a.GetProfileRecord(ctx)
	if err != nil || p.DisplayName != "Alice" || p.CreatedAt != "2026-01-01T00:00:00.000Z" || cid == "" {
		t.Fatalf("created: %+v %v", p, err)
	}

	// Fields the Profile type does not name survive an update.
	if _, err := a.PutRecord(ctx, "app.bsky.actor.profile", "self", map[string]any{
		"$type": "app.bsky.actor.profile", "displayName": "Alice", "pronouns": "she/her",
		"pinnedPost": map[string]any{"uri": "at://" + e.Account.String() + "/app.bsky.feed.post/x", "cid": "bafyreiaaaa"},
	}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := a.UpdateProfile(ctx, func(p *agent.Profile) error { p.Description = "hi 👋"; return nil }); err != nil {
		t.Fatal(err)
	}
	raw, _ := e.Net.Record(e.Account, "app.bsky.actor.profile", "self")
	var m map[string]any
	_ = json.Unmarshal(raw, &m)
	if m["pronouns"] != "she/her" || m["pinnedPost"] == nil || m["description"] != "hi 👋" || m["$type"] != "app.bsky.actor.profile" || m["displayName"] != "Alice" {
		t.Fatalf("update lost fields: %s", raw)
	}

	// A change made between read and write: read again, apply again.
	calls := 0
	_, err = a.UpdateProfile(ctx, func(p *agent.Profile) error {
		calls++
		if calls == 1 {
			if _, err := a.PutRecord(ctx, "app.bsky.actor.profile", "self", map[string]any{"$type": "app.bsky.actor.profile", "displayName": "Concurrent"}, nil); err != nil {
				t.Fatal(err)
			}
		}
		p.Description = "after the race"
		return nil
	})
	if err != nil || calls != 2 {
		t.Fatalf("race: %d calls, %v", calls, err)
	}
	if p, _, _ := a.GetProfileRecord(ctx); p.DisplayName != "Concurrent" || p.Description != "after the race" {
		t.Fatalf("race result: %+v", p)
	}
	// A profile that changes every time gives up.
	_, err = a.UpdateProfile(ctx, func(p *agent.Profile) error {
		_, _ = a.PutRecord(ctx, "app.bsky.actor.profile", "self", map[string]any{"$type": "app.bsky.actor.profile", "displayName": fmt.Sprint(time.Now().UnixNano())}, nil)
		return nil
	})
	if !errors.Is(err, xrpc.ErrInvalidSwap) {
		t.Fatalf("endless race: %v", err)
	}
	// The update function's error stops the update.
	stop := errors.New("stop")
	if _, err := a.UpdateProfile(ctx, func(*agent.Profile) error { return stop }); !errors.Is(err, stop) {
		t.Fatalf("update error: %v", err)
	}

	// The avatar, and its CDN URL in the AppView's profile view.
	avatar := pngImage(64, 64)
	blob, err := a.SetAvatar(ctx, bytes.NewReader(avatar), "")
	if err != nil {
		t.Fatal(err)
	}
	view, err := a.GetProfile(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if view.Avatar != atoauthtest.CDNPrefix+"/avatar/plain/"+e.Account.String()+"/"+blob.CID()+"@jpeg" || view.DID != e.Account.String() {
		t.Fatalf("profile view: %+v", view)
	}
	if got, _, err := a.GetBlob(ctx, "", blob.CID()); err != nil || !bytes.Equal(got, avatar) {
		t.Fatalf("avatar bytes: %v", err)
	}
	if _, err := a.SetAvatar(ctx, strings.NewReader("GIF89a......"), ""); err == nil {
		t.Fatal("GIF avatar accepted")
	}
	if _, err := a.SetAvatar(ctx, bytes.NewReader(make([]byte, 1_000_001)), "image/png"); !errors.Is(err, xrpc.ErrTooLarge) {
		t.Fatalf("large avatar: %v", err)
	}
}

func TestIdentity(t *testing.T) {
	e := newEnv(t, genericScope+" transition:email")
	a := newAgent(t, e, nil)
	ctx := context.Background()
	if a.DID() != e.Account || a.Handle() != "alice.test" {
		t.Fatalf("%s %s", a.DID(), a.Handle())
	}
	ident, err := a.Identity(ctx)
	if err != nil {
		t.Fatal(err)
	}
	doc := ident.DIDDocument()
	if ident.DID != e.Account || ident.Handle != "alice.test" || ident.PDSEndpoint() != e.Net.PDS.URL || doc.DID != e.Account {
		t.Fatalf("identity: %+v", ident)
	}
	s, err := a.GetSession(ctx)
	if err != nil || s.DID != e.Account.String() || s.Handle != "alice.test" || s.Email == "" {
		t.Fatalf("getSession: %+v %v", s, err)
	}

	// The account moved to another PDS: the session no longer speaks for it.
	e.Net.UpdateTamper(func(tp *atoauthtest.Tamper) {
		tp.DIDDocument = func(did syntax.DID, doc map[string]any) {
			doc["service"].([]any)[0].(map[string]any)["serviceEndpoint"] = "http://127.0.0.1:1"
		}
	})
	if _, err := a.Identity(ctx); err == nil {
		t.Fatal("moved account verified")
	}
	// Without Options.Resolver, the session's client's resolver is used:
	// it sees the move too.
	noResolver, err := agent.New(e.Session, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := noResolver.Identity(ctx); err == nil {
		t.Fatal("moved account verified with the default resolver")
	}
	if _, err := agent.New(nil, nil); err == nil {
		t.Fatal("nil session accepted")
	}
	if _, err := agent.New(e.Session, &agent.Options{XRPC: xrpc.Options{Services: map[string]string{"app.bsky.": "nope"}}}); err == nil {
		t.Fatal("bad service accepted")
	}
}
