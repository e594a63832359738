package scope

import (
	"fmt"
	"slices"
	"strings"
)

// Permission is one parsed scope token: a [Static] scope or a resource
// permission ([RepoPermission], [RPCPermission], [BlobPermission],
// [AccountPermission], [IdentityPermission]) or an [IncludeScope]
// (atproto permission spec, https://atproto.com/specs/permission).
type Permission interface {
	// String formats the permission in normalised scope syntax, as the
	// reference implementation (@atproto/oauth-scopes) does.
	String() string
	// Describe says what the permission grants in plain words.
	Describe() string
	// Validate reports a *[ParseError] when the permission is not valid.
	Validate() error
	permission()
}

// Static is a scope without parameters: "atproto" and the transitional
// scopes of the OAuth profile.
type Static string

// The static scopes.
const (
	// Atproto is required in every atproto OAuth request.
	Atproto Static = "atproto"
	// TransitionGeneric grants what an app password grants: every repo
	// write, every blob and every rpc call except chat.bsky.*.
	TransitionGeneric Static = "transition:generic"
	// TransitionChatBsky grants chat.bsky.* calls.
	TransitionChatBsky Static = "transition:chat.bsky"
	// TransitionEmail grants reading the account's email address.
	TransitionEmail Static = "transition:email"
)

// Repo actions (permission spec, "repo") and account actions ("account").
const (
	ActionCreate = "create"
	ActionUpdate = "update"
	ActionDelete = "delete"
	ActionRead   = "read"
	ActionManage = "manage"
)

// Account and identity attributes (permission spec, "account",
// "identity").
const (
	AttrEmail  = "email"
	AttrRepo   = "repo"
	AttrStatus = "status"
	AttrHandle = "handle"
)

func repoActions() []string    { return []string{ActionCreate, ActionUpdate, ActionDelete} }
func accountAttrs() []string   { return []string{AttrEmail, AttrRepo, AttrStatus} }
func accountActions() []string { return []string{ActionRead, ActionManage} }

func isStatic(s string) bool {
	switch Static(s) {
	case Atproto, TransitionGeneric, TransitionChatBsky, TransitionEmail:
		return true
	}
	return false
}

// String returns the scope value.
func (s Static) String() string { return string(s) }

// Validate reports whether s is one of the four static scopes.
func (s Static) Validate() error {
	if !isStatic(string(s)) {
		return &ParseError{Token: string(s), Reason: "unknown scope"}
	}
	return nil
}

// Describe says what s grants in plain words.
func (s Static) Describe() string {
	switch s {
	case Atproto:
		return "Know who you are: your DID and handle."
	case TransitionGeneric:
		return "Create, change and delete any records in your repository (posts, likes, follows, your profile…), upload files, and read Bluesky (timeline, profiles) for you — but not your private chats."
	case TransitionChatBsky:
		return "Read and send your Bluesky chat messages."
	case TransitionEmail:
		return "See your email address."
	}
	return "Unknown scope " + string(s) + "."
}

func (Static) permission() {}

// RepoPermission grants writes to records of the listed collections
// (permission spec, "repo"): repo:<collection>[?action=...].
type RepoPermission struct {
	// Collections are record collection NSIDs, or "*" for all.
	Collections []string
	// Actions are "create", "update", "delete"; empty means all three.
	Actions []string
}

// Repo builds the permission to apply actions (all three when none) to
// records of collection ("*" for every collection).
func Repo(collection string, actions ...string) RepoPermission {
	return RepoPermission{Collections: []string{collection}, Actions: actions}
}

func (p RepoPermission) actions() []string {
	if len(p.Actions) == 0 {
		return repoActions()
	}
	return p.Actions
}

// normal returns p's collections and actions in normal form: one "*"
// replaces a list holding it, lists are sorted without duplicates, and
// the actions follow the order create, update, delete (none when all
// three).
func (p RepoPermission) normal() (colls, acts []string) {
	colls = p.Collections
	if len(colls) > 1 {
		if slices.Contains(colls, "*") {
			colls = []string{"*"}
		} else {
			colls = sortedUnique(colls)
		}
	}
	if len(p.Actions) > 0 {
		for _, a := range repoActions() {
			if slices.Contains(p.Actions, a) {
				acts = append(acts, a)
			}
		}
		if len(acts) == 3 {
			acts = nil
		}
	}
	return colls, acts
}

// String formats p in normal form (see [Permission]): one collection is
// positional, the actions are omitted when all three are granted.
func (p RepoPermission) String() string {
	colls, acts := p.normal()
	return formatMulti("repo", "collection", colls, param{}, "action", acts)
}

// Validate checks p against the spec.
func (p RepoPermission) Validate() error {
	return validateValues(p, "collection", p.Collections, true, isCollection, "action", p.Actions, false, isRepoAction)
}

// Describe says what p grants in plain words.
func (p RepoPermission) Describe() string {
	colls, acts := p.normal()
	if len(acts) == 0 {
		acts = repoActions()
	}
	verbs := make([]string, len(acts))
	for i, a := range acts {
		verbs[i] = map[string]string{ActionCreate: "create", ActionUpdate: "change", ActionDelete: "delete"}[a]
	}
	what := "any records in your repository"
	if !slices.Contains(colls, "*") {
		var named, other []string
		for _, c := range colls {
			if n := collectionName(c); n != "" {
				named = append(named, n)
			} else {
				other = append(other, c)
			}
		}
		if len(other) > 0 {
			named = append(named, "records of type "+joinWords(other))
		}
		what = joinWords(named)
	}
	return capitalize(joinWords(verbs)) + " " + what + "."
}

// collectionName is what people call the records of a well-known
// collection, or "".
func collectionName(nsid string) string {
	switch nsid {
	case "app.bsky.feed.post":
		return "posts"
	case "app.bsky.feed.like":
		return "likes"
	case "app.bsky.feed.repost":
		return "reposts"
	case "app.bsky.feed.threadgate":
		return "reply settings"
	case "app.bsky.feed.postgate":
		return "quote settings"
	case "app.bsky.feed.generator":
		return "custom feeds"
	case "app.bsky.graph.follow":
		return "follows"
	case "app.bsky.graph.block":
		return "blocks"
	case "app.bsky.graph.list":
		return "lists"
	case "app.bsky.graph.listitem":
		return "list members"
	case "app.bsky.graph.starterpack":
		return "starter packs"
	case "app.bsky.actor.profile":
		return "your profile"
	case "app.bsky.actor.status":
		return "your status"
	case "chat.bsky.actor.declaration":
		return "your chat settings"
	}
	return ""
}

func (RepoPermission) permission() {}

// RPCPermission grants calling the listed methods at a service through the
// PDS (permission spec, "rpc"): rpc:<lxm>?aud=<did#service>.
type RPCPermission struct {
	// LXMs are method NSIDs, or "*" for all.
	LXMs []string
	// Aud is the service reference "did:web:api.bsky.app#bsky_appview",
	// or "*" for any service. Not both LXMs and Aud may be "*".
	Aud string
}

// RPC builds the permission to call nsid ("*" for any method) at the
// service aud ("did#service_id", or "*" for any service).
func RPC(nsid, aud string) RPCPermission { return RPCPermission{LXMs: []string{nsid}, Aud: aud} }

// String formats p in normal form (see [Permission]), the aud
// percent-encoded: rpc:app.bsky.actor.getProfile?aud=did:web:api.bsky.app%23bsky_appview.
func (p RPCPermission) String() string {
	lxms := p.LXMs
	if len(lxms) > 1 && slices.Contains(lxms, "*") {
		lxms = []string{"*"}
	} else {
		lxms = sortedUnique(lxms)
	}
	return formatMulti("rpc", "lxm", lxms, param{"aud", p.Aud}, "", nil)
}

// Validate checks p against the spec.
func (p RPCPermission) Validate() error {
	if err := validateValues(p, "lxm", p.LXMs, true, isLXM, "", nil, false, nil); err != nil {
		return err
	}
	switch {
	case p.Aud == "":
		return &ParseError{Token: p.String(), Reason: "aud is required"}
	case p.Aud != "*" && !isServiceRef(p.Aud):
		return &ParseError{Token: p.String(), Reason: fmt.Sprintf("aud %q is not \"*\" or a service reference did#service_id with a did:plc or did:web", p.Aud)}
	case p.Aud == "*" && slices.Contains(p.LXMs, "*"):
		return &ParseError{Token: p.String(), Reason: "lxm and aud may not both be \"*\""}
	}
	return nil
}

// Describe says what p grants in plain words.
func (p RPCPermission) Describe() string {
	what := joinWords(sortedUnique(p.LXMs))
	if slices.Contains(p.LXMs, "*") {
		what = "any method"
	}
	if p.Aud == "*" {
		return "Call " + what + " on any service, through your server."
	}
	return "Call " + what + " on the service " + p.Aud + ", through your server."
}

func (RPCPermission) permission() {}

// BlobPermission grants uploading blobs whose MIME type matches one of
// the globs (permission spec, "blob"): blob:<mime-glob>.
type BlobPermission struct {
	// Accept are MIME types or globs: "image/png", "image/*", "*/*".
	Accept []string
}

// Blob builds the permission to upload blobs matching any of globs
// ("image/*", "video/mp4", "*/*").
func Blob(globs ...string) BlobPermission { return BlobPermission{Accept: globs} }

// normal returns p's MIME globs in normal form: "*/*" alone when it is
// listed, otherwise lower case, sorted, without duplicates and without
// types another glob of the list covers.
func (p BlobPermission) normal() []string {
	acc := p.Accept
	if slices.Contains(acc, "*/*") {
		acc = []string{"*/*"}
	} else {
		lower := make([]string, len(acc))
		for i, a := range acc {
			lower[i] = strings.ToLower(a)
		}
		acc = nil
		for _, a := range lower {
			base, _, _ := strings.Cut(a, "/")
			if strings.HasSuffix(a, "/*") || !slices.Contains(lower, base+"/*") {
				acc = append(acc, a)
			}
		}
		// Unlike the reference, duplicates go before the positional form
		// is chosen, so that blob?accept=a&accept=a formats as blob:a.
		acc = sortedUnique(acc)
	}
	return acc
}

// String formats p in normal form (see [Permission]).
func (p BlobPermission) String() string {
	return formatMulti("blob", "accept", p.normal(), param{}, "", nil)
}

// Validate checks p against the spec.
func (p BlobPermission) Validate() error {
	return validateValues(p, "accept", p.Accept, true, isAccept, "", nil, false, nil)
}

// Describe says what p grants in plain words.
func (p BlobPermission) Describe() string {
	var kinds []string
	for _, a := range p.normal() {
		switch {
		case a == "*/*":
			kinds = append(kinds, "files of any kind")
		case strings.HasSuffix(a, "/*"):
			kinds = append(kinds, strings.TrimSuffix(a, "/*")+"s")
		default:
			kinds = append(kinds, a+" files")
		}
	}
	return "Upload " + joinWords(kinds) + "."
}

func (BlobPermission) permission() {}

// AccountPermission grants access to an account attribute (permission
// spec, "account"): account:<email|repo|status>[?action=read|manage].
type AccountPermission struct {
	// Attr is "email", "repo" or "status".
	Attr string
	// Actions are "read" and "manage" (which implies read); empty means
	// read.
	Actions []string
}

// Account builds the permission to apply action ("read" or "manage",
// "read" when empty) to the account attribute attr ("email", "repo",
// "status").
func Account(attr, action string) AccountPermission {
	p := AccountPermission{Attr: attr}
	if action != "" {
		p.Actions = []string{action}
	}
	return p
}

// String formats p in normal form (see [Permission]); the default action
// read is omitted.
func (p AccountPermission) String() string {
	acts := sortedUnique(p.Actions) // only to compare with the default
	var params []param
	if len(p.Actions) > 0 && !slices.Equal(acts, []string{ActionRead}) {
		seen := map[string]bool{}
		for _, a := range p.Actions {
			if !seen[a] {
				seen[a] = true
				params = append(params, param{"action", a})
			}
		}
	}
	attr := p.Attr
	return format("account", &attr, params)
}

// Validate checks p against the spec.
func (p AccountPermission) Validate() error {
	if !slices.Contains(accountAttrs(), p.Attr) {
		return &ParseError{Token: p.String(), Reason: fmt.Sprintf("attr %q is not email, repo or status", p.Attr)}
	}
	return validateValues(p, "", nil, false, nil, "action", p.Actions, false, func(a string) bool { return slices.Contains(accountActions(), a) })
}

// Describe says what p grants in plain words.
func (p AccountPermission) Describe() string {
	manage := slices.Contains(p.Actions, ActionManage)
	switch {
	case p.Attr == AttrEmail && manage:
		return "See and change your email address."
	case p.Attr == AttrEmail:
		return "See your email address."
	case p.Attr == AttrRepo && manage:
		return "Export your repository and import data into it."
	case p.Attr == AttrRepo:
		return "Export your repository."
	case p.Attr == AttrStatus && manage:
		return "See whether your account is active, and activate or deactivate it."
	case p.Attr == AttrStatus:
		return "See whether your account is active."
	}
	return "Account setting “" + p.Attr + "”."
}

func (AccountPermission) permission() {}

// IdentityPermission grants changing the account's identity (permission
// spec, "identity"): identity:handle or identity:* (handle and DID
// document).
type IdentityPermission struct {
	// Attr is "handle" or "*".
	Attr string
}

// Identity builds the permission to change the identity attribute attr
// ("handle", or "*" for the handle and the DID document).
func Identity(attr string) IdentityPermission { return IdentityPermission{Attr: attr} }

// String formats p: identity:handle or identity:*.
func (p IdentityPermission) String() string {
	a := p.Attr
	return format("identity", &a, nil)
}

// Validate checks p against the spec.
func (p IdentityPermission) Validate() error {
	if p.Attr != AttrHandle && p.Attr != "*" {
		return &ParseError{Token: p.String(), Reason: fmt.Sprintf("attr %q is not handle or *", p.Attr)}
	}
	return nil
}

// Describe says what p grants in plain words.
func (p IdentityPermission) Describe() string {
	if p.Attr == AttrHandle {
		return "Change your handle."
	}
	return "Manage your identity: your handle and your DID document."
}

func (IdentityPermission) permission() {}

// IncludeScope asks for a permission set, a lexicon of type
// "permission-set" whose repo and rpc permissions the authorization
// server expands (permission spec, "Permission Sets"):
// include:<nsid>[?aud=<did#service>].
type IncludeScope struct {
	// NSID names the permission set.
	NSID string
	// Aud, when set, is the service its rpc permissions that inherit
	// the audience are for.
	Aud string
}

// Include builds a permission-set scope for nsid; aud may be empty.
func Include(nsid, aud string) IncludeScope { return IncludeScope{NSID: nsid, Aud: aud} }

// String formats p: include:<nsid>[?aud=...].
func (p IncludeScope) String() string {
	var params []param
	if p.Aud != "" {
		params = []param{{"aud", p.Aud}}
	}
	n := p.NSID
	return format("include", &n, params)
}

// Validate checks p against the spec.
func (p IncludeScope) Validate() error {
	if !isNSID(p.NSID) {
		return &ParseError{Token: p.String(), Reason: fmt.Sprintf("%q is not an NSID", p.NSID)}
	}
	if p.Aud != "" && !isServiceRef(p.Aud) {
		return &ParseError{Token: p.String(), Reason: fmt.Sprintf("aud %q is not a service reference did#service_id with a did:plc or did:web", p.Aud)}
	}
	return nil
}

// Describe says what p grants in plain words.
func (p IncludeScope) Describe() string {
	s := "The permissions of the set " + p.NSID + " (records and calls under " + namespace(p.NSID) + "* only"
	if p.Aud != "" {
		s += ", calls on the service " + p.Aud
	}
	return s + ")."
}

func (IncludeScope) permission() {}

// namespace is the NSID's authority with a trailing dot: "app.bsky.".
func namespace(nsid string) string {
	if i := strings.LastIndexByte(nsid, '.'); i >= 0 {
		return nsid[:i+1]
	}
	return nsid
}

func isCollection(s string) bool { return s == "*" || isNSID(s) }
func isLXM(s string) bool        { return s == "*" || isNSID(s) }
func isRepoAction(s string) bool { return slices.Contains(repoActions(), s) }

// formatMulti formats a permission whose first parameter (key) is
// positional when it has one value.
func formatMulti(resource, key string, values []string, single param, key2 string, values2 []string) string {
	var params []param
	var pos *string
	if len(values) == 1 {
		pos = &values[0]
	} else {
		seen := map[string]bool{}
		for _, v := range values {
			if !seen[v] {
				seen[v] = true
				params = append(params, param{key, v})
			}
		}
	}
	if single.key != "" {
		params = append(params, single)
	}
	for _, v := range values2 {
		params = append(params, param{key2, v})
	}
	return format(resource, pos, params)
}

func validateValues(p Permission, key string, values []string, required bool, ok func(string) bool, key2 string, values2 []string, required2 bool, ok2 func(string) bool) error {
	if key != "" {
		if required && len(values) == 0 {
			return &ParseError{Token: p.String(), Reason: key + " is required"}
		}
		for _, v := range values {
			if !ok(v) {
				return &ParseError{Token: p.String(), Reason: fmt.Sprintf("%s %q is not valid", key, v)}
			}
		}
	}
	if key2 != "" {
		for _, v := range values2 {
			if !ok2(v) {
				return &ParseError{Token: p.String(), Reason: fmt.Sprintf("%s %q is not valid", key2, v)}
			}
		}
	}
	return nil
}

func sortedUnique(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return slices.Compact(out)
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// joinWords joins "a", "b", "c" as "a, b and c".
func joinWords(s []string) string {
	switch len(s) {
	case 0:
		return ""
	case 1:
		return s[0]
	}
	return strings.Join(s[:len(s)-1], ", ") + " and " + s[len(s)-1]
}
