package e2e

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/atoauth/atoauth/agent"
	"github.com/atoauth/atoauth/internal/testnet"
	"github.com/atoauth/atoauth/xrpc"
)

// newAgent signs in name and returns an agent configured by default: its
// app.bsky.* calls go to the AppView the PDS is configured with (the test
// network's).
func newAgent(t *testing.T, name string) (*harness, *agent.Agent) {
	t.Helper()
	h := newHarness(t, "atproto transition:generic")
	acct := h.net.Account(name)
	s := h.login(acct.Handle, acct)
	opts := &agent.Options{Resolver: h.client.Resolver()}
	a, err := agent.New(s, opts)
	if err != nil {
		t.Fatal(err)
	}
	return h, a
}

func TestAgentRecords(t *testing.T) {
	_, a := newAgent(t, "alice")
	ctx := context.Background()
	coll := "app.bsky.feed.post"
	created, err := a.CreateRecord(ctx, coll, map[string]any{"$type": coll, "text": "one", "createdAt": time.Now().UTC().Format(time.RFC3339)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	rkey := created.URI[strings.LastIndex(created.URI, "/")+1:]

	// putRecord with swapRecord: the current CID succeeds, a stale one fails.
	upd, err := a.PutRecord(ctx, coll, rkey, map[string]any{"$type": coll, "text": "two", "createdAt": time.Now().UTC().Format(time.RFC3339)}, &agent.WriteOptions{SwapRecord: created.CID})
	if err != nil {
		t.Fatal(err)
	}
	_, err = a.PutRecord(ctx, coll, rkey, map[string]any{"$type": coll, "text": "three", "createdAt": time.Now().UTC().Format(time.RFC3339)}, &agent.WriteOptions{SwapRecord: created.CID})
	if !errors.Is(err, xrpc.ErrInvalidSwap) {
		t.Fatalf("stale swapRecord: err = %v, want xrpc.ErrInvalidSwap", err)
	}
	rec, err := a.GetRecord(ctx, "", coll, rkey)
	if err != nil {
		t.Fatal(err)
	}
	var v struct{ Text string }
	if err := rec.Decode(&v); err != nil || v.Text != "two" || rec.CID != upd.CID {
		t.Fatalf("getRecord = %+v %v", v, err)
	}
	seen := false
	for r, err := range a.ListRecords(ctx, "", coll, &agent.ListOptions{Limit: 2}) {
		if err != nil {
			t.Fatal(err)
		}
		seen = seen || r.URI == created.URI
	}
	if !seen {
		t.Fatal("ListRecords did not yield the record")
	}
	desc, err := a.DescribeRepo(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.Join(desc.Collections, " "), coll) {
		t.Fatalf("describeRepo collections %v", desc.Collections)
	}
	if _, err := a.DeleteRecord(ctx, coll, rkey, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := a.GetRecord(ctx, "", coll, rkey); !errors.Is(err, xrpc.ErrRecordNotFound) {
		t.Fatalf("deleted record: err = %v, want ErrRecordNotFound", err)
	}
}

func TestAgentPostWithImageAndProfile(t *testing.T) {
	h, a := newAgent(t, "bob")
	ctx := context.Background()
	img := testPNG(t)
	res, err := a.Post(ctx, "a picture from atoauth 🖼️ https://example.com #e2e", &agent.PostOptions{
		Images: []agent.Image{{Data: bytes.NewReader(img), Alt: "a gradient"}},
		Langs:  []string{"en"},
	})
	if err != nil {
		t.Fatal(err)
	}
	rkey := res.URI[strings.LastIndex(res.URI, "/")+1:]
	rec, err := a.GetRecord(ctx, "", "app.bsky.feed.post", rkey)
	if err != nil {
		t.Fatal(err)
	}
	var post struct {
		Text   string
		Langs  []string
		Facets []map[string]any
		Embed  struct {
			Type   string `json:"$type"`
			Images []struct {
				Alt   string
				Image agent.Blob
			}
		}
	}
	if err := rec.Decode(&post); err != nil {
		t.Fatal(err)
	}
	if post.Embed.Type != "app.bsky.embed.images" || len(post.Embed.Images) != 1 || post.Embed.Images[0].Alt != "a gradient" || len(post.Facets) != 2 {
		t.Fatalf("post record = %+v", post)
	}
	got, mime, err := a.GetBlob(ctx, a.DID().String(), post.Embed.Images[0].Image.Ref.Link)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, img) || mime != "image/png" {
		t.Fatalf("getBlob: %d bytes of %s, uploaded %d of image/png", len(got), mime, len(img))
	}

	// The profile: display name and avatar through get + put with swap.
	avatar, err := a.SetAvatar(ctx, bytes.NewReader(img), "image/png")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.UpdateProfile(ctx, func(p *agent.Profile) error {
		p.DisplayName = "Bob via atoauth"
		p.Description = "edited end to end"
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	prof, _, err := a.GetProfileRecord(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if prof.DisplayName != "Bob via atoauth" || prof.Avatar == nil || prof.Avatar.Ref.Link != avatar.Ref.Link {
		t.Fatalf("profile record = %+v", prof)
	}

	sess, err := a.GetSession(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if sess.DID != a.DID().String() || sess.Handle != a.Handle().String() {
		t.Fatalf("getSession = %+v", sess)
	}

	if h.net.AppViewURL == "" {
		if _, required := testnet.Enabled(); required {
			t.Fatal("the network has no AppView; scripts/test starts it with --appview")
		}
		t.Skip("no AppView: profile view and feeds not checked")
	}
	// The AppView indexes asynchronously: poll until it shows the update.
	var view *agent.ProfileView
	for i := 0; i < 50; i++ {
		view, err = a.GetProfile(ctx, a.DID().String())
		if err == nil && view.DisplayName == "Bob via atoauth" && view.Avatar != "" {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err != nil || view.DisplayName != "Bob via atoauth" || view.Avatar == "" {
		t.Fatalf("getProfile through the PDS: %+v %v", view, err)
	}
	t.Logf("avatar URL from the AppView: %s", view.Avatar)
	feed, err := a.GetAuthorFeed(ctx, a.DID().String(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.GetTimeline(ctx, nil); err != nil {
		t.Fatal(err)
	}
	t.Logf("author feed: %d items", len(feed.Items))
}

// With a service that does not exist named, the error says so (and no
// fallback second-guesses a service the caller named).
func TestAgentUnknownAppViewSaysSo(t *testing.T) {
	h := newHarness(t, "atproto transition:generic")
	alice := h.net.Account("alice")
	s := h.login(alice.Handle, alice)
	a, err := agent.New(s, &agent.Options{XRPC: xrpc.Options{Services: map[string]string{"app.bsky.": "did:web:nowhere.invalid#bsky_appview"}}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = a.GetProfile(context.Background(), alice.DID)
	if err == nil {
		t.Fatal("a call to a service that does not exist succeeded")
	}
	t.Logf("error: %v", err)
	if !errors.Is(err, xrpc.ErrNoService) || !strings.Contains(err.Error(), "did:web:nowhere.invalid#bsky_appview") {
		t.Fatalf("err = %v, want xrpc.ErrNoService naming the service", err)
	}
}
