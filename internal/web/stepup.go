package web

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/atoauth/atoauth"
	"github.com/atoauth/atoauth/agent"
	"github.com/atoauth/atoauth/scope"
	"github.com/atoauth/atoauth/xrpc"
)

// Step-up: a form that fails because the session lacks a permission is
// shown again, with what the person typed and a box naming the missing
// permission with an "Allow this" button. That button sends the same
// form to /stepup, which keeps what was typed (the draft) in short-lived
// cookies and starts a login for the same account asking for the
// permission (Session.StepUp). The callback replaces the session under
// the same id and returns to the form, filled in from the draft.
//
// The draft lives in the browser, in HttpOnly cookies, not on the
// server: any instance can read it back (nothing to share between
// instances, nothing to clean up), it never appears in a URL, and it is
// bound to its session (a tag of the session id) and to its step-up (its
// digest is in the login's app state, which the store keeps sealed). Its
// JSON is at most maxDraftBytes, split over at most two cookies of at
// most draftChunk characters, so that each stays under the 4 KB that
// browsers keep of a cookie. Images cannot be kept: no page can fill a
// file input, so the form asks for them again.

// The forms a step-up returns to.
const (
	draftPost    = "post"    // the composer, on the home page
	draftDelete  = "delete"  // a post's delete button, on the home page
	draftProfile = "profile" // the profile editor
)

const (
	// maxDraftBytes is the largest draft kept through a step-up (its
	// JSON).
	maxDraftBytes = 4096
	// draftChunk is the most characters of one draft cookie's value
	// (base64url): two hold maxDraftBytes of JSON.
	draftChunk = 3000
	// draftMaxAge is how long the draft cookies last: the time to
	// consent on the server's pages.
	draftMaxAge = 10 * time.Minute
)

// formDraft is what a person typed in a form, kept through a step-up.
type formDraft struct {
	Form    string `json:"f"`
	Session string `json:"s"` // draftTag of the session
	// The composer.
	Text   string   `json:"t,omitempty"`
	Lang   string   `json:"l,omitempty"`
	Alts   []string `json:"a,omitempty"`
	Images bool     `json:"i,omitempty"` // images were chosen (not kept)
	// The profile editor.
	DisplayName  string `json:"dn,omitempty"`
	Description  string `json:"de,omitempty"`
	CID          string `json:"c,omitempty"`
	RemoveAvatar bool   `json:"ra,omitempty"`
	Avatar       bool   `json:"av,omitempty"` // an avatar was chosen (not kept)
	// A post's delete button.
	RKey string `json:"r,omitempty"`
}

// draftTag ties a draft to its session without putting the id in it.
func draftTag(sessionID string) string {
	sum := sha256.Sum256([]byte("atoauth web draft\x00" + sessionID))
	return base64.RawURLEncoding.EncodeToString(sum[:12])
}

// errDraftTooLarge: the draft does not fit in its cookies.
var errDraftTooLarge = errors.New("web: draft too large")

// encodeDraft returns the values of the draft cookies and their digest.
func encodeDraft(d *formDraft) (chunks []string, digest string, err error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(d); err != nil {
		return nil, "", err
	}
	raw := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	if len(raw) > maxDraftBytes {
		return nil, "", errDraftTooLarge
	}
	s := base64.RawURLEncoding.EncodeToString(raw)
	for len(s) > draftChunk {
		chunks = append(chunks, s[:draftChunk])
		s = s[draftChunk:]
	}
	chunks = append(chunks, s)
	return chunks, draftDigest(strings.Join(chunks, "")), nil
}

func draftDigest(value string) string {
	sum := sha256.Sum256([]byte("atoauth web draft digest\x00" + value))
	return hex.EncodeToString(sum[:16])
}

// draftCookies are the names of the draft cookies.
func (a *App) draftCookies() [2]string {
	return [2]string{a.draftCookie, a.draftCookie + "2"}
}

// setDraft stores the draft's cookies.
func (a *App) setDraft(w http.ResponseWriter, chunks []string, maxAge time.Duration) {
	names := a.draftCookies()
	for i, name := range names {
		if i < len(chunks) {
			a.setCookie(w, name, chunks[i], maxAge)
		} else {
			a.clearCookie(w, name)
		}
	}
}

// clearDraft removes the draft's cookies, when the browser has them.
func (a *App) clearDraft(w http.ResponseWriter, r *http.Request) {
	for _, name := range a.draftCookies() {
		if cookieValue(r, name) != "" {
			a.clearCookie(w, name)
		}
	}
}

// draftValue is the draft cookies' value ("" without a draft, or with
// one larger than any the app writes).
func (a *App) draftValue(r *http.Request) string {
	names := a.draftCookies()
	v := cookieValue(r, names[0])
	if v == "" {
		return ""
	}
	v += cookieValue(r, names[1])
	if len(v) > base64.RawURLEncoding.EncodedLen(maxDraftBytes) {
		return ""
	}
	return v
}

// decodeDraft reads a draft cookie value.
func decodeDraft(v string) *formDraft {
	raw, err := base64.RawURLEncoding.DecodeString(v)
	if err != nil || len(raw) > maxDraftBytes {
		return nil
	}
	var d formDraft
	if json.Unmarshal(raw, &d) != nil {
		return nil
	}
	return &d
}

// stepUpNotices are the notices of a return from a step-up: the page
// then fills its form in from the draft.
var stepUpNotices = []string{"stepup-granted", "stepup-declined", "stepup-failed"}

// takeDraft returns the draft of one of forms kept through a step-up of
// session s, and removes the draft cookies. It returns nil unless the
// page is a return from a step-up.
func (a *App) takeDraft(w http.ResponseWriter, r *http.Request, s *session, forms ...string) *formDraft {
	notice := r.URL.Query().Get("notice")
	if !slices.Contains(stepUpNotices, notice) {
		return nil
	}
	v := a.draftValue(r)
	if v == "" {
		return nil
	}
	d := decodeDraft(v)
	if d != nil && d.Session == draftTag(s.id) && !slices.Contains(forms, d.Form) {
		return nil // another page's: left for it
	}
	a.clearDraft(w, r)
	if d == nil || d.Session != draftTag(s.id) {
		return nil
	}
	if len(d.Alts) > agent.MaxImages {
		d.Alts = d.Alts[:agent.MaxImages]
	}
	if d.Form == draftDelete && notice != "stepup-granted" {
		d.RKey = "" // nothing to offer: the permission is still missing
	}
	return d
}

// stepUpBox is the box a form shows when its action lacks a permission.
type stepUpBox struct {
	// Request is the missing permission as a scope string
	// (xrpc.ScopeMissingError.Request), sent back to /stepup.
	Request string
	// Missing describes it, one entry per permission.
	Missing []string
	// Ask describes what the step-up asks for when it differs from
	// Missing: the declared permissions that grant it (such as
	// transition:generic).
	Ask []string
	// Undeclared describes the permissions the app may not ask for: the
	// client metadata does not declare them. The box then has no button.
	Undeclared []string
	// Form is the form (draftPost, …); Standalone boxes have a form of
	// their own (with CSRF and RKey), the others a button in the form
	// that failed.
	Form       string
	Standalone bool
	CSRF       string
	RKey       string
	// HadImages: the form had images, which /stepup must know although
	// the form shown again has none.
	HadImages bool
}

// newStepUpBox returns the step-up box for err when it is a missing
// permission the app can name (nil otherwise).
func (a *App) newStepUpBox(err error, form string) *stepUpBox {
	var sme *xrpc.ScopeMissingError
	if !errors.As(err, &sme) || sme.Request == "" {
		return nil
	}
	missing, err := scope.Parse(sme.Request)
	if err != nil || len(missing) == 0 {
		return nil
	}
	box := &stepUpBox{Request: missing.String(), Form: form}
	for _, p := range missing {
		box.Missing = append(box.Missing, p.Describe())
	}
	ask, undeclared := a.stepUpScope(missing)
	for _, p := range undeclared {
		box.Undeclared = append(box.Undeclared, p.Describe())
	}
	if len(undeclared) == 0 && ask != missing.String() {
		for _, p := range scope.ParseGranted(ask) {
			box.Ask = append(box.Ask, p.Describe())
		}
	}
	return box
}

// stepUpScope is what a step-up asks for to get the permissions missing:
// each as the client metadata declares it, or else the declared
// permissions that grant it (transition:generic grants any repo write);
// undeclared lists those no declared permission grants.
func (a *App) stepUpScope(missing scope.Set) (ask string, undeclared []scope.Permission) {
	type declaredPerm struct {
		raw  string // as the metadata writes it, as Start wants it
		norm string
		perm scope.Permission
	}
	var declared []declaredPerm
	for _, raw := range strings.Fields(a.client.Metadata().Scope) {
		if p, err := scope.ParsePermission(raw); err == nil {
			declared = append(declared, declaredPerm{raw: raw, norm: p.String(), perm: p})
		}
	}
	var want []string
	add := func(t string) {
		if !slices.Contains(want, t) {
			want = append(want, t)
		}
	}
	for _, p := range missing {
		if i := slices.IndexFunc(declared, func(d declaredPerm) bool { return d.norm == p.String() }); i >= 0 {
			add(declared[i].raw)
			continue
		}
		reqs, err := scope.ParseRequirements(p.String())
		if err != nil || len(reqs) == 0 {
			undeclared = append(undeclared, p)
			continue
		}
		var grants []string
		for _, req := range reqs {
			i := slices.IndexFunc(declared, func(d declaredPerm) bool { return scope.NewSet(d.perm).Allows(req) })
			if i < 0 {
				grants = nil
				break
			}
			grants = append(grants, declared[i].raw)
		}
		if grants == nil {
			undeclared = append(undeclared, p)
			continue
		}
		for _, g := range grants {
			add(g)
		}
	}
	return strings.Join(want, " "), undeclared
}

// scopeMissingMessage is the error a form shows above its step-up box.
func scopeMissingMessage(box *stepUpBox, what string) string {
	if len(box.Undeclared) > 0 {
		return fmt.Sprintf("Could not %s: this app does not have your permission to do that, and it is not configured to ask for it.", what)
	}
	return fmt.Sprintf("Could not %s: this app does not have your permission to do that yet. Allow it below — what you typed is kept — then submit again.", what)
}

// stepUp starts a step-up for the form that failed: it keeps the draft
// in cookies and sends the browser to the authorization server.
func (a *App) stepUp(w http.ResponseWriter, r *http.Request, s *session) {
	form := r.PostFormValue("stepup_form")
	d := &formDraft{Form: form, Session: draftTag(s.id)}
	switch form {
	case draftPost:
		d.Text, d.Lang = strings.TrimSpace(r.PostFormValue("text")), strings.TrimSpace(r.PostFormValue("lang"))
		for i := 1; i <= agent.MaxImages; i++ {
			d.Alts = append(d.Alts, strings.TrimSpace(r.PostFormValue(fmt.Sprintf("alt%d", i))))
		}
		for len(d.Alts) > 0 && d.Alts[len(d.Alts)-1] == "" {
			d.Alts = d.Alts[:len(d.Alts)-1]
		}
		d.Images = r.PostFormValue("had_images") != "" || hasFile(r, "image1", "image2", "image3", "image4")
	case draftProfile:
		d.DisplayName = strings.TrimSpace(r.PostFormValue("displayName"))
		d.Description = strings.TrimSpace(strings.ReplaceAll(r.PostFormValue("description"), "\r\n", "\n"))
		d.CID = r.PostFormValue("cid")
		d.RemoveAvatar = r.PostFormValue("removeAvatar") != ""
		d.Avatar = r.PostFormValue("had_images") != "" || hasFile(r, "avatar")
	case draftDelete:
		d.RKey = r.PostFormValue("rkey")
	default:
		a.renderError(w, r, http.StatusBadRequest, errorPage{Heading: "Nothing to allow",
			Message: "This permission request does not come from one of this app's forms. Go back and try again."}, s)
		return
	}
	request := strings.TrimSpace(r.PostFormValue("stepup_scope"))
	missing, err := scope.Parse(request)
	if err != nil || len(missing) == 0 {
		a.renderDraft(w, r, s, http.StatusBadRequest, d, "That is not a permission this app can ask for.", nil)
		return
	}
	box := a.newStepUpBox(&xrpc.ScopeMissingError{Request: request}, form)
	box.HadImages = d.Images || d.Avatar
	ask, undeclared := a.stepUpScope(missing)
	if len(undeclared) > 0 {
		var words []string
		for _, p := range undeclared {
			words = append(words, strings.TrimSuffix(p.Describe(), "."))
		}
		a.logger(r).Info("step-up refused: not declared", "scope", box.Request)
		a.renderDraft(w, r, s, http.StatusForbidden, d,
			fmt.Sprintf("This app is not configured to ask for this permission (%s): its operator would have to add it to the app's scope.", strings.Join(words, "; ")), box)
		return
	}
	chunks, digest, err := encodeDraft(d)
	if errors.Is(err, errDraftTooLarge) {
		a.renderDraft(w, r, s, http.StatusRequestEntityTooLarge, d,
			"What you typed is too long to keep while you give the permission (at most 4 KB can be kept). Shorten it, or copy it somewhere safe, then press “Allow this” again.", box)
		return
	}
	if err != nil {
		a.renderDraft(w, r, s, http.StatusInternalServerError, d, "What you typed could not be kept. Please try again.", box)
		return
	}
	if !a.allowSignIn(w, r) {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), signInTimeout)
	defer cancel()
	st := appState{Return: draftReturn(form), StepUp: s.id, Form: form, Draft: digest}
	opts := a.startOptions(r)
	opts.AppState = st.encode()
	auth, err := s.s.StepUp(ctx, ask, opts)
	if err != nil {
		a.logger(r).Info("step-up could not start", "err", err)
		a.renderDraft(w, r, s, http.StatusBadGateway, d, explainStart(err, s.info.Handle.String()), box)
		return
	}
	maxAge := min(draftMaxAge, time.Until(auth.ExpiresAt))
	a.setCookie(w, a.stateCookie, auth.State, maxAge)
	a.setCookie(w, a.stepUpCookie, s.id, maxAge)
	a.setDraft(w, chunks, maxAge)
	a.logger(r).Info("step-up started", "did", s.info.DID, "scope", ask, "form", form)
	http.Redirect(w, r, auth.URL, http.StatusSeeOther)
}

// draftReturn is the page of a form.
func draftReturn(form string) string {
	if form == draftProfile {
		return "/profile"
	}
	return "/"
}

// hasFile tells whether the multipart form has a non-empty file in one
// of fields.
func hasFile(r *http.Request, fields ...string) bool {
	if r.MultipartForm == nil {
		return false
	}
	for _, f := range fields {
		for _, fh := range r.MultipartForm.File[f] {
			if fh.Size > 0 {
				return true
			}
		}
	}
	return false
}

// renderDraft shows the form of draft d again, with an error and,
// unless nil, the step-up box.
func (a *App) renderDraft(w http.ResponseWriter, r *http.Request, s *session, status int, d *formDraft, errMsg string, box *stepUpBox) {
	switch d.Form {
	case draftProfile:
		f := profileForm{DisplayName: d.DisplayName, Description: d.Description, CID: d.CID, RemoveAvatar: d.RemoveAvatar, AvatarLost: d.Avatar, StepUp: box}
		a.renderProfileForm(w, r, s, status, errMsg, f)
	default:
		a.renderHome(w, r, s, status, errMsg, homeDraftOf(d, box))
	}
}

// homeDraftOf is the home page's draft for a kept draft.
func homeDraftOf(d *formDraft, box *stepUpBox) *draft {
	hd := &draft{Text: d.Text, Lang: d.Lang, ImagesLost: d.Images, StepUp: box}
	copy(hd.Alts[:], d.Alts)
	if d.Form == draftDelete {
		hd.DeleteRKey = d.RKey
	}
	return hd
}

// stepUpReturn completes the callback of a step-up: the session was
// replaced (err nil) or not, and the browser goes back to the form, which
// fills itself in from the draft.
func (a *App) stepUpReturn(w http.ResponseWriter, r *http.Request, st appState, err error) {
	if a.draftValue(r) == "" || draftDigest(a.draftValue(r)) != st.Draft {
		a.clearDraft(w, r) // not this step-up's
	}
	notice := "stepup-granted"
	var ce *atoauth.CallbackError
	switch {
	case errors.As(err, &ce) && ce.Code == "access_denied":
		notice = "stepup-declined"
		a.logger(r).Info("step-up declined")
	case err != nil:
		notice = "stepup-failed"
		a.logger(r).Info("step-up failed", "err", err)
	default:
		a.logger(r).Info("step-up granted", "form", st.Form)
	}
	http.Redirect(w, r, safeReturn(st.Return)+"?notice="+notice, http.StatusSeeOther)
}
