package scope

import (
	"fmt"
	"slices"
	"strings"
)

// Set is a list of permissions, as a scope string holds them.
type Set []Permission

// NewSet returns a Set of perms; build a scope string for a login with
// NewSet(...).String().
func NewSet(perms ...Permission) Set { return Set(perms) }

// String formats s as a scope string: each permission normalised, sorted,
// separated by spaces (normalizeAtprotoOauthScope of the reference
// implementation).
func (s Set) String() string {
	out := make([]string, 0, len(s))
	for _, p := range s {
		out = append(out, p.String())
	}
	slices.Sort(out)
	return strings.Join(out, " ")
}

// Validate reports the first invalid permission of s.
func (s Set) Validate() error {
	for _, p := range s {
		if err := p.Validate(); err != nil {
			return err
		}
	}
	return nil
}

// Has reports whether s holds the static scope st.
func (s Set) Has(st Static) bool {
	return slices.ContainsFunc(s, func(p Permission) bool { q, ok := p.(Static); return ok && q == st })
}

// Requirement is one concrete operation a call needs permission for, in
// the terms of the permission spec (https://atproto.com/specs/permission):
// a repo write, a blob upload, a call proxied to a service, an account
// attribute or an identity change.
type Requirement struct {
	// Resource is "repo", "blob", "rpc", "account" or "identity".
	Resource string
	// Collection is the record collection NSID (repo).
	Collection string
	// Action is "create", "update" or "delete" (repo), "read" or
	// "manage" (account).
	Action string
	// MIME is the blob's MIME type, e.g. "image/png" (blob).
	MIME string
	// LXM is the method NSID (rpc).
	LXM string
	// Aud is the service reference "did#service_id" (rpc).
	Aud string
	// Attr is the attribute (account: email, repo, status; identity:
	// handle, *).
	Attr string
}

// NeedRepo is the requirement to apply action ("create", "update",
// "delete") to a record of collection.
func NeedRepo(collection, action string) Requirement {
	return Requirement{Resource: "repo", Collection: collection, Action: action}
}

// NeedBlob is the requirement to upload a blob of MIME type mime.
func NeedBlob(mime string) Requirement { return Requirement{Resource: "blob", MIME: mime} }

// NeedRPC is the requirement to call method lxm at the service aud
// ("did#service_id") through the PDS. An empty aud stands for the PDS's
// default service, whose DID a client cannot know: a permission for lxm
// at any audience then counts, and the requirement is written
// rpc:<lxm>?aud=* (a call that names no service is decided by the PDS).
func NeedRPC(lxm, aud string) Requirement { return Requirement{Resource: "rpc", LXM: lxm, Aud: aud} }

// NeedAccount is the requirement to apply action ("read", "manage") to
// the account attribute attr ("email", "repo", "status").
func NeedAccount(attr, action string) Requirement {
	return Requirement{Resource: "account", Attr: attr, Action: action}
}

// NeedIdentity is the requirement to change the identity attribute attr
// ("handle", "*").
func NeedIdentity(attr string) Requirement { return Requirement{Resource: "identity", Attr: attr} }

// String formats r as the permission that grants exactly it, as the
// reference PDS names it in a ScopeMissingError:
// "repo:app.bsky.feed.post?action=create", "blob:image/png",
// "rpc:app.bsky.actor.getProfile?aud=did:web:api.bsky.app%23bsky_appview",
// "account:email" (read), "identity:handle".
func (r Requirement) String() string {
	switch r.Resource {
	case "repo":
		return RepoPermission{Collections: []string{r.Collection}, Actions: []string{r.Action}}.String()
	case "blob":
		return Blob(r.MIME).String()
	case "rpc":
		return RPC(r.LXM, r.rpcAud()).String()
	case "account":
		return Account(r.Attr, r.Action).String()
	case "identity":
		return Identity(r.Attr).String()
	}
	return r.Resource
}

// rpcAud is r.Aud, with "*" for the PDS's default service ("").
func (r Requirement) rpcAud() string {
	if r.Aud == "" {
		return "*"
	}
	return r.Aud
}

// Describe says what r needs in plain words.
func (r Requirement) Describe() string {
	switch r.Resource {
	case "repo":
		return RepoPermission{Collections: []string{r.Collection}, Actions: []string{r.Action}}.Describe()
	case "blob":
		return "Upload a " + r.MIME + " file."
	case "rpc":
		return RPC(r.LXM, r.rpcAud()).Describe()
	case "account":
		return Account(r.Attr, r.Action).Describe()
	case "identity":
		return Identity(r.Attr).Describe()
	}
	return r.String()
}

// ParseRequirements reads a requirement written as a permission
// ("repo:app.bsky.feed.post?action=create", "blob:image/png",
// "rpc:app.bsky.actor.getProfile?aud=did:web:api.bsky.app%23bsky_appview",
// "account:email?action=read", "identity:handle") and returns the
// concrete operations it names: a list or a missing action names several
// (repo:app.bsky.feed.post names create, update and delete). A requirement
// must be concrete: no "*" and no MIME glob; a static scope or include:
// is not a requirement. Errors are *[ParseError].
func ParseRequirements(s string) ([]Requirement, error) {
	p, err := ParsePermission(s)
	if err != nil {
		return nil, err
	}
	bad := func(reason string) ([]Requirement, error) { return nil, &ParseError{Token: s, Reason: reason} }
	var out []Requirement
	switch p := p.(type) {
	case RepoPermission:
		for _, c := range p.Collections {
			if c == "*" {
				return bad("a requirement names a collection, not \"*\"")
			}
			for _, a := range p.actions() {
				out = append(out, NeedRepo(c, a))
			}
		}
	case BlobPermission:
		for _, m := range p.Accept {
			if !isMIME(m) {
				return bad(fmt.Sprintf("a requirement names a MIME type, not the glob %q", m))
			}
			out = append(out, NeedBlob(m))
		}
	case RPCPermission:
		if p.Aud == "*" {
			return bad("a requirement names a service, not \"*\"")
		}
		for _, l := range p.LXMs {
			if l == "*" {
				return bad("a requirement names a method, not \"*\"")
			}
			out = append(out, NeedRPC(l, p.Aud))
		}
	case AccountPermission:
		acts := p.Actions
		if len(acts) == 0 {
			acts = []string{ActionRead}
		}
		for _, a := range acts {
			out = append(out, NeedAccount(p.Attr, a))
		}
	case IdentityPermission:
		out = append(out, NeedIdentity(p.Attr))
	default:
		return bad("a requirement is a repo, blob, rpc, account or identity permission")
	}
	return slices.Compact(out), nil
}

// Allows reports whether s grants the operation r, as the reference PDS
// decides it (ScopePermissionsTransition of @atproto/oauth-scopes):
// transition:generic grants every repo write, every blob and every rpc
// call except chat.bsky.*; transition:chat.bsky grants chat.bsky.* calls;
// transition:email grants reading the email address. An include: scope
// grants nothing by itself: the authorization server replaces it with
// the permissions of its set ([IncludeScope.Expand]).
func (s Set) Allows(r Requirement) bool {
	generic, chat, email := s.Has(TransitionGeneric), s.Has(TransitionChatBsky), s.Has(TransitionEmail)
	switch r.Resource {
	case "repo", "blob":
		if generic {
			return true
		}
	case "rpc":
		isChat := strings.HasPrefix(r.LXM, "chat.bsky.")
		if generic && (r.LXM == "*" || !isChat) || chat && isChat {
			return true
		}
	case "account":
		if email && r.Attr == AttrEmail && r.Action == ActionRead {
			return true
		}
	}
	return slices.ContainsFunc(s, func(p Permission) bool { return matches(p, r) })
}

// AllowsAll reports whether s grants every one of rs.
func (s Set) AllowsAll(rs ...Requirement) bool {
	for _, r := range rs {
		if !s.Allows(r) {
			return false
		}
	}
	return true
}

// matches reports whether the single permission p grants r (without
// transitional scopes).
func matches(p Permission, r Requirement) bool {
	switch p := p.(type) {
	case RepoPermission:
		return r.Resource == "repo" && slices.Contains(p.actions(), r.Action) &&
			(slices.Contains(p.Collections, "*") || slices.Contains(p.Collections, r.Collection))
	case BlobPermission:
		return r.Resource == "blob" && isMIME(r.MIME) &&
			slices.ContainsFunc(p.Accept, func(a string) bool { return acceptMatches(a, r.MIME) })
	case RPCPermission:
		return r.Resource == "rpc" && (p.Aud == "*" || p.Aud == r.Aud || r.Aud == "") &&
			(slices.Contains(p.LXMs, "*") || slices.Contains(p.LXMs, r.LXM))
	case AccountPermission:
		return r.Resource == "account" && p.Attr == r.Attr &&
			(slices.Contains(p.Actions, ActionManage) || slices.Contains(p.accountActions(), r.Action))
	case IdentityPermission:
		return r.Resource == "identity" && (p.Attr == "*" || p.Attr == r.Attr)
	}
	return false
}

func (p AccountPermission) accountActions() []string {
	if len(p.Actions) == 0 {
		return []string{ActionRead}
	}
	return p.Actions
}

// Cover returns the smallest set of permissions that grants every one of
// reqs and nothing of another kind: repo requirements on one collection
// become one permission listing their actions
// (repo:app.bsky.actor.profile?action=create&action=update), blob
// requirements one blob permission listing their types, rpc requirements
// at one service one permission listing their methods; account and
// identity requirements stay one permission each. It is what to ask for in
// a step-up when a call lacks reqs. Cover() is empty.
func Cover(reqs ...Requirement) Set {
	var out Set
	repo := map[string]int{} // collection -> index in out
	rpc := map[string]int{}  // aud -> index in out
	blob := -1
	for _, r := range reqs {
		switch r.Resource {
		case "repo":
			if i, ok := repo[r.Collection]; ok {
				p := out[i].(RepoPermission)
				if !slices.Contains(p.Actions, r.Action) {
					p.Actions = append(p.Actions, r.Action)
				}
				out[i] = p
				continue
			}
			repo[r.Collection] = len(out)
			out = append(out, Repo(r.Collection, r.Action))
		case "blob":
			if blob >= 0 {
				p := out[blob].(BlobPermission)
				p.Accept = append(p.Accept, r.MIME)
				out[blob] = p
				continue
			}
			blob = len(out)
			out = append(out, Blob(r.MIME))
		case "rpc":
			aud := r.rpcAud()
			if i, ok := rpc[aud]; ok {
				p := out[i].(RPCPermission)
				if !slices.Contains(p.LXMs, r.LXM) {
					p.LXMs = append(p.LXMs, r.LXM)
				}
				out[i] = p
				continue
			}
			rpc[aud] = len(out)
			out = append(out, RPC(r.LXM, aud))
		case "account":
			p := Account(r.Attr, r.Action)
			if !slices.ContainsFunc(out, func(q Permission) bool { return q.String() == p.String() }) {
				out = append(out, p)
			}
		case "identity":
			p := Identity(r.Attr)
			if !slices.ContainsFunc(out, func(q Permission) bool { return q.String() == p.String() }) {
				out = append(out, p)
			}
		}
	}
	return out
}
