package web

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/atoauth/atoauth"
	"github.com/atoauth/atoauth/agent"
	"github.com/atoauth/atoauth/xrpc"
	"github.com/bluesky-social/indigo/atproto/syntax"
)

// maxImageBytes is the largest image a post or avatar may have
// (app.bsky.embed.images and app.bsky.actor.profile: 1,000,000 bytes).
const maxImageBytes = 1_000_000

type homePage struct {
	Profile    profileCard
	Draft      draft
	ImageSlots []imageSlot
	Languages  []language
	Posts      []postItem
	PostsError string
	Timeline   timeline
}

type profileCard struct {
	DisplayName string
	Handle      string
	DID         string
	PDSHost     string
	Avatar      string // URL
	Initial     string // shown when there is no avatar
	Description string
	HasCounts   bool
	Followers   int64
	Follows     int64
	Posts       int64
}

// draft is what the composer shows again after a failure or a step-up.
type draft struct {
	Text string
	Lang string
	Alts [agent.MaxImages]string
	// ImagesLost: images were chosen, and must be chosen again (no page
	// can fill a file input).
	ImagesLost bool
	// StepUp is the box asking for a missing permission (the composer's,
	// or a standalone one for a deletion).
	StepUp *stepUpBox
	// DeleteRKey is the post whose deletion waited for a permission.
	DeleteRKey string
}

// imageSlot is one of the composer's image inputs.
type imageSlot struct {
	N   int
	Alt string
}

type language struct {
	Tag, Name string
	Selected  bool
}

type postItem struct {
	RKey      string
	Text      string
	CreatedAt time.Time
	Images    []imageView
	Langs     []string
}

type imageView struct {
	URL, Alt string
}

type timeline struct {
	Items []feedItem
	// Unavailable explains why there is no timeline (no AppView, no
	// permission); "" when it loaded.
	Unavailable string
}

type feedItem struct {
	AuthorName   string
	AuthorHandle string
	Avatar       string
	Initial      string
	Text         string
	CreatedAt    time.Time
	Images       []imageView
	RepostedBy   string
}

// languages offered by the composer; any other BCP 47 tag is accepted
// too.
var languages = []struct{ Tag, Name string }{
	{"", "Not set"}, {"en", "English"}, {"es", "Español"}, {"pt", "Português"}, {"fr", "Français"},
	{"de", "Deutsch"}, {"it", "Italiano"}, {"nl", "Nederlands"}, {"sv", "Svenska"}, {"fi", "Suomi"},
	{"pl", "Polski"}, {"uk", "Українська"}, {"ru", "Русский"}, {"tr", "Türkçe"}, {"ar", "العربية"},
	{"hi", "हिन्दी"}, {"id", "Bahasa Indonesia"}, {"ja", "日本語"}, {"ko", "한국어"}, {"zh", "中文"},
}

// languageOptions marks the selected language: the draft's, or the
// browser's preferred one.
func languageOptions(selected string, r *http.Request) []language {
	if selected == "" {
		selected = preferredLanguage(r.Header.Get("Accept-Language"))
	}
	out := make([]language, len(languages))
	found := false
	for i, l := range languages {
		out[i] = language{Tag: l.Tag, Name: l.Name, Selected: l.Tag == selected}
		found = found || out[i].Selected
	}
	if !found && selected != "" {
		out = append(out, language{Tag: selected, Name: selected, Selected: true})
	}
	return out
}

// preferredLanguage is the primary subtag of the first language of an
// Accept-Language header that the composer offers.
func preferredLanguage(h string) string {
	for _, part := range strings.Split(h, ",") {
		tag, _, _ := strings.Cut(strings.TrimSpace(part), ";")
		primary, _, _ := strings.Cut(strings.ToLower(tag), "-")
		for _, l := range languages {
			if l.Tag != "" && l.Tag == primary {
				return primary
			}
		}
	}
	return ""
}

// renderHome loads and shows the home page: the profile card, the
// composer, the account's recent posts and its timeline, fetched
// concurrently.
func (a *App) renderHome(w http.ResponseWriter, r *http.Request, s *session, status int, errMsg string, d *draft) {
	p := homePage{}
	if d != nil {
		p.Draft = *d
		if box := p.Draft.StepUp; box != nil && box.Form == draftDelete {
			box.Standalone, box.CSRF, box.RKey = true, s.csrf, p.Draft.DeleteRKey
		}
	}
	for i := range agent.MaxImages {
		p.ImageSlots = append(p.ImageSlots, imageSlot{N: i + 1, Alt: p.Draft.Alts[i]})
	}
	p.Languages = languageOptions(p.Draft.Lang, r)
	ctx, cancel := a.pageContext(r)
	defer cancel()
	var wg sync.WaitGroup
	var profileErr, postsErr, timelineErr error
	wg.Go(func() { p.Profile, profileErr = a.loadProfileCard(ctx, s) })
	wg.Go(func() { p.Posts, postsErr = a.loadPosts(ctx, s) })
	wg.Go(func() { p.Timeline.Items, timelineErr = a.loadTimeline(ctx, s) })
	wg.Wait()
	// The three loads end together when the session has ended; the one
	// that learned why tells it (the others may only see it gone).
	var ended error
	for _, err := range []error{profileErr, postsErr, timelineErr} {
		if sessionEnded(err) && (ended == nil || sessionEndNotice(ended) == "session-ended") {
			ended = err
		}
	}
	if ended != nil {
		a.endSession(w, r, s, ended)
		return
	}
	if profileErr != nil {
		a.logger(r).Info("home: profile", "err", profileErr)
	}
	if postsErr != nil {
		a.logger(r).Info("home: recent posts", "err", postsErr)
		p.PostsError = explainAction(postsErr, "load your posts")
	}
	if timelineErr != nil {
		a.logger(r).Info("home: timeline", "err", timelineErr)
		p.Timeline.Unavailable = timelineUnavailable(timelineErr)
	}
	v := s.view("Home", "home", p)
	v.Error = errMsg
	a.render(w, r, status, "home", v)
}

func timelineUnavailable(err error) string {
	switch {
	case errors.Is(err, xrpc.ErrNoService):
		return "Your server could not reach an AppView — the service that assembles timelines — so there is nothing to show here. Posting, your profile and your records work without it."
	case errors.Is(err, atoauth.ErrScopeMissing):
		return "This app was not given permission to read your timeline."
	case errors.Is(err, context.DeadlineExceeded):
		return "The AppView did not answer in time. Reload the page to try again."
	case responseTooLarge(err):
		return "Your server sent a far larger timeline than this page shows, so it was not read."
	}
	return explainAction(err, "load your timeline")
}

// endSession handles a session that has ended (err matches
// sessionEnded): the browser leaves its account — for the next account
// it is signed in to, or for the sign-in page — with the reason in plain
// words: the cause the client's event gave (see Notices), or else the
// one err tells.
func (a *App) endSession(w http.ResponseWriter, r *http.Request, s *session, err error) {
	a.logger(r).Info("session ended", "err", err)
	a.auth.Forget(w, r)
	http.Redirect(w, r, "/?notice="+orDefault(a.notices.notice(s.id), sessionEndNotice(err)), http.StatusSeeOther)
}

// loadProfileCard reads the profile from the AppView (with CDN avatar
// URLs), falling back to the profile record in the repo when no AppView
// answers. The card is filled in either way. The AppView gets a part of
// ctx's time (appViewShare), leaving the rest for the fallback.
func (a *App) loadProfileCard(ctx context.Context, s *session) (c profileCard, _ error) {
	c = profileCard{Handle: s.info.Handle.String(), DID: s.info.DID.String(), PDSHost: hostOf(s.info.PDS)}
	defer func() { // on the card returned
		name := c.DisplayName
		if name == "" {
			name = c.Handle
		}
		c.Initial = initial(name)
	}()
	ag := s.agent(capProfile)
	actx, cancel := context.WithTimeout(ctx, a.appViewTimeout())
	pv, err := ag.GetProfile(actx, "")
	cancel()
	if err == nil {
		c.DisplayName, c.Avatar, c.Description = line(maxNameRunes, pv.DisplayName), imageURL(pv.Avatar), text(maxTextRunes, pv.Description)
		c.HasCounts, c.Followers, c.Follows, c.Posts = true, pv.FollowersCount, pv.FollowsCount, pv.PostsCount
		return c, nil
	}
	if sessionEnded(err) {
		return c, err
	}
	rec, _, rerr := ag.GetProfileRecord(ctx)
	switch {
	case rerr == nil:
		c.DisplayName, c.Description = line(maxNameRunes, rec.DisplayName), text(maxTextRunes, rec.Description)
		if rec.Avatar != nil {
			c.Avatar = imageURL(blobURL(s.info.PDS, s.info.DID, rec.Avatar.CID()))
		}
	case errors.Is(rerr, xrpc.ErrRecordNotFound):
	default:
		return c, errors.Join(err, rerr)
	}
	return c, err
}

// appViewTimeout is how long a page's AppView call may take.
func (a *App) appViewTimeout() time.Duration {
	return time.Duration(float64(a.pageTimeout) * appViewShare)
}

func (a *App) loadPosts(ctx context.Context, s *session) ([]postItem, error) {
	page, err := s.agent(capPosts).ListRecordsPage(ctx, "", "app.bsky.feed.post", &agent.ListOptions{Limit: recentPosts})
	if err != nil {
		return nil, err
	}
	recs := page.Records[:min(len(page.Records), recentPosts)]
	out := make([]postItem, 0, len(recs))
	for _, rec := range recs {
		var v struct {
			Text      string          `json:"text"`
			CreatedAt string          `json:"createdAt"`
			Langs     []string        `json:"langs"`
			Embed     json.RawMessage `json:"embed"`
		}
		if rec.Decode(&v) != nil {
			continue
		}
		it := postItem{RKey: rkeyOf(rec.URI), Text: text(maxTextRunes, v.Text)}
		for _, l := range v.Langs[:min(len(v.Langs), maxLangs)] {
			it.Langs = append(it.Langs, line(16, l))
		}
		it.CreatedAt, _ = time.Parse(time.RFC3339Nano, v.CreatedAt)
		it.Images = recordImages(v.Embed, s.info.PDS, s.info.DID)
		out = append(out, it)
	}
	return out, nil
}

// recordImages finds the images of a post record's embed (images, or
// the media of a record-with-media) as getBlob URLs on the PDS.
func recordImages(embed json.RawMessage, pds string, did syntax.DID) []imageView {
	var e struct {
		Images []struct {
			Alt   string      `json:"alt"`
			Image *agent.Blob `json:"image"`
		} `json:"images"`
		Media json.RawMessage `json:"media"`
	}
	if len(embed) == 0 || json.Unmarshal(embed, &e) != nil {
		return nil
	}
	if len(e.Images) == 0 && len(e.Media) > 0 {
		return recordImages(e.Media, pds, did)
	}
	var out []imageView
	for _, im := range e.Images[:min(len(e.Images), maxImages)] {
		if im.Image != nil && im.Image.CID() != "" && len(im.Image.CID()) <= maxIDRunes {
			out = append(out, imageView{URL: blobURL(pds, did, im.Image.CID()), Alt: line(maxAltRunes, im.Alt)})
		}
	}
	return out
}

func (a *App) loadTimeline(ctx context.Context, s *session) ([]feedItem, error) {
	ctx, cancel := context.WithTimeout(ctx, a.appViewTimeout())
	defer cancel()
	feed, err := s.agent(capTimeline).GetTimeline(ctx, &agent.FeedOptions{Limit: timelineItems})
	if err != nil {
		return nil, err
	}
	items := feed.Items[:min(len(feed.Items), timelineItems)]
	out := make([]feedItem, 0, len(items))
	for _, it := range items {
		p := it.Post
		fi := feedItem{AuthorName: line(maxNameRunes, p.Author.DisplayName), AuthorHandle: line(maxIDRunes, p.Author.Handle),
			Avatar: imageURL(p.Author.Avatar), Text: text(maxTextRunes, p.Text())}
		if fi.AuthorName == "" {
			fi.AuthorName = fi.AuthorHandle
		}
		fi.Initial = initial(fi.AuthorName)
		var rec struct {
			CreatedAt string `json:"createdAt"`
		}
		_ = json.Unmarshal(p.Record, &rec)
		fi.CreatedAt, _ = time.Parse(time.RFC3339Nano, rec.CreatedAt)
		fi.Images = viewImages(p.Embed)
		var reason struct {
			Type string                 `json:"$type"`
			By   agent.ProfileViewBasic `json:"by"`
		}
		if json.Unmarshal(it.Reason, &reason) == nil && strings.HasSuffix(reason.Type, "#reasonRepost") {
			fi.RepostedBy = line(maxNameRunes, orDefault(reason.By.DisplayName, reason.By.Handle))
		}
		out = append(out, fi)
	}
	return out, nil
}

// viewImages finds the thumbnails of an AppView embed view.
func viewImages(embed json.RawMessage) []imageView {
	var e struct {
		Images []struct {
			Thumb string `json:"thumb"`
			Alt   string `json:"alt"`
		} `json:"images"`
		Media json.RawMessage `json:"media"`
	}
	if len(embed) == 0 || json.Unmarshal(embed, &e) != nil {
		return nil
	}
	if len(e.Images) == 0 && len(e.Media) > 0 {
		return viewImages(e.Media)
	}
	var out []imageView
	for _, im := range e.Images[:min(len(e.Images), maxImages)] {
		if u := imageURL(im.Thumb); u != "" {
			out = append(out, imageView{URL: u, Alt: line(maxAltRunes, im.Alt)})
		}
	}
	return out
}

// post publishes a post with up to four images, their alt texts and a
// language.
func (a *App) post(w http.ResponseWriter, r *http.Request, s *session) {
	d := draft{Text: strings.TrimSpace(r.PostFormValue("text")), Lang: strings.TrimSpace(r.PostFormValue("lang"))}
	for i := range agent.MaxImages {
		d.Alts[i] = strings.TrimSpace(r.PostFormValue(fmt.Sprintf("alt%d", i+1)))
	}
	d.ImagesLost = hasFile(r, "image1", "image2", "image3", "image4")
	fail := func(status int, msg string) { a.renderHome(w, r, s, status, msg, &d) }
	var images []agent.Image
	for i := 1; i <= agent.MaxImages; i++ {
		data, mt, err := formImage(r, fmt.Sprintf("image%d", i), imageTypes)
		if err != nil {
			fail(http.StatusBadRequest, fmt.Sprintf("Image %d: %v", i, err))
			return
		}
		if data == nil {
			continue
		}
		images = append(images, agent.Image{Data: bytes.NewReader(data), MimeType: mt, Alt: d.Alts[i-1]})
	}
	if d.Text == "" && len(images) == 0 {
		fail(http.StatusBadRequest, "Write something or add an image first.")
		return
	}
	opts := &agent.PostOptions{Images: images}
	if d.Lang != "" {
		if _, err := syntax.ParseLanguage(d.Lang); err != nil {
			fail(http.StatusBadRequest, "Choose a language from the list.")
			return
		}
		opts.Langs = []string{d.Lang}
	}
	ctx, cancel := a.postContext(r)
	defer cancel()
	res, err := s.agent(capWrite).Post(ctx, d.Text, opts)
	if sessionEnded(err) {
		a.endSession(w, r, s, err)
		return
	}
	if box := a.newStepUpBox(err, draftPost); box != nil {
		a.logger(r).Info("post: permission missing", "scope", box.Request)
		box.HadImages = d.ImagesLost
		d.StepUp = box
		fail(http.StatusForbidden, scopeMissingMessage(box, "post"))
		return
	}
	if err != nil {
		a.logger(r).Info("post failed", "err", err)
		fail(http.StatusBadGateway, explainAction(err, "post"))
		return
	}
	a.logger(r).Info("posted", "did", s.info.DID, "uri", res.URI, "images", len(images))
	http.Redirect(w, r, "/?notice=posted", http.StatusSeeOther)
}

// imageTypes are the image types a post may embed.
var imageTypes = []string{"image/png", "image/jpeg", "image/gif", "image/webp"}

// formImage reads an uploaded image of the multipart form: nil when the
// field is empty, an error a person can act on when it is not an image
// of the allowed types or larger than maxImageBytes.
func formImage(r *http.Request, field string, allowed []string) ([]byte, string, error) {
	f, _, err := r.FormFile(field)
	if errors.Is(err, http.ErrMissingFile) || errors.Is(err, http.ErrNotMultipart) {
		return nil, "", nil
	}
	if err != nil {
		return nil, "", errors.New("the upload could not be read")
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxImageBytes+1))
	if err != nil {
		return nil, "", errors.New("the upload could not be read")
	}
	if len(data) == 0 {
		return nil, "", nil
	}
	if len(data) > maxImageBytes {
		return nil, "", errors.New("the picture is larger than 1 MB; make it smaller and try again")
	}
	mt := http.DetectContentType(data)
	for _, t := range allowed {
		if mt == t {
			return data, mt, nil
		}
	}
	names := make([]string, len(allowed))
	for i, t := range allowed {
		names[i] = strings.ToUpper(strings.TrimPrefix(t, "image/"))
	}
	return nil, "", fmt.Errorf("this is not a %s picture", joinOr(names))
}

func joinOr(w []string) string {
	if len(w) < 2 {
		return strings.Join(w, "")
	}
	return strings.Join(w[:len(w)-1], ", ") + " or " + w[len(w)-1]
}

func (a *App) deletePost(w http.ResponseWriter, r *http.Request, s *session) {
	rkey := r.PostFormValue("rkey")
	if _, err := syntax.ParseRecordKey(rkey); err != nil {
		a.renderHome(w, r, s, http.StatusBadRequest, "That post does not exist.", nil)
		return
	}
	ctx, cancel := a.postContext(r)
	defer cancel()
	_, err := s.agent(capWrite).DeleteRecord(ctx, "app.bsky.feed.post", rkey, nil)
	if sessionEnded(err) {
		a.endSession(w, r, s, err)
		return
	}
	if box := a.newStepUpBox(err, draftDelete); box != nil {
		a.logger(r).Info("delete: permission missing", "scope", box.Request)
		a.renderHome(w, r, s, http.StatusForbidden, scopeMissingMessage(box, "delete the post"), &draft{StepUp: box, DeleteRKey: rkey})
		return
	}
	if err != nil {
		a.logger(r).Info("delete failed", "err", err)
		a.renderHome(w, r, s, http.StatusBadGateway, explainAction(err, "delete the post"), nil)
		return
	}
	a.logger(r).Info("post deleted", "did", s.info.DID, "rkey", rkey)
	http.Redirect(w, r, "/?notice=deleted", http.StatusSeeOther)
}

// blobURL is the PDS's public URL of a blob (com.atproto.sync.getBlob),
// for images when no AppView CDN URL is known.
func blobURL(pds string, did syntax.DID, cid string) string {
	return pds + "/xrpc/com.atproto.sync.getBlob?" + url.Values{"did": {did.String()}, "cid": {cid}}.Encode()
}

func hostOf(origin string) string {
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return origin
	}
	return u.Host
}

func rkeyOf(uri string) string {
	u, err := syntax.ParseATURI(uri)
	if err != nil {
		return ""
	}
	return u.RecordKey().String()
}

// initial is the letter shown in place of a missing avatar.
func initial(name string) string {
	for _, r := range name {
		return strings.ToUpper(string(r))
	}
	return "?"
}
