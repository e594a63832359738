package xrpc_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"

	"github.com/atoauth/atoauth/auth"
	"github.com/atoauth/atoauth/scope"
	"github.com/atoauth/atoauth/xrpc"
	appbsky "github.com/bluesky-social/indigo/api/bsky"
)

// stubPDS stands in for a PDS: it prints what it receives and answers
// with status and body.
func stubPDS(status int, body string) *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Printf("PDS got %s %s?%s atproto-proxy=%q\n", r.Method, r.URL.Path, r.URL.RawQuery, r.Header.Get("atproto-proxy"))
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}))
}

// Calls to app.bsky.* go to the user's PDS, which forwards them to the
// AppView it is configured with (no atproto-proxy header is needed; name
// another AppView with Options.Services). With a signed-in session, use
// xrpc.Options{Auth: sess}.
func ExampleClient_Query() {
	pds := stubPDS(200, `{"did":"did:plc:ewvi7nxzyoun6zhxrhs64oiz","handle":"alice.test","followersCount":3}`)
	defer pds.Close()

	c, err := xrpc.NewClient(xrpc.Options{Auth: mustPublic(pds.URL)})
	if err != nil {
		log.Fatal(err)
	}
	var profile struct {
		Handle         string `json:"handle"`
		FollowersCount int    `json:"followersCount"`
	}
	if err := c.Query(context.Background(), "app.bsky.actor.getProfile", xrpc.Params{"actor": "alice.test"}, &profile); err != nil {
		log.Fatal(err)
	}
	fmt.Println(profile.Handle, profile.FollowersCount)
	// Output:
	// PDS got GET /xrpc/app.bsky.actor.getProfile?actor=alice.test atproto-proxy=""
	// alice.test 3
}

// indigo's generated API functions run over the Client unchanged.
func ExampleClient_LexDo() {
	pds := stubPDS(200, `{"did":"did:plc:ewvi7nxzyoun6zhxrhs64oiz","handle":"alice.test","displayName":"Alice"}`)
	defer pds.Close()

	c, err := xrpc.NewClient(xrpc.Options{Auth: mustPublic(pds.URL)})
	if err != nil {
		log.Fatal(err)
	}
	profile, err := appbsky.ActorGetProfile(context.Background(), c, "alice.test")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(*profile.DisplayName)
	// Output:
	// PDS got GET /xrpc/app.bsky.actor.getProfile?actor=alice.test atproto-proxy=""
	// Alice
}

// Error responses become typed errors that say what to do.
func ExampleError() {
	pds := stubPDS(400, `{"error":"RecordNotFound","message":"Could not locate record: at://did:plc:ewvi7nxzyoun6zhxrhs64oiz/app.bsky.feed.post/3kabc"}`)
	defer pds.Close()

	c, err := xrpc.NewClient(xrpc.Options{Auth: mustPublic(pds.URL)})
	if err != nil {
		log.Fatal(err)
	}
	err = c.Query(context.Background(), "com.atproto.repo.getRecord", xrpc.Params{
		"repo": "did:plc:ewvi7nxzyoun6zhxrhs64oiz", "collection": "app.bsky.feed.post", "rkey": "3kabc",
	}, nil)
	fmt.Println(errors.Is(err, xrpc.ErrRecordNotFound))
	fmt.Println(err)
	// Output:
	// PDS got GET /xrpc/com.atproto.repo.getRecord?collection=app.bsky.feed.post&repo=did%3Aplc%3Aewvi7nxzyoun6zhxrhs64oiz&rkey=3kabc atproto-proxy=""
	// true
	// xrpc: com.atproto.repo.getRecord answered HTTP 400: RecordNotFound (Could not locate record: at://did:plc:ewvi7nxzyoun6zhxrhs64oiz/app.bsky.feed.post/3kabc): there is no record at that collection and record key (never created, deleted, or in another repo)
}

// A call that needs a permission the session was not granted fails before
// anything is sent. With a session, the granted scope is the session's;
// here it is given explicitly.
func ExampleScopeMissingError() {
	pds := stubPDS(200, `{}`)
	defer pds.Close()

	c, err := xrpc.NewClient(xrpc.Options{
		Auth:       mustPublic(pds.URL),
		Authorizer: scope.ParseGranted("atproto repo:app.bsky.feed.post?action=create blob:image/*"),
	})
	if err != nil {
		log.Fatal(err)
	}
	err = c.Procedure(context.Background(), "com.atproto.repo.putRecord", nil, map[string]any{
		"repo": "did:plc:ewvi7nxzyoun6zhxrhs64oiz", "collection": "app.bsky.actor.profile", "rkey": "self",
		"record": map[string]any{"$type": "app.bsky.actor.profile", "displayName": "Alice"},
	}, nil)
	var sme *xrpc.ScopeMissingError
	fmt.Println(errors.Is(err, auth.ErrScopeMissing), errors.As(err, &sme) && sme.ClientSide)
	fmt.Println(sme.Permission) // the first one missing, as the PDS names it
	fmt.Println(sme.Request)    // all of them: what to ask for in a step-up
	// Output:
	// true true
	// repo:app.bsky.actor.profile?action=create
	// repo:app.bsky.actor.profile?action=create&action=update
}

// mustPublic is auth.Public for an example.
func mustPublic(host string) auth.Auth {
	a, err := auth.Public(host, nil)
	if err != nil {
		log.Fatal(err)
	}
	return a
}
