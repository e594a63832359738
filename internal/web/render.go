package web

import (
	"bytes"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/atoauth/atoauth/internal/safetext"
)

// view is what every page template receives.
type view struct {
	Title     string
	Nav       string // the active navigation entry
	Account   *accountView
	CSRF      string
	Notice    string
	Error     string
	RequestID string
	Asset     string
	Data      any
}

// accountView is the signed-in account, for the header, with the
// browser's other accounts for the switcher.
type accountView struct {
	Handle string
	DID    string
	Others []otherAccountView
	// CanAdd: the browser may add another account.
	CanAdd bool
}

// otherAccountView is another account of the browser: the switcher names
// it by DID, never by its session id.
type otherAccountView struct {
	Handle string
	DID    string
}

// notices are the fixed messages a redirect may ask a page to show
// (?notice=<code>): a page never prints text taken from the URL.
var notices = map[string]string{
	"posted":                 "Posted.",
	"deleted":                "Deleted.",
	"profile-saved":          "Profile saved.",
	"signed-out":             "Signed out.",
	"signed-out-switched":    "Signed out of that account. This is the next account signed in in this browser.",
	"signed-out-accounts":    "Signed out of every account in this browser.",
	"signed-out-all":         "Signed out everywhere: every session of your account in this app was revoked.",
	"switched":               "Switched account.",
	"session-ended":          "Your session has ended. Please sign in again.",
	"session-ended-switched": "The account you were using is no longer signed in here, so this is the next account signed in in this browser.",
	// Why a session ended, from the client's events (see causeNotice)
	// or from the error that ended it (sessionEndNotice).
	"session-revoked":        "You were signed out because your server revoked this sign-in: you signed out of this app elsewhere (on your server's account pages, say), or the access was withdrawn or unused for too long. Please sign in again.",
	"session-moved":          "You were signed out because your account moved to another server or its identity changed, so this sign-in could no longer be trusted. Please sign in again.",
	"session-refused":        "You were signed out because your server no longer accepts this sign-in (the account may have moved or been deactivated). Please sign in again.",
	"session-key":            "You were signed out because this app changed the key it signs in with. Please sign in again.",
	"session-refresh-failed": "You were signed out because your server refused to renew this sign-in. Please sign in again.",
	"session-signed-out":     "You were signed out because you signed out in another window or browser (with “Sign out everywhere”, say). Please sign in again.",
	"revoke-failed":          "Signed out. Your server could not be reached to revoke the session; its tokens were deleted here and expire on their own.",
	// Back from a step-up.
	"stepup-granted":  "Permission granted: submit again.",
	"stepup-declined": "You declined the permission, so nothing was changed. What you typed is still here.",
	"stepup-failed":   "The permission request did not complete, so nothing was changed. What you typed is still here; try again.",
}

func (a *App) loadTemplates() error {
	funcs := template.FuncMap{
		"when":     when,
		"datetime": func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
		"short":    short,
	}
	layout, err := fs.ReadFile(templateFS, "templates/layout.html")
	if err != nil {
		return err
	}
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return err
	}
	a.pages = map[string]*template.Template{}
	for _, n := range names {
		base := path.Base(n)
		if base == "layout.html" {
			continue
		}
		t, err := template.New(base).Funcs(funcs).Parse(string(layout))
		if err != nil {
			return fmt.Errorf("web: layout: %w", err)
		}
		if _, err := t.ParseFS(templateFS, n); err != nil {
			return fmt.Errorf("web: %s: %w", base, err)
		}
		a.pages[strings.TrimSuffix(base, ".html")] = t
	}
	return nil
}

// render writes page with status. Pages are personal: never cached.
func (a *App) render(w http.ResponseWriter, r *http.Request, status int, page string, v *view) {
	t := a.pages[page]
	if t == nil {
		a.logger(r).Error("render: no such page", "page", page)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	v.RequestID = requestID(r)
	v.Asset = a.asset
	if v.Notice == "" {
		v.Notice = notices[r.URL.Query().Get("notice")]
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", v); err != nil {
		a.logger(r).Error("render", "page", page, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	// html/template escapes markup, not what reorders text or acts on a
	// terminal: the fields taken from servers are escaped with safetext
	// where they are read, and, in case one was missed, the page is too
	// (a no-op for a page that is clean, as every template is).
	_, _ = io.WriteString(w, safetext.Text(buf.String()))
}

// errorPage is the data of the error page.
type errorPage struct {
	Heading string
	Message string
	// Detail is the technical cause, free of secrets, for a bug report.
	Detail string
	// Back is where the "way back" link goes.
	Back, BackLabel string
}

// renderError shows a friendly error page with a way back; s, when not
// nil, is the signed-in session (for the header).
func (a *App) renderError(w http.ResponseWriter, r *http.Request, status int, p errorPage, s *session) {
	if p.Back == "" {
		p.Back, p.BackLabel = "/", "Back to the start"
	}
	v := &view{Title: p.Heading, Data: p}
	if s != nil {
		v = s.view(p.Heading, "", p)
	}
	a.render(w, r, status, "error", v)
}

func (a *App) notFound(w http.ResponseWriter, r *http.Request) {
	a.renderError(w, r, http.StatusNotFound, errorPage{
		Heading: "Page not found",
		Message: "There is nothing at this address.",
	}, nil)
}

// when formats a time for people: "just now", "5 min ago", "3 h ago",
// or a date.
func when(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	d := time.Since(t)
	switch {
	case d < 0:
		return "in " + duration(-d)
	case d < time.Minute:
		return "just now"
	case d < 24*time.Hour:
		return duration(d) + " ago"
	}
	return t.UTC().Format("Jan 2, 2006 15:04 UTC")
}

func duration(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%d s", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%d min", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%d h", int(d.Hours()))
	}
	return fmt.Sprintf("%d days", int(d.Hours()/24))
}

// short cuts s to n runes, marking the cut with "…". It reads at most
// n runes of s, however long s is.
func short(n int, s string) string {
	i := 0
	for range n {
		if i >= len(s) {
			return s
		}
		_, size := utf8.DecodeRuneInString(s[i:])
		i += size
	}
	if i >= len(s) {
		return s
	}
	return s[:i] + "…"
}
