package web_test

import (
	"bytes"
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/atoauth/atoauth/atoauthtest"
)

// TestSignInPostWithImagesDeleteSignOut is the main path: sign in, see
// the profile card, post with two images (alt texts, language), see the
// post, delete it, sign out — which revokes the session, so the old
// cookie no longer works.
func TestSignInPostWithImagesDeleteSignOut(t *testing.T) {
	e := newEnv(t, nil)
	b := e.browser

	start := b.get("/")
	mustContain(t, "sign-in page", start.body, `name="identifier"`, "Create an account", `href="/signup"`)

	cb := b.signIn(e.alice)
	if cb.StatusCode != http.StatusSeeOther || cb.Header.Get("Location") != "/" {
		t.Fatalf("callback: HTTP %d %s\n%s", cb.StatusCode, cb.Header.Get("Location"), cb.body)
	}
	sid := e.sessionID(b)
	if sid == "" {
		t.Fatal("no session cookie")
	}
	home := b.get("/")
	host := strings.TrimPrefix(e.net.PDS.URL, "http://")
	mustContain(t, "home", home.body, "@alice.test", e.alice.String(), host, `action="/post"`, `enctype="multipart/form-data"`, "Your recent posts", "You have not posted yet")

	img1, img2 := pngImage(64, 48), pngImage(30, 30)
	p := b.postMultipart("/post", url.Values{"text": {"hello with pictures #atoauth"}, "alt1": {"a test pattern"}, "alt3": {"a small square"}, "lang": {"fr"}},
		file{"image1", "one.png", img1}, file{"image3", "three.png", img2})
	if p.StatusCode != http.StatusSeeOther || p.Header.Get("Location") != "/?notice=posted" {
		t.Fatalf("post: HTTP %d\n%s", p.StatusCode, p.body)
	}
	rkey := e.onlyPost()
	rec := e.record("app.bsky.feed.post", rkey)
	if rec["text"] != "hello with pictures #atoauth" || rec["langs"].([]any)[0] != "fr" {
		t.Fatalf("record: %v", rec)
	}
	images := rec["embed"].(map[string]any)["images"].([]any)
	if len(images) != 2 {
		t.Fatalf("images: %v", images)
	}
	for i, want := range []struct {
		alt  string
		data []byte
	}{{"a test pattern", img1}, {"a small square", img2}} {
		im := images[i].(map[string]any)
		cid := im["image"].(map[string]any)["ref"].(map[string]any)["$link"].(string)
		if im["alt"] != want.alt {
			t.Errorf("image %d alt %v", i, im["alt"])
		}
		if data, _, ok := e.net.Blob(e.alice, cid); !ok || !bytes.Equal(data, want.data) {
			t.Errorf("image %d: blob not stored", i)
		}
	}

	home = b.get("/?notice=posted")
	mustContain(t, "home after posting", home.body, "Posted.", "hello with pictures #atoauth", `alt="a test pattern"`,
		"com.atproto.sync.getBlob", `name="rkey" value="`+rkey+`"`, ">Delete</button>", `<span class="tag">fr</span>`)

	p = b.post("/post/delete", url.Values{"rkey": {rkey}})
	if p.StatusCode != http.StatusSeeOther || p.Header.Get("Location") != "/?notice=deleted" {
		t.Fatalf("delete: HTTP %d\n%s", p.StatusCode, p.body)
	}
	if e.record("app.bsky.feed.post", rkey) != nil {
		t.Fatal("the post was not deleted")
	}

	tokens, err := e.store.GetSession(context.Background(), sid)
	if err != nil {
		t.Fatal(err)
	}
	p = b.post("/logout", nil)
	if p.StatusCode != http.StatusSeeOther || p.Header.Get("Location") != "/?notice=signed-out" {
		t.Fatalf("logout: HTTP %d\n%s", p.StatusCode, p.body)
	}
	if c := setCookie(p, "atoauth_session"); c == nil || c.MaxAge >= 0 {
		t.Errorf("the session cookie was not cleared: %v", c)
	}
	if e.net.ActiveSessions(e.alice) != 0 || e.net.RefreshTokenValid(tokens.RefreshToken) || e.net.AccessTokenValid(tokens.AccessToken) {
		t.Fatal("sign-out did not revoke the session")
	}
	mustContain(t, "after sign-out", b.get("/?notice=signed-out").body, "Signed out.", `name="identifier"`)

	// The old cookie, replayed, is worth nothing.
	thief := e.newBrowser()
	u, _ := url.Parse(e.srv.URL)
	thief.jar.SetCookies(u, []*http.Cookie{{Name: "atoauth_session", Value: sid}})
	if p := thief.get("/"); !strings.Contains(p.body, `name="identifier"`) || strings.Contains(p.body, e.alice.String()) {
		t.Fatal("the old session cookie still signs in")
	}
	if p := thief.get("/records"); p.StatusCode != http.StatusSeeOther {
		t.Fatalf("records with the old cookie: HTTP %d", p.StatusCode)
	}
}

func TestComposerErrors(t *testing.T) {
	e := newEnv(t, nil)
	b := e.browser
	b.signIn(e.alice)

	for _, tc := range []struct {
		name  string
		v     url.Values
		files []file
		want  string
	}{
		{"empty", url.Values{"text": {"  "}}, nil, "Write something or add an image"},
		{"not an image", url.Values{"text": {"x"}}, []file{{"image2", "x.txt", []byte("just text, not a picture")}}, "Image 2: this is not a PNG, JPEG, GIF or WEBP picture"},
		{"too large", url.Values{"text": {"keep my draft"}}, []file{{"image1", "big.png", append(pngImage(10, 10), make([]byte, 1_000_001)...)}}, "larger than 1 MB"},
		{"bad language", url.Values{"text": {"x"}, "lang": {"not a language!"}}, nil, "Choose a language"},
	} {
		p := b.postMultipart("/post", tc.v, tc.files...)
		if p.StatusCode != http.StatusBadRequest {
			t.Errorf("%s: HTTP %d", tc.name, p.StatusCode)
		}
		mustContain(t, tc.name, p.body, tc.want)
	}
	// The draft survives an error.
	p := b.postMultipart("/post", url.Values{"text": {"keep my draft"}, "lang": {"de"}}, file{"image1", "x.txt", []byte("nope")})
	mustContain(t, "draft", p.body, ">keep my draft</textarea>", `<option value="de" selected>`)
	if n := e.net.Counters().PDSRequests; n == 0 {
		t.Log("no PDS requests")
	}

	// More than four images' worth of body is refused before parsing.
	big := make([]byte, 1_000_000)
	p = b.postMultipart("/post", url.Values{"text": {"x"}},
		file{"image1", "a", big}, file{"image2", "b", big}, file{"image3", "c", big}, file{"image4", "d", big}, file{"image5", "e", big})
	if p.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("oversized form: HTTP %d", p.StatusCode)
	}
}

// A session granted less than the app declares: the composer says what is
// missing in plain words and offers to ask for it — as the declared
// permission that grants it (transition:generic).
func TestPostWithoutPermission(t *testing.T) {
	e := newEnv(t, &envOptions{scope: "atproto transition:generic"})
	b := e.browser
	b.signIn(e.alice, atoauthtest.GrantScope("atproto"))
	p := b.postMultipart("/post", url.Values{"text": {"hi"}})
	if p.StatusCode != http.StatusForbidden {
		t.Fatalf("HTTP %d", p.StatusCode)
	}
	mustContain(t, "page", p.body, "does not have your permission to do that yet", "Create posts.", "Your server will ask you to allow: Create, change and delete any records",
		`name="stepup_scope" value="repo:app.bsky.feed.post?action=create"`, `formaction="/stepup"`, ">Allow this</button>", ">hi</textarea>")
	// The timeline says why it is not there.
	mustContain(t, "home", p.body, "not given permission to read your timeline")
}

func TestTimeline(t *testing.T) {
	e := newEnv(t, nil)
	bob := e.net.CreateAccount("bob.test")
	b := e.browser
	b.signIn(e.alice)
	mustContain(t, "empty timeline", b.get("/").body, "Your timeline is empty")

	// Bob posts; alice follows bob: bob's post is in alice's timeline.
	bb := e.newBrowser()
	bb.signIn(bob)
	if p := bb.postMultipart("/post", url.Values{"text": {"bob was here"}}, file{"image1", "b.png", pngImage(20, 10)}); p.StatusCode != http.StatusSeeOther {
		t.Fatalf("bob's post: HTTP %d", p.StatusCode)
	}
	a := e.agent(b)
	if _, err := a.CreateRecord(context.Background(), "app.bsky.graph.follow", map[string]any{
		"$type": "app.bsky.graph.follow", "subject": bob.String(), "createdAt": "2026-01-01T00:00:00.000Z"}, nil); err != nil {
		t.Fatal(err)
	}
	before := e.net.Counters().Proxied
	home := b.get("/")
	mustContain(t, "timeline", home.body, "bob was here", "@bob.test", atoauthtest.CDNPrefix)
	if e.net.Counters().Proxied == before {
		t.Error("the timeline did not go through the PDS proxy")
	}

	// Without an AppView: a clear empty state, and the rest of the page.
	e.net.UpdateTamper(func(tm *atoauthtest.Tamper) { tm.ServiceUnreachable = true })
	home = b.get("/")
	if home.StatusCode != http.StatusOK {
		t.Fatalf("home without AppView: HTTP %d", home.StatusCode)
	}
	mustContain(t, "home without AppView", home.body, "No timeline here", "could not reach an AppView", "@alice.test", `action="/post"`)
}

func TestAvatarFromTheAppViewCDN(t *testing.T) {
	e := newEnv(t, nil)
	b := e.browser
	b.signIn(e.alice)
	if p := b.postMultipart("/profile", url.Values{"cid": {""}, "displayName": {"Alice A."}}, file{"avatar", "me.png", pngImage(40, 40)}); p.StatusCode != http.StatusSeeOther {
		t.Fatalf("profile: HTTP %d\n%s", p.StatusCode, p.body)
	}
	home := b.get("/")
	mustContain(t, "home", home.body, `<img class="avatar avatar-lg" src="`+atoauthtest.CDNPrefix+"/avatar/plain/"+e.alice.String(), "Alice A.")

	// No AppView: the avatar comes from the PDS.
	e.net.UpdateTamper(func(tm *atoauthtest.Tamper) { tm.ServiceUnreachable = true })
	home = b.get("/")
	mustContain(t, "home without AppView", home.body, `<img class="avatar avatar-lg" src="`+e.net.PDS.URL+"/xrpc/com.atproto.sync.getBlob?", "Alice A.")
}

func TestSessionEndedByTheServer(t *testing.T) {
	for _, tc := range []struct {
		cause  string
		break_ func(e *env)
		notice string
		says   string
	}{
		{"revoked", func(e *env) { e.net.RevokeAll(e.alice); e.net.ExpireAccessTokens() },
			"session-revoked", "You were signed out because your server revoked this sign-in"},
		{"moved", func(e *env) {
			e.net.UpdateTamper(func(tm *atoauthtest.Tamper) {
				tm.ResourceMetadata = func(m map[string]any) { m["authorization_servers"] = []any{"https://elsewhere.example.com"} }
			})
			e.net.ExpireAccessTokens()
		}, "session-moved", "You were signed out because your account moved to another server"},
		{"refused", func(e *env) { e.net.UpdateTamper(func(tm *atoauthtest.Tamper) { tm.RejectAccessTokens = true }) },
			"session-refused", "You were signed out because your server no longer accepts this sign-in"},
	} {
		t.Run(tc.cause, func(t *testing.T) {
			e := newEnv(t, nil)
			b := e.browser
			b.signIn(e.alice)
			tc.break_(e)
			p := b.get("/")
			if p.StatusCode != http.StatusSeeOther || p.Header.Get("Location") != "/?notice="+tc.notice {
				t.Fatalf("HTTP %d %s", p.StatusCode, p.Header.Get("Location"))
			}
			mustContain(t, "sign-in page", b.get("/?notice="+tc.notice).body, tc.says, "Please sign in again", `name="identifier"`)
			if list, _ := e.client.Sessions(context.Background(), e.alice); len(list) != 0 {
				t.Fatalf("the ended session is still stored: %v", list)
			}
		})
	}
}
