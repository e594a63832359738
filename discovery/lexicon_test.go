package discovery_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/atoauth/atoauth/discovery"
	"github.com/atoauth/atoauth/scope"
)

func TestResolvePermissionSet(t *testing.T) {
	f := newFakeNet(t)
	const did = "did:plc:lexiconauthority0000000"
	lexPDS := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if r.URL.Path != "/xrpc/com.atproto.repo.getRecord" || q.Get("repo") != did || q.Get("collection") != "com.atproto.lexicon.schema" {
			http.NotFound(w, r)
			return
		}
		switch q.Get("rkey") {
		case "com.example.authBasic":
			writeJSON(w, map[string]any{"uri": "at://" + did + "/com.atproto.lexicon.schema/com.example.authBasic", "value": map[string]any{
				"$type": "com.atproto.lexicon.schema", "lexicon": 1, "id": "com.example.authBasic",
				"defs": map[string]any{"main": map[string]any{
					"type": "permission-set", "title": "Basic example access", "detail": "Notes and their API",
					"permissions": []map[string]any{
						{"type": "permission", "resource": "repo", "collection": []string{"com.example.note"}},
						{"type": "permission", "resource": "rpc", "lxm": []string{"com.example.getNotes"}, "inheritAud": true},
						{"type": "permission", "resource": "repo", "collection": []string{"org.other.thing"}},
					},
				}},
			}})
		case "com.example.getNotes":
			writeJSON(w, map[string]any{"value": map[string]any{"id": "com.example.getNotes", "defs": map[string]any{"main": map[string]any{"type": "query"}}}})
		default:
			w.WriteHeader(http.StatusBadRequest)
			w.Write([]byte(`{"error":"RecordNotFound"}`))
		}
	}))
	t.Cleanup(lexPDS.Close)
	f.addAccount(did, "", lexPDS.URL)
	r := f.resolver(nil)
	var asked []string
	r.LookupTXT = func(_ context.Context, name string) ([]string, error) {
		asked = append(asked, name)
		if name == "_lexicon.example.com" {
			return []string{"v=other", "did=" + did}, nil
		}
		return nil, errors.New("no such host")
	}
	ctx := context.Background()
	set, err := r.ResolvePermissionSet(ctx, "com.example.authBasic")
	if err != nil {
		t.Fatal(err)
	}
	if set.Title != "Basic example access" || set.Authority != did || len(set.Permissions) != 3 || asked[0] != "_lexicon.example.com" {
		t.Fatalf("permission set %+v (asked %v)", set, asked)
	}
	got := scope.NewSet(scope.Include(set.NSID, "did:web:notes.example.com#notes").Expand(set.Permissions)...).String()
	if want := "repo:com.example.note rpc:com.example.getNotes?aud=did:web:notes.example.com%23notes"; got != want {
		t.Fatalf("expanded: %q, want %q", got, want)
	}
	for _, nsid := range []string{"com.example.getNotes", "com.example.missing", "org.nowhere.authX", "not an nsid"} {
		if _, err := r.ResolvePermissionSet(ctx, nsid); !errors.Is(err, discovery.ErrNoPermissionSet) {
			t.Errorf("ResolvePermissionSet(%q) = %v, want ErrNoPermissionSet", nsid, err)
		}
	}
}
