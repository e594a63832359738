package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"

	"github.com/atoauth/atoauth/scope"
	"github.com/atoauth/atoauth/xrpc"
)

// Blob is a reference to an uploaded blob, as records embed it (lexicon
// type "blob"): {"$type":"blob","ref":{"$link":cid},"mimeType":…,"size":…}.
//
// Records written before 2023 may hold the legacy form
// {"cid":cid,"mimeType":…} (atproto data model, "Blob Type": readers
// should accept it). Such a blob decodes with its CID in Ref, Type ""
// and Size 0, and encodes back in the legacy form it was read in, so that
// rewriting a record (a profile update) keeps it as the PDS stored it.
type Blob struct {
	Type     string   `json:"$type"`
	Ref      BlobLink `json:"ref"`
	MimeType string   `json:"mimeType"`
	Size     int64    `json:"size"`

	legacy bool
}

type blobJSON struct {
	Type     string    `json:"$type"`
	Ref      *BlobLink `json:"ref,omitempty"`
	CID      string    `json:"cid,omitempty"`
	MimeType string    `json:"mimeType"`
	Size     int64     `json:"size"`
}

// UnmarshalJSON reads both forms of a blob reference.
func (b *Blob) UnmarshalJSON(data []byte) error {
	var v blobJSON
	if err := json.Unmarshal(data, &v); err != nil {
		return err
	}
	*b = Blob{Type: v.Type, MimeType: v.MimeType, Size: v.Size}
	switch {
	case v.Ref != nil:
		b.Ref = *v.Ref
	case v.CID != "":
		b.Ref.Link, b.legacy = v.CID, true
	}
	return nil
}

// MarshalJSON writes the blob in the form it was read in (the current
// form for a blob made here).
func (b Blob) MarshalJSON() ([]byte, error) {
	if b.legacy {
		return json.Marshal(struct {
			CID      string `json:"cid"`
			MimeType string `json:"mimeType"`
		}{b.Ref.Link, b.MimeType})
	}
	return json.Marshal(blobJSON{Type: b.Type, Ref: &b.Ref, MimeType: b.MimeType, Size: b.Size})
}

// BlobLink is a blob's CID in the JSON form of a link: {"$link": cid}.
type BlobLink struct {
	Link string `json:"$link"`
}

// CID returns the blob's CID.
func (b *Blob) CID() string { return b.Ref.Link }

// UploadBlob uploads r's content (com.atproto.repo.uploadBlob; needs
// blob:<mimeType>, e.g. blob:image/*). mimeType "" sniffs the type from
// the content. The content is buffered, at most Options.MaxBlobSize bytes,
// so that it can be sent again when the PDS asks for a new DPoP nonce or
// the token is refreshed; a larger blob fails before anything is sent,
// matching xrpc.ErrTooLarge. Reference the returned Blob from a record
// soon: the PDS deletes blobs that no record uses.
func (a *Agent) UploadBlob(ctx context.Context, r io.Reader, mimeType string) (*Blob, error) {
	data, mimeType, err := a.readBlob(r, mimeType)
	if err != nil {
		return nil, err
	}
	return a.uploadBytes(ctx, data, mimeType)
}

// readBlob buffers a blob and settles its MIME type.
func (a *Agent) readBlob(r io.Reader, mimeType string) ([]byte, string, error) {
	data, err := io.ReadAll(io.LimitReader(r, a.maxBlob+1))
	if err != nil {
		return nil, "", fmt.Errorf("agent: reading the blob: %w", err)
	}
	if int64(len(data)) > a.maxBlob {
		return nil, "", fmt.Errorf("agent: the blob is larger than %d bytes (Options.MaxBlobSize): %w", a.maxBlob, xrpc.ErrTooLarge)
	}
	if mimeType == "" {
		mimeType = http.DetectContentType(data)
	}
	mt, _, err := mime.ParseMediaType(mimeType)
	if err != nil || mt == "*/*" {
		return nil, "", fmt.Errorf("agent: %q is not a MIME type", mimeType)
	}
	return data, mt, nil
}

func (a *Agent) uploadBytes(ctx context.Context, data []byte, mimeType string) (*Blob, error) {
	var out struct {
		Blob *Blob `json:"blob"`
	}
	if err := a.xc.Procedure(ctx, "com.atproto.repo.uploadBlob", nil, data, &out, xrpc.WithEncoding(mimeType),
		xrpc.WithRequirements(scope.NeedBlob(mimeType))); err != nil {
		return nil, err
	}
	if out.Blob == nil || out.Blob.Ref.Link == "" {
		return nil, fmt.Errorf("agent: com.atproto.repo.uploadBlob answered without a blob reference")
	}
	return out.Blob, nil
}

// GetBlob downloads a blob of the account did ("" for the account's own)
// from the PDS with com.atproto.sync.getBlob and returns its bytes and
// MIME type. It reads at most the XRPC client's MaxResponseBytes. To show
// an image, prefer the CDN URLs of the AppView's views (ProfileView.Avatar,
// post embeds): they are resized and cached.
func (a *Agent) GetBlob(ctx context.Context, did, cid string) ([]byte, string, error) {
	var data []byte
	var hdr http.Header
	if err := a.xc.Query(ctx, "com.atproto.sync.getBlob", xrpc.Params{"did": a.repoOrSelf(did), "cid": cid}, &data, xrpc.WithResponseHeader(&hdr)); err != nil {
		return nil, "", err
	}
	return data, hdr.Get("Content-Type"), nil
}
