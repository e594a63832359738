package discovery

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/atoauth/atoauth/safehttp"
	"github.com/atoauth/atoauth/scope"
	"github.com/bluesky-social/indigo/atproto/syntax"
)

// ErrNoPermissionSet matches every failure of [Resolver.ResolvePermissionSet]
// to find a permission set: no _lexicon DNS record, no lexicon record, or a
// lexicon that is not a permission-set.
var ErrNoPermissionSet = errors.New("discovery: permission set not found")

// PermissionSet is a published permission-set lexicon: what an include:
// scope grants (permission spec, https://atproto.com/specs/permission,
// "Permission Sets").
type PermissionSet struct {
	// NSID names the set, e.g. "app.bsky.authFullApp".
	NSID string
	// Authority is the account that publishes the lexicon.
	Authority syntax.DID
	// Title and Detail are the set's own words for the consent screen.
	Title, Detail string
	// Permissions are the set's entries, before expansion; expand them
	// with [scope.IncludeScope.Expand].
	Permissions []scope.LexPermission
}

// ResolvePermissionSet resolves the lexicon nsid (lexicon spec,
// "Lexicon Publication and Resolution"): the DNS TXT record
// _lexicon.<authority> ("did=...", the authority being the NSID's domain
// part reversed: app.bsky.authFullApp -> bsky.app) names the account,
// whose PDS holds the com.atproto.lexicon.schema record with rkey nsid;
// its main definition must be a permission-set. Failures match
// [ErrNoPermissionSet] or are resolution errors.
func (r *Resolver) ResolvePermissionSet(ctx context.Context, nsid string) (*PermissionSet, error) {
	if _, err := scope.ParsePermission("include:" + nsid); err != nil {
		return nil, fmt.Errorf("%w: %q is not an NSID", ErrNoPermissionSet, nsid)
	}
	segs := strings.Split(nsid, ".")
	authority := slices.Clone(segs[:len(segs)-1])
	slices.Reverse(authority)
	name := "_lexicon." + strings.ToLower(strings.Join(authority, "."))
	lookup := r.LookupTXT
	if lookup == nil {
		lookup = net.DefaultResolver.LookupTXT
	}
	txts, err := lookup(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("%w: DNS TXT %s: %v", ErrNoPermissionSet, name, err)
	}
	var did syntax.DID
	for _, t := range txts {
		if v, ok := strings.CutPrefix(t, "did="); ok {
			if d, err := syntax.ParseDID(v); err == nil {
				did = d
				break
			}
		}
	}
	if did == "" {
		return nil, fmt.Errorf("%w: DNS TXT %s holds no did=", ErrNoPermissionSet, name)
	}
	st := r.state()
	ident, err := st.dir.LookupDID(ctx, did)
	if err != nil {
		return nil, mapError(ctx, did.String(), err)
	}
	pds, err := pdsOrigin(ident, st.dev)
	if err != nil {
		return nil, err
	}
	q := url.Values{"repo": {did.String()}, "collection": {"com.atproto.lexicon.schema"}, "rkey": {nsid}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, pds+"/xrpc/com.atproto.repo.getRecord?"+q.Encode(), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := st.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("discovery: fetching the lexicon %s from %s: %w", nsid, pds, err)
	}
	defer resp.Body.Close()
	body, err := safehttp.ReadBody(resp, 256<<10)
	if err != nil {
		return nil, fmt.Errorf("discovery: fetching the lexicon %s from %s: %w", nsid, pds, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%w: %s has no lexicon record %s (HTTP %d)", ErrNoPermissionSet, did, nsid, resp.StatusCode)
	}
	var rec struct {
		Value struct {
			ID   string `json:"id"`
			Defs struct {
				Main struct {
					Type        string                `json:"type"`
					Title       string                `json:"title"`
					Detail      string                `json:"detail"`
					Permissions []scope.LexPermission `json:"permissions"`
				} `json:"main"`
			} `json:"defs"`
		} `json:"value"`
	}
	if err := json.Unmarshal(body, &rec); err != nil {
		return nil, fmt.Errorf("%w: the lexicon record %s is not valid: %v", ErrNoPermissionSet, nsid, err)
	}
	main := rec.Value.Defs.Main
	if rec.Value.ID != nsid || main.Type != "permission-set" {
		return nil, fmt.Errorf("%w: the lexicon %s (id %q) is a %q, not a permission-set", ErrNoPermissionSet, nsid, rec.Value.ID, main.Type)
	}
	return &PermissionSet{NSID: nsid, Authority: did, Title: main.Title, Detail: main.Detail, Permissions: main.Permissions}, nil
}
