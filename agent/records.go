package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"iter"

	"github.com/atoauth/atoauth/internal/safetext"
	"github.com/atoauth/atoauth/scope"
	"github.com/atoauth/atoauth/xrpc"
	"github.com/bluesky-social/indigo/atproto/syntax"
)

// StrongRef is a com.atproto.repo.strongRef: a record's URI and the CID of
// one version of it.
type StrongRef struct {
	URI string `json:"uri"`
	CID string `json:"cid"`
}

// CommitMeta is a com.atproto.repo.defs#commitMeta: the repo commit a
// write made.
type CommitMeta struct {
	CID string `json:"cid"`
	Rev string `json:"rev"`
}

// WriteResult is the outcome of a record write: the record's URI and new
// CID, and the commit (com.atproto.repo.createRecord and putRecord
// output, applyWrites results).
type WriteResult struct {
	URI              string      `json:"uri"`
	CID              string      `json:"cid"`
	Commit           *CommitMeta `json:"commit,omitempty"`
	ValidationStatus string      `json:"validationStatus,omitempty"`
}

// Ref returns the written version's strong reference, e.g. to reply to a
// post or to like it.
func (r *WriteResult) Ref() StrongRef { return StrongRef{URI: r.URI, CID: r.CID} }

// Record is a record read from a repo (com.atproto.repo.getRecord and
// listRecords).
type Record struct {
	URI   string          `json:"uri"`
	CID   string          `json:"cid"`
	Value json.RawMessage `json:"value"`
}

// Decode decodes the record's value into v.
func (r *Record) Decode(v any) error {
	if err := json.Unmarshal(r.Value, v); err != nil {
		return fmt.Errorf("agent: decoding %s: %w", safetext.Clean(r.URI, 300), err)
	}
	return nil
}

// Ref returns the record's strong reference.
func (r *Record) Ref() StrongRef { return StrongRef{URI: r.URI, CID: r.CID} }

// WriteOptions adjusts a write. Each field applies where the lexicon has
// it.
type WriteOptions struct {
	// RKey is the record key of a new record (CreateRecord); "" lets the
	// PDS choose a TID.
	RKey string
	// Validate: nil validates known record types; false skips lexicon
	// validation, true requires it.
	Validate *bool
	// SwapRecord, for PutRecord and DeleteRecord, is the CID the record
	// must have now: the write fails with xrpc.ErrInvalidSwap if it
	// changed since it was read.
	SwapRecord string
	// SwapRecordAbsent, for PutRecord, requires that the record does not
	// exist yet (sent as swapRecord: null).
	SwapRecordAbsent bool
	// SwapCommit is the CID the repo's current commit must have.
	SwapCommit string
}

func (o *WriteOptions) orZero() *WriteOptions {
	if o == nil {
		return &WriteOptions{}
	}
	return o
}

// CreateRecord writes a new record of collection in the account's repo
// (com.atproto.repo.createRecord; needs repo:<collection>?action=create).
// record is any JSON-encodable value; its "$type", when present, must be
// collection.
func (a *Agent) CreateRecord(ctx context.Context, collection string, record any, opts *WriteOptions) (*WriteResult, error) {
	o := opts.orZero()
	in := map[string]any{"repo": a.repoOrSelf(""), "collection": collection, "record": record}
	if o.RKey != "" {
		in["rkey"] = o.RKey
	}
	setCommon(in, o)
	var out WriteResult
	if err := a.xc.Procedure(ctx, "com.atproto.repo.createRecord", nil, in, &out,
		xrpc.WithRequirements(scope.NeedRepo(collection, scope.ActionCreate))); err != nil {
		return nil, err
	}
	return &out, nil
}

// PutRecord creates or replaces the record at collection and rkey
// (com.atproto.repo.putRecord; needs repo:<collection> with both create
// and update). Use SwapRecord or SwapRecordAbsent for a compare-and-swap.
func (a *Agent) PutRecord(ctx context.Context, collection, rkey string, record any, opts *WriteOptions) (*WriteResult, error) {
	o := opts.orZero()
	in := map[string]any{"repo": a.repoOrSelf(""), "collection": collection, "rkey": rkey, "record": record}
	switch {
	case o.SwapRecordAbsent:
		in["swapRecord"] = nil
	case o.SwapRecord != "":
		in["swapRecord"] = o.SwapRecord
	}
	setCommon(in, o)
	var out WriteResult
	if err := a.xc.Procedure(ctx, "com.atproto.repo.putRecord", nil, in, &out,
		xrpc.WithRequirements(scope.NeedRepo(collection, scope.ActionCreate), scope.NeedRepo(collection, scope.ActionUpdate))); err != nil {
		return nil, err
	}
	return &out, nil
}

// DeleteRecord deletes the record at collection and rkey
// (com.atproto.repo.deleteRecord; needs repo:<collection>?action=delete).
// Deleting a record that does not exist succeeds and returns a nil
// commit.
func (a *Agent) DeleteRecord(ctx context.Context, collection, rkey string, opts *WriteOptions) (*CommitMeta, error) {
	o := opts.orZero()
	in := map[string]any{"repo": a.repoOrSelf(""), "collection": collection, "rkey": rkey}
	if o.SwapRecord != "" {
		in["swapRecord"] = o.SwapRecord
	}
	if o.SwapCommit != "" {
		in["swapCommit"] = o.SwapCommit
	}
	var out struct {
		Commit *CommitMeta `json:"commit"`
	}
	if err := a.xc.Procedure(ctx, "com.atproto.repo.deleteRecord", nil, in, &out,
		xrpc.WithRequirements(scope.NeedRepo(collection, scope.ActionDelete))); err != nil {
		return nil, err
	}
	return out.Commit, nil
}

func setCommon(in map[string]any, o *WriteOptions) {
	if o.Validate != nil {
		in["validate"] = *o.Validate
	}
	if o.SwapCommit != "" {
		in["swapCommit"] = o.SwapCommit
	}
}

// GetRecord reads the record at collection and rkey of repo (a DID or
// handle; "" for the account's own) with com.atproto.repo.getRecord. A
// missing record gives an error matching xrpc.ErrRecordNotFound.
func (a *Agent) GetRecord(ctx context.Context, repo, collection, rkey string) (*Record, error) {
	var out Record
	err := a.xc.Query(ctx, "com.atproto.repo.getRecord", xrpc.Params{
		"repo": a.repoOrSelf(repo), "collection": collection, "rkey": rkey,
	}, &out)
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// ListOptions adjusts ListRecords.
type ListOptions struct {
	// Limit is the page size, 1 to 100 (0: the server's default, 50).
	Limit int
	// Reverse lists oldest record keys first.
	Reverse bool
	// Cursor resumes a listing where a RecordPage's Cursor left off.
	Cursor string
}

// RecordPage is one page of ListRecordsPage.
type RecordPage struct {
	Records []*Record `json:"records"`
	// Cursor fetches the next page; "" when there is none.
	Cursor string `json:"cursor,omitempty"`
}

// ListRecordsPage lists one page of the records of collection in repo (""
// for the account's own) with com.atproto.repo.listRecords.
func (a *Agent) ListRecordsPage(ctx context.Context, repo, collection string, opts *ListOptions) (*RecordPage, error) {
	p := xrpc.Params{"repo": a.repoOrSelf(repo), "collection": collection}
	if opts != nil {
		if opts.Limit > 0 {
			p["limit"] = opts.Limit
		}
		if opts.Reverse {
			p["reverse"] = true
		}
		if opts.Cursor != "" {
			p["cursor"] = opts.Cursor
		}
	}
	var out RecordPage
	if err := a.xc.Query(ctx, "com.atproto.repo.listRecords", p, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// ListRecords iterates over every record of collection in repo ("" for
// the account's own), fetching pages as it goes. It stops at the first
// error, which it yields with a nil record.
//
//	for rec, err := range a.ListRecords(ctx, "", "app.bsky.feed.post", nil) {
//		if err != nil { return err }
//		…
//	}
func (a *Agent) ListRecords(ctx context.Context, repo, collection string, opts *ListOptions) iter.Seq2[*Record, error] {
	return func(yield func(*Record, error) bool) {
		o := ListOptions{}
		if opts != nil {
			o = *opts
		}
		seen := map[string]bool{}
		for {
			page, err := a.ListRecordsPage(ctx, repo, collection, &o)
			if err != nil {
				yield(nil, err)
				return
			}
			for _, r := range page.Records {
				if !yield(r, nil) {
					return
				}
			}
			// The reference PDS sends a cursor with every non-empty page.
			if len(page.Records) == 0 || page.Cursor == "" || seen[page.Cursor] {
				return
			}
			seen[page.Cursor] = true
			o.Cursor = page.Cursor
		}
	}
}

// Write is one operation of ApplyWrites; make it with [Create], [Update]
// or [Delete].
type Write struct {
	// Action is "create", "update" or "delete".
	Action     string
	Collection string
	// RKey is the record key ("" lets the PDS choose for a create).
	RKey string
	// Value is the record (create and update).
	Value any
}

// Create is a write that creates a record.
func Create(collection, rkey string, value any) Write {
	return Write{Action: "create", Collection: collection, RKey: rkey, Value: value}
}

// Update is a write that replaces an existing record.
func Update(collection, rkey string, value any) Write {
	return Write{Action: "update", Collection: collection, RKey: rkey, Value: value}
}

// Delete is a write that deletes an existing record.
func Delete(collection, rkey string) Write {
	return Write{Action: "delete", Collection: collection, RKey: rkey}
}

// ApplyWritesResult is the outcome of ApplyWrites.
type ApplyWritesResult struct {
	Commit *CommitMeta `json:"commit"`
	// Results has one entry per write, in order; deletes have an empty
	// URI and CID.
	Results []WriteResult `json:"results"`
}

// ApplyWrites applies creates, updates and deletes in one commit, all or
// none (com.atproto.repo.applyWrites; each write needs its repo
// permission). Of opts, Validate and SwapCommit apply.
func (a *Agent) ApplyWrites(ctx context.Context, writes []Write, opts *WriteOptions) (*ApplyWritesResult, error) {
	ws := make([]map[string]any, 0, len(writes))
	needs := make([]scope.Requirement, 0, len(writes))
	for i, w := range writes {
		switch w.Action {
		case "create", "update", "delete":
		default:
			return nil, fmt.Errorf("agent: write %d: action %q is not create, update or delete", i, w.Action)
		}
		needs = append(needs, scope.NeedRepo(w.Collection, w.Action))
		m := map[string]any{"$type": "com.atproto.repo.applyWrites#" + w.Action, "collection": w.Collection}
		if w.RKey != "" {
			m["rkey"] = w.RKey
		}
		if w.Action != "delete" {
			m["value"] = w.Value
		}
		ws = append(ws, m)
	}
	in := map[string]any{"repo": a.repoOrSelf(""), "writes": ws}
	setCommon(in, opts.orZero())
	var out ApplyWritesResult
	if err := a.xc.Procedure(ctx, "com.atproto.repo.applyWrites", nil, in, &out, xrpc.WithRequirements(needs...)); err != nil {
		return nil, err
	}
	return &out, nil
}

// RepoDescription is the output of com.atproto.repo.describeRepo.
type RepoDescription struct {
	Handle string `json:"handle"`
	DID    string `json:"did"`
	// DIDDoc is the DID document as the PDS has it (not verified).
	DIDDoc          json.RawMessage `json:"didDoc"`
	Collections     []string        `json:"collections"`
	HandleIsCorrect bool            `json:"handleIsCorrect"`
}

// DescribeRepo describes repo ("" for the account's own): handle, DID
// document and the collections that hold records
// (com.atproto.repo.describeRepo).
func (a *Agent) DescribeRepo(ctx context.Context, repo string) (*RepoDescription, error) {
	var out RepoDescription
	if err := a.xc.Query(ctx, "com.atproto.repo.describeRepo", xrpc.Params{"repo": a.repoOrSelf(repo)}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// recordURI splits an at:// URI into its parts.
func recordURI(uri string) (repo, collection, rkey string, err error) {
	u, err := syntax.ParseATURI(uri)
	if err != nil || u.Collection() == "" || u.RecordKey() == "" {
		return "", "", "", fmt.Errorf("agent: %q is not the at:// URI of a record", uri)
	}
	return u.Authority().String(), u.Collection().String(), u.RecordKey().String(), nil
}
