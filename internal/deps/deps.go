// Package deps pins module dependencies while the packages that use them are written.
package deps

import (
	_ "github.com/bluesky-social/indigo/atproto/identity"
	_ "github.com/bluesky-social/indigo/atproto/syntax"
	_ "github.com/go-jose/go-jose/v4"
	_ "golang.org/x/sync/singleflight"
)
