package atoauthtest

import (
	"bytes"
	"crypto/sha256"
	"encoding/base32"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/bluesky-social/indigo/atproto/syntax"
)

const (
	maxRecordBody = 1 << 20
	maxBlobSize   = 5 << 20
	cidCodecRaw   = 0x55
	cidCodecCBOR  = 0x71
)

// repo is an account's in-memory repository.
type repo struct {
	records map[string]map[string]storedRecord // collection → rkey → record
	blobs   map[string]storedBlob              // cid → blob
	commit  string                             // CID of the current commit
	rev     string                             // revision of the current commit
}

type storedRecord struct {
	cid   string
	value json.RawMessage
}

type storedBlob struct {
	mimeType string
	data     []byte
}

func newRepo() *repo {
	return &repo{records: map[string]map[string]storedRecord{}, blobs: map[string]storedBlob{}}
}

// xrpcError is an XRPC error response {"error","message"}.
type xrpcError struct {
	status  int
	name    string
	message string
	// dpopError, when set, is sent as WWW-Authenticate: DPoP error=...
	dpopError string
}

func xerr(status int, name, format string, args ...any) *xrpcError {
	return &xrpcError{status: status, name: name, message: fmt.Sprintf(format, args...)}
}

func invalidRequest(format string, args ...any) *xrpcError {
	return xerr(http.StatusBadRequest, "InvalidRequest", format, args...)
}

// pdsAuth is an authenticated PDS request.
type pdsAuth struct {
	did    syntax.DID
	scope  string
	perms  permissions
	legacy bool // an app-password session's Bearer token
}

type xrpcRoute struct {
	method  string
	auth    bool
	handler func(w http.ResponseWriter, r *http.Request, a *pdsAuth) *xrpcError
}

func (n *Network) pdsHandler() http.Handler {
	routes := map[string]xrpcRoute{
		"com.atproto.identity.resolveHandle": {http.MethodGet, false, n.xResolveHandle},
		"com.atproto.server.getSession":      {http.MethodGet, true, n.xGetSession},
		"com.atproto.repo.createRecord":      {http.MethodPost, true, n.xCreateRecord},
		"com.atproto.repo.putRecord":         {http.MethodPost, true, n.xPutRecord},
		"com.atproto.repo.deleteRecord":      {http.MethodPost, true, n.xDeleteRecord},
		"com.atproto.repo.getRecord":         {http.MethodGet, false, n.xGetRecord},
		"com.atproto.repo.listRecords":       {http.MethodGet, false, n.xListRecords},
		"com.atproto.repo.uploadBlob":        {http.MethodPost, true, n.xUploadBlob},
		"com.atproto.sync.getBlob":           {http.MethodGet, false, n.xGetBlob},
		"com.atproto.repo.applyWrites":       {http.MethodPost, true, n.xApplyWrites},
		"com.atproto.repo.describeRepo":      {http.MethodGet, false, n.xDescribeRepo},
		"com.atproto.server.createSession":   {http.MethodPost, false, n.xCreateSession},
		"com.atproto.server.refreshSession":  {http.MethodPost, false, n.xRefreshSession},
		"com.atproto.server.deleteSession":   {http.MethodPost, false, n.xDeleteSession},
	}
	mux := http.NewServeMux()
	mux.HandleFunc(resourceMetadataPath, n.serveResourceMetadata)
	mux.HandleFunc(movedPrefix+resourceMetadataPath, n.serveResourceMetadata)
	mux.HandleFunc("/xrpc/{nsid}", func(w http.ResponseWriter, r *http.Request) {
		nsid := r.PathValue("nsid")
		if h := n.currentTamper().Hostile; h != nil {
			n.hostile(h, nsid, w, r, func(w http.ResponseWriter, r *http.Request) { n.serveXRPC(routes, nsid, w, r) })
			return
		}
		n.serveXRPC(routes, nsid, w, r)
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "NotFound", "message": "no such route: " + r.URL.Path})
	})
	return mux
}

// serveXRPC answers one XRPC call of the PDS.
func (n *Network) serveXRPC(routes map[string]xrpcRoute, nsid string, w http.ResponseWriter, r *http.Request) {
	if f := n.currentTamper().RateLimit; f != nil {
		if ans := f(nsid); ans != nil {
			n.rateLimited(w, r, ans)
			return
		}
	}
	route, ok := routes[nsid]
	if !ok {
		// Like the reference PDS, everything it does not implement
		// goes to the service named by atproto-proxy.
		n.proxyCall(w, r, nsid)
		return
	}
	if r.Header.Get(proxyHeader) != "" {
		n.count(func(c *Counters) { c.ProxyHeaderOnLocal++ })
	}
	if r.Method != route.method && !(route.method == http.MethodGet && r.Method == http.MethodHead) {
		w.Header().Set("Allow", route.method)
		n.xrpcFail(w, r, xerr(http.StatusMethodNotAllowed, "InvalidRequest", "Incorrect HTTP method (%s) expected %s", r.Method, route.method))
		return
	}
	var a *pdsAuth
	if route.auth {
		var e *xrpcError
		if a, e = n.pdsAuthenticate(r); e != nil {
			n.xrpcFail(w, r, e)
			return
		}
	}
	if e := route.handler(w, r, a); e != nil {
		n.xrpcFail(w, r, e)
	}
}

func (n *Network) xrpcFail(w http.ResponseWriter, r *http.Request, e *xrpcError) {
	n.log.Info("atoauthtest: PDS rejected request", "path", r.URL.Path, "status", e.status, "error", e.name, "message", e.message)
	if e.status == http.StatusUnauthorized && e.dpopError == "" {
		w.Header().Set("WWW-Authenticate", `DPoP algs="ES256"`)
	}
	if e.dpopError != "" {
		if e.dpopError == "use_dpop_nonce" {
			n.count(func(c *Counters) { c.PDSNonceChallenges++ })
		}
		w.Header().Set("WWW-Authenticate", fmt.Sprintf(`DPoP algs="ES256", error=%q, error_description=%q`,
			e.dpopError, strings.ReplaceAll(e.message, `"`, "'")))
	}
	writeJSON(w, e.status, map[string]string{"error": e.name, "message": e.message})
}

// pdsAuthenticate checks the Authorization and DPoP headers of a request.
func (n *Network) pdsAuthenticate(r *http.Request) (*pdsAuth, *xrpcError) {
	authz := r.Header.Get("Authorization")
	scheme, tok, _ := strings.Cut(authz, " ")
	tok = strings.TrimSpace(tok)
	switch {
	case authz == "":
		e := xerr(http.StatusUnauthorized, "AuthenticationRequired", "Authentication Required")
		return nil, e
	case strings.EqualFold(scheme, "Bearer"):
		n.mu.Lock()
		oauth := n.issuedAccess[tok]
		a, e, legacy := n.legacyAuthLocked(tok)
		n.mu.Unlock()
		switch {
		case oauth:
			return nil, xerr(http.StatusBadRequest, "InvalidToken", "Bad token scope")
		case legacy:
			return a, e
		}
		return nil, xerr(http.StatusBadRequest, "InvalidToken", "Malformed token")
	case !strings.EqualFold(scheme, "DPoP") || tok == "":
		return nil, xerr(http.StatusUnauthorized, "AuthenticationRequired", "Unexpected authorization type")
	}
	proof, de := n.pdsDPoP.verify(r, true, tok)
	if de != nil {
		return nil, &xrpcError{status: http.StatusUnauthorized, name: de.code, message: de.desc, dpopError: de.code}
	}
	invalid := func(msg string) (*pdsAuth, *xrpcError) {
		return nil, &xrpcError{status: http.StatusUnauthorized, name: "InvalidToken", message: msg, dpopError: "invalid_token"}
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	s := n.accessTokens[tok]
	switch {
	case s == nil && n.issuedAccess[tok]:
		return invalid("Token revoked or replaced by a refresh")
	case s == nil:
		return invalid("Invalid token")
	case !n.now().Before(s.accessExp):
		return invalid("Token expired")
	case proof.jkt != s.jkt:
		return invalid("DPoP proof key does not match the token's cnf.jkt")
	}
	if a := n.accounts[s.did]; a == nil || a.foreign || n.tamper.RejectAccessTokens {
		return invalid("Token audience is not this PDS")
	}
	n.counters.PDSAuthenticated++
	return &pdsAuth{did: s.did, scope: s.scope, perms: parsePermissions(s.scope)}, nil
}

func scopeMissing(scope string) *xrpcError {
	return xerr(http.StatusForbidden, "ScopeMissingError", "Missing required scope %q", scope)
}

// readJSONBody decodes an application/json procedure body into v.
func readJSONBody(r *http.Request, v any) *xrpcError {
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
		return invalidRequest("content type must be application/json")
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxRecordBody+1))
	if err != nil {
		return invalidRequest("reading body: %v", err)
	}
	if len(body) > maxRecordBody {
		return xerr(http.StatusRequestEntityTooLarge, "PayloadTooLarge", "request body too large")
	}
	if err := json.Unmarshal(body, v); err != nil {
		return invalidRequest("Invalid JSON body: %v", err)
	}
	return nil
}

// localRepo resolves a repo parameter (handle or DID) to an account hosted
// on this PDS.
func (n *Network) localRepo(id string) (syntax.DID, *xrpcError) {
	if id == "" {
		return "", invalidRequest(`Params must have the property "repo"`)
	}
	a, ok := n.lookupIdentifier(id)
	if !ok || a.foreign {
		return "", invalidRequest("Could not find repo: %s", id)
	}
	return a.did, nil
}

func (n *Network) xResolveHandle(w http.ResponseWriter, r *http.Request, _ *pdsAuth) *xrpcError {
	n.count(func(c *Counters) { c.HandleResolutions++ })
	h, err := syntax.ParseHandle(r.URL.Query().Get("handle"))
	if err != nil {
		return invalidRequest("Invalid handle")
	}
	h = h.Normalize()
	n.mu.Lock()
	did := n.handles[h]
	f := n.tamper.ResolveHandle
	n.mu.Unlock()
	if f != nil {
		did = f(h, did)
	}
	if did == "" {
		return invalidRequest("Unable to resolve handle")
	}
	writeJSON(w, http.StatusOK, map[string]string{"did": did.String()})
	return nil
}

func (n *Network) xGetSession(w http.ResponseWriter, r *http.Request, a *pdsAuth) *xrpcError {
	n.mu.Lock()
	acct := n.accounts[a.did]
	n.mu.Unlock()
	out := map[string]any{
		"did":    a.did.String(),
		"handle": acct.handle.String(),
		"active": true,
	}
	if a.perms.readsEmail() {
		out["email"] = strings.ReplaceAll(acct.handle.String(), ".", "-") + "@example.com"
		out["emailConfirmed"] = true
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

type writeInput struct {
	Repo       string          `json:"repo"`
	Collection string          `json:"collection"`
	RKey       string          `json:"rkey"`
	Validate   *bool           `json:"validate"`
	Record     json.RawMessage `json:"record"`
	SwapRecord json.RawMessage `json:"swapRecord"` // absent, null or a CID
	SwapCommit *string         `json:"swapCommit"`
}

// swapRecordError checks a write's swapRecord against the record's current
// CID ("" when there is none): absent means no check, null that the record
// must not exist, a string that it must have that CID.
func swapRecordError(swap json.RawMessage, current string) *xrpcError {
	if len(swap) == 0 {
		return nil
	}
	var want *string
	if err := json.Unmarshal(swap, &want); err != nil {
		return invalidRequest("swapRecord must be a CID string or null")
	}
	switch {
	case want == nil && current != "":
		return xerr(http.StatusBadRequest, "InvalidSwap", "Record was at %s", current)
	case want != nil && *want != current:
		if current == "" {
			return xerr(http.StatusBadRequest, "InvalidSwap", "Record was at null")
		}
		return xerr(http.StatusBadRequest, "InvalidSwap", "Record was at %s", current)
	}
	return nil
}

// swapCommitError checks a write's swapCommit against the repo's current
// commit. The caller holds n.mu.
func (n *Network) swapCommitErrorLocked(did syntax.DID, swap *string) *xrpcError {
	if swap != nil && *swap != n.repos[did].commit {
		return xerr(http.StatusBadRequest, "InvalidSwap", "Commit was at %s", n.repos[did].commit)
	}
	return nil
}

// prepareWrite parses and checks a write: repo ownership, collection, rkey,
// scope (one entry per required action) and record shape.
func (n *Network) prepareWrite(r *http.Request, a *pdsAuth, needRKey, needRecord bool, actions ...string) (*writeInput, *xrpcError) {
	var in writeInput
	if e := readJSONBody(r, &in); e != nil {
		return nil, e
	}
	did, e := n.localRepo(in.Repo)
	if e != nil {
		return nil, e
	}
	if did != a.did {
		return nil, xerr(http.StatusForbidden, "InvalidRequest", "repo %s is not the authenticated account %s", in.Repo, a.did)
	}
	in.Repo = did.String()
	if _, err := syntax.ParseNSID(in.Collection); err != nil {
		return nil, invalidRequest("Invalid collection: %q", in.Collection)
	}
	for _, act := range actions {
		if !a.perms.allowsRepo(in.Collection, act) {
			return nil, scopeMissing("repo:" + in.Collection + "?action=" + act)
		}
	}
	if in.RKey == "" && needRKey {
		return nil, invalidRequest(`Input must have the property "rkey"`)
	}
	if in.RKey != "" {
		if _, err := syntax.ParseRecordKey(in.RKey); err != nil {
			return nil, invalidRequest("Invalid record key: %q", in.RKey)
		}
	}
	if needRecord {
		var obj map[string]any
		if len(in.Record) == 0 || json.Unmarshal(in.Record, &obj) != nil || obj == nil {
			return nil, invalidRequest("Input/record must be an object")
		}
		if t, ok := obj["$type"]; ok && t != in.Collection {
			return nil, invalidRequest("Invalid $type: expected %s, got %v", in.Collection, t)
		}
	}
	return &in, nil
}

// commitLocked makes a new commit of did's repo and returns its
// commit meta. The caller holds n.mu.
func (n *Network) commitLocked(did syntax.DID) map[string]string {
	rp := n.repos[did]
	rp.rev = n.tids.Next().String()
	rp.commit = cidFor(cidCodecCBOR, []byte(did.String()+"/"+rp.rev))
	return map[string]string{"cid": rp.commit, "rev": rp.rev}
}

func (n *Network) xCreateRecord(w http.ResponseWriter, r *http.Request, a *pdsAuth) *xrpcError {
	in, e := n.prepareWrite(r, a, false, true, "create")
	if e != nil {
		return e
	}
	if in.RKey == "" {
		in.RKey = n.tids.Next().String()
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if e := n.swapCommitErrorLocked(a.did, in.SwapCommit); e != nil {
		return e
	}
	coll := n.collectionLocked(a.did, in.Collection)
	if _, exists := coll[in.RKey]; exists {
		return invalidRequest("Record already exists: at://%s/%s/%s", a.did, in.Collection, in.RKey)
	}
	n.writeRecordLocked(w, a.did, coll, in)
	return nil
}

// writeRecordLocked stores in's record in coll and answers as
// createRecord and putRecord do; n.mu must be held.
func (n *Network) writeRecordLocked(w http.ResponseWriter, did syntax.DID, coll map[string]storedRecord, in *writeInput) {
	rec := storedRecord{cid: cidFor(cidCodecCBOR, in.Record), value: compactJSON(in.Record)}
	coll[in.RKey] = rec
	writeJSON(w, http.StatusOK, map[string]any{
		"uri":              atURI(did, in.Collection, in.RKey),
		"cid":              rec.cid,
		"commit":           n.commitLocked(did),
		"validationStatus": "unknown",
	})
}

func (n *Network) xPutRecord(w http.ResponseWriter, r *http.Request, a *pdsAuth) *xrpcError {
	in, e := n.prepareWrite(r, a, true, true, "create", "update")
	if e != nil {
		return e
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if e := n.swapCommitErrorLocked(a.did, in.SwapCommit); e != nil {
		return e
	}
	coll := n.collectionLocked(a.did, in.Collection)
	if e := swapRecordError(in.SwapRecord, coll[in.RKey].cid); e != nil {
		return e
	}
	n.writeRecordLocked(w, a.did, coll, in)
	return nil
}

func (n *Network) xDeleteRecord(w http.ResponseWriter, r *http.Request, a *pdsAuth) *xrpcError {
	in, e := n.prepareWrite(r, a, true, false, "delete")
	if e != nil {
		return e
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if e := n.swapCommitErrorLocked(a.did, in.SwapCommit); e != nil {
		return e
	}
	coll := n.collectionLocked(a.did, in.Collection)
	if len(in.SwapRecord) > 0 && string(in.SwapRecord) != "null" {
		if e := swapRecordError(in.SwapRecord, coll[in.RKey].cid); e != nil {
			return e
		}
	}
	if _, ok := coll[in.RKey]; !ok {
		// Like the reference PDS: deleting a missing record is a no-op.
		writeJSON(w, http.StatusOK, map[string]any{})
		return nil
	}
	delete(coll, in.RKey)
	writeJSON(w, http.StatusOK, map[string]any{"commit": n.commitLocked(a.did)})
	return nil
}

func (n *Network) collectionLocked(did syntax.DID, collection string) map[string]storedRecord {
	rp := n.repos[did]
	coll := rp.records[collection]
	if coll == nil {
		coll = map[string]storedRecord{}
		rp.records[collection] = coll
	}
	return coll
}

func (n *Network) xGetRecord(w http.ResponseWriter, r *http.Request, _ *pdsAuth) *xrpcError {
	q := r.URL.Query()
	did, e := n.localRepo(q.Get("repo"))
	if e != nil {
		return e
	}
	collection, rkey := q.Get("collection"), q.Get("rkey")
	if collection == "" || rkey == "" {
		return invalidRequest(`Params must have the properties "collection" and "rkey"`)
	}
	n.mu.Lock()
	rec, ok := n.repos[did].records[collection][rkey]
	n.mu.Unlock()
	if !ok || (q.Get("cid") != "" && q.Get("cid") != rec.cid) {
		return xerr(http.StatusBadRequest, "RecordNotFound", "Could not locate record: %s", atURI(did, collection, rkey))
	}
	writeJSON(w, http.StatusOK, map[string]any{"uri": atURI(did, collection, rkey), "cid": rec.cid, "value": rec.value})
	return nil
}

// xListRecords lists records by record key, descending by default. Like the
// reference PDS it returns a cursor (the last record key) whenever the page
// is not empty, so the last page is followed by an empty one.
func (n *Network) xListRecords(w http.ResponseWriter, r *http.Request, _ *pdsAuth) *xrpcError {
	q := r.URL.Query()
	did, e := n.localRepo(q.Get("repo"))
	if e != nil {
		return e
	}
	collection := q.Get("collection")
	if collection == "" {
		return invalidRequest(`Params must have the property "collection"`)
	}
	limit := 50
	if s := q.Get("limit"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 1 || v > 100 {
			return invalidRequest("limit must be an integer between 1 and 100")
		}
		limit = v
	}
	reverse := q.Get("reverse") == "true"
	cursor := q.Get("cursor")
	n.mu.Lock()
	coll := n.repos[did].records[collection]
	keys := make([]string, 0, len(coll))
	for k := range coll {
		if cursor == "" || (!reverse && k < cursor) || (reverse && k > cursor) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	if !reverse {
		slices.Reverse(keys)
	}
	if len(keys) > limit {
		keys = keys[:limit]
	}
	records := make([]map[string]any, 0, len(keys))
	for _, k := range keys {
		records = append(records, map[string]any{"uri": atURI(did, collection, k), "cid": coll[k].cid, "value": coll[k].value})
	}
	n.mu.Unlock()
	out := map[string]any{"records": records}
	if len(keys) > 0 {
		out["cursor"] = keys[len(keys)-1]
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (n *Network) xUploadBlob(w http.ResponseWriter, r *http.Request, a *pdsAuth) *xrpcError {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || !strings.Contains(mt, "/") {
		return invalidRequest("uploadBlob requires the blob's MIME type as Content-Type")
	}
	data, err := io.ReadAll(io.LimitReader(r.Body, maxBlobSize+1))
	if err != nil {
		return invalidRequest("reading body: %v", err)
	}
	if mt == "*/*" || mt == "application/octet-stream" {
		// The reference PDS sniffs the type of untyped uploads.
		mt, _, _ = mime.ParseMediaType(http.DetectContentType(data))
	}
	if !a.perms.allowsBlob(mt) {
		return scopeMissing("blob:" + mt)
	}
	if len(data) > maxBlobSize {
		return xerr(http.StatusBadRequest, "BlobTooLarge", "blob larger than %d bytes", maxBlobSize)
	}
	cid := cidFor(cidCodecRaw, data)
	n.mu.Lock()
	n.repos[a.did].blobs[cid] = storedBlob{mimeType: mt, data: data}
	n.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"blob": map[string]any{
		"$type":    "blob",
		"ref":      map[string]string{"$link": cid},
		"mimeType": mt,
		"size":     len(data),
	}})
	return nil
}

func (n *Network) xGetBlob(w http.ResponseWriter, r *http.Request, _ *pdsAuth) *xrpcError {
	q := r.URL.Query()
	did, e := n.localRepo(q.Get("did"))
	if e != nil {
		return e
	}
	n.mu.Lock()
	b, ok := n.repos[did].blobs[q.Get("cid")]
	n.mu.Unlock()
	if !ok {
		return xerr(http.StatusBadRequest, "BlobNotFound", "Blob not found")
	}
	w.Header().Set("Content-Type", b.mimeType)
	w.Header().Set("Content-Length", strconv.Itoa(len(b.data)))
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; sandbox")
	_, _ = w.Write(b.data)
	return nil
}

// Record returns a record stored on the PDS (its JSON value).
func (n *Network) Record(did syntax.DID, collection, rkey string) (json.RawMessage, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	rp := n.repos[did]
	if rp == nil {
		return nil, false
	}
	rec, ok := rp.records[collection][rkey]
	return rec.value, ok
}

// Blob returns the bytes and MIME type of a blob stored on the PDS.
func (n *Network) Blob(did syntax.DID, cid string) ([]byte, string, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	rp := n.repos[did]
	if rp == nil {
		return nil, "", false
	}
	b, ok := rp.blobs[cid]
	return b.data, b.mimeType, ok
}

func atURI(did syntax.DID, collection, rkey string) string {
	return "at://" + did.String() + "/" + collection + "/" + rkey
}

// cidFor returns a well-formed CIDv1 (base32, sha2-256) of data with the
// given codec: "bafkrei…" for raw blobs, "bafyrei…" for records. Record CIDs
// hash the JSON rather than DAG-CBOR, so they are deterministic but fake.
func cidFor(codec byte, data []byte) string {
	sum := sha256.Sum256(data)
	b := append([]byte{0x01, codec, 0x12, 0x20}, sum[:]...)
	return "b" + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b))
}

func compactJSON(raw json.RawMessage) json.RawMessage {
	var buf bytes.Buffer
	if json.Compact(&buf, raw) != nil {
		return raw
	}
	return buf.Bytes()
}
