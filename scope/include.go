package scope

import "strings"

// LexPermission is one entry of a permission set lexicon's "permissions"
// list (lexicon type "permission-set", permission spec "Permission
// Sets").
type LexPermission struct {
	// Resource is "repo" or "rpc"; other resources are ignored.
	Resource   string   `json:"resource"`
	Collection []string `json:"collection,omitempty"`
	Action     []string `json:"action,omitempty"`
	LXM        []string `json:"lxm,omitempty"`
	Aud        string   `json:"aud,omitempty"`
	InheritAud bool     `json:"inheritAud,omitempty"`
}

// Expand returns the permissions the set grants through p, as the
// authorization server expands an include: scope: only repo and rpc
// permissions whose collections and methods all lie under the set's own
// namespace (include:app.bsky.authFullApp grants only app.bsky.*); an rpc
// permission may not name its own audience but may inherit p's aud.
// Invalid entries are skipped.
func (p IncludeScope) Expand(set []LexPermission) []Permission {
	var out []Permission
	for _, lp := range set {
		var perm Permission
		var names []string
		switch lp.Resource {
		case "repo":
			perm, names = RepoPermission{Collections: lp.Collection, Actions: lp.Action}, lp.Collection
		case "rpc":
			aud := lp.Aud
			switch {
			case aud != "" && aud != "*":
				continue
			case lp.InheritAud && aud == "" && p.Aud != "":
				aud = p.Aud
			}
			perm, names = RPCPermission{LXMs: lp.LXM, Aud: aud}, lp.LXM
		default:
			continue
		}
		if perm.Validate() != nil || !p.under(names) {
			continue
		}
		out = append(out, perm)
	}
	return out
}

// under reports whether every NSID of names lies in p's namespace.
func (p IncludeScope) under(names []string) bool {
	ns := namespace(p.NSID)
	if !strings.Contains(p.NSID, ".") {
		return false
	}
	for _, n := range names {
		if n == "*" || len(n) <= len(ns) || !strings.HasPrefix(n, ns) {
			return false
		}
	}
	return true
}
