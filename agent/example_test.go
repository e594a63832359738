package agent_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log"
	"strings"

	"github.com/atoauth/atoauth"
	"github.com/atoauth/atoauth/agent"
	"github.com/atoauth/atoauth/atoauthtest"
	"github.com/atoauth/atoauth/xrpc"
)

// signIn signs alice.test in on a fake network and returns her Agent; a
// web app gets the session from Client.Callback (or later from
// Client.Session) and calls agent.New(sess, nil). stop stops the network.
func signIn(scope string) (a *agent.Agent, stop func()) {
	n := atoauthtest.Start(atoauthtest.Options{})
	env, err := n.SignIn(context.Background(), "alice.test", scope)
	if err != nil {
		log.Fatal(err)
	}
	a, err = agent.New(env.Session, nil)
	if err != nil {
		log.Fatal(err)
	}
	return a, n.Close
}

// Post with an image, a link, a mention and a hashtag.
func ExampleAgent_Post() {
	a, stop := signIn("atproto transition:generic")
	defer stop()
	ctx := context.Background()
	photo := bytes.NewReader(pngImage(640, 480)) // e.g. os.Open("cat.png")

	res, err := a.Post(ctx, "Hello @alice.test 🦋 https://atproto.com #atproto", &agent.PostOptions{
		Images: []agent.Image{{Data: photo, Alt: "A test pattern"}},
		Langs:  []string{"en"},
	})
	if err != nil {
		log.Fatal(err)
	}

	// The AppView, through the PDS, shows it.
	feed, err := a.GetAuthorFeed(ctx, "", nil)
	if err != nil {
		log.Fatal(err)
	}
	post := feed.Items[0].Post
	fmt.Println(post.URI == res.URI, post.Author.Handle, post.Text())
	// Output: true alice.test Hello @alice.test 🦋 https://atproto.com #atproto
}

// Change the profile without overwriting concurrent changes, and set an
// avatar; the AppView's profile view carries the avatar's CDN URL.
func ExampleAgent_UpdateProfile() {
	a, stop := signIn("atproto transition:generic")
	defer stop()
	ctx := context.Background()

	if _, err := a.UpdateProfile(ctx, func(p *agent.Profile) error {
		p.DisplayName = "Alice"
		p.Description = "Testing atoauth"
		return nil
	}); err != nil {
		log.Fatal(err)
	}
	if _, err := a.SetAvatar(ctx, bytes.NewReader(pngImage(128, 128)), "image/png"); err != nil {
		log.Fatal(err)
	}
	view, err := a.GetProfile(ctx, "alice.test")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(view.DisplayName, "|", view.Description)
	fmt.Println(strings.HasPrefix(view.Avatar, "https://cdn.bsky.app/img/avatar/plain/"+a.DID().String()+"/"))
	// Output:
	// Alice | Testing atoauth
	// true
}

// Iterate over every record of a collection; pages are fetched as needed.
func ExampleAgent_ListRecords() {
	a, stop := signIn("atproto transition:generic")
	defer stop()
	ctx := context.Background()

	for _, text := range []string{"one", "two", "three"} {
		if _, err := a.CreateRecord(ctx, "com.example.note", map[string]string{"$type": "com.example.note", "text": text}, nil); err != nil {
			log.Fatal(err)
		}
	}
	for rec, err := range a.ListRecords(ctx, "", "com.example.note", &agent.ListOptions{Limit: 2, Reverse: true}) {
		if err != nil {
			log.Fatal(err)
		}
		var note struct{ Text string }
		if err := rec.Decode(&note); err != nil {
			log.Fatal(err)
		}
		fmt.Println(note.Text)
	}
	// Output:
	// one
	// two
	// three
}

// A session that was granted less than an action needs fails before
// anything is sent, with the permission to ask for.
func ExampleAgent_UpdateProfile_missingPermission() {
	// Declared and granted: posts and images only.
	a, stop := signIn("atproto repo:app.bsky.feed.post?action=create blob:image/*")
	defer stop()

	_, err := a.UpdateProfile(context.Background(), func(p *agent.Profile) error { p.DisplayName = "Alice"; return nil })
	var missing *xrpc.ScopeMissingError
	if errors.As(err, &missing) {
		fmt.Println(errors.Is(err, atoauth.ErrScopeMissing), missing.Permission)
	}
	// Output: true repo:app.bsky.actor.profile?action=create
}
