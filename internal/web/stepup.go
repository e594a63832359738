package web

import (
	"bytes"
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

	"github.com/atoauth/atoauth/agent"
	"github.com/atoauth/atoauth/atoauthhttp"
	"github.com/atoauth/atoauth/internal/httpx"
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
		if httpx.CookieValue(r, name) != "" {
			a.clearCookie(w, name)
		}
	}
}

// draftValue is the draft cookies' value ("" without a draft, or with
// one larger than any the app writes).
func (a *App) draftValue(r *http.Request) string {
	names := a.draftCookies()
	v := httpx.CookieValue(r, names[0])
	if v == "" {
		return ""
	}
	v += httpx.CookieValue(r, names[1])
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
	ask, undeclared := a.auth.StepUpScope(missing)
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
	ask, undeclared := a.auth.StepUpScope(missing)
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
	// The draft goes with the redirect to the authorization server; if
	// the step-up does not start, it is taken back.
	a.setDraft(w, chunks, draftMaxAge)
	st := appState{Form: form, Draft: digest}
	err = a.auth.StepUp(w, r, request, &atoauthhttp.StartOptions{Next: draftReturn(form), AppState: st.encode()})
	if err == nil {
		a.logger(r).Info("step-up started", "did", s.info.DID, "scope", ask, "form", form)
		return
	}
	names := a.draftCookies()
	dropCookies(w, names[:]...)
	var e *atoauthhttp.Error
	if !errors.As(err, &e) || e.Code == atoauthhttp.CodeRateLimited || e.Code == atoauthhttp.CodeNotSignedIn {
		a.auth.WriteError(w, r, err)
		return
	}
	a.renderDraft(w, r, s, e.Status, d, e.Message, box)
}

// dropCookies takes back the cookies named names that w was to set.
func dropCookies(w http.ResponseWriter, names ...string) {
	h := w.Header()
	var keep []string
	for _, c := range h.Values("Set-Cookie") {
		name, _, _ := strings.Cut(c, "=")
		if !slices.Contains(names, name) {
			keep = append(keep, c)
		}
	}
	h.Del("Set-Cookie")
	for _, c := range keep {
		h.Add("Set-Cookie", c)
	}
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

// stepUpReturn completes the callback of a step-up that was declined or
// failed (code): the browser goes back to the form, which fills itself
// in from the draft.
func (a *App) stepUpReturn(w http.ResponseWriter, r *http.Request, st appState, e *atoauthhttp.Error, code string) {
	if v := a.draftValue(r); v == "" || draftDigest(v) != st.Draft {
		a.clearDraft(w, r) // not this step-up's
	}
	notice := "stepup-failed"
	if code == string(atoauthhttp.CodeDenied) {
		notice = "stepup-declined"
	}
	http.Redirect(w, r, atoauthhttp.SafeReturn(e.Return)+"?notice="+notice, http.StatusSeeOther)
}
