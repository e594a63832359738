package atoauthtest_test

import (
	"context"
	"fmt"
	"log"
	"log/slog"

	"github.com/atoauth/atoauth"
	"github.com/atoauth/atoauth/atoauthtest"
)

// Test an app's sign-in against the strict fake network: a client wired
// to it, an account, a login as a person would do it, then a request
// through the session's authenticated client.
func ExampleNetwork_Login() {
	n := atoauthtest.Start(atoauthtest.Options{Logger: slog.New(slog.DiscardHandler)})
	defer n.Close()
	alice := n.CreateAccount("alice.test")

	client, err := atoauth.NewClient(n.ClientConfig("atproto transition:generic"))
	if err != nil {
		log.Fatal(err)
	}
	sess, err := n.Login(context.Background(), client, alice)
	if err != nil {
		log.Fatal(err)
	}
	resp, err := sess.HTTPClient().Get(sess.PDS() + "/xrpc/com.atproto.server.getSession")
	if err != nil {
		log.Fatal(err)
	}
	resp.Body.Close()
	fmt.Println(sess.Handle(), resp.StatusCode)
	// Output: alice.test 200
}

// Start a test of code that works with a session: alice.test signed in
// through a client that declares a scope, granting only part of it.
func ExampleNetwork_SignIn() {
	n := atoauthtest.Start(atoauthtest.Options{})
	defer n.Close()

	env, err := n.SignIn(context.Background(), "alice.test", "atproto transition:generic transition:email", atoauthtest.GrantScope("atproto transition:generic"))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(env.Session.DID() == env.Account, env.Session.Handle())
	fmt.Println(env.Session.Info().Scope)
	// Output:
	// true alice.test
	// atproto transition:generic
}
