// Package web is the atoauth web app: "Sign in with Bluesky" done as a
// backend-for-frontend. Tokens stay on the server; the browser holds only
// an opaque session cookie.
package web

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/atoauth/atoauth"
)

//go:embed templates/*.html
var templateFS embed.FS

const (
	sessionCookie = "atoauth_session"
	stateCookie   = "atoauth_state"
)

// App serves the pages. Create it with New.
type App struct {
	client *atoauth.Client
	log    *slog.Logger
	secure bool // set the Secure attribute on cookies
	tmpl   *template.Template
	mux    *http.ServeMux
	cop    *http.CrossOriginProtection
	host   string // canonical host[:port]; requests to another host are redirected there
}

// Options configures New.
type Options struct {
	Client       *atoauth.Client
	Logger       *slog.Logger
	SecureCookie bool
	// CanonicalHost, when set, is the host[:port] the app must be reached
	// at (cookies are per host): a loopback client redirects to
	// 127.0.0.1:<port>, so visits to localhost:<port> are sent there.
	CanonicalHost string
}

// New returns the app's handler.
func New(opts Options) (*App, error) {
	tmpl, err := template.New("").Funcs(template.FuncMap{
		"words": strings.Fields,
	}).ParseFS(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	a := &App{client: opts.Client, log: opts.Logger, secure: opts.SecureCookie, tmpl: tmpl, mux: http.NewServeMux(),
		cop: http.NewCrossOriginProtection(), host: opts.CanonicalHost}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	a.mux.HandleFunc("GET /{$}", a.home)
	a.mux.HandleFunc("POST /login", a.login)
	a.mux.HandleFunc("GET /callback", a.callback)
	a.mux.HandleFunc("POST /post", a.post)
	a.mux.HandleFunc("POST /logout", a.logout)
	a.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok\n") })
	a.mux.Handle("GET /oauth-client-metadata.json", a.client.MetadataHandler())
	return a, nil
}

// ServeHTTP adds security headers and cross-origin protection, then
// dispatches.
func (a *App) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' https: data:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'; form-action 'self' https: http://127.0.0.1:* http://localhost:*")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	if a.host != "" && r.Host != a.host && r.Method == http.MethodGet {
		u := *r.URL
		u.Scheme, u.Host = "http", a.host
		if a.secure {
			u.Scheme = "https"
		}
		http.Redirect(w, r, u.String(), http.StatusTemporaryRedirect)
		return
	}
	a.cop.Handler(a.mux).ServeHTTP(w, r)
}

type page struct {
	Error   string
	Notice  string
	Session *atoauth.SessionInfo
	Input   string
}

func (a *App) render(w http.ResponseWriter, status int, p page) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	if err := a.tmpl.ExecuteTemplate(w, "page.html", p); err != nil {
		a.log.Error("render", "err", err)
	}
}

func (a *App) session(r *http.Request) *atoauth.Session {
	c, err := r.Cookie(sessionCookie)
	if err != nil || c.Value == "" {
		return nil
	}
	s, err := a.client.Session(r.Context(), c.Value)
	if err != nil {
		return nil
	}
	return s
}

func (a *App) setCookie(w http.ResponseWriter, name, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: value, Path: "/", MaxAge: maxAge, HttpOnly: true, Secure: a.secure, SameSite: http.SameSiteLaxMode})
}

func (a *App) home(w http.ResponseWriter, r *http.Request) {
	p := page{Notice: r.URL.Query().Get("notice")}
	if s := a.session(r); s != nil {
		info := s.Info()
		p.Session = &info
	}
	a.render(w, http.StatusOK, p)
}

func (a *App) login(w http.ResponseWriter, r *http.Request) {
	input := strings.TrimSpace(r.FormValue("identifier"))
	if input == "" {
		a.render(w, http.StatusBadRequest, page{Error: "Enter your handle (like alice.bsky.social), your DID, or your server's URL."})
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	defer cancel()
	auth, err := a.client.Start(ctx, input, nil)
	if err != nil {
		a.log.Info("sign-in could not start", "err", err)
		a.render(w, http.StatusBadRequest, page{Error: explain(err), Input: input})
		return
	}
	a.setCookie(w, stateCookie, auth.State, 600)
	http.Redirect(w, r, auth.URL, http.StatusSeeOther)
}

func (a *App) callback(w http.ResponseWriter, r *http.Request) {
	st, _ := r.Cookie(stateCookie)
	state := ""
	if st != nil {
		state = st.Value
	}
	if state == "" {
		a.render(w, http.StatusBadRequest, page{Error: "This sign-in was not started in this browser. Please sign in again."})
		return
	}
	a.setCookie(w, stateCookie, "", -1)
	s, err := a.client.Callback(r.Context(), r.URL.Query(), &atoauth.CallbackOptions{State: state})
	if err != nil {
		a.log.Info("sign-in failed", "err", err)
		a.render(w, http.StatusBadRequest, page{Error: explain(err)})
		return
	}
	a.setCookie(w, sessionCookie, s.ID(), 0)
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

func (a *App) post(w http.ResponseWriter, r *http.Request) {
	s := a.session(r)
	if s == nil {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	text := strings.TrimSpace(r.FormValue("text"))
	if text == "" {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	body := fmt.Sprintf(`{"repo":%q,"collection":"app.bsky.feed.post","record":{"$type":"app.bsky.feed.post","text":%q,"createdAt":%q}}`,
		s.DID(), text, time.Now().UTC().Format(time.RFC3339Nano))
	req, err := http.NewRequestWithContext(r.Context(), http.MethodPost, s.PDS()+"/xrpc/com.atproto.repo.createRecord", strings.NewReader(body))
	if err != nil {
		a.render(w, http.StatusInternalServerError, page{Error: err.Error()})
		return
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.HTTPClient().Do(req)
	if err != nil {
		info := s.Info()
		a.render(w, http.StatusBadGateway, page{Error: explain(err), Session: &info})
		return
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		info := s.Info()
		a.render(w, http.StatusBadGateway, page{Error: fmt.Sprintf("Your server refused the post (HTTP %d): %s", resp.StatusCode, msg), Session: &info})
		return
	}
	http.Redirect(w, r, "/?notice=Posted.", http.StatusSeeOther)
}

func (a *App) logout(w http.ResponseWriter, r *http.Request) {
	if s := a.session(r); s != nil {
		if err := s.Logout(r.Context()); err != nil {
			a.log.Warn("sign-out", "err", err)
		}
	}
	a.setCookie(w, sessionCookie, "", -1)
	http.Redirect(w, r, "/?notice=Signed+out.", http.StatusSeeOther)
}

// explain turns an error into a sentence for the page.
func explain(err error) string {
	var ce *atoauth.CallbackError
	switch {
	case errors.As(err, &ce) && ce.Code == "access_denied":
		return "You declined the sign-in. Nothing was shared."
	case errors.Is(err, atoauth.ErrInvalidState):
		return "This sign-in link has expired or was already used. Please sign in again."
	case errors.Is(err, atoauth.ErrSessionExpired):
		return "Your session has ended. Please sign in again."
	}
	return err.Error()
}
