package examples_test

import (
	"fmt"
	"log"
	"log/slog"
	"net/http/httptest"

	"github.com/atoauth/atoauth"
	"github.com/atoauth/atoauth/atoauthhttp"
	"github.com/atoauth/atoauth/atoauthtest"
	"github.com/go-chi/chi/v5"
)

// With chi: mount the handler, and use the middleware with With (or
// Use on a group).
func Example_chi() {
	n := atoauthtest.Start(atoauthtest.Options{Logger: slog.New(slog.DiscardHandler)})
	defer n.Close()
	alice := n.CreateAccount("alice.test")
	client, err := atoauth.NewClient(n.ClientConfig("atproto transition:generic"))
	if err != nil {
		log.Fatal(err)
	}
	auth, err := atoauthhttp.New(client, nil)
	if err != nil {
		log.Fatal(err)
	}

	r := chi.NewRouter()
	r.Mount("/auth", auth.Handler()) // it routes on the whole path
	r.Get("/callback", auth.Callback)
	r.Group(func(r chi.Router) {
		r.Use(auth.RequireSession)
		r.Get("/notes", notes)
		r.Post("/notes", addNote)
	})

	srv := httptest.NewServer(r)
	defer srv.Close()
	hc, page, csrf := browse(n, srv.URL, "/notes", alice)
	fmt.Println(page)
	fmt.Println(post(hc, srv.URL+"/notes", csrf))
	fmt.Println(post(hc, srv.URL+"/notes", "")[:3])
	// Output:
	// Hello, alice.test!
	// 200 Noted, alice.test.
	// 403
}
