package agent

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"
	"time"

	"github.com/atoauth/atoauth/scope"
	"github.com/atoauth/atoauth/xrpc"
	"github.com/bluesky-social/indigo/atproto/syntax"
)

// Limits of app.bsky.feed.post.
const (
	// MaxPostBytes is the longest post text, in UTF-8 bytes (the lexicon
	// also allows at most 300 graphemes, which the PDS checks).
	MaxPostBytes = 3000
	// MaxImages is the most images one post embeds.
	MaxImages = 4
)

// PostOptions adjusts a post.
type PostOptions struct {
	// Images are embedded (app.bsky.embed.images), at most MaxImages.
	Images []Image
	// ReplyTo is the post replied to. Post reads it to find the thread's
	// root, so it must exist.
	ReplyTo *StrongRef
	// Reply sets the reply references directly instead of ReplyTo.
	Reply *ReplyRef
	// Langs are the text's languages as BCP 47 tags, e.g. "en", "ja".
	Langs []string
	// Facets annotate the text. Nil detects links, mentions and hashtags
	// ([DetectFacets]); mentions whose handle does not resolve are left
	// out. A non-nil empty slice sends none.
	Facets []Facet
	// CreatedAt dates the post (zero: now).
	CreatedAt time.Time
}

// Image is one image of a post.
type Image struct {
	// Data is the image, uploaded by Post (buffered, see UploadBlob).
	Data io.Reader
	// MimeType is Data's type; "" sniffs it (image/png, image/jpeg,
	// image/gif, image/webp).
	MimeType string
	// Blob is an already uploaded image, instead of Data.
	Blob *Blob
	// Alt is the alt text, read to people who cannot see the image.
	Alt string
	// AspectRatio is the image's width and height; nil reads it from PNG,
	// JPEG and GIF data.
	AspectRatio *AspectRatio
}

// AspectRatio is an image's width and height (app.bsky.embed.defs#aspectRatio).
type AspectRatio struct {
	Width  int64 `json:"width"`
	Height int64 `json:"height"`
}

// ReplyRef links a reply to its thread (app.bsky.feed.post#replyRef):
// Root is the thread's first post, Parent the post replied to.
type ReplyRef struct {
	Root   StrongRef `json:"root"`
	Parent StrongRef `json:"parent"`
}

// postRecord is an app.bsky.feed.post record.
type postRecord struct {
	Type      string       `json:"$type"`
	Text      string       `json:"text"`
	CreatedAt string       `json:"createdAt"`
	Facets    []Facet      `json:"facets,omitempty"`
	Langs     []string     `json:"langs,omitempty"`
	Reply     *ReplyRef    `json:"reply,omitempty"`
	Embed     *imagesEmbed `json:"embed,omitempty"`
}

type imagesEmbed struct {
	Type   string        `json:"$type"`
	Images []imageRecord `json:"images"`
}

type imageRecord struct {
	Image       *Blob        `json:"image"`
	Alt         string       `json:"alt"`
	AspectRatio *AspectRatio `json:"aspectRatio,omitempty"`
}

// Post publishes an app.bsky.feed.post with text and options: images with
// alt text, links, mentions and hashtags (facets, with UTF-8 byte
// offsets), a reply, languages. It needs
// repo:app.bsky.feed.post?action=create, and blob:<type> for each image;
// both are checked before anything is uploaded.
func (a *Agent) Post(ctx context.Context, text string, opts *PostOptions) (*WriteResult, error) {
	if opts == nil {
		opts = &PostOptions{}
	}
	if len(text) > MaxPostBytes {
		return nil, fmt.Errorf("agent: the post text is %d bytes; at most %d fit", len(text), MaxPostBytes)
	}
	if text == "" && len(opts.Images) == 0 {
		return nil, errors.New("agent: a post needs text or images")
	}
	if len(opts.Images) > MaxImages {
		return nil, fmt.Errorf("agent: a post embeds at most %d images, not %d", MaxImages, len(opts.Images))
	}
	if opts.Reply != nil && opts.ReplyTo != nil {
		return nil, errors.New("agent: set ReplyTo or Reply, not both")
	}
	for _, l := range opts.Langs {
		if _, err := syntax.ParseLanguage(l); err != nil {
			return nil, fmt.Errorf("agent: %q is not a BCP 47 language tag", l)
		}
	}
	rec := postRecord{Type: "app.bsky.feed.post", Text: text, Langs: opts.Langs, Reply: opts.Reply}
	created := opts.CreatedAt
	if created.IsZero() {
		created = a.now()
	}
	rec.CreatedAt = created.UTC().Format("2006-01-02T15:04:05.000Z")

	// Read the images and check every permission before uploading.
	type pending struct {
		data []byte
		mime string
	}
	reqs := []scope.Requirement{scope.NeedRepo("app.bsky.feed.post", "create")}
	uploads := make([]pending, len(opts.Images))
	for i, img := range opts.Images {
		switch {
		case img.Blob != nil && img.Data != nil:
			return nil, fmt.Errorf("agent: image %d has both Data and Blob", i)
		case img.Blob != nil:
			continue
		case img.Data == nil:
			return nil, fmt.Errorf("agent: image %d has neither Data nor Blob", i)
		}
		data, mt, err := a.readBlob(img.Data, img.MimeType)
		if err != nil {
			return nil, fmt.Errorf("agent: image %d: %w", i, err)
		}
		uploads[i] = pending{data: data, mime: mt}
		reqs = append(reqs, scope.NeedBlob(mt))
	}
	if err := a.xc.Check(reqs...); err != nil {
		return nil, err
	}

	if opts.ReplyTo != nil {
		reply, err := a.replyRef(ctx, *opts.ReplyTo)
		if err != nil {
			return nil, err
		}
		rec.Reply = reply
	}
	rec.Facets = opts.Facets
	if rec.Facets == nil {
		rec.Facets = a.resolveMentions(ctx, DetectFacets(text))
	}

	if len(opts.Images) > 0 {
		rec.Embed = &imagesEmbed{Type: "app.bsky.embed.images"}
		for i, img := range opts.Images {
			ir := imageRecord{Image: img.Blob, Alt: img.Alt, AspectRatio: img.AspectRatio}
			if ir.Image == nil {
				blob, err := a.uploadBytes(ctx, uploads[i].data, uploads[i].mime)
				if err != nil {
					return nil, fmt.Errorf("agent: uploading image %d: %w", i, err)
				}
				ir.Image = blob
				if ir.AspectRatio == nil {
					ir.AspectRatio = aspectRatio(uploads[i].data, uploads[i].mime)
				}
			}
			rec.Embed.Images = append(rec.Embed.Images, ir)
		}
	}
	return a.CreateRecord(ctx, "app.bsky.feed.post", rec, nil)
}

// replyRef finds the thread of the post parent: its own reply root, or
// the parent itself when it starts the thread.
func (a *Agent) replyRef(ctx context.Context, parent StrongRef) (*ReplyRef, error) {
	repo, coll, rkey, err := recordURI(parent.URI)
	if err != nil {
		return nil, err
	}
	rec, err := a.GetRecord(ctx, repo, coll, rkey)
	if err != nil {
		return nil, fmt.Errorf("agent: reading the post replied to: %w", err)
	}
	var p struct {
		Reply *ReplyRef `json:"reply"`
	}
	if err := rec.Decode(&p); err != nil {
		return nil, err
	}
	if parent.CID == "" {
		parent.CID = rec.CID
	}
	root := parent
	if p.Reply != nil && p.Reply.Root.URI != "" {
		root = p.Reply.Root
	}
	return &ReplyRef{Root: root, Parent: parent}, nil
}

// resolveMentions fills in the DIDs of detected mentions through the PDS
// (com.atproto.identity.resolveHandle) and drops those that do not
// resolve, as the Bluesky app does.
func (a *Agent) resolveMentions(ctx context.Context, facets []Facet) []Facet {
	dids := map[string]string{}
	out := facets[:0]
	for _, f := range facets {
		ft := f.Features[0]
		if ft.Type == FacetMention && ft.DID == "" {
			did, ok := dids[ft.Handle]
			if !ok {
				var res struct {
					DID string `json:"did"`
				}
				if err := a.xc.Query(ctx, "com.atproto.identity.resolveHandle", xrpc.Params{"handle": ft.Handle}, &res); err == nil {
					if _, err := syntax.ParseDID(res.DID); err == nil {
						did = res.DID
					}
				}
				dids[ft.Handle] = did
			}
			if did == "" {
				continue
			}
			f.Features = []FacetFeature{{Type: FacetMention, DID: did, Handle: ft.Handle}}
		}
		out = append(out, f)
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// aspectRatio reads the dimensions of PNG, JPEG and GIF images.
func aspectRatio(data []byte, mimeType string) *AspectRatio {
	var cfg image.Config
	var err error
	r := bytes.NewReader(data)
	switch mimeType {
	case "image/png":
		cfg, err = png.DecodeConfig(r)
	case "image/jpeg":
		cfg, err = jpeg.DecodeConfig(r)
	case "image/gif":
		cfg, err = gif.DecodeConfig(r)
	default:
		return nil
	}
	if err != nil || cfg.Width <= 0 || cfg.Height <= 0 {
		return nil
	}
	return &AspectRatio{Width: int64(cfg.Width), Height: int64(cfg.Height)}
}
