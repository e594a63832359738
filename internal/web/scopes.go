package web

import (
	"fmt"
	"net/url"
	"strings"
)

// permission is one granted scope, in plain words.
type permission struct {
	Words string // what it lets the app do
	Scope string // as granted
}

// collectionNames are the record types people know by another name.
var collectionNames = map[string]string{
	"app.bsky.feed.post":          "posts",
	"app.bsky.feed.like":          "likes",
	"app.bsky.feed.repost":        "reposts",
	"app.bsky.feed.threadgate":    "reply settings",
	"app.bsky.feed.postgate":      "quote settings",
	"app.bsky.feed.generator":     "custom feeds",
	"app.bsky.graph.follow":       "follows",
	"app.bsky.graph.block":        "blocks",
	"app.bsky.graph.list":         "lists",
	"app.bsky.graph.listitem":     "list members",
	"app.bsky.graph.starterpack":  "starter packs",
	"app.bsky.actor.profile":      "your profile",
	"app.bsky.actor.status":       "your status",
	"chat.bsky.actor.declaration": "your chat settings",
}

// describeScope explains a granted scope string, one entry per
// permission, in the order granted.
func describeScope(scope string) []permission {
	var out []permission
	for _, s := range strings.Fields(scope) {
		out = append(out, permission{Words: describePermission(s), Scope: s})
	}
	return out
}

func describePermission(s string) string {
	switch s {
	case "atproto":
		return "Know who you are: your DID and handle."
	case "transition:generic":
		return "Create, change and delete any records in your repository (posts, likes, follows, your profile…), upload files, and read Bluesky (timeline, profiles) for you — but not your private chats."
	case "transition:chat.bsky":
		return "Read and send your Bluesky chat messages."
	case "transition:email":
		return "See your email address."
	}
	// resource[:positional][?query]
	main, query, _ := strings.Cut(s, "?")
	resource, positional, _ := strings.Cut(main, ":")
	positional, _ = url.PathUnescape(positional)
	q, _ := url.ParseQuery(query)
	switch resource {
	case "repo":
		return repoWords(positional, q)
	case "blob":
		return blobWords(positional, q)
	case "rpc":
		what := "any method"
		if positional != "" && positional != "*" {
			what = positional
		}
		aud := q.Get("aud")
		if aud == "" || aud == "*" {
			return fmt.Sprintf("Call %s on any service, through your server.", what)
		}
		return fmt.Sprintf("Call %s on the service %s, through your server.", what, aud)
	case "account":
		attr := positional
		if attr == "" {
			attr = q.Get("attr")
		}
		manage := q.Get("action") == "manage"
		switch {
		case attr == "email" && manage:
			return "See and change your email address."
		case attr == "email":
			return "See your email address."
		case attr == "repo" && manage:
			return "Import data into your repository."
		case attr == "status" && manage:
			return "Activate or deactivate your account."
		}
		return fmt.Sprintf("Account setting “%s” (%s).", attr, orDefault(q.Get("action"), "read"))
	case "identity":
		if positional == "handle" {
			return "Change your handle."
		}
		return "Manage your identity: your handle and your DID document."
	case "include":
		return fmt.Sprintf("The permissions of the set %s.", positional)
	}
	return "A permission this app does not know how to describe."
}

func repoWords(collection string, q url.Values) string {
	actions := q["action"]
	if len(actions) == 0 {
		actions = []string{"create", "update", "delete"}
	}
	verbs := make([]string, 0, len(actions))
	for _, a := range actions {
		switch a {
		case "create":
			verbs = append(verbs, "create")
		case "update":
			verbs = append(verbs, "change")
		case "delete":
			verbs = append(verbs, "delete")
		}
	}
	what := "any records in your repository"
	if collection != "" && collection != "*" {
		if n, ok := collectionNames[collection]; ok {
			what = n
		} else {
			what = "records of type " + collection
		}
	}
	return upperFirst(joinWords(verbs)) + " " + what + "."
}

func blobWords(pattern string, q url.Values) string {
	accept := append([]string{}, q["accept"]...)
	if pattern != "" {
		accept = append([]string{pattern}, accept...)
	}
	var kinds []string
	for _, a := range accept {
		switch {
		case a == "*/*":
			kinds = append(kinds, "files of any kind")
		case strings.HasSuffix(a, "/*"):
			kinds = append(kinds, strings.TrimSuffix(a, "/*")+"s")
		default:
			kinds = append(kinds, a+" files")
		}
	}
	if len(kinds) == 0 {
		kinds = []string{"files"}
	}
	return "Upload " + joinWords(kinds) + " (images for posts, your avatar)."
}

func joinWords(w []string) string {
	switch len(w) {
	case 0:
		return ""
	case 1:
		return w[0]
	}
	return strings.Join(w[:len(w)-1], ", ") + " and " + w[len(w)-1]
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
