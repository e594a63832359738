package scope

import (
	"fmt"
	"slices"
	"strings"
)

// field describes one parameter of a permission for parsing.
type field struct {
	key        string
	multiple   bool
	required   bool
	positional bool
	valid      func(string) bool
}

// parseFields reads syn's parameters against fields the way the reference
// implementation does: unknown keys, a repeated single-valued key, a
// positional value together with its named form, a missing required
// parameter and an invalid value each make the permission invalid.
func parseFields(syn syntax, fields []field) (map[string][]string, string) {
	for _, k := range syn.keys {
		if !slices.ContainsFunc(fields, func(f field) bool { return f.key == k }) {
			return nil, fmt.Sprintf("unknown parameter %q", k)
		}
	}
	out := map[string][]string{}
	for _, f := range fields {
		vals, named := syn.params[f.key]
		switch {
		case named && !f.multiple && len(vals) > 1:
			return nil, fmt.Sprintf("parameter %q may appear only once", f.key)
		case named && f.positional && syn.hasPos:
			return nil, fmt.Sprintf("%q is given both positionally and as a parameter", f.key)
		case named:
		case f.positional && syn.hasPos:
			vals = []string{syn.positional}
		case f.required:
			return nil, fmt.Sprintf("%q is required", f.key)
		default:
			continue
		}
		for _, v := range vals {
			if !f.valid(v) && f.key == "accept" {
				return nil, fmt.Sprintf("accept %q is not valid: a MIME type or glob (*/*, type/*) whose names are RFC 6838 restricted names (letters, digits and !#$&-^_.+)", v)
			}
			if !f.valid(v) {
				return nil, fmt.Sprintf("%s %q is not valid", f.key, v)
			}
		}
		out[f.key] = vals
	}
	return out, ""
}

// ParsePermission parses one scope token: a static scope ("atproto",
// "transition:generic", ...) or a permission in the syntax of the
// permission spec (https://atproto.com/specs/permission), positional or
// query form, with repeated keys for lists and percent-encoded values. It
// accepts what @atproto/oauth-scopes accepts, except blob: MIME types that
// are not RFC 6838 restricted names (control characters, whitespace,
// non-ASCII, parameters: see isAccept in validate.go), and returns a
// *[ParseError] otherwise.
func ParsePermission(token string) (Permission, error) {
	if isStatic(token) {
		return Static(token), nil
	}
	syn, err := splitSyntax(token)
	if err != nil {
		return nil, &ParseError{Token: token, Reason: err.Error()}
	}
	bad := func(reason string) (Permission, error) { return nil, &ParseError{Token: token, Reason: reason} }
	var fields []field
	switch syn.resource {
	case "repo":
		fields = []field{{"collection", true, true, true, isCollection}, {"action", true, false, false, isRepoAction}}
	case "rpc":
		fields = []field{{"lxm", true, true, true, isLXM}, {"aud", false, true, false, func(s string) bool { return s == "*" || isServiceRef(s) }}}
	case "blob":
		fields = []field{{"accept", true, true, true, isAccept}}
	case "account":
		fields = []field{{"attr", false, true, true, func(s string) bool { return slices.Contains(accountAttrs(), s) }},
			{"action", true, false, false, func(s string) bool { return slices.Contains(accountActions(), s) }}}
	case "identity":
		fields = []field{{"attr", false, true, true, func(s string) bool { return s == AttrHandle || s == "*" }}}
	case "include":
		fields = []field{{"nsid", false, true, true, isNSID}, {"aud", false, false, false, isServiceRef}}
	case "":
		return bad("empty scope")
	default:
		return bad(fmt.Sprintf("unknown resource %q (want repo, rpc, blob, account, identity, include, atproto or transition:*)", syn.resource))
	}
	v, reason := parseFields(syn, fields)
	if reason != "" {
		return bad(reason)
	}
	one := func(k string) string {
		if len(v[k]) == 0 {
			return ""
		}
		return v[k][0]
	}
	switch syn.resource {
	case "repo":
		return RepoPermission{Collections: v["collection"], Actions: v["action"]}, nil
	case "rpc":
		p := RPCPermission{LXMs: v["lxm"], Aud: one("aud")}
		if p.Aud == "*" && slices.Contains(p.LXMs, "*") {
			return bad("lxm and aud may not both be \"*\"")
		}
		return p, nil
	case "blob":
		return BlobPermission{Accept: v["accept"]}, nil
	case "account":
		return AccountPermission{Attr: one("attr"), Actions: v["action"]}, nil
	case "identity":
		return IdentityPermission{Attr: one("attr")}, nil
	}
	return IncludeScope{NSID: one("nsid"), Aud: one("aud")}, nil
}

// Parse parses a space-separated scope string strictly: every token must
// be a valid permission (a *[ParseError] names the first that is not).
// Use it for scopes an application asks for; read a scope an
// authorization server granted with [ParseGranted].
func Parse(scope string) (Set, error) {
	var set Set
	for _, tok := range strings.Split(scope, " ") {
		if tok == "" {
			continue
		}
		p, err := ParsePermission(tok)
		if err != nil {
			return nil, err
		}
		set = append(set, p)
	}
	return set, nil
}

// ParseGranted reads a granted scope string leniently, as the reference
// PDS does: tokens it cannot read grant nothing and are left out.
func ParseGranted(scope string) Set {
	var set Set
	for _, tok := range strings.Split(scope, " ") {
		if p, err := ParsePermission(tok); err == nil {
			set = append(set, p)
		}
	}
	return set
}

// Normalize returns scope with every token in normalised form, invalid
// tokens dropped, sorted, as normalizeAtprotoOauthScope of the reference
// implementation does.
func Normalize(scope string) string { return ParseGranted(scope).String() }
