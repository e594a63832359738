package web_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/atoauth/atoauth"
	"github.com/atoauth/atoauth/internal/web"
)

// The loopback app is atoauth.LoopbackConfig's client, so its sessions are
// the atoauth command's of the same scope. A cookie naming a session that
// another client made (the app ran with another scope or public URL then)
// is a signed-out visit: the cookie is cleared, the session is left to its
// client.
func TestSessionOfAnotherClient(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, nil)
	b := e.browser
	b.signIn(e.alice)
	id := e.sessionID(b)
	d, err := e.store.GetSession(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	shared, err := atoauth.NewClient(atoauth.LoopbackConfig(web.DefaultScope))
	if err != nil {
		t.Fatal(err)
	}
	if d.ClientID != e.client.ClientID() || d.ClientID != shared.ClientID() {
		t.Fatalf("the session records client %q; want the app's, %q, which is LoopbackConfig(DefaultScope)'s", d.ClientID, e.client.ClientID())
	}
	if p := b.get("/session"); p.StatusCode != http.StatusOK {
		t.Fatalf("/session: HTTP %d", p.StatusCode)
	}

	other, err := atoauth.NewClient(atoauth.LoopbackConfig("atproto"))
	if err != nil {
		t.Fatal(err)
	}
	d.ClientID = other.ClientID()
	if err := e.store.SaveSession(ctx, d); err != nil {
		t.Fatal(err)
	}
	p := b.get("/session")
	if p.StatusCode != http.StatusSeeOther || p.Header.Get("Location") != "/?next=%2Fsession&notice=session-ended" {
		t.Fatalf("/session with another client's session: HTTP %d %s", p.StatusCode, p.Header.Get("Location"))
	}
	if c := setCookie(p, "atoauth_session"); c == nil || c.MaxAge >= 0 {
		t.Errorf("the session cookie was not cleared: %v", c)
	}
	if _, err := e.store.GetSession(ctx, id); err != nil {
		t.Errorf("the other client's session was deleted: %v", err)
	}
}
