package agent

import (
	"context"
	"encoding/json"

	"github.com/atoauth/atoauth/xrpc"
)

// ProfileViewBasic is an account as the AppView shows it next to content
// (app.bsky.actor.defs#profileViewBasic).
type ProfileViewBasic struct {
	DID         string `json:"did"`
	Handle      string `json:"handle"`
	DisplayName string `json:"displayName,omitempty"`
	// Avatar is the CDN URL of the avatar, ready for an <img>. Use it
	// rather than building URLs from getBlob.
	Avatar    string `json:"avatar,omitempty"`
	CreatedAt string `json:"createdAt,omitempty"`
}

// ProfileView is an account's profile page as the AppView shows it
// (app.bsky.actor.defs#profileViewDetailed).
type ProfileView struct {
	ProfileViewBasic
	Description string `json:"description,omitempty"`
	// Banner is the CDN URL of the banner image.
	Banner         string `json:"banner,omitempty"`
	FollowersCount int64  `json:"followersCount"`
	FollowsCount   int64  `json:"followsCount"`
	PostsCount     int64  `json:"postsCount"`
	IndexedAt      string `json:"indexedAt,omitempty"`
}

// PostView is a post as the AppView shows it (app.bsky.feed.defs#postView).
type PostView struct {
	URI    string           `json:"uri"`
	CID    string           `json:"cid"`
	Author ProfileViewBasic `json:"author"`
	// Record is the app.bsky.feed.post record.
	Record json.RawMessage `json:"record"`
	// Embed is the embed's view (images with CDN URLs, link cards, …).
	Embed       json.RawMessage `json:"embed,omitempty"`
	ReplyCount  int64           `json:"replyCount"`
	RepostCount int64           `json:"repostCount"`
	LikeCount   int64           `json:"likeCount"`
	QuoteCount  int64           `json:"quoteCount"`
	IndexedAt   string          `json:"indexedAt"`
}

// Text returns the post's text.
func (p *PostView) Text() string {
	var r struct {
		Text string `json:"text"`
	}
	_ = json.Unmarshal(p.Record, &r)
	return r.Text
}

// FeedItem is one entry of a feed (app.bsky.feed.defs#feedViewPost).
type FeedItem struct {
	Post PostView `json:"post"`
	// Reply holds the thread context of a reply ({root, parent}).
	Reply json.RawMessage `json:"reply,omitempty"`
	// Reason says why the post is in the feed (a repost, a pin).
	Reason json.RawMessage `json:"reason,omitempty"`
}

// Feed is one page of a feed.
type Feed struct {
	Items []FeedItem `json:"feed"`
	// Cursor fetches the next page (FeedOptions.Cursor); "" at the end.
	Cursor string `json:"cursor,omitempty"`
}

// FeedOptions adjusts a feed request.
type FeedOptions struct {
	// Limit is the page size, 1 to 100 (0: the AppView's default, 50).
	Limit int
	// Cursor continues from a previous page.
	Cursor string
	// Filter, for GetAuthorFeed: "posts_with_replies" (default),
	// "posts_no_replies", "posts_with_media" or "posts_and_author_threads".
	Filter string
	// Algorithm, for GetTimeline, selects a timeline variant.
	Algorithm string
}

func (o *FeedOptions) params(p xrpc.Params) xrpc.Params {
	if o == nil {
		return p
	}
	if o.Limit > 0 {
		p["limit"] = o.Limit
	}
	if o.Cursor != "" {
		p["cursor"] = o.Cursor
	}
	return p
}

// GetProfile returns the profile of actor (handle or DID; "" for the
// account itself) from the AppView, through the PDS
// (app.bsky.actor.getProfile; with granular scopes it needs
// rpc:app.bsky.actor.getProfile?aud=<AppView>).
func (a *Agent) GetProfile(ctx context.Context, actor string) (*ProfileView, error) {
	var out ProfileView
	if err := a.xc.Query(ctx, "app.bsky.actor.getProfile", xrpc.Params{"actor": a.repoOrSelf(actor)}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// GetTimeline returns a page of the account's home timeline from the
// AppView, through the PDS (app.bsky.feed.getTimeline).
func (a *Agent) GetTimeline(ctx context.Context, opts *FeedOptions) (*Feed, error) {
	p := opts.params(xrpc.Params{})
	if opts != nil && opts.Algorithm != "" {
		p["algorithm"] = opts.Algorithm
	}
	var out Feed
	if err := a.xc.Query(ctx, "app.bsky.feed.getTimeline", p, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// GetAuthorFeed returns a page of actor's posts (handle or DID; "" for the
// account itself) from the AppView, through the PDS
// (app.bsky.feed.getAuthorFeed).
func (a *Agent) GetAuthorFeed(ctx context.Context, actor string, opts *FeedOptions) (*Feed, error) {
	p := opts.params(xrpc.Params{"actor": a.repoOrSelf(actor)})
	if opts != nil && opts.Filter != "" {
		p["filter"] = opts.Filter
	}
	var out Feed
	if err := a.xc.Query(ctx, "app.bsky.feed.getAuthorFeed", p, &out); err != nil {
		return nil, err
	}
	return &out, nil
}
