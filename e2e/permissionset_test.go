package e2e

import (
	"context"
	"testing"

	"github.com/atoauth/atoauth/discovery"
	"github.com/atoauth/atoauth/scope"
)

// TestResolvePermissionSet publishes a permission-set lexicon in an
// account's repository on the reference PDS and resolves it as doctor
// does (the _lexicon DNS record is stubbed: the test network has no DNS).
func TestResolvePermissionSet(t *testing.T) {
	h, a := newAgent(t, "alice")
	ctx := context.Background()
	const nsid = "test.atoauth.authNotes"
	_, err := a.PutRecord(ctx, "com.atproto.lexicon.schema", nsid, map[string]any{
		"$type": "com.atproto.lexicon.schema", "lexicon": 1, "id": nsid,
		"defs": map[string]any{"main": map[string]any{
			"type": "permission-set", "title": "Notes", "detail": "Write notes and read them back",
			"permissions": []map[string]any{
				{"type": "permission", "resource": "repo", "collection": []string{"test.atoauth.note"}},
				{"type": "permission", "resource": "rpc", "lxm": []string{"test.atoauth.getNotes"}, "inheritAud": true},
				{"type": "permission", "resource": "repo", "collection": []string{"app.bsky.feed.post"}}, // not its namespace
			},
		}},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	r := &discovery.Resolver{Directory: discovery.NewDirectory(discovery.DirectoryOptions{PLCURL: h.net.PLCURL, HandleResolver: h.net.PDSURL, AllowInsecureDevelopment: true}),
		AllowInsecureDevelopment: true,
		LookupTXT: func(_ context.Context, name string) ([]string, error) {
			if name != "_lexicon.atoauth.test" {
				t.Errorf("looked up %s", name)
			}
			return []string{"did=" + a.DID().String()}, nil
		}}
	set, err := r.ResolvePermissionSet(ctx, nsid)
	if err != nil {
		t.Fatal(err)
	}
	got := scope.NewSet(scope.Include(nsid, "did:web:notes.example.com#notes").Expand(set.Permissions)...).String()
	if set.Title != "Notes" || got != "repo:test.atoauth.note rpc:test.atoauth.getNotes?aud=did:web:notes.example.com%23notes" {
		t.Fatalf("permission set %q grants %q", set.Title, got)
	}
}
