package atoauthtest

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/bluesky-social/indigo/atproto/syntax"
)

const maxApplyWrites = 200

// applyWrite is one parsed write of com.atproto.repo.applyWrites.
type applyWrite struct {
	action     string // create, update or delete
	collection string
	rkey       string
	value      json.RawMessage
}

// xApplyWrites applies creates, updates and deletes atomically
// (com.atproto.repo.applyWrites): each write needs its repo permission,
// and either all of them apply in one commit or none does.
func (n *Network) xApplyWrites(w http.ResponseWriter, r *http.Request, a *pdsAuth) *xrpcError {
	var in struct {
		Repo       string            `json:"repo"`
		Validate   *bool             `json:"validate"`
		Writes     []json.RawMessage `json:"writes"`
		SwapCommit *string           `json:"swapCommit"`
	}
	if e := readJSONBody(r, &in); e != nil {
		return e
	}
	did, e := n.localRepo(in.Repo)
	if e != nil {
		return e
	}
	if did != a.did {
		return xerr(http.StatusForbidden, "InvalidRequest", "repo %s is not the authenticated account %s", in.Repo, a.did)
	}
	if len(in.Writes) > maxApplyWrites {
		return invalidRequest("Too many writes. Max: %d", maxApplyWrites)
	}
	writes := make([]applyWrite, 0, len(in.Writes))
	for i, raw := range in.Writes {
		var wr struct {
			Type       string          `json:"$type"`
			Collection string          `json:"collection"`
			RKey       string          `json:"rkey"`
			Value      json.RawMessage `json:"value"`
		}
		if err := json.Unmarshal(raw, &wr); err != nil {
			return invalidRequest("Input/writes/%d must be an object", i)
		}
		action, ok := strings.CutPrefix(wr.Type, "com.atproto.repo.applyWrites#")
		if !ok || (action != "create" && action != "update" && action != "delete") {
			return invalidRequest("Input/writes/%d has an invalid $type %q", i, wr.Type)
		}
		if _, err := syntax.ParseNSID(wr.Collection); err != nil {
			return invalidRequest("Invalid collection: %q", wr.Collection)
		}
		if wr.RKey == "" && action != "create" {
			return invalidRequest(`Input/writes/%d must have the property "rkey"`, i)
		}
		if wr.RKey != "" {
			if _, err := syntax.ParseRecordKey(wr.RKey); err != nil {
				return invalidRequest("Invalid record key: %q", wr.RKey)
			}
		}
		if action != "delete" {
			var obj map[string]any
			if json.Unmarshal(wr.Value, &obj) != nil || obj == nil {
				return invalidRequest("Input/writes/%d/value must be an object", i)
			}
			if t, ok := obj["$type"]; ok && t != wr.Collection {
				return invalidRequest("Invalid $type: expected %s, got %v", wr.Collection, t)
			}
		}
		if !a.perms.allowsRepo(wr.Collection, action) {
			return scopeMissing("repo:" + wr.Collection + "?action=" + action)
		}
		writes = append(writes, applyWrite{action: action, collection: wr.Collection, rkey: wr.RKey, value: wr.Value})
	}

	n.mu.Lock()
	defer n.mu.Unlock()
	if e := n.swapCommitErrorLocked(did, in.SwapCommit); e != nil {
		return e
	}
	// Check every write against the state the earlier writes leave, then
	// apply them all.
	exists := map[string]bool{}
	has := func(coll, rkey string) bool {
		if v, ok := exists[coll+"/"+rkey]; ok {
			return v
		}
		_, ok := n.repos[did].records[coll][rkey]
		return ok
	}
	for i := range writes {
		wr := &writes[i]
		if wr.rkey == "" {
			wr.rkey = n.tids.Next().String()
		}
		uri := atURI(did, wr.collection, wr.rkey)
		switch present := has(wr.collection, wr.rkey); {
		case wr.action == "create" && present:
			return invalidRequest("Record already exists: %s", uri)
		case wr.action != "create" && !present:
			return invalidRequest("Could not %s record: %s does not exist", wr.action, uri)
		}
		exists[wr.collection+"/"+wr.rkey] = wr.action != "delete"
	}
	results := make([]map[string]any, 0, len(writes))
	for _, wr := range writes {
		coll := n.collectionLocked(did, wr.collection)
		if wr.action == "delete" {
			delete(coll, wr.rkey)
			results = append(results, map[string]any{"$type": "com.atproto.repo.applyWrites#deleteResult"})
			continue
		}
		rec := storedRecord{cid: cidFor(cidCodecCBOR, wr.value), value: compactJSON(wr.value)}
		coll[wr.rkey] = rec
		results = append(results, map[string]any{
			"$type":            "com.atproto.repo.applyWrites#" + wr.action + "Result",
			"uri":              atURI(did, wr.collection, wr.rkey),
			"cid":              rec.cid,
			"validationStatus": "unknown",
		})
	}
	writeJSON(w, http.StatusOK, map[string]any{"commit": n.commitLocked(did), "results": results})
	return nil
}

// xDescribeRepo answers com.atproto.repo.describeRepo: the handle, DID,
// DID document and the collections that hold records.
func (n *Network) xDescribeRepo(w http.ResponseWriter, r *http.Request, _ *pdsAuth) *xrpcError {
	did, e := n.localRepo(r.URL.Query().Get("repo"))
	if e != nil {
		return e
	}
	doc := n.DIDDocument(did)
	n.mu.Lock()
	handle := n.accounts[did].handle
	collections := []string{}
	for c, recs := range n.repos[did].records {
		if len(recs) > 0 {
			collections = append(collections, c)
		}
	}
	n.mu.Unlock()
	slices.Sort(collections)
	writeJSON(w, http.StatusOK, map[string]any{
		"handle":          handle.String(),
		"did":             did.String(),
		"didDoc":          doc,
		"collections":     collections,
		"handleIsCorrect": true,
	})
	return nil
}

// rateLimited answers 429 as the reference PDS does.
func (n *Network) rateLimited(w http.ResponseWriter, r *http.Request, ans *RateLimitAnswer) {
	limit, window, reset := ans.Limit, ans.Window, ans.Reset
	if limit <= 0 {
		limit = 100
	}
	if window <= 0 {
		window = 5 * time.Minute
	}
	if reset.IsZero() {
		reset = n.now().Add(window)
	}
	h := w.Header()
	h.Set("RateLimit-Limit", strconv.Itoa(limit))
	h.Set("RateLimit-Remaining", "0")
	h.Set("RateLimit-Reset", strconv.FormatInt(reset.Unix(), 10))
	h.Set("RateLimit-Policy", fmt.Sprintf("%d;w=%d", limit, int64(window/time.Second)))
	if ans.RetryAfter > 0 {
		h.Set("Retry-After", strconv.FormatInt(int64(math.Ceil(ans.RetryAfter.Seconds())), 10))
	}
	n.count(func(c *Counters) { c.RateLimited++ })
	n.xrpcFail(w, r, xerr(http.StatusTooManyRequests, "RateLimitExceeded", "Rate Limit Exceeded"))
}
