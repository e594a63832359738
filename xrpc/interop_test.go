package xrpc_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/atoauth/atoauth/atoauthtest"
	"github.com/atoauth/atoauth/xrpc"
	comatproto "github.com/bluesky-social/indigo/api/atproto"
	appbsky "github.com/bluesky-social/indigo/api/bsky"
	"github.com/bluesky-social/indigo/atproto/syntax"
	lexutil "github.com/bluesky-social/indigo/lex/util"
)

// The Client is an indigo lexutil.LexClient.
var _ lexutil.LexClient = (*xrpc.Client)(nil)

// TestIndigoInterop runs indigo's generated API functions (api/atproto,
// api/bsky) over an atoauth session: users of indigo's lexicon types keep
// their code and gain DPoP, refresh, routing, pre-checks and typed errors.
func TestIndigoInterop(t *testing.T) {
	e := newEnv(t, genericScope)
	c := e.xrpc(xrpc.Options{})
	ctx := context.Background()
	repo := e.Account.String()

	who, err := comatproto.ServerGetSession(ctx, c)
	if err != nil || who.Did != repo || who.Handle != "alice.test" {
		t.Fatalf("getSession: %+v %v", who, err)
	}

	created, err := comatproto.RepoCreateRecord(ctx, c, &comatproto.RepoCreateRecord_Input{
		Repo:       repo,
		Collection: "app.bsky.feed.post",
		Record: &lexutil.LexiconTypeDecoder{Val: &appbsky.FeedPost{
			Text:      "hello from indigo 👋",
			CreatedAt: time.Now().UTC().Format(time.RFC3339),
			Langs:     []string{"en"},
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	uri, err := syntax.ParseATURI(created.Uri)
	if err != nil {
		t.Fatal(err)
	}
	got, err := comatproto.RepoGetRecord(ctx, c, "", "app.bsky.feed.post", repo, uri.RecordKey().String())
	if err != nil {
		t.Fatal(err)
	}
	if p, ok := got.Value.Val.(*appbsky.FeedPost); !ok || p.Text != "hello from indigo 👋" || *got.Cid != created.Cid {
		t.Fatalf("getRecord: %#v", got.Value.Val)
	}
	list, err := comatproto.RepoListRecords(ctx, c, "app.bsky.feed.post", "", 10, repo, false)
	if err != nil || len(list.Records) != 1 {
		t.Fatalf("listRecords: %+v %v", list, err)
	}

	// uploadBlob sends "*/*": the type is sniffed before the pre-check.
	png := append([]byte("\x89PNG\r\n\x1a\n"), bytes.Repeat([]byte{7}, 3000)...)
	up, err := comatproto.RepoUploadBlob(ctx, c, bytes.NewReader(png))
	if err != nil || up.Blob.MimeType != "image/png" || up.Blob.Size != int64(len(png)) {
		t.Fatalf("uploadBlob: %+v %v", up, err)
	}
	back, err := comatproto.SyncGetBlob(ctx, c, up.Blob.Ref.String(), repo)
	if err != nil || !bytes.Equal(back, png) {
		t.Fatalf("getBlob: %d bytes, %v", len(back), err)
	}

	name := "Alice"
	if _, err := comatproto.RepoPutRecord(ctx, c, &comatproto.RepoPutRecord_Input{
		Repo: repo, Collection: "app.bsky.actor.profile", Rkey: "self",
		Record: &lexutil.LexiconTypeDecoder{Val: &appbsky.ActorProfile{DisplayName: &name, Avatar: up.Blob}},
	}); err != nil {
		t.Fatal(err)
	}

	// app.bsky goes through the PDS to the AppView.
	prof, err := appbsky.ActorGetProfile(ctx, c, "alice.test")
	if err != nil {
		t.Fatal(err)
	}
	if prof.Did != repo || prof.DisplayName == nil || *prof.DisplayName != "Alice" || prof.Avatar == nil ||
		*prof.Avatar != atoauthtest.CDNPrefix+"/avatar/plain/"+repo+"/"+up.Blob.Ref.String()+"@jpeg" || *prof.PostsCount != 1 {
		t.Fatalf("getProfile: %+v", prof)
	}
	tl, err := appbsky.FeedGetTimeline(ctx, c, "", "", 10)
	if err != nil || len(tl.Feed) != 1 || tl.Feed[0].Post.Uri != created.Uri || tl.Feed[0].Post.Author.Handle != "alice.test" {
		t.Fatalf("getTimeline: %+v %v", tl, err)
	}
	af, err := appbsky.FeedGetAuthorFeed(ctx, c, repo, "", "posts_no_replies", false, 10)
	if err != nil || len(af.Feed) != 1 {
		t.Fatalf("getAuthorFeed: %+v %v", af, err)
	}
	desc, err := comatproto.RepoDescribeRepo(ctx, c, repo)
	if err != nil || desc.Handle != "alice.test" || strings.Join(desc.Collections, ",") != "app.bsky.actor.profile,app.bsky.feed.post" {
		t.Fatalf("describeRepo: %+v %v", desc, err)
	}

	if _, err := comatproto.RepoDeleteRecord(ctx, c, &comatproto.RepoDeleteRecord_Input{Repo: repo, Collection: "app.bsky.feed.post", Rkey: uri.RecordKey().String()}); err != nil {
		t.Fatal(err)
	}
	_, err = comatproto.RepoGetRecord(ctx, c, "", "app.bsky.feed.post", repo, uri.RecordKey().String())
	if !errors.Is(err, xrpc.ErrRecordNotFound) {
		t.Fatalf("getRecord after delete: %v", err)
	}
	if got := e.Net.Counters(); got.Proxied != 3 || got.ProxyHeaderOnLocal != 0 {
		t.Errorf("counters: %+v", got)
	}
}
