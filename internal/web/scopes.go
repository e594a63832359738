package web

import (
	"strings"

	"github.com/atoauth/atoauth/scope"
)

// permission is one granted scope, in plain words.
type permission struct {
	Words string // what it lets the app do
	Scope string // as granted
}

// describeScope explains a granted scope string, one entry per
// permission, in the order granted, with the scope package (the words of
// Permission.Describe, which `atoauth scope parse` and whoami print too).
func describeScope(granted string) []permission {
	var out []permission
	for _, s := range strings.Fields(granted) {
		words := "A permission this app does not know how to describe (not valid under the atproto permission spec)."
		if p, err := scope.ParsePermission(s); err == nil {
			words = p.Describe()
		}
		out = append(out, permission{Words: words, Scope: s})
	}
	return out
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
