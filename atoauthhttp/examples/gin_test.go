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
	"github.com/gin-gonic/gin"
)

// requireSession is atoauthhttp's middleware as gin middleware: the
// rest of the chain runs inside it, on the request that carries the
// session; when it answers itself (a redirect to sign in, a refusal),
// the chain stops.
func requireSession(auth *atoauthhttp.Auth) gin.HandlerFunc {
	return func(c *gin.Context) {
		passed := false
		auth.RequireSession(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			passed = true
			c.Request = r
			c.Next()
		})).ServeHTTP(c.Writer, c.Request)
		if !passed {
			c.Abort()
		}
	}
}

// With gin: gin.WrapH and gin.WrapF for the handlers, and a small
// adapter for the middleware (the session is in c.Request.Context()).
func Example_gin() {
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

	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.Any("/auth/*path", gin.WrapH(auth.Handler()))
	r.GET("/callback", gin.WrapF(auth.Callback))
	signedIn := r.Group("/", requireSession(auth))
	signedIn.GET("/notes", func(c *gin.Context) {
		sess, _ := atoauthhttp.SessionFrom(c.Request.Context())
		c.Header(atoauthhttp.CSRFHeader, atoauthhttp.CSRFToken(c.Request.Context()))
		c.String(http.StatusOK, "Hello, %s!", sess.Handle())
	})
	signedIn.POST("/notes", gin.WrapF(addNote))

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
