package examples_test

import (
	"fmt"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"

	"github.com/atoauth/atoauth"
	"github.com/atoauth/atoauth/atoauthhttp"
	"github.com/atoauth/atoauth/atoauthtest"
	"github.com/labstack/echo/v4"
)

// With echo: echo.WrapHandler for the handlers, echo.WrapMiddleware for
// the middleware (the session is in c.Request().Context()).
func Example_echo() {
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

	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.Any("/auth/*", echo.WrapHandler(auth.Handler()))
	e.GET("/callback", echo.WrapHandler(http.HandlerFunc(auth.Callback)))
	g := e.Group("/notes", echo.WrapMiddleware(auth.RequireSession))
	g.GET("", func(c echo.Context) error {
		sess, _ := atoauthhttp.SessionFrom(c.Request().Context())
		c.Response().Header().Set(atoauthhttp.CSRFHeader, atoauthhttp.CSRFToken(c.Request().Context()))
		return c.String(http.StatusOK, fmt.Sprintf("Hello, %s!", sess.Handle()))
	})
	g.POST("", echo.WrapHandler(http.HandlerFunc(addNote)))

	srv := httptest.NewServer(e)
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
