package scope_test

import (
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/atoauth/atoauth/scope"
)

// roundTrip checks parse -> format -> parse -> format is stable.
func roundTrip(t testing.TB, s string) {
	p, err := scope.ParsePermission(s)
	if err != nil {
		var pe *scope.ParseError
		if !errors.As(err, &pe) || !errors.Is(err, scope.ErrInvalid) || !strings.HasPrefix(err.Error(), "scope: ") {
			t.Fatalf("ParsePermission(%q): error %v is not a *ParseError", s, err)
		}
		return
	}
	f := p.String()
	q, err := scope.ParsePermission(f)
	if err != nil {
		t.Fatalf("ParsePermission(%q) = %q, which does not parse: %v", s, f, err)
	}
	if g := q.String(); g != f {
		t.Fatalf("ParsePermission(%q) = %q, reparsed %q", s, f, g)
	}
	if err := p.Validate(); err != nil {
		t.Fatalf("ParsePermission(%q).Validate() = %v", s, err)
	}
	if p.Describe() == "" {
		t.Fatalf("%q: empty description", s)
	}
}

func TestRoundTrip(t *testing.T) {
	for _, s := range append(readLines(t, "scopes.txt"), readLines(t, "generated.txt")...) {
		roundTrip(t, s)
	}
}

func FuzzRoundTrip(f *testing.F) {
	for _, s := range readLines(f, "scopes.txt") {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) { roundTrip(t, s) })
}

func TestBuilders(t *testing.T) {
	for _, tc := range []struct {
		p    scope.Permission
		want string
	}{
		{scope.Atproto, "atproto"},
		{scope.Repo("app.bsky.feed.post", scope.ActionCreate), "repo:app.bsky.feed.post?action=create"},
		{scope.Repo("app.bsky.feed.post", scope.ActionDelete, scope.ActionCreate), "repo:app.bsky.feed.post?action=create&action=delete"},
		{scope.Repo("*"), "repo:*"},
		{scope.RPC("app.bsky.actor.getProfile", "did:web:api.bsky.app#bsky_appview"), "rpc:app.bsky.actor.getProfile?aud=did:web:api.bsky.app%23bsky_appview"},
		{scope.Blob("image/*"), "blob:image/*"},
		{scope.Blob("video/*", "image/png"), "blob?accept=image/png&accept=video/*"},
		{scope.Account(scope.AttrEmail, ""), "account:email"},
		{scope.Account(scope.AttrEmail, scope.ActionManage), "account:email?action=manage"},
		{scope.Identity(scope.AttrHandle), "identity:handle"},
		{scope.Include("app.bsky.authFullApp", "did:web:api.bsky.app#bsky_appview"), "include:app.bsky.authFullApp?aud=did:web:api.bsky.app%23bsky_appview"},
	} {
		if got := tc.p.String(); got != tc.want {
			t.Errorf("%#v: %q, want %q", tc.p, got, tc.want)
		}
		if err := tc.p.Validate(); err != nil {
			t.Errorf("%s: %v", tc.want, err)
		}
	}
	for _, p := range []scope.Permission{
		scope.Repo("app.bsky.*"), scope.Repo("app.bsky.feed.post", "publish"), scope.RPC("*", "*"),
		scope.RPC("app.bsky.actor.getProfile", "did:web:api.bsky.app"), scope.RPC("app.bsky.actor.getProfile", ""),
		scope.Blob("image/p*g"), scope.Blob(), scope.Account("handle", ""), scope.Account(scope.AttrEmail, "write"),
		scope.Identity("did"), scope.Include("app.bsky", ""), scope.Static("transition:x"),
	} {
		if err := p.Validate(); !errors.Is(err, scope.ErrInvalid) {
			t.Errorf("%s: Validate() = %v, want ErrInvalid", p, err)
		}
	}
}

func TestParse(t *testing.T) {
	set, err := scope.Parse("atproto  repo:app.bsky.feed.post?action=create blob:image/*")
	if err != nil || len(set) != 3 || set.String() != "atproto blob:image/* repo:app.bsky.feed.post?action=create" {
		t.Fatalf("Parse: %v %v", set, err)
	}
	_, err = scope.Parse("atproto repo:app.bsky.feed.post?action=publish")
	var pe *scope.ParseError
	if !errors.As(err, &pe) || pe.Token != "repo:app.bsky.feed.post?action=publish" || !strings.Contains(pe.Reason, "publish") {
		t.Fatalf("Parse invalid: %v", err)
	}
	if got := scope.Normalize("rpc:*?aud=* atproto repo?collection=b.c.d&collection=a.b.c"); got != "atproto repo?collection=a.b.c&collection=b.c.d" {
		t.Fatalf("Normalize: %q", got)
	}
}

func TestParseRequirements(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []scope.Requirement
	}{
		{"repo:app.bsky.feed.post?action=create", []scope.Requirement{scope.NeedRepo("app.bsky.feed.post", "create")}},
		{"repo:app.bsky.feed.post", []scope.Requirement{scope.NeedRepo("app.bsky.feed.post", "create"), scope.NeedRepo("app.bsky.feed.post", "update"), scope.NeedRepo("app.bsky.feed.post", "delete")}},
		{"blob:image/png", []scope.Requirement{scope.NeedBlob("image/png")}},
		{"rpc:app.bsky.actor.getProfile?aud=did:web:api.bsky.app%23bsky_appview", []scope.Requirement{scope.NeedRPC("app.bsky.actor.getProfile", "did:web:api.bsky.app#bsky_appview")}},
		{"account:email?action=read", []scope.Requirement{scope.NeedAccount("email", "read")}},
		{"account:email", []scope.Requirement{scope.NeedAccount("email", "read")}},
		{"identity:handle", []scope.Requirement{scope.NeedIdentity("handle")}},
	} {
		got, err := scope.ParseRequirements(tc.in)
		if err != nil || len(got) != len(tc.want) {
			t.Errorf("%s: %v %v", tc.in, got, err)
			continue
		}
		for i := range got {
			if got[i] != tc.want[i] {
				t.Errorf("%s: %v, want %v", tc.in, got[i], tc.want[i])
			}
		}
	}
	for _, bad := range []string{"repo:*?action=create", "blob:image/*", "rpc:*?aud=did:web:a.example%23x", "rpc:a.b.c?aud=*", "atproto", "include:a.b.c", "repo:x", ""} {
		if _, err := scope.ParseRequirements(bad); !errors.Is(err, scope.ErrInvalid) {
			t.Errorf("ParseRequirements(%q) = %v, want ErrInvalid", bad, err)
		}
	}
}

func TestExpand(t *testing.T) {
	inc := scope.Include("app.bsky.authFullApp", "did:web:api.bsky.app#bsky_appview")
	got := scope.NewSet(inc.Expand([]scope.LexPermission{
		{Resource: "repo", Collection: []string{"app.bsky.feed.post", "app.bsky.feed.like"}},
		{Resource: "repo", Collection: []string{"com.example.other"}}, // another namespace
		{Resource: "repo", Collection: []string{"*"}},                 // wildcard
		{Resource: "rpc", LXM: []string{"app.bsky.actor.getProfile"}, InheritAud: true},
		{Resource: "rpc", LXM: []string{"app.bsky.feed.getTimeline"}, Aud: "did:web:x.example#y"}, // own aud
		{Resource: "blob", Action: []string{"image/*"}},
	})...).String()
	want := "repo?collection=app.bsky.feed.like&collection=app.bsky.feed.post rpc:app.bsky.actor.getProfile?aud=did:web:api.bsky.app%23bsky_appview"
	if got != want {
		t.Fatalf("Expand: %q, want %q", got, want)
	}
}

// A blob: permission's MIME types must be RFC 6838 restricted names: a
// server's granted scope is shown to the person, so control characters,
// bidi controls, look-alike letters and invalid UTF-8 must not parse as a
// permission (the reference accepts all but the last: diverge.txt).
func TestBlobAcceptRestrictedNames(t *testing.T) {
	for _, bad := range []string{
		"image/p\x1bng", "image/\x1b]52;c;ZXZpbA==\x07", "image/\x1b[2J", "text/plain\t", "image/png\x00", "image/png\x7f",
		"image/\u009b2J", "image/png\u0085", "image/png\u202e", "\u2066image/png", "image/png\u00a0", "\u00edmage/png",
		"image/\xff", "image/png;q=1", "image/%41", "im*ge/*", "**/*", "-x/png", "image/.png",
		"image/" + strings.Repeat("a", 128), strings.Repeat("b", 128) + "/*", "image/", "/png", "image/png/x", "image/ png",
	} {
		if p, err := scope.ParsePermission("blob?accept=" + url.QueryEscape(bad)); err == nil {
			t.Errorf("blob accept %q parses as %v", bad, p)
		}
		if p, err := scope.ParsePermission("blob:" + url.PathEscape(bad)); err == nil {
			t.Errorf("blob:%q parses as %v", bad, p)
		}
		if err := scope.Blob(bad).Validate(); err == nil {
			t.Errorf("Blob(%q).Validate() = nil", bad)
		}
		granted := scope.ParseGranted("atproto blob:" + url.PathEscape(bad))
		if len(granted) != 1 || granted.Allows(scope.NeedBlob(strings.TrimSuffix(bad, "*")+"x")) {
			t.Errorf("ParseGranted with blob:%q = %v: it must grant nothing", bad, granted)
		}
	}
	for _, good := range []string{"*/*", "image/*", "image/png", "IMAGE/PNG", "image/svg+xml", "application/vnd.api+json",
		"x-y/*", "1/2", "image/x!#$&-^_.+", "image/" + strings.Repeat("a", 127), strings.Repeat("b", 127) + "/*"} {
		p, err := scope.ParsePermission("blob:" + url.PathEscape(good))
		if err != nil {
			t.Errorf("blob:%q: %v", good, err)
			continue
		}
		if err := p.Validate(); err != nil {
			t.Errorf("blob:%q: Validate() = %v", good, err)
		}
	}
}

func TestCover(t *testing.T) {
	aud := "did:web:api.bsky.app#bsky_appview"
	tests := []struct {
		reqs []scope.Requirement
		want string
	}{
		{nil, ""},
		{[]scope.Requirement{scope.NeedRepo("app.bsky.feed.post", "create"), scope.NeedRepo("app.bsky.feed.post", "create")}, "repo:app.bsky.feed.post?action=create"},
		{[]scope.Requirement{scope.NeedRepo("a.b.c", "delete"), scope.NeedRepo("d.e.f", "create")}, "repo:a.b.c?action=delete repo:d.e.f?action=create"},
		{[]scope.Requirement{scope.NeedBlob("video/mp4")}, "blob:video/mp4"},
		{[]scope.Requirement{scope.NeedRPC("app.bsky.actor.getProfile", aud), scope.NeedRPC("app.bsky.feed.getTimeline", aud), scope.NeedRPC("x.y.z", "")},
			"rpc:x.y.z?aud=* rpc?lxm=app.bsky.actor.getProfile&lxm=app.bsky.feed.getTimeline&aud=did:web:api.bsky.app%23bsky_appview"},
		{[]scope.Requirement{scope.NeedAccount("email", "read"), scope.NeedAccount("email", "read"), scope.NeedIdentity("handle")}, "account:email identity:handle"},
	}
	for _, tt := range tests {
		set := scope.Cover(tt.reqs...)
		if got := set.String(); got != tt.want {
			t.Errorf("Cover(%v) = %q, want %q", tt.reqs, got, tt.want)
		}
		if err := set.Validate(); err != nil {
			t.Errorf("Cover(%v) is invalid: %v", tt.reqs, err)
		}
		// It grants each requirement, read back from its string form.
		back := scope.ParseGranted(set.String())
		for _, r := range tt.reqs {
			if !back.Allows(r) {
				t.Errorf("Cover(%v) = %q does not allow %s", tt.reqs, set, r)
			}
		}
	}
}
