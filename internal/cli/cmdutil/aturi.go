package cmdutil

import (
	"github.com/bluesky-social/indigo/atproto/syntax"
)

// RecordURI splits the at:// URI of a record into repo, collection and
// record key.
func RecordURI(uri string) (repo, collection, rkey string, err error) {
	u, err := syntax.ParseATURI(uri)
	if err != nil || u.Collection() == "" || u.RecordKey() == "" {
		return "", "", "", Usagef("%q is not the at:// URI of a record (at://<did>/<collection>/<rkey>)", uri)
	}
	return u.Authority().String(), u.Collection().String(), u.RecordKey().String(), nil
}

// WebLink returns the bsky.app address of a post, or "" for other records.
func WebLink(uri string) string {
	repo, coll, rkey, err := RecordURI(uri)
	if err != nil || coll != "app.bsky.feed.post" {
		return ""
	}
	return "https://bsky.app/profile/" + repo + "/post/" + rkey
}
