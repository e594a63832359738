package web

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/atoauth/atoauth/agent"
	"github.com/atoauth/atoauth/xrpc"
	"github.com/bluesky-social/indigo/atproto/syntax"
)

// Limits of app.bsky.actor.profile (in graphemes; runes are counted here,
// which is never fewer, and the PDS has the last word).
const (
	maxDisplayName = 64
	maxDescription = 256
)

type profileForm struct {
	DisplayName string
	Description string
	// CID is the version of the profile record the form was filled from
	// ("" when there is none yet): saving swaps against it.
	CID    string
	Avatar string // URL of the current avatar
	// RemoveAvatar: the form asked to remove the avatar.
	RemoveAvatar bool
	// AvatarLost: a new avatar was chosen, and must be chosen again (no
	// page can fill a file input).
	AvatarLost bool
	// StepUp is the box asking for a missing permission.
	StepUp *stepUpBox
}

// profilePage shows the profile editor, filled from the profile record.
func (a *App) profilePage(w http.ResponseWriter, r *http.Request, s *session) {
	ctx, cancel := a.pageContext(r)
	defer cancel()
	f, err := a.loadProfileForm(ctx, s)
	if sessionEnded(err) {
		a.endSession(w, r, s, err)
		return
	}
	if err != nil {
		a.logger(r).Info("profile: read", "err", err)
		a.renderError(w, r, http.StatusBadGateway, errorPage{Heading: "Could not load your profile",
			Message: explainAction(err, "load your profile"), Back: "/", BackLabel: "Back home"}, s)
		return
	}
	if d := a.takeDraft(w, r, s, draftProfile); d != nil {
		// Back from a step-up: what was typed, on the version it was
		// typed on (saving swaps against it).
		f.DisplayName, f.Description, f.CID = d.DisplayName, d.Description, line(maxIDRunes, d.CID)
		f.RemoveAvatar, f.AvatarLost = d.RemoveAvatar, d.Avatar
	}
	a.renderProfileForm(w, r, s, http.StatusOK, "", f)
}

// renderProfileForm shows the profile editor filled in with f.
func (a *App) renderProfileForm(w http.ResponseWriter, r *http.Request, s *session, status int, errMsg string, f profileForm) {
	v := s.view("Edit profile", "profile", f)
	v.Error = errMsg
	a.render(w, r, status, "profile", v)
}

// loadProfileForm fills the profile editor from the profile record. The
// fields show the record's text as every page does (see formName and
// formDescription); saving keeps a field that was not edited as it is.
func (a *App) loadProfileForm(ctx context.Context, s *session) (profileForm, error) {
	p, cid, err := s.agent(capProfile).GetProfileRecord(ctx)
	if errors.Is(err, xrpc.ErrRecordNotFound) {
		return profileForm{}, nil
	}
	if err != nil {
		return profileForm{}, err
	}
	f := profileForm{DisplayName: formName(p.DisplayName), Description: formDescription(p.Description), CID: line(maxIDRunes, cid)}
	if p.Avatar != nil {
		f.Avatar = imageURL(blobURL(s.info.PDS, s.info.DID, p.Avatar.CID()))
	}
	return f, nil
}

// formName and formDescription are how the profile editor shows the
// record's display name and description: cut, with controls, bidi
// overrides and invalid UTF-8 escaped, and trimmed as a saved form is.
func formName(s string) string        { return strings.TrimSpace(line(maxNameRunes, s)) }
func formDescription(s string) string { return strings.TrimSpace(text(maxTextRunes, s)) }

// saveProfile writes the profile with putRecord and swapRecord against
// the version the form was filled from, so that a change made elsewhere
// in the meantime is never overwritten: the person sees it and decides.
// Fields of the record the form does not show are kept.
func (a *App) saveProfile(w http.ResponseWriter, r *http.Request, s *session) {
	in := profileForm{
		DisplayName:  strings.TrimSpace(r.PostFormValue("displayName")),
		Description:  strings.TrimSpace(strings.ReplaceAll(r.PostFormValue("description"), "\r\n", "\n")),
		CID:          r.PostFormValue("cid"),
		RemoveAvatar: r.PostFormValue("removeAvatar") != "",
		AvatarLost:   hasFile(r, "avatar"),
	}
	fail := func(status int, msg string, f profileForm) { a.renderProfileForm(w, r, s, status, msg, f) }
	avatar, avatarType, err := formImage(r, "avatar", []string{"image/png", "image/jpeg"})
	if err != nil {
		fail(http.StatusBadRequest, "Avatar: "+err.Error(), in)
		return
	}
	ctx, cancel := a.postContext(r)
	defer cancel()
	ag := s.agent(capWrite)
	conflict := func() {
		cur, err := a.loadProfileForm(ctx, s)
		if err != nil {
			cur = in
		}
		fail(http.StatusConflict, "Your profile was changed elsewhere (in another app or tab) since you opened this page. This is the current version: make your changes again and save.", cur)
	}
	p, cid, err := ag.GetProfileRecord(ctx)
	switch {
	case errors.Is(err, xrpc.ErrRecordNotFound):
		p = &agent.Profile{CreatedAt: time.Now().UTC().Format("2006-01-02T15:04:05.000Z")}
		cid = ""
	case sessionEnded(err):
		a.endSession(w, r, s, err)
		return
	case err != nil:
		fail(http.StatusBadGateway, explainAction(err, "load your profile"), in)
		return
	}
	if p.Avatar != nil {
		in.Avatar = imageURL(blobURL(s.info.PDS, s.info.DID, p.Avatar.CID()))
	}
	missing := func(err error) bool {
		box := a.newStepUpBox(err, draftProfile)
		if box == nil {
			return false
		}
		a.logger(r).Info("profile: permission missing", "scope", box.Request)
		box.HadImages = in.AvatarLost
		in.StepUp = box
		fail(http.StatusForbidden, scopeMissingMessage(box, "save your profile"), in)
		return true
	}
	// A field shown as the record has it and sent back unchanged keeps
	// the record's text (which the form may show escaped, or cut); an
	// edited one must fit the lexicon's limits.
	if in.DisplayName != formName(p.DisplayName) {
		if utf8.RuneCountInString(in.DisplayName) > maxDisplayName {
			fail(http.StatusBadRequest, "The display name is too long: at most 64 characters.", in)
			return
		}
		p.DisplayName = in.DisplayName
	}
	if in.Description != formDescription(p.Description) {
		if utf8.RuneCountInString(in.Description) > maxDescription {
			fail(http.StatusBadRequest, "The description is too long: at most 256 characters.", in)
			return
		}
		p.Description = in.Description
	}
	if line(maxIDRunes, cid) != in.CID {
		conflict()
		return
	}
	if r.PostFormValue("removeAvatar") != "" {
		p.Avatar = nil
	}
	if avatar != nil {
		blob, err := ag.UploadBlob(ctx, bytes.NewReader(avatar), avatarType)
		if sessionEnded(err) {
			a.endSession(w, r, s, err)
			return
		}
		if missing(err) {
			return
		}
		if err != nil {
			fail(http.StatusBadGateway, explainAction(err, "upload the avatar"), in)
			return
		}
		p.Avatar = blob
	}
	opts := &agent.WriteOptions{SwapRecord: cid, SwapRecordAbsent: cid == ""}
	_, err = ag.PutRecord(ctx, "app.bsky.actor.profile", "self", p, opts)
	switch {
	case errors.Is(err, xrpc.ErrInvalidSwap):
		conflict()
		return
	case sessionEnded(err):
		a.endSession(w, r, s, err)
		return
	case missing(err):
		return
	case err != nil:
		a.logger(r).Info("profile: write", "err", err)
		fail(http.StatusBadGateway, explainAction(err, "save your profile"), in)
		return
	}
	a.logger(r).Info("profile saved", "did", s.info.DID)
	http.Redirect(w, r, "/profile?notice=profile-saved", http.StatusSeeOther)
}

type collectionsPage struct {
	Handle      string
	DID         string
	Collections []string
	// More is how many more record types there are than are listed.
	More int
}

// collections lists the record types of the account's repo
// (com.atproto.repo.describeRepo): the first maxCollections of them.
func (a *App) collections(w http.ResponseWriter, r *http.Request, s *session) {
	ctx, cancel := a.pageContext(r)
	defer cancel()
	d, err := s.agent(capRepo).DescribeRepo(ctx, "")
	if !a.pageOK(w, r, s, err, "list your records") {
		return
	}
	var cols []string
	for _, c := range d.Collections {
		if _, err := syntax.ParseNSID(c); err == nil {
			cols = append(cols, c)
		}
	}
	slices.Sort(cols)
	cols = slices.Compact(cols)
	p := collectionsPage{Handle: line(maxIDRunes, d.Handle), DID: line(maxIDRunes, d.DID), Collections: cols[:min(len(cols), maxCollections)]}
	p.More = len(cols) - len(p.Collections)
	a.render(w, r, http.StatusOK, "records", s.view("Records", "records", p))
}

// pageOK handles the error of a page's main call: a page that cannot be
// shown becomes an error page (or the sign-in page for an ended session).
func (a *App) pageOK(w http.ResponseWriter, r *http.Request, s *session, err error, what string) bool {
	switch {
	case err == nil:
		return true
	case sessionEnded(err):
		a.endSession(w, r, s, err)
	case errors.Is(err, xrpc.ErrRecordNotFound):
		a.renderError(w, r, http.StatusNotFound, errorPage{Heading: "Record not found",
			Message: "There is no record here: it may have been deleted.", Back: "/records", BackLabel: "Back to your records"}, s)
	default:
		a.logger(r).Info("page failed", "path", r.URL.Path, "err", err)
		a.renderError(w, r, http.StatusBadGateway, errorPage{Heading: "Your server did not answer as expected",
			Message: explainAction(err, what), Back: "/records", BackLabel: "Back to your records"}, s)
	}
	return false
}

type recordsPage struct {
	Collection string
	Records    []recordRow
	Next       string // URL of the next page, "" on the last
	First      string // URL of the first page when not on it
}

type recordRow struct {
	RKey    string
	CID     string
	Preview string
	URL     string
}

// recordsPageSize is how many records a page of the record browser shows.
const recordsPageSize = 25

// records lists one collection, a page at a time
// (com.atproto.repo.listRecords with its cursor).
func (a *App) records(w http.ResponseWriter, r *http.Request, s *session) {
	coll := r.PathValue("collection")
	if _, err := syntax.ParseNSID(coll); err != nil {
		a.notFound(w, r)
		return
	}
	cursor := r.URL.Query().Get("cursor")
	if len(cursor) > 512 {
		cursor = ""
	}
	ctx, cancel := a.pageContext(r)
	defer cancel()
	page, err := s.agent(capRecords).ListRecordsPage(ctx, "", coll, &agent.ListOptions{Limit: recordsPageSize, Cursor: cursor})
	if !a.pageOK(w, r, s, err, "list the records") {
		return
	}
	base := "/records/" + url.PathEscape(coll)
	p := recordsPage{Collection: coll}
	for _, rec := range page.Records[:min(len(page.Records), recordsPageSize)] {
		rk := rkeyOf(rec.URI)
		p.Records = append(p.Records, recordRow{RKey: rk, CID: line(maxIDRunes, rec.CID), Preview: preview(rec.Value), URL: base + "/" + url.PathEscape(rk)})
	}
	if page.Cursor != "" && len(page.Cursor) <= 512 && len(page.Records) == recordsPageSize {
		p.Next = base + "?" + url.Values{"cursor": {page.Cursor}}.Encode()
	}
	if cursor != "" {
		p.First = base
	}
	a.render(w, r, http.StatusOK, "collection", s.view(coll, "records", p))
}

// preview is a one-line summary of a record: its text, or the start of
// its JSON.
func preview(v json.RawMessage) string {
	var m map[string]json.RawMessage
	if json.Unmarshal(v, &m) == nil {
		for _, k := range []string{"text", "displayName", "name", "subject"} {
			var s string
			var ref struct {
				URI string `json:"uri"`
			}
			switch {
			case json.Unmarshal(m[k], &s) == nil && s != "":
				return line(120, s)
			case json.Unmarshal(m[k], &ref) == nil && ref.URI != "":
				return line(120, ref.URI)
			}
		}
	}
	var buf bytes.Buffer
	if json.Compact(&buf, v) != nil {
		return ""
	}
	return line(120, buf.String())
}

type recordPage struct {
	Collection string
	RKey       string
	URI        string
	CID        string
	JSON       string
	// Size is the size of the record's JSON in bytes when JSON shows only
	// its start (maxJSONPreview), 0 when it shows all of it.
	Size int
	Back string
}

// record shows one record as raw JSON (com.atproto.repo.getRecord).
func (a *App) record(w http.ResponseWriter, r *http.Request, s *session) {
	coll, rkey := r.PathValue("collection"), r.PathValue("rkey")
	if _, err := syntax.ParseNSID(coll); err != nil {
		a.notFound(w, r)
		return
	}
	if _, err := syntax.ParseRecordKey(rkey); err != nil {
		a.notFound(w, r)
		return
	}
	ctx, cancel := a.pageContext(r)
	defer cancel()
	rec, err := s.agent(capRecord).GetRecord(ctx, "", coll, rkey)
	if !a.pageOK(w, r, s, err, "load the record") {
		return
	}
	p := recordPage{Collection: coll, RKey: rkey, URI: line(maxIDRunes, rec.URI), CID: line(maxIDRunes, rec.CID), Back: "/records/" + url.PathEscape(coll)}
	var cut bool
	if p.JSON, cut = previewJSON(rec.Value, maxJSONPreview); cut {
		p.Size = len(rec.Value)
	}
	a.render(w, r, http.StatusOK, "record", s.view(coll+"/"+rkey, "records", p))
}

type sessionPage struct {
	Handle       string
	DID          string
	PDS          string
	Issuer       string
	SignedInAt   time.Time
	RefreshedAt  time.Time
	ExpiresAt    time.Time
	Permissions  []permission
	Confidential bool
	KeyID        string
	Lifetime     string
	Others       int
}

// sessionPage explains the session the app holds: who, where, which
// permissions in plain words, when the access token expires, and the
// sign-out buttons.
func (a *App) sessionPage(w http.ResponseWriter, r *http.Request, s *session) {
	in := s.info
	p := sessionPage{
		Handle: in.Handle.String(), DID: in.DID.String(), PDS: in.PDS, Issuer: in.Issuer,
		SignedInAt: in.CreatedAt, RefreshedAt: in.UpdatedAt, ExpiresAt: in.ExpiresAt,
		Permissions: describeScope(in.Scope), Confidential: in.ClientKeyID != "", KeyID: in.ClientKeyID,
		Lifetime: "Your server keeps this sign-in for up to two weeks (this app is a public client).",
	}
	if p.Confidential {
		p.Lifetime = "Your server keeps this sign-in for a long time — up to two years, as long as you use it at least every few months — because this app proves who it is with its own key."
	}
	if list, err := a.client.Sessions(r.Context(), in.DID); err == nil {
		p.Others = max(0, len(list)-1)
	} else {
		a.logger(r).Warn("listing sessions", "err", err)
	}
	a.render(w, r, http.StatusOK, "session", s.view("Session", "session", p))
}
